//! Retrying a flaky operation with `gosync_ratelimit`: a `Backoff` for one call, and
//! per-item limiters for many.
//!
//! 1. **`Backoff::retry_if`** around a flaky "fetch": it fails with a transient error
//!    `--failures` times, then succeeds. The delays grow from `--initial` by a factor
//!    of 2 up to `--cap`, with equal jitter (each delay uniform in `[d/2, d]`). A
//!    permanent error is returned at once, without retrying; an operation that never
//!    succeeds is given up after `--max-steps` delays, with its last error.
//! 2. **Per-item limiters** (the `RateLimiter` trait, what a work queue asks "how long
//!    until this item's next retry?"): `--items` endpoints, the `i`-th failing `i`
//!    times, retried on one thread by a small scheduler that sleeps until the next due
//!    retry. Four limiters are compared on the same failures: `ExponentialLimiter`
//!    (`base · 2ⁿ` per item), `FastSlowLimiter` (fast for the first attempts, then
//!    slow), and `max_of(exponential, token bucket)` under `with_max_wait` (a per-item
//!    backoff that also respects an overall rate, capped), and `Jittered` (full jitter
//!    over the exponential delays, from a fixed seed). After each success the item
//!    is `forget`-ed, which resets its backoff.
//!
//! Every delay is checked against the formula it must follow, and every retry against
//! the time it actually waited.
//!
//! Run: `cargo run --release -p gosync-examples --example retry`

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::{Duration, Instant};

use gosync_core::Clock;
use gosync_examples::{fmt_duration, Flags};
use gosync_ratelimit::{
    max_of, with_max_wait, Backoff, ExponentialLimiter, FastSlowLimiter, Jitter, Jittered, Limit,
    RateLimiter, TokenBucket,
};

/// The flaky operation's errors.
#[derive(Debug, Clone, PartialEq)]
enum FetchError {
    /// Worth retrying (a 503).
    Unavailable,
    /// Not worth retrying (a 404).
    NotFound,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FetchError::Unavailable => "503 service unavailable",
            FetchError::NotFound => "404 not found",
        })
    }
}

/// Collects the checks; prints each as it is made.
struct Checks(Vec<bool>);

impl Checks {
    fn check(&mut self, ok: bool, what: impl fmt::Display) {
        println!("  [{}] {what}", if ok { " ok " } else { "FAIL" });
        self.0.push(ok);
    }
}

fn main() {
    let mut f = Flags::from_env(
        "retry",
        "Backoff and per-item rate limiters around a flaky operation, each delay checked.",
    );
    let failures: u32 = f.value(
        "failures",
        3,
        "transient failures before the fetch succeeds",
    );
    let initial = f.duration(
        "initial",
        Duration::from_millis(20),
        "the backoff's first delay",
    );
    let cap = f.duration(
        "cap",
        Duration::from_millis(200),
        "the backoff's largest delay",
    );
    let max_steps: u32 = f.value("max-steps", 5, "delays before the backoff gives up");
    let items: u32 = f.value(
        "items",
        5,
        "endpoints for the per-item limiters (the i-th fails i times)",
    );
    let base = f.duration(
        "base",
        Duration::from_millis(2),
        "the per-item limiters' first delay",
    );
    let seed: u64 = f.value("seed", 7, "the jitter's seed");
    f.finish();
    let mut checks = Checks(Vec::new());

    backoff_part(&mut checks, failures, initial, cap, max_steps, seed);
    limiters_part(&mut checks, items, base, seed);

    let ok = checks.0.iter().all(|&c| c);
    println!(
        "\nresult: {} ({} of {} checks passed)",
        if ok { "PASS" } else { "FAIL" },
        checks.0.iter().filter(|&&c| c).count(),
        checks.0.len()
    );
    std::process::exit(if ok { 0 } else { 1 });
}

/// The un-jittered delay before retry `step` (0-based): `min(initial · 2^step, cap)`.
fn backoff_delay(initial: Duration, cap: Duration, step: u32) -> Duration {
    initial
        .saturating_mul(1u32.checked_shl(step).unwrap_or(u32::MAX))
        .min(cap)
}

