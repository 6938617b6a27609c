//! The controller demo's workload on a tokio multi-thread runtime: worker **tasks**
//! instead of threads, over the same gosync work queue, verifying its own run.
//!
//! The workload is the `controller` example's, from the same code
//! (`gosync_examples::controller`): an informer emitting bursts of object updates with
//! duplicates, a rate-limited, delaying work queue (per-item exponential backoff and an
//! overall retry bucket under `max_of`, `InMemoryMetrics`), workers holding each key's
//! guard while they reconcile it (transient failures retried with `add_rate_limited`,
//! permanent ones forgotten after `--max-retries`), pooled scratch buffers, frames
//! streamed through a gosync pipe to a CRC-checking API server, a context tree cancelled
//! by Ctrl-C or at the end of `--duration`, a `WaitGroup` joining the workers, a graceful
//! drain, a status line, and the same final report: the same checks, the queue's metrics
//! in Prometheus text format, exit status 1 if a check fails.
//!
//! What this file changes is only how each part waits. Every wait is a future (the
//! tasks take only short, uncontended locks: the bookkeeping's, the queue's); no
//! runtime thread blocks on a wait, and nothing polls with a sleep:
//!
//! | part | threads (`controller`) | tasks (this example) |
//! |---|---|---|
//! | informer pacing | `bucket.wait_context(ctx, burst)` | `bucket.wait_context_async(ctx, burst)` |
//! | next key | `queue.get()` | `queue.get_async()`, an owned guard held across awaits |
//! | API latency | `clock.sleep(work)` | `clock.sleep_async(work)` (the gosync clock's timer: sub-millisecond, where tokio's timer rounds up to 1 ms) |
//! | frame to the pipe | `(&writer).write_all` (the pipe serializes writers, as Go's) | `AsyncWriteExt::write_all` on the pipe's tokio `AsyncWrite`, the writer in a tokio `Mutex` |
//! | drain | `wait_idle()`, `shut_down_with_drain()` | `wait_idle_async()`, then `shut_down()` (idle: nothing left to drain) |
//! | join | `WaitGroup::go` threads, `wait()` | `guard_owned()` moved into each task, `wait_async()` |
//! | status line | a thread in `ctx.wait_timeout(period)` | a task on a tokio interval, ended by `ctx.run_until_done` |
//! | Ctrl-C | the library's handler cancels the `interrupt` context | the same: the cancel wakes the informer's `wait_context_async` or `done()` |
//!
//! Two choices:
//!
//! * The **API server** is the same blocking function as in `controller`, run on tokio's
//!   blocking pool (`spawn_blocking`) and awaited through its join handle. A gosync pipe
//!   serves a blocking reader and async writers at once (a waiting read leaves a request
//!   that the next async write fills), so nothing had to be rewritten; and the server is
//!   CPU work (a CRC over every byte), which belongs off the runtime's worker threads.
//! * The **pipe's writer** is shared through a `tokio::sync::Mutex`: an async end is
//!   polled through `&mut` by one task at a time, and each frame must reach the server
//!   whole, so the workers take turns, the async counterpart of the lock Go's pipe
//!   holds for the length of a write.
//!
//! Run: `cargo run --release -p gosync-examples --example async_controller` (`-- --help`
//! for the flags: those of `controller`, with `--workers` counting tasks, and
//! `--runtime-threads`, the runtime's worker threads, one per core by default).

use std::sync::Arc;
use std::time::Instant;

use gosync_context::{background, with_cancel, with_cancel_cause, with_timeout_cause, Context};
use gosync_examples::controller::{api_server, stopped_by, Config, Controller, Server, Stop};
use gosync_examples::Flags;
use gosync_pipe::{pipe, PipeWriter};
use gosync_ratelimit::WaitContextError;
use gosync_waitgroup::WaitGroup;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio::time::MissedTickBehavior;

fn config() -> (Config, usize) {
    let mut f = Flags::from_env(
        "async_controller",
        "The controller demo on a tokio multi-thread runtime: worker tasks instead of threads, \
         over the same gosync work queue, verifying its own run.",
    );
    let cfg = Config::from_flags(&mut f, "worker tasks");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = f.value(
        "runtime-threads",
        cores,
        "worker threads of the tokio runtime",
    );
    f.finish();
    cfg.check();
    if threads == 0 {
        eprintln!("error: --runtime-threads must be at least 1");
        std::process::exit(2);
    }
    (cfg, threads)
}

