//! The workload of the controller demos, shared by the threaded `controller` example
//! and the tokio `async_controller` example: everything but how the informer, the
//! workers, the drain and the joins are run.
//!
//! * [`Controller`] holds the run: the informer's cache and the per-key bookkeeping the
//!   report checks, the **rate-limited, delaying work queue** ([`WorkQueue`]: a
//!   per-item exponential backoff and an overall retry bucket under `max_of`,
//!   instrumented by [`RecordingLimiter`], with `InMemoryMetrics`), and the **pool** of
//!   scratch buffers.
//! * [`Informer`]: the event stream, emitted in bursts (many events to a few hot
//!   objects: duplicates the queue collapses). The driver paces it on its
//!   [`bucket`](Informer::bucket).
//! * [`Reconcile`]: one worker's reconcile of one key, from [`Controller::begin`] to
//!   [`Reconcile::finish`]: in-flight set, retry-delay check, the latest version,
//!   planned failures (transient ones retried with `add_rate_limited`, permanent ones
//!   given up after `--max-retries`), the frame rendered into a pooled buffer. The
//!   driver sleeps the API latency and writes the frame to the pipe.
//! * [`api_server`]: the pipe's consumer, checking each frame's CRC-32 ([`crc32`], its
//!   table built once by `gosync_once::OnceValue`) and recording the versions applied.
//! * [`Controller::on_interrupt`]: the first Ctrl-C cancels the driver's `interrupt`
//!   context, the second shuts the queue down at once. [`Status`]: the status line.
//!   [`Controller::report`]: the verification, the queue's metrics in Prometheus text,
//!   and whether every check passed.
//!
//! The drivers (`examples/controller.rs` with threads, `examples/async_controller.rs`
//! with tokio tasks) only wait: on the bucket, the queue, the API latency, the pipe,
//! the contexts and the `WaitGroup`.
//!
//! # Examples
//!
//! The smallest driver: no pacing, one worker thread, no contexts.
//!
//! ```
//! use gosync_examples::controller::{api_server, Config, Controller};
//! use gosync_examples::Flags;
//! use std::io::Write;
//! use std::time::Instant;
//!
//! let mut flags = Flags::from_iter("doc", "", ["--objects=50", "--burst=20", "--work=0s"]);
//! let cfg = Config::from_flags(&mut flags, "worker threads");
//! flags.finish();
//! let ctl = Controller::new(cfg, "doc");
//! let (reader, writer) = gosync_pipe::pipe();
//! let started = Instant::now();
//! std::thread::scope(|s| {
//!     let server = s.spawn(|| api_server(reader, 50));
//!     let worker = s.spawn(|| {
//!         while let Some(item) = ctl.queue().get() {
//!             let reconcile = ctl.begin(*item);
//!             ctl.clock().sleep(reconcile.api_latency());
//!             if let Some(frame) = reconcile.render() {
//!                 let sent = (&writer).write_all(&frame);
//!                 reconcile.sent(frame, sent);
//!             }
//!             reconcile.finish();
//!         }
//!     });
//!     let mut informer = ctl.informer();
//!     for _ in 0..5 {
//!         informer.emit_burst();
//!     }
//!     let produced = started.elapsed();
//!     ctl.queue().wait_idle(); // retries included
//!     ctl.queue().shut_down_with_drain();
//!     worker.join().unwrap();
//!     writer.close();
//!     let server = server.join().unwrap();
//!     assert!(ctl.report(&server, "five bursts", produced, started.elapsed(), 0));
//! });
//! ```

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gosync_context::CancelCauseFunc;
use gosync_core::Clock;
use gosync_pool::Pool;
use gosync_ratelimit::{max_of, ExponentialLimiter, Limit, TokenBucket};
use gosync_workqueue::{InMemoryMetrics, Queue, RateLimitingQueue};

use crate::{fmt_duration, signal};

mod config;
mod report;
mod state;
mod wire;
mod work;

