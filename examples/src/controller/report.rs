//! The final report: the run's figures, the checks that verify it, and the queue's
//! metrics in Prometheus text format.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use gosync_workqueue::MetricsSnapshot;

use super::wire::Server;
use super::{Controller, RELAXED};
use crate::fmt_duration;

impl Controller {
    /// Prints the report of a finished run and returns whether every check passed.
    ///
    /// Call it after the workers are joined (`panicked` of them panicked) and the API
    /// server has returned `server`; `stopped_by` is why the informer stopped,
    /// `produced` how long it ran and `elapsed` the whole run, drain included.
    pub fn report(
        &self,
        server: &Server,
        stopped_by: &str,
        produced: Duration,
        elapsed: Duration,
        panicked: usize,
    ) -> bool {
        let (shared, queue, pool) = (&*self.shared, &self.queue, &self.pool);
        let m = &self.metrics.snapshot(self.name).unwrap_or_default();
        let cfg = &shared.cfg;
        let n = &shared.n;
        let get = |c: &AtomicU64| c.load(RELAXED);
        let (events, reconciles) = (get(&n.events), get(&n.reconciles));

        println!(
            "\nstopped by: {stopped_by}, after {}; drained in {}",
            fmt_duration(produced),
            fmt_duration(elapsed.saturating_sub(produced))
        );
        println!(
            "  events        {events} ({:.0}/s), {reconciles} reconciles ({:.1} events per reconcile: duplicates collapsed)",
            events as f64 / produced.as_secs_f64(),
            events as f64 / reconciles.max(1) as f64
        );
        println!(
            "  reconciles    {} applied, {} failed: {} retried, {} given up",
            get(&n.applied),
            get(&n.failures),
            get(&n.retries),
            get(&n.given_up)
        );
        let ps = pool.stats();
        println!(
            "  scratch       {} pooled buffers served {} renders ({} idle at the end)",
            ps.created,
            get(&n.applied),
            ps.idle
        );
        pool.trim();
        pool.trim();
        println!(
            "  api server    {} frames, {:.1} MiB through the pipe, {} at a version it already had",
            server.frames,
            server.bytes as f64 / (1 << 20) as f64,
            server.same_version
        );
        println!("  wall time     {}", fmt_duration(elapsed));
        if n.hard_stop.load(RELAXED) {
            println!(
                "  note          a second Ctrl-C shut the queue down without the drain: the retries \
                 still waiting were dropped, so objects may be out of sync"
            );
        }

        let mut checks: Vec<(bool, String)> = Vec::new();

        // 1. Every object reconciled to its last version.
        let (mut healthy, mut in_sync, mut permanent, mut permanent_ok) = (0, 0, 0, 0);
        let mut out_of_sync = Vec::new();
        for key in 0..cfg.objects {
            let last = shared.versions[key as usize].load(RELAXED);
            let applied = server.applied[key as usize];
            if shared.permanent(key) {
                permanent += 1;
                let given_up = shared.given_up_keys[key as usize].load(RELAXED);
                if applied == 0 && (last == 0 || given_up > 0) {
                    permanent_ok += 1;
                } else {
                    out_of_sync.push(key);
                }
            } else {
                healthy += 1;
                if applied == last {
                    in_sync += 1;
                } else {
                    out_of_sync.push(key);
                }
            }
        }
        checks.push((
            out_of_sync.is_empty(),
            format!(
                "every object reconciled to its last version: {in_sync}/{healthy} in sync at the API server; \
                 {permanent_ok}/{permanent} always-failing objects given up, never applied{}",
                if out_of_sync.is_empty() {
                    String::new()
                } else {
                    format!(" (out of sync: {:?})", &out_of_sync[..out_of_sync.len().min(10)])
                }
            ),
        ));

        // 2. Never two workers on one key.
        let overlaps = get(&n.overlaps);
        checks.push((
            overlaps == 0,
            format!("never two workers on one key: {overlaps} overlaps in {reconciles} reconciles (atomic in-flight set)"),
        ));

        // 3. Nothing lost or duplicated: queue, pipe, API server.
        let queue_ok =
            reconciles == m.adds && m.depth == 0 && queue.is_empty() && queue.waiting_len() == 0;
        checks.push((
            queue_ok,
            format!(
                "queue lost and duplicated nothing: {reconciles} hand-outs = {} accepted adds; depth {}, waiting {} at the end",
                m.adds,
                m.depth,
                queue.waiting_len()
            ),
        ));
        let pipe_ok = server.error.is_none()
            && server.frames == get(&n.frames_sent)
            && server.bytes == get(&n.bytes_sent)
            && server.checksum == get(&n.checksum_sent)
            && server.corrupt == 0
            && server.backwards == 0
            && get(&n.send_errors) == 0;
        checks.push((
            pipe_ok,
            format!(
                "pipe lost and duplicated nothing: {}/{} frames, {}/{} bytes, checksums {}, {} corrupt, \
                 {} versions out of order, {} send errors{}",
                server.frames,
                get(&n.frames_sent),
                server.bytes,
                get(&n.bytes_sent),
                if server.checksum == get(&n.checksum_sent) { "equal" } else { "DIFFER" },
                server.corrupt,
                server.backwards,
                get(&n.send_errors),
                server.error.as_ref().map(|e| format!(", error: {e}")).unwrap_or_default()
            ),
        ));

        // 4. Retry delays match the limiter.
        let (recorded, below, held) = (
            get(&n.delays_recorded),
            get(&n.delays_below_formula),
            get(&n.delays_held_by_bucket),
        );
        let (checked, early, preempted) = (
            get(&n.retries_checked),
            get(&n.retries_early),
            get(&n.retries_preempted),
        );
        let delays_ok =
            below == 0 && early == 0 && recorded == get(&n.retries) && m.retries == recorded;
        checks.push((
            delays_ok,
            format!(
                "retry delays match the limiter: {recorded} delays ≥ min({}·2^n, {}) ({below} below, {held} held longer by the \
                 overall bucket); {checked} retries checked, {early} ran early (mean {} late), {preempted} re-added sooner \
                 by a newer event; {} retries in the metrics",
                fmt_duration(cfg.retry_base),
                fmt_duration(cfg.retry_max),
                fmt_duration(Duration::from_nanos(get(&n.lateness_ns) / checked.max(1))),
                m.retries
            ),
        ));
        let (wrong, transient) = (get(&n.give_up_wrong_attempts), get(&n.transient_given_up));
        checks.push((
            wrong == 0 && transient == 0,
            format!(
                "failures: {} give-ups, each after exactly {} retries ({wrong} otherwise); {transient} transient failures given up",
                get(&n.given_up),
                cfg.max_retries
            ),
        ));
        checks.push((
            panicked == 0,
            format!(
                "{} workers joined by the WaitGroup, {panicked} panicked",
                cfg.workers
            ),
        ));

        println!("\nverification:");
        let mut ok = true;
        for (passed, line) in &checks {
            ok &= passed;
            println!("  [{}] {line}", if *passed { " ok " } else { "FAIL" });
        }

        println!("\nqueue metrics (Prometheus text format):");
        print!("{}", prometheus(self.name, m));

        println!(
            "\nresult: {} ({} of {} checks passed)",
            if ok { "PASS" } else { "FAIL" },
            checks.iter().filter(|c| c.0).count(),
            checks.len()
        );
        ok
    }
}

