//! Testing your own controller deterministically with `FakeClock`: retry delays of
//! seconds, a ten-minute deadline and a backoff, checked to the exact instant, in a few
//! milliseconds of real time and with no sleeps in the test.
//!
//! The pattern: the code under test takes a `Clock` (`Clock::real()` in production,
//! `fake.clock()` in tests) and gives it to every gosync primitive it builds: the work
//! queue (`Queue::builder().clock(..)`, whose limiter delays then run on it), the
//! context tree (`background_with_clock`), the `Backoff` (`.clock(..)`). The test then:
//!
//! 1. lets the code reach its wait: `fake.block_until_waiter_at(deadline, real_timeout)`
//!    returns once some thread waits for exactly that instant (here the queue's delay
//!    thread, or the backoff's sleep);
//! 2. moves time: `fake.advance(d)`; the waits whose deadline has come wake up, the
//!    others do not, so "not a nanosecond early" is checkable too.
//!
//! This example is such a test, printed step by step; it exits non-zero if a check fails.
//!
//! Run: `cargo run --release -p gosync-examples --example fake_clock`

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gosync_context::{background_with_clock, with_timeout, Context, Error as CtxError};
use gosync_core::{Clock, FakeClock};
use gosync_examples::{fmt_duration, Flags};
use gosync_ratelimit::{Backoff, ExponentialLimiter};
use gosync_workqueue::{GetContextError, Queue, RateLimitingQueue};

// ---------------------------------------------------------------------------------------
// The code under test: a small controller whose time all comes from an injected Clock.

/// One reconcile, as the controller reports it.
#[derive(Debug, Clone, PartialEq)]
struct Attempt {
    key: String,
    number: u32,
    at: Instant,
    ok: bool,
}

/// Reconciles keys against a backend that fails some of them a few times; retries
/// with per-item exponential backoff; stops when its context is done.
struct Controller {
    queue: RateLimitingQueue<String, ExponentialLimiter<String>>,
    clock: Clock,
    /// Remaining failures per key.
    backend: Mutex<HashMap<String, u32>>,
    attempts: Mutex<HashMap<String, u32>>,
    report: Mutex<Sender<Attempt>>,
}

impl Controller {
    fn new(
        clock: Clock,
        base: Duration,
        failures: &[(&str, u32)],
        report: Sender<Attempt>,
    ) -> Controller {
        Controller {
            queue: RateLimitingQueue::with_limiter(
                Queue::builder().clock(clock.clone()),
                ExponentialLimiter::new(base, Duration::from_secs(300)),
            ),
            clock,
            backend: Mutex::new(failures.iter().map(|&(k, n)| (k.to_owned(), n)).collect()),
            attempts: Mutex::default(),
            report: Mutex::new(report),
        }
    }

    /// The worker loop; returns why it stopped.
    fn run(&self, ctx: &Context) -> GetContextError {
        loop {
            let key = match self.queue.get_context(ctx) {
                Ok(key) => key,
                Err(e) => return e,
            };
            let ok = {
                let mut backend = self.backend.lock().unwrap();
                match backend.get_mut(&*key) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        false
                    }
                    _ => true,
                }
            };
            let number = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts.entry(key.clone()).or_default();
                *n += 1;
                *n
            };
            if ok {
                self.queue.forget(&key);
            } else {
                self.queue.add_rate_limited(key.clone());
            }
            let attempt = Attempt {
                key: key.clone(),
                number,
                at: self.clock.now(),
                ok,
            };
            let _ = self.report.lock().unwrap().send(attempt);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The test.

/// A real-time guard against a hang (a bug), never a timing assertion.
const HANG: Duration = Duration::from_secs(30);

struct Checks(Vec<bool>);

impl Checks {
    fn check(&mut self, ok: bool, what: impl fmt::Display) {
        println!("  [{}] {what}", if ok { " ok " } else { "FAIL" });
        self.0.push(ok);
    }
}

fn next(rx: &Receiver<Attempt>) -> Option<Attempt> {
    rx.recv_timeout(HANG).ok() // `None` on a hang: the check fails
}

