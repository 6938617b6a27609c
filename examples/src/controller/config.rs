//! Every number of a controller run, read from the command line.

use std::time::Duration;

use crate::Flags;

/// Every number of the run (`--help` lists the flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// How long the informer produces events (`--duration`).
    pub duration: Duration,
    /// Objects watched by the informer (`--objects`).
    pub objects: u32,
    /// Workers, threads or tasks (`--workers`).
    pub workers: usize,
    /// Informer events per second (`--rate`).
    pub rate: u64,
    /// Events per informer burst (`--burst`).
    pub burst: u32,
    /// Objects that get 90% of a burst's events (`--hot`).
    pub hot: u32,
    /// Simulated API latency per reconcile (`--work`).
    pub work: Duration,
    /// Bytes of each rendered object sent through the pipe (`--payload`).
    pub payload: usize,
    /// Percent of object versions whose first reconciles fail (`--fail-pct`).
    pub fail_pct: u64,
    /// At most this many failures of a transient failure (`--max-transient`).
    pub max_transient: u32,
    /// Every n-th object always fails, 0 for none (`--permanent-every`).
    pub permanent_every: u32,
    /// Retries before a failing object is given up (`--max-retries`).
    pub max_retries: u32,
    /// First per-item retry delay, doubling (`--retry-base`).
    pub retry_base: Duration,
    /// Longest per-item retry delay (`--retry-max`).
    pub retry_max: Duration,
    /// Overall retry rate of the bucket limiter (`--retry-qps`).
    pub retry_qps: u64,
    /// Burst of the overall retry bucket (`--retry-burst`).
    pub retry_burst: u32,
    /// Status line period when stdout is not a terminal (`--status`).
    pub status: Duration,
    /// Seed of the event stream and the failures (`--seed`).
    pub seed: u64,
}

impl Config {
    /// Declares and reads the controller's flags from `f`; `workers_help` describes
    /// `--workers` ("worker threads", "worker tasks"). Call [`Flags::finish`] and then
    /// [`check`](Config::check) after any flags of the driver's own.
    pub fn from_flags(f: &mut Flags, workers_help: &str) -> Config {
        Config {
            duration: f.duration(
                "duration",
                Duration::from_secs(12),
                "how long the informer produces events",
            ),
            objects: f.value("objects", 2000, "objects watched by the informer"),
            workers: f.value("workers", 4, workers_help),
            rate: f.value("rate", 6000, "informer events per second"),
            burst: f.value("burst", 120, "events per informer burst"),
            hot: f.value(
                "hot",
                8,
                "objects that get 90% of a burst's events (duplicates)",
            ),
            work: f.duration(
                "work",
                Duration::from_micros(250),
                "simulated API latency per reconcile",
            ),
            payload: f.value(
                "payload",
                2048,
                "bytes of each rendered object sent through the pipe",
            ),
            fail_pct: f.value(
                "fail-pct",
                8,
                "percent of object versions whose first reconciles fail",
            ),
            max_transient: f.value(
                "max-transient",
                3,
                "at most this many failures of a transient failure",
            ),
            permanent_every: f.value(
                "permanent-every",
                97,
                "every n-th object always fails (0: none)",
            ),
            max_retries: f.value(
                "max-retries",
                5,
                "retries before a failing object is given up",
            ),
            retry_base: f.duration(
                "retry-base",
                Duration::from_millis(5),
                "first retry delay (per item, doubling)",
            ),
            retry_max: f.duration(
                "retry-max",
                Duration::from_secs(1),
                "longest per-item retry delay",
            ),
            retry_qps: f.value(
                "retry-qps",
                1000,
                "overall retry rate of the bucket limiter",
            ),
            retry_burst: f.value("retry-burst", 200, "burst of the overall retry bucket"),
            status: f.duration(
                "status",
                Duration::from_secs(1),
                "status line period when stdout is not a terminal",
            ),
            seed: f.value("seed", 1, "seed of the event stream and the failures"),
        }
    }

    /// Checks the numbers that would make the run meaningless; prints the first problem
    /// and exits with status 2 if there is one.
    pub fn check(&self) {
        let bad = |msg: &str| -> ! {
            eprintln!("error: {msg}");
            std::process::exit(2)
        };
        if self.objects == 0 || self.workers == 0 || self.rate == 0 || self.burst == 0 {
            bad("--objects, --workers, --rate and --burst must be at least 1");
        }
        if self.max_transient > self.max_retries {
            bad("--max-transient must not exceed --max-retries (transient failures must recover)");
        }
        if self.fail_pct > 100 || self.retry_qps == 0 || self.retry_burst == 0 {
            bad("--fail-pct is at most 100; --retry-qps and --retry-burst at least 1");
        }
        if self.payload > 16 << 20 || self.status.is_zero() {
            bad("--payload is at most 16 MiB; --status must be positive");
        }
    }
}
