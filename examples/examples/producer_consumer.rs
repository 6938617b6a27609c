//! The producer-consumer exercise Go study material builds the whole topic around:
//! several producers and several consumers around a small "product area" guarded by
//! one mutex and a condition variable, stopped gracefully with a context, joined with
//! a WaitGroup.
//!
//! * Producers put numbered products into the area until the context is done (its
//!   timeout, `--duration`, or Ctrl-C); a producer blocked on a full area is woken by
//!   the cancel itself (`Cond::wait_context`), not by polling.
//! * Consumers take products until the producers are all gone *and* the area is empty:
//!   what is left when the context ends is drained, not dropped.
//! * A `WaitGroup` joins the producers (then the area is closed) and the consumers.
//! * At the end the run is verified: every product made was consumed exactly once
//!   (per producer: the count, and a 64-bit hash sum of the product numbers, so a lost
//!   product and a duplicate cannot cancel out); the exit status is non-zero if not.
//!
//! `--impl` runs the same workload over three product areas and prints each one's
//! throughput: `cond` (a `parking_lot::Mutex` + two gosync `Cond`s, not-full and
//! not-empty, as Go's version writes it), `workqueue` (the gosync work queue, bounded
//! to the same capacity by a slot count on a `Cond`), `channel` (crossbeam-channel's
//! bounded channel), or `all`.
//!
//! ```text
//! cargo run --release -p gosync-examples --example producer_consumer -- [options]
//!   --producers N     producers (default 5)
//!   --consumers N     consumers (default 3)
//!   --capacity N      product area capacity (default 3)
//!   --duration D      how long producers run: 3s, 500ms, 1.5 (seconds) (default 3s)
//!   --items N         stop each producer after N products (default: no limit)
//!   --impl I          cond | workqueue | channel | all (default cond)
//!   --verbose         print every produce and consume, with the area's fill level
//! ```

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use gosync_cond::Cond;
use gosync_context::{background, with_cancel, with_timeout, Context};
use gosync_waitgroup::WaitGroup;
use gosync_workqueue::Queue;
use parking_lot::Mutex;

/// Product numbers: the producer in the high bits, its sequence number in the low 40.
const SEQ_BITS: u32 = 40;

fn product(p: usize, seq: u64) -> u64 {
    ((p as u64) << SEQ_BITS) | seq
}

fn producer_of(item: u64) -> usize {
    (item >> SEQ_BITS) as usize
}

fn label(item: u64) -> String {
    format!("{}:{}", producer_of(item), item & ((1 << SEQ_BITS) - 1))
}

