//! A Kubernetes-style controller built from every gosync crate, which verifies its own run.
//!
//! * An **informer** (one thread) emits object updates in bursts, many of them to a few
//!   hot objects (duplicates), paced by a `TokenBucket` it waits on with
//!   `wait_context`. Each update bumps the object's version in a shared cache and adds
//!   the object's key to the work queue, which collapses the duplicates.
//! * A **rate-limited, delaying work queue** (`RateLimitingQueue`) with a per-item
//!   exponential backoff and an overall retry bucket (`max_of`), and `InMemoryMetrics`.
//! * **Workers** (started with `WaitGroup::go`) hold each key in a `Guard` while they
//!   reconcile it: read the object's latest version, maybe fail (transient failures
//!   are retried with `add_rate_limited`; permanent ones are forgotten after
//!   `--max-retries` retries), render the object into a **pooled buffer**
//!   (`gosync_pool::Pool`) and send it through a **pipe** (`gosync_pipe`) to the
//!   **API server**, a consumer thread that checks each frame's CRC-32 (its table built
//!   once, `gosync_once::OnceValue`) and records the version it applied.
//! * A **context tree**: `interrupt` (cancelled by Ctrl-C, with a cause) → `produce`
//!   (its timeout is `--duration`). When `produce` is done the informer stops, the
//!   queue is drained gracefully (`wait_idle`, which includes retries still waiting
//!   out their backoff, then `shut_down_with_drain`) and the `WaitGroup` joins the
//!   workers. A second Ctrl-C shuts the queue down at once.
//! * While it runs, a status line (a progress bar on a terminal, plain lines
//!   otherwise); at the end a report that checks the run, the queue's metrics in
//!   Prometheus text format, and exit status 1 if any check failed.
//!
//! Run: `cargo run --release -p gosync-examples --example controller` (`-- --help` for
//! the flags; every number can be changed).
//!
//! This file is the driver: threads, and how the informer, the workers, the drain and
//! the joins run. The workload itself (bookkeeping, instrumented limiter, wire format
//! and CRC, API server, status line, verification and report) is
//! `gosync_examples::controller` (`examples/src/controller.rs`), shared with the tokio
//! driver `async_controller`, which runs the same workload with worker tasks.

use std::io::Write;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use gosync_context::{background, with_cancel, with_cancel_cause, with_timeout_cause, Context};
use gosync_examples::controller::{api_server, stopped_by, Config, Controller, Server, Stop};
use gosync_examples::Flags;
use gosync_pipe::{pipe, PipeWriter};
use gosync_ratelimit::WaitContextError;
use gosync_waitgroup::WaitGroup;

fn config() -> Config {
    let mut f = Flags::from_env(
        "controller",
        "A Kubernetes-style controller over the gosync work queue that verifies its own run.",
    );
    let cfg = Config::from_flags(&mut f, "worker threads");
    f.finish();
    cfg.check();
    cfg
}

fn main() {
    let cfg = config();
    let ok = run(cfg);
    std::process::exit(if ok { 0 } else { 1 });
}

/// The informer: bursts paced by the bucket (`wait_context`), until `ctx` is done.
fn informer(ctx: &Context, ctl: &Controller) -> String {
    let mut informer = ctl.informer();
    let bucket = informer.bucket();
    loop {
        match bucket.wait_context(ctx, informer.burst()) {
            Ok(()) => {}
            // Done, or the next burst would come after the deadline: wait for it, so the
            // informer stops when the context says so.
            Err(WaitContextError::Done(_) | WaitContextError::ExceedsDeadline { .. }) => {
                ctx.wait();
                return stopped_by(ctx);
            }
            Err(e) => return format!("the informer's bucket refused: {e}"),
        }
        informer.emit_burst();
    }
}

/// One worker thread: reconcile keys until the queue is shut down and drained.
fn worker(ctl: &Controller, wire: &PipeWriter) {
    while let Some(item) = ctl.queue().get() {
        let reconcile = ctl.begin(*item);
        ctl.clock().sleep(reconcile.api_latency()); // the API call this reconcile would make
        if let Some(frame) = reconcile.render() {
            // One write per frame: the pipe serializes concurrent writers (Go's wrMu).
            let sent = (&*wire).write_all(&frame);
            reconcile.sent(frame, sent);
        }
        reconcile.finish();
        drop(item); // done: the key can be handed out again
    }
}

fn run(cfg: Config) -> bool {
    let ctl = Arc::new(Controller::new(cfg.clone(), "controller"));
    let (reader, writer) = pipe();
    let writer = Arc::new(writer);

    // The context tree: interrupt (Ctrl-C) → produce (the run time).
    let (interrupt, interrupt_cancel) = with_cancel_cause(&background());
    let (produce, _produce_cancel) =
        with_timeout_cause(&interrupt, cfg.duration, Stop("run time over"));
    let ctrl_c = ctl.on_interrupt(interrupt_cancel);

    ctl.print_header(&format!("{} workers", cfg.workers));
    let started = Instant::now();

    let server = thread::spawn(move || api_server(reader, cfg.objects));
    let workers = Arc::new(WaitGroup::new());
    let handles: Vec<_> = (0..cfg.workers)
        .map(|_| {
            let (ctl, writer) = (ctl.clone(), writer.clone());
            workers.go(move || worker(&ctl, &writer))
        })
        .collect();

    // The status line, until `status_done` is cancelled: a context wait, not a sleep.
    let (status_done, stop_status) = with_cancel(&background());
    let status = {
        let ctl = ctl.clone();
        thread::spawn(move || {
            let mut status = ctl.status(started);
            while !status_done.wait_timeout(status.period()) {
                status.print();
            }
            status.finish();
        })
    };

    let stopped_by = {
        let (ctl, produce) = (ctl.clone(), produce.clone());
        thread::spawn(move || informer(&produce, &ctl))
            .join()
            .unwrap_or_else(|_| "the informer panicked".into())
    };
    let produced = started.elapsed();

    // Graceful drain: everything queued, processing or waiting out a backoff is finished
    // (retries included), then the workers are let go.
    ctl.set_draining();
    ctl.queue().wait_idle();
    ctl.queue().shut_down_with_drain();
    workers.wait();
    let panicked = handles
        .into_iter()
        .map(|h| h.join())
        .filter(Result::is_err)
        .count();
    writer.close(); // end of stream for the API server
    let server = server
        .join()
        .unwrap_or_else(|_| Server::failed("the API server panicked"));
    let elapsed = started.elapsed();
    stop_status.cancel();
    let _ = status.join();
    drop(ctrl_c);

    ctl.report(&server, &stopped_by, produced, elapsed, panicked)
}