fn main() {
    let (cfg, threads) = config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_time()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("error: cannot start the tokio runtime: {e}");
            std::process::exit(2)
        });
    let ok = runtime.block_on(run(cfg, threads));
    std::process::exit(if ok { 0 } else { 1 });
}

/// The informer task: bursts paced by the bucket (`wait_context_async`, the future
/// twin of the threaded informer's `wait_context`: the same checks and errors, and a
/// done context wakes the task and gives the reserved tokens back), until `ctx` is done.
async fn informer(ctx: Context, ctl: Arc<Controller>) -> String {
    let mut informer = ctl.informer();
    let bucket = informer.bucket();
    loop {
        match bucket.wait_context_async(&ctx, informer.burst()).await {
            Ok(()) => {}
            // Done, or the next burst would come after the deadline: wait for it, so the
            // informer stops when the context says so.
            Err(WaitContextError::Done(_) | WaitContextError::ExceedsDeadline { .. }) => {
                ctx.done().await;
                return stopped_by(&ctx);
            }
            Err(e) => return format!("the informer's bucket refused: {e}"),
        }
        informer.emit_burst();
    }
}

/// One worker task: reconcile keys until the queue is shut down and drained.
async fn worker(ctl: Arc<Controller>, wire: Arc<Mutex<PipeWriter>>) {
    while let Some(item) = ctl.queue().get_async().await {
        let reconcile = ctl.begin(*item);
        // The API call this reconcile would make.
        ctl.clock().sleep_async(reconcile.api_latency()).await;
        if let Some(frame) = reconcile.render() {
            let sent = wire.lock().await.write_all(&frame).await;
            reconcile.sent(frame, sent);
        }
        reconcile.finish();
        drop(item); // done: the key can be handed out again
    }
}

async fn run(cfg: Config, threads: usize) -> bool {
    let ctl = Arc::new(Controller::new(cfg.clone(), "async_controller"));
    let (reader, writer) = pipe();
    let wire = Arc::new(Mutex::new(writer));

    // The context tree: interrupt (Ctrl-C) → produce (the run time).
    let (interrupt, interrupt_cancel) = with_cancel_cause(&background());
    let (produce, _produce_cancel) =
        with_timeout_cause(&interrupt, cfg.duration, Stop("run time over"));
    let ctrl_c = ctl.on_interrupt(interrupt_cancel);

    ctl.print_header(&format!(
        "{} worker tasks on {threads} runtime threads",
        cfg.workers
    ));
    let started = Instant::now();

    // The API server: the threaded demo's blocking reader, on the blocking pool.
    let server = tokio::task::spawn_blocking(move || api_server(reader, cfg.objects));
    let workers = Arc::new(WaitGroup::new());
    let handles: Vec<_> = (0..cfg.workers)
        .map(|_| {
            // Counted before the spawn; done when the task ends, by return or panic.
            let done = workers.guard_owned();
            let (ctl, wire) = (ctl.clone(), wire.clone());
            tokio::spawn(async move {
                let _done = done;
                worker(ctl, wire).await;
            })
        })
        .collect();

    // The status line, every period until `status_done` is cancelled.
    let (status_done, stop_status) = with_cancel(&background());
    let status = {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            let mut status = ctl.status(started);
            let period = status.period();
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            while status_done.run_until_done(ticks.tick()).await.is_ok() {
                status.print();
            }
            status.finish();
        })
    };

    let stopped_by = tokio::spawn(informer(produce.clone(), ctl.clone()))
        .await
        .unwrap_or_else(|_| "the informer panicked".into());
    let produced = started.elapsed();

    // Graceful drain: everything queued, processing or waiting out a backoff is finished
    // (retries included). The queue is then idle, with nothing processing and no producer
    // left, so a plain shutdown lets the workers go with nothing to drain.
    ctl.set_draining();
    ctl.queue().wait_idle_async().await;
    ctl.queue().shut_down();
    workers.wait_async().await;
    let mut panicked = 0;
    for handle in handles {
        panicked += usize::from(handle.await.is_err());
    }
    wire.lock().await.close(); // end of stream for the API server
    let server = server
        .await
        .unwrap_or_else(|_| Server::failed("the API server panicked"));
    let elapsed = started.elapsed();
    stop_status.cancel();
    let _ = status.await;
    drop(ctrl_c);

    ctl.report(&server, &stopped_by, produced, elapsed, panicked)
}