/// A 64-bit mix (splitmix64's finalizer): summed per producer, it fingerprints the set
/// of product numbers.
fn mix(x: u64) -> u64 {
    // Offset first (splitmix64's increment), so that product 0 does not hash to 0.
    let mut x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A product area: a bounded buffer of products.
trait Area: Sync {
    /// Puts `item`, blocking while the area is full. Returns the fill level after the
    /// put, or `None` if `ctx` was done first (the item was not put).
    fn put(&self, ctx: &Context, item: u64) -> Option<usize>;
    /// Takes a product, blocking while the area is empty; returns it with the fill
    /// level after the take, or `None` once the area is closed and empty.
    fn take(&self) -> Option<(u64, usize)>;
    /// Every producer is gone: consumers drain what is left, then see `None`.
    fn close(&self);
}

/// Go's version: one mutex, two condition variables.
struct CondArea {
    state: Mutex<CondState>,
    capacity: usize,
    not_full: Cond,
    not_empty: Cond,
}

struct CondState {
    products: VecDeque<u64>,
    closed: bool,
}

impl CondArea {
    fn new(capacity: usize) -> CondArea {
        CondArea {
            state: Mutex::new(CondState {
                products: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            capacity,
            not_full: Cond::new(),
            not_empty: Cond::new(),
        }
    }
}

impl Area for CondArea {
    fn put(&self, ctx: &Context, item: u64) -> Option<usize> {
        let mut g = self.state.lock();
        while g.products.len() == self.capacity {
            // Woken by a consumer's signal, or by the context's cancel.
            self.not_full.wait_context(ctx, &mut g).ok()?;
        }
        g.products.push_back(item);
        self.not_empty.signal();
        Some(g.products.len())
    }

    fn take(&self) -> Option<(u64, usize)> {
        let mut g = self.state.lock();
        loop {
            if let Some(item) = g.products.pop_front() {
                self.not_full.signal();
                return Some((item, g.products.len()));
            }
            if g.closed {
                return None;
            }
            self.not_empty.wait(&mut g);
        }
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.not_empty.broadcast();
    }
}

/// The gosync work queue (unbounded) behind a slot count on a `Cond`, so that it holds
/// at most `capacity` products like the others.
struct WorkQueueArea {
    queue: Queue<u64>,
    free: Mutex<usize>,
    slot_freed: Cond,
}

impl WorkQueueArea {
    fn new(capacity: usize) -> WorkQueueArea {
        WorkQueueArea {
            queue: Queue::new(),
            free: Mutex::new(capacity),
            slot_freed: Cond::new(),
        }
    }
}

impl Area for WorkQueueArea {
    fn put(&self, ctx: &Context, item: u64) -> Option<usize> {
        {
            let mut free = self.free.lock();
            while *free == 0 {
                self.slot_freed.wait_context(ctx, &mut free).ok()?;
            }
            *free -= 1;
        }
        self.queue.add(item);
        Some(self.queue.len())
    }

    fn take(&self) -> Option<(u64, usize)> {
        let guard = self.queue.get()?;
        let item = *guard;
        guard.done();
        let fill = self.queue.len();
        *self.free.lock() += 1;
        self.slot_freed.signal();
        Some((item, fill))
    }

    fn close(&self) {
        self.queue.shut_down(); // the products still queued are handed out first
    }
}

/// crossbeam-channel's bounded channel; closing sends one end-of-stream mark per
/// consumer (after every product, so the products are drained first).
struct ChannelArea {
    tx: Sender<u64>,
    rx: Receiver<u64>,
    consumers: usize,
}

const END: u64 = u64::MAX;

impl Area for ChannelArea {
    fn put(&self, ctx: &Context, item: u64) -> Option<usize> {
        select! {
            send(self.tx, item) -> sent => sent.expect("the area owns a receiver"),
            recv(ctx.done_chan()) -> _ => return None,
        }
        Some(self.tx.len())
    }

    fn take(&self) -> Option<(u64, usize)> {
        match self.rx.recv().expect("the area owns a sender") {
            END => None,
            item => Some((item, self.rx.len())),
        }
    }

    fn close(&self) {
        for _ in 0..self.consumers {
            self.tx.send(END).expect("the area owns a receiver");
        }
    }
}

/// What one side saw of one producer's products.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Tally {
    count: u64,
    hash_sum: u64,
}

impl Tally {
    fn add(&mut self, item: u64) {
        self.count += 1;
        self.hash_sum = self.hash_sum.wrapping_add(mix(item));
    }

    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.hash_sum = self.hash_sum.wrapping_add(other.hash_sum);
    }
}

struct Config {
    producers: usize,
    consumers: usize,
    capacity: usize,
    duration: Duration,
    items: Option<u64>,
    impls: Vec<&'static str>,
    verbose: bool,
    /// For the tests: a consumer drops one product without counting it, to show that
    /// the conservation check fails.
    inject_loss: bool,
}

struct Outcome {
    produced: u64,
    elapsed: Duration,
    ok: bool,
}

fn run(cfg: &Config, root: &Context, area: &dyn Area, name: &str) -> Outcome {
    let (ctx, _cancel) = with_timeout(root, cfg.duration);
    println!("{name:>9}: running");
    let produced = Mutex::new(vec![Tally::default(); cfg.producers]);
    let consumed = Mutex::new(vec![Tally::default(); cfg.producers]);
    let lost_one = AtomicBool::new(!cfg.inject_loss);
    let (producers, consumers) = (WaitGroup::new(), WaitGroup::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..cfg.consumers {
            let (consumed, lost_one) = (&consumed, &lost_one);
            consumers.go_scoped(s, move || {
                let mut mine = vec![Tally::default(); cfg.producers];
                while let Some((item, fill)) = area.take() {
                    if !lost_one.swap(true, Ordering::Relaxed) {
                        continue; // the injected loss
                    }
                    mine[producer_of(item)].add(item);
                    if cfg.verbose {
                        println!(
                            "consumer {c} took    {:>8}   area {fill}/{}",
                            label(item),
                            cfg.capacity
                        );
                    }
                }
                let mut all = consumed.lock();
                for (t, m) in all.iter_mut().zip(mine) {
                    t.merge(m);
                }
            });
        }
        for p in 0..cfg.producers {
            let (ctx, produced) = (&ctx, &produced);
            producers.go_scoped(s, move || {
                let mut mine = Tally::default();
                let mut seq = 0;
                while !ctx.is_done() && cfg.items.map_or(true, |n| seq < n) {
                    let item = product(p, seq);
                    let Some(fill) = area.put(ctx, item) else {
                        break;
                    };
                    mine.add(item);
                    seq += 1;
                    if cfg.verbose {
                        println!(
                            "producer {p} put     {:>8}   area {fill}/{}",
                            label(item),
                            cfg.capacity
                        );
                    }
                }
                produced.lock()[p] = mine;
            });
        }
        producers.wait();
        let stopped_by = match ctx.err() {
            Some(e) => format!("context: {e}"),
            None => "item limit".to_string(),
        };
        if cfg.verbose {
            println!("{name}: producers done ({stopped_by}); consumers drain the area");
        }
        area.close();
        consumers.wait();
    });
    let elapsed = started.elapsed();
    let (produced, consumed) = (produced.into_inner(), consumed.into_inner());
    let mut ok = true;
    for (p, (made, got)) in produced.iter().zip(&consumed).enumerate() {
        if made != got {
            ok = false;
            println!(
                "{name}: CONSERVATION FAILED for producer {p}: produced {} (hash {:#x}), consumed {} (hash {:#x})",
                made.count, made.hash_sum, got.count, got.hash_sum
            );
        }
    }
    Outcome {
        produced: produced.iter().map(|t| t.count).sum(),
        elapsed,
        ok,
    }
}