pub use config::Config;
pub use state::RecordingLimiter;
pub use wire::{api_server, crc32, Server};
pub use work::{stopped_by, Informer, Reconcile};

use state::Shared;

// Statistics only: every counter is read after the threads or tasks that update it are
// joined (or for the status line, where a stale value is fine), so `Relaxed` suffices.
const RELAXED: Ordering = Ordering::Relaxed;

/// The queue's key: an object's index.
pub type Key = u32;

/// The controller's work queue: rate-limited and delaying, with the recording limiter.
pub type WorkQueue = RateLimitingQueue<Key, RecordingLimiter>;

/// One controller run: its configuration, the bookkeeping the report checks, the work
/// queue and the pool of scratch buffers. Share it with `Arc` between the informer,
/// the workers, the status line and the Ctrl-C handler.
pub struct Controller {
    /// The queue's name in the metrics and the header line.
    name: &'static str,
    shared: Arc<Shared>,
    queue: WorkQueue,
    pool: Pool<Vec<u8>>,
    metrics: Arc<InMemoryMetrics>,
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A run of `cfg` on the real clock, its queue named `name` (in the metrics and the
    /// header line): per-item exponential backoff (`--retry-base` doubling up to
    /// `--retry-max`) and an overall retry bucket (`--retry-qps`, `--retry-burst`),
    /// whichever is longer (`max_of`), recorded for the report.
    pub fn new(cfg: Config, name: &'static str) -> Controller {
        let shared = Arc::new(Shared::new(cfg, Clock::real()));
        let cfg = &shared.cfg;
        let limiter = RecordingLimiter {
            inner: max_of(vec![
                Box::new(ExponentialLimiter::new(cfg.retry_base, cfg.retry_max)),
                Box::new(
                    TokenBucket::new(Limit::per_second(cfg.retry_qps), cfg.retry_burst)
                        .expect("a valid bucket"),
                ),
            ]),
            shared: Arc::clone(&shared),
        };
        let metrics = Arc::new(InMemoryMetrics::new());
        let queue: WorkQueue = RateLimitingQueue::with_limiter(
            Queue::builder()
                .name(name)
                .metrics_provider(metrics.clone()),
            limiter,
        );
        Controller {
            name,
            shared,
            queue,
            pool: Pool::builder(Vec::<u8>::new).reset(Vec::clear).build(),
            metrics,
        }
    }

    /// The run's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    /// The clock of the run (the real one): the workers sleep their API latency on it.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The work queue.
    pub fn queue(&self) -> &WorkQueue {
        &self.queue
    }

    /// The informer's event stream, from the initial list on.
    pub fn informer(&self) -> Informer<'_> {
        Informer::new(self)
    }

    /// Prints the header line: `<name>: <workers>, <objects> objects, ...`, with
    /// `workers` saying what runs the reconciles ("4 workers").
    pub fn print_header(&self, workers: &str) {
        let cfg = &self.shared.cfg;
        println!(
            "{}: {workers}, {} objects, informer {} events/s in bursts of {} for {}; \
             retries after min({}·2^n, {}) (overall {}/s), given up after {}",
            self.name,
            cfg.objects,
            cfg.rate,
            cfg.burst,
            fmt_duration(cfg.duration),
            fmt_duration(cfg.retry_base),
            fmt_duration(cfg.retry_max),
            cfg.retry_qps,
            cfg.max_retries,
        );
    }

    /// Installs the Ctrl-C handler (see [`signal::on_interrupt`]): the first Ctrl-C
    /// cancels `interrupt` with the cause "interrupted (Ctrl-C)" (the informer stops,
    /// the queue drains), a second one shuts the queue down at once (the retries still
    /// waiting are dropped, and the report says so). Keep the returned watch until the
    /// run is over; `None` if no handler could be installed.
    pub fn on_interrupt(self: &Arc<Self>, interrupt: CancelCauseFunc) -> Option<signal::Watch> {
        let ctl = Arc::clone(self);
        signal::on_interrupt(move |count| {
            if count == 1 {
                eprintln!("\ninterrupted: the informer stops, the queue drains (Ctrl-C again to stop at once)");
                interrupt.cancel(Stop("interrupted (Ctrl-C)"));
            } else {
                eprintln!("\ninterrupted again: shutting the queue down now");
                ctl.shared.n.hard_stop.store(true, RELAXED);
                ctl.queue.shut_down();
            }
        })
    }