fn main() {
    let mut f = Flags::from_env(
        "fake_clock",
        "How to test your own controller deterministically with FakeClock: delays, deadlines, backoff.",
    );
    let failures: u32 = f.value("failures", 3, "failures of the key `db` before it syncs");
    let base = f.duration(
        "base",
        Duration::from_secs(1),
        "the controller's first retry delay (fake time)",
    );
    let deadline = f.duration(
        "deadline",
        Duration::from_secs(600),
        "the controller's run deadline (fake time)",
    );
    let steps: u32 = f.value(
        "backoff-failures",
        4,
        "failures of the operation under Backoff::retry",
    );
    f.finish();
    let real_start = Instant::now();
    let mut c = Checks(Vec::new());

    let fake = FakeClock::new();
    let t0 = fake.now();
    let at = |t: Instant| fmt_duration(t.saturating_duration_since(t0));

    // 1. Retry delays.
    println!(
        "1. retries: `db` fails {failures} times; per-item backoff from {}",
        fmt_duration(base)
    );
    let (tx, rx) = mpsc::channel();
    let ctl = Arc::new(Controller::new(fake.clock(), base, &[("db", failures)], tx));
    let root = background_with_clock(fake.clock());
    let (ctx, _cancel) = with_timeout(&root, deadline);
    let worker = {
        let (ctl, ctx) = (ctl.clone(), ctx.clone());
        thread::spawn(move || ctl.run(&ctx))
    };
    ctl.queue.add("db".to_owned());
    let first = next(&rx);
    c.check(
        first
            .as_ref()
            .is_some_and(|a| a.number == 1 && a.at == t0 && a.ok == (failures == 0)),
        format_args!(
            "attempt 1 at +0s: {}",
            if failures == 0 { "synced" } else { "failed" }
        ),
    );
    for n in 0..failures {
        let delay = base
            .saturating_mul(1 << n.min(31))
            .min(Duration::from_secs(300));
        let due = fake.now() + delay;
        // The queue's delay thread is now waiting for exactly `due`.
        let waiting = fake.block_until_waiter_at(due, HANG);
        fake.advance(delay - Duration::from_nanos(1));
        // Had it fired, the item would be out of the waiting set before the delay
        // thread waits again; once it waits for `due` again, the state is settled.
        let rewaiting = fake.block_until_waiter_at(due, HANG);
        let early = rx.try_recv().is_ok() || !ctl.queue.is_empty() || ctl.queue.waiting_len() != 1;
        fake.advance(Duration::from_nanos(1));
        let attempt = next(&rx);
        c.check(
            waiting && rewaiting && !early && attempt.as_ref().is_some_and(|a| a.at == due && a.number == n + 2),
            format_args!(
                "attempt {} at +{}: not handed out 1ns before its {} backoff, handed out exactly at it ({})",
                n + 2,
                at(due),
                fmt_duration(delay),
                if attempt.as_ref().is_some_and(|a| a.ok) { "synced" } else { "failed" }
            ),
        );
    }
    c.check(
        ctl.queue.num_requeues(&"db".to_owned()) == 0 && ctl.queue.waiting_len() == 0,
        "once synced the key is forgotten: no requeues, nothing waiting",
    );

    // 2. The deadline.
    println!(
        "\n2. deadline: the controller's context times out at +{}",
        fmt_duration(deadline)
    );
    let until = t0 + deadline;
    fake.set(until - Duration::from_nanos(1));
    let before = !ctx.is_done();
    fake.set(until);
    let stopped = match worker.join() {
        Ok(e) => e,
        Err(_) => GetContextError::ShutDown,
    };
    c.check(
        before && stopped == GetContextError::Context(CtxError::DeadlineExceeded) && ctx.is_done(),
        format_args!(
            "running 1ns before the deadline; at it the worker's get_context returned: {stopped}"
        ),
    );

    // 3. A Backoff on the fake clock.
    println!("\n3. Backoff::retry on the fake clock: the operation fails {steps} times");
    let clock = fake.clock();
    let start = fake.now();
    let retrying = {
        let clock = clock.clone();
        thread::spawn(move || {
            let mut backoff = Backoff::builder()
                .initial(Duration::from_millis(100))
                .factor(2.0)
                .cap(Duration::from_secs(1))
                .max_steps(steps + 1)
                .clock(clock.clone())
                .build()
                .expect("a valid backoff");
            let mut times = Vec::new();
            let result = backoff.retry(|| {
                times.push(clock.now());
                if times.len() as u32 > steps {
                    Ok(())
                } else {
                    Err("unavailable")
                }
            });
            (result, times)
        })
    };
    let mut expected = vec![start];
    let mut all_waited = true;
    for n in 0..steps {
        let delay = Duration::from_millis(100)
            .saturating_mul(1 << n.min(31))
            .min(Duration::from_secs(1));
        let due = fake.now() + delay;
        all_waited &= fake.block_until_waiter_at(due, HANG); // the backoff's sleep
        fake.advance(delay);
        expected.push(due);
    }
    let (result, times) = retrying.join().unwrap_or((Err("panicked"), Vec::new()));
    let shown: Vec<String> = times
        .iter()
        .map(|&t| format!("+{}", fmt_duration(t - start)))
        .collect();
    c.check(
        all_waited && result.is_ok() && times == expected,
        format_args!(
            "attempts at [{}] of fake time: exactly 100ms·2^n apart",
            shown.join(", ")
        ),
    );

    let simulated = fake.now() - t0;
    println!(
        "\n{} of fake time simulated in {} of real time",
        fmt_duration(simulated),
        fmt_duration(real_start.elapsed())
    );
    let ok = c.0.iter().all(|&x| x);
    println!(
        "\nresult: {} ({} of {} checks passed)",
        if ok { "PASS" } else { "FAIL" },
        c.0.iter().filter(|&&x| x).count(),
        c.0.len()
    );
    std::process::exit(if ok { 0 } else { 1 });
}