fn usage() -> &'static str {
    "usage: producer_consumer [--producers N] [--consumers N] [--capacity N] [--duration D] \
     [--items N] [--impl cond|workqueue|channel|all] [--verbose]"
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?} (try 3s, 500ms or 1.5)");
    let (num, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(secs) = s.strip_suffix('s') {
        (secs, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(v * scale).map_err(|_| bad())
}

fn parse(args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut cfg = Config {
        producers: 5,
        consumers: 3,
        capacity: 3,
        duration: Duration::from_secs(3),
        items: None,
        impls: vec!["cond"],
        verbose: false,
        inject_loss: false,
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let count = |v: String| -> Result<usize, String> {
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag} needs a positive number, not {v:?}")),
            }
        };
        match flag.as_str() {
            "--producers" => cfg.producers = count(value()?)?,
            "--consumers" => cfg.consumers = count(value()?)?,
            "--capacity" => cfg.capacity = count(value()?)?,
            "--duration" => cfg.duration = parse_duration(&value()?)?,
            "--items" => cfg.items = Some(count(value()?)? as u64),
            "--impl" => {
                cfg.impls = match value()?.as_str() {
                    "cond" => vec!["cond"],
                    "workqueue" => vec!["workqueue"],
                    "channel" => vec!["channel"],
                    "all" => vec!["cond", "workqueue", "channel"],
                    other => return Err(format!("unknown --impl {other:?}")),
                }
            }
            "--verbose" => cfg.verbose = true,
            "--inject-loss" => cfg.inject_loss = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if cfg.producers >= 1 << (64 - SEQ_BITS) {
        return Err("--producers is too large".into());
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match parse(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("producer_consumer: {e}");
            }
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    let (root, cancel) = with_cancel(&background());
    ctrl_c::cancel_on_interrupt(cancel);
    println!(
        "{} producers, {} consumers, product area of capacity {}, for {:?}{}",
        cfg.producers,
        cfg.consumers,
        cfg.capacity,
        cfg.duration,
        cfg.items
            .map_or(String::new(), |n| format!(" or {n} products each")),
    );
    let mut all_ok = true;
    for &name in &cfg.impls {
        if root.is_done() {
            println!("{name}: skipped (interrupted)");
            continue;
        }
        let outcome = match name {
            "cond" => run(&cfg, &root, &CondArea::new(cfg.capacity), name),
            "workqueue" => run(&cfg, &root, &WorkQueueArea::new(cfg.capacity), name),
            _ => {
                let (tx, rx) = bounded(cfg.capacity);
                let area = ChannelArea {
                    tx,
                    rx,
                    consumers: cfg.consumers,
                };
                run(&cfg, &root, &area, name)
            }
        };
        let secs = outcome.elapsed.as_secs_f64();
        println!(
            "{name:>9}: {} products made and consumed in {secs:.3} s = {:.3} M items/s; conservation {}",
            outcome.produced,
            outcome.produced as f64 / secs / 1e6,
            if outcome.ok { "OK" } else { "FAILED" },
        );
        all_ok &= outcome.ok;
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Ctrl-C cancels the root context (so the run stops like at its timeout, and drains).
/// No new dependency: a SIGINT handler writes a byte into a pipe (the async-signal-safe
/// self-pipe trick) and a thread blocked reading the pipe cancels the context.
#[cfg(unix)]
mod ctrl_c {
    use std::sync::atomic::{AtomicI32, Ordering};

    use gosync_context::CancelFunc;

    /// The pipe's write end, for the signal handler.
    static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_sigint(_: libc::c_int) {
        let byte = 1u8;
        // Relaxed: the fd was stored before the handler was installed.
        let fd = WRITE_FD.load(Ordering::Relaxed);
        // SAFETY: `write` is async-signal-safe; `byte` outlives the call and the fd is
        // the pipe's write end, open for the life of the process.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }

    pub(crate) fn cancel_on_interrupt(cancel: CancelFunc) {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            eprintln!("producer_consumer: no pipe, Ctrl-C will not stop the run gracefully");
            return;
        }
        // Relaxed: read only by the handler installed below (the install orders it).
        WRITE_FD.store(fds[1], Ordering::Relaxed);
        let read_fd = fds[0];
        std::thread::spawn(move || {
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte` from the pipe's read end.
            if unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) } == 1 {
                eprintln!("\ninterrupted: stopping producers, draining consumers");
                cancel.cancel();
            }
        });
        let handler = on_sigint as extern "C" fn(libc::c_int);
        // SAFETY: the handler only calls the async-signal-safe `write`.
        unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
    }
}

#[cfg(not(unix))]
mod ctrl_c {
    /// Elsewhere Ctrl-C ends the process at once (only the timeout stops a run
    /// gracefully).
    pub(crate) fn cancel_on_interrupt(_cancel: gosync_context::CancelFunc) {}
}