/// The queue's metrics in the Prometheus text exposition format (client-go's names; the
/// two durations as summaries: count and sum).
fn prometheus(name: &str, m: &MetricsSnapshot) -> String {
    let l = format!("{{name=\"{name}\"}}");
    let mut s = String::new();
    let mut metric = |metric: &str, kind: &str, help: &str, lines: &[(&str, String)]| {
        s += &format!("# HELP {metric} {help}\n# TYPE {metric} {kind}\n");
        for (suffix, value) in lines {
            s += &format!("{metric}{suffix}{l} {value}\n");
        }
    };
    metric(
        "workqueue_depth",
        "gauge",
        "Current depth of the workqueue.",
        &[("", m.depth.to_string())],
    );
    metric(
        "workqueue_adds_total",
        "counter",
        "Total number of adds handled by the workqueue.",
        &[("", m.adds.to_string())],
    );
    for (metric_name, help, h) in [
        (
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in the workqueue before being requested.",
            m.queue_latency,
        ),
        (
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from the workqueue takes.",
            m.work_duration,
        ),
    ] {
        metric(
            metric_name,
            "summary",
            help,
            &[
                ("_sum", format!("{}", h.sum)),
                ("_count", h.count.to_string()),
            ],
        );
    }
    metric(
        "workqueue_unfinished_work_seconds",
        "gauge",
        "Seconds of work in progress not yet observed by work_duration.",
        &[("", format!("{}", m.unfinished_work_seconds))],
    );
    metric(
        "workqueue_longest_running_processor_seconds",
        "gauge",
        "Seconds the longest running processor has been running.",
        &[("", format!("{}", m.longest_running_processor_seconds))],
    );
    metric(
        "workqueue_retries_total",
        "counter",
        "Total number of retries handled by the workqueue.",
        &[("", m.retries.to_string())],
    );
    s
}