fn backoff_part(
    c: &mut Checks,
    failures: u32,
    initial: Duration,
    cap: Duration,
    max_steps: u32,
    seed: u64,
) {
    let build = || {
        Backoff::builder()
            .initial(initial)
            .factor(2.0)
            .cap(cap)
            .jitter(Jitter::Equal)
            .max_steps(max_steps)
            .seed(seed)
            .build()
            .expect("a valid backoff")
    };

    // A fetch that fails `failures` times, then succeeds.
    println!(
        "1. Backoff::retry_if: initial {}, factor 2, cap {}, equal jitter, at most {max_steps} retries",
        fmt_duration(initial),
        fmt_duration(cap)
    );
    println!("   a fetch that fails {failures} times with a transient error:");
    let mut attempts: Vec<Instant> = Vec::new();
    let start = Instant::now();
    let result = build().retry_if(
        || {
            attempts.push(Instant::now());
            let n = attempts.len() as u32;
            let r = if n > failures {
                Ok("config v42")
            } else {
                Err(FetchError::Unavailable)
            };
            match &r {
                Ok(v) => println!(
                    "     attempt {n} at {:>8}: ok, {v}",
                    fmt_duration(start.elapsed())
                ),
                Err(e) => println!(
                    "     attempt {n} at {:>8}: {e}",
                    fmt_duration(start.elapsed())
                ),
            }
            r
        },
        |e| *e == FetchError::Unavailable,
    );
    let expect_ok = failures <= max_steps;
    let gaps_ok = attempts.windows(2).enumerate().all(|(step, w)| {
        // Equal jitter: at least half the un-jittered delay, never more than it (plus
        // scheduling, which only makes the gap longer).
        let d = backoff_delay(initial, cap, step as u32);
        w[1] - w[0] >= half_up(d)
    });
    c.check(
        result.is_ok() == expect_ok && attempts.len() as u32 == failures.min(max_steps) + 1 && gaps_ok,
        format_args!(
            "{} after {} attempts; every wait at least half its delay (min(initial·2^n, cap), equal jitter)",
            if result.is_ok() { "succeeded" } else { "gave up" },
            attempts.len()
        ),
    );

    // A permanent error: returned at once.
    let mut calls = 0;
    let result: Result<(), _> = build().retry_if(
        || {
            calls += 1;
            Err(FetchError::NotFound)
        },
        |e| *e == FetchError::Unavailable,
    );
    c.check(
        calls == 1 && result == Err(FetchError::NotFound),
        format_args!(
            "a permanent error ({}) is returned after {calls} attempt, not retried",
            FetchError::NotFound
        ),
    );

    // Never succeeds: given up after `max_steps` delays, with the last error.
    let mut calls = 0;
    let start = Instant::now();
    let result: Result<(), _> = build().retry(|| {
        calls += 1;
        Err(FetchError::Unavailable)
    });
    let least: Duration = (0..max_steps)
        .map(|s| half_up(backoff_delay(initial, cap, s)))
        .sum();
    c.check(
        calls == max_steps + 1 && result == Err(FetchError::Unavailable) && start.elapsed() >= least,
        format_args!(
            "a fetch that never succeeds is given up after {calls} attempts ({max_steps} delays, {} in all), with its last error",
            fmt_duration(start.elapsed())
        ),
    );
}

/// Half a duration, rounded up (the least an equally-jittered delay can be).
fn half_up(d: Duration) -> Duration {
    Duration::from_nanos(u64::try_from(d.as_nanos().div_ceil(2)).unwrap_or(u64::MAX))
}

/// What one item went through under one limiter.
struct ItemRun {
    delays: Vec<Duration>,
    /// Each retry's actual wait minus its delay (never negative if the scheduler is right).
    waited_short: u32,
    requeues_at_success: u32,
    requeues_after_forget: u32,
}