    /// Marks the run as draining (the informer has stopped), for the status line.
    pub fn set_draining(&self) {
        self.shared.n.draining.store(true, RELAXED);
    }

    /// The status line of a run that started at `started`.
    pub fn status(&self, started: Instant) -> Status<'_> {
        let tty = io::stdout().is_terminal();
        Status {
            ctl: self,
            started,
            tty,
            period: if tty {
                Duration::from_millis(100)
            } else {
                self.shared.cfg.status
            },
            last_at: Instant::now(),
            last_count: 0,
        }
    }
}

/// A cancellation cause of the controller's contexts.
#[derive(Debug)]
pub struct Stop(pub &'static str);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stop {}

/// The live status line: items/s, queue depth, in flight, retries. On a terminal a
/// progress bar redrawn in place every 100 ms; otherwise a plain line every `--status`.
/// The driver calls [`print`](Status::print) every [`period`](Status::period) and
/// [`finish`](Status::finish) at the end.
pub struct Status<'a> {
    ctl: &'a Controller,
    started: Instant,
    tty: bool,
    period: Duration,
    last_at: Instant,
    last_count: u64,
}

impl fmt::Debug for Status<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("tty", &self.tty)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Status<'_> {
    /// How often to print.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Prints the line (the rate is over the time since the previous one).
    pub fn print(&mut self) {
        let count = self.ctl.shared.n.reconciles.load(RELAXED);
        let rate = (count - self.last_count) as f64 / self.last_at.elapsed().as_secs_f64();
        (self.last_at, self.last_count) = (Instant::now(), count);
        let line = self.line(rate);
        let mut out = io::stdout().lock();
        let _ = if self.tty {
            write!(out, "{line}")
        } else {
            writeln!(out, "{line}")
        };
        let _ = out.flush();
    }

    /// Clears the bar from a terminal, before the report.
    pub fn finish(&self) {
        if self.tty {
            print!("\r\x1b[2K");
            let _ = io::stdout().flush();
        }
    }

    fn line(&self, rate: f64) -> String {
        let (shared, queue) = (&*self.ctl.shared, &self.ctl.queue);
        let n = &shared.n;
        let phase = if n.draining.load(RELAXED) {
            "draining"
        } else {
            "producing"
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let (depth, in_flight, workers) =
            (queue.len(), n.in_flight.load(RELAXED), shared.cfg.workers);
        let retries = n.retries.load(RELAXED);
        if self.tty {
            // A bar over the run time, then the numbers that move; one terminal row, so
            // the carriage return redraws it in place.
            let frac = (elapsed / shared.cfg.duration.as_secs_f64().max(1e-9)).min(1.0);
            let width = 16;
            let fill = (frac * width as f64) as usize;
            let bar = if phase == "draining" {
                format!("{:-^width$}", " draining ")
            } else {
                format!("{}{}", "#".repeat(fill), "-".repeat(width - fill))
            };
            let mut line = format!(
                "[{bar}] {elapsed:>5.1}s {rate:>6.0} items/s  depth {depth:>4}  in flight {in_flight}/{workers}  retries {retries}"
            );
            line.truncate(signal::terminal_width().unwrap_or(80).saturating_sub(1));
            format!("\r\x1b[2K{line}")
        } else {
            format!(
                "[{elapsed:>6.1}s] {phase:<9} {rate:>6.0} items/s  depth {depth:>4}  waiting {:>3}  in flight {in_flight}/{workers}  retries {retries:>5}  given up {:>3}",
                queue.waiting_len(),
                n.given_up.load(RELAXED),
            )
        }
    }
}