/// Retries every item until it succeeds (item `i` fails `i` times), on one thread:
/// sleep until the earliest due retry, run it, ask the limiter for the next delay.
fn run_items(limiter: &dyn RateLimiter<String>, items: u32) -> Vec<ItemRun> {
    let clock = Clock::real();
    let names: Vec<String> = (0..items).map(|i| format!("endpoint-{i}")).collect();
    let mut runs: Vec<ItemRun> = (0..items)
        .map(|_| ItemRun {
            delays: Vec::new(),
            waited_short: 0,
            requeues_at_success: 0,
            requeues_after_forget: 0,
        })
        .collect();
    let mut attempts = vec![0u32; items as usize];
    let mut due_since: Vec<Option<(Instant, Duration)>> = vec![None; items as usize];
    let now = clock.now();
    let mut heap: BinaryHeap<Reverse<(Instant, u32)>> =
        (0..items).map(|i| Reverse((now, i))).collect();
    while let Some(Reverse((due, i))) = heap.pop() {
        clock.sleep_until(due);
        let idx = i as usize;
        if let Some((asked, delay)) = due_since[idx].take() {
            if clock.now().saturating_duration_since(asked) < delay {
                runs[idx].waited_short += 1;
            }
        }
        attempts[idx] += 1;
        let item = &names[idx];
        if attempts[idx] > i {
            runs[idx].requeues_at_success = limiter.num_requeues(item);
            limiter.forget(item); // success: reset its backoff
            runs[idx].requeues_after_forget = limiter.num_requeues(item);
        } else {
            let delay = limiter.when(item);
            let asked = clock.now();
            runs[idx].delays.push(delay);
            due_since[idx] = Some((asked, delay));
            heap.push(Reverse((asked + delay, i)));
        }
    }
    runs
}

fn limiters_part(c: &mut Checks, items: u32, base: Duration, seed: u64) {
    println!("\n2. per-item limiters: {items} endpoints, endpoint-i fails i times, retried by one scheduler thread");
    let cap = base * 16;
    let fast_attempts = 2;
    let slow = base * 10;
    let bucket_rate = 200;
    let exponential = ExponentialLimiter::<String>::new(base, cap);
    let fast_slow = FastSlowLimiter::<String>::new(base, slow, fast_attempts);
    let combined = with_max_wait(
        max_of(vec![
            Box::new(ExponentialLimiter::<String>::new(base, Duration::MAX)),
            Box::new(TokenBucket::new(Limit::per_second(bucket_rate), 2).expect("a valid bucket")),
        ]),
        cap,
    );
    let jittered = Jittered::with_seed(
        ExponentialLimiter::<String>::new(base, cap),
        Jitter::Full,
        seed,
    );
    type Rule = Box<dyn Fn(u32) -> (Duration, Duration)>;
    let cases: Vec<(String, &dyn RateLimiter<String>, Rule)> = vec![
        (
            format!(
                "ExponentialLimiter(base {}, max {})",
                fmt_duration(base),
                fmt_duration(cap)
            ),
            &exponential,
            Box::new(move |n| {
                let d = base.saturating_mul(1 << n.min(31)).min(cap);
                (d, d)
            }),
        ),
        (
            format!(
                "FastSlowLimiter({} for {fast_attempts} attempts, then {})",
                fmt_duration(base),
                fmt_duration(slow)
            ),
            &fast_slow,
            Box::new(move |n| {
                let d = if n < fast_attempts { base } else { slow };
                (d, d)
            }),
        ),
        (
            format!(
                "with_max_wait(max_of(exponential, {bucket_rate}/s bucket), {})",
                fmt_duration(cap)
            ),
            &combined,
            // At least the exponential delay (the bucket may add), at most the cap.
            Box::new(move |n| (base.saturating_mul(1 << n.min(31)).min(cap), cap)),
        ),
        (
            format!("Jittered(exponential, full jitter, seed {seed})"),
            &jittered,
            // Uniform in [0, the exponential delay].
            Box::new(move |n| (Duration::ZERO, base.saturating_mul(1 << n.min(31)).min(cap))),
        ),
    ];
    for (name, limiter, rule) in cases {
        let start = Instant::now();
        let runs = run_items(limiter, items);
        println!(
            "   {name}: all {items} succeeded in {}",
            fmt_duration(start.elapsed())
        );
        let mut ok = true;
        for (i, run) in runs.iter().enumerate() {
            let delays: Vec<String> = run.delays.iter().map(|&d| fmt_duration(d)).collect();
            let follows = run.delays.iter().enumerate().all(|(n, &d)| {
                let (lo, hi) = rule(n as u32);
                lo <= d && d <= hi
            });
            let counted = run.requeues_at_success == i as u32 && run.requeues_after_forget == 0;
            ok &= follows && counted && run.waited_short == 0 && run.delays.len() == i;
            println!(
                "     endpoint-{i}: retries after [{}]{}",
                delays.join(", "),
                if follows { "" } else { "  <- off the rule" }
            );
        }
        c.check(
            ok,
            "every delay follows the limiter's rule, every retry waited it out, num_requeues counted the failures and forget reset it",
        );
    }
}
