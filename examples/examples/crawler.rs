//! A crawler-style fan-out on gosync-errgroup (Go's `golang.org/x/sync`).
//!
//! A synthetic web of pages spread over a few hosts is crawled from page 0:
//!
//! * an [`errgroup::Group`](gosync_errgroup::Group) with a context runs one task per page,
//!   at most `--limit` at a time (`set_limit`); the first task that fails cancels the
//!   context, and the other tasks see it and stop;
//! * every fetch resolves its page's host first: a cache in front of a slow lookup, with
//!   a [`singleflight::Group`](gosync_errgroup::singleflight::Group) collapsing the
//!   concurrent misses for one host into one lookup;
//! * the coordinator (this thread) receives each task's links and starts tasks for the
//!   pages not seen yet, so no task ever blocks on the limit while holding a slot.
//!
//! Two crawls run: a clean one (every page fetched; each host looked up exactly once;
//! never more than `--limit` fetches at once) and one where page `--fail-at` is broken
//! (the crawl stops with that error and the context's cause is it). The program checks
//! all of that and prints `result: PASS`.
//!
//! Run: `cargo run --release -p gosync-examples --example crawler -- --pages=1500
//! --limit=8 --hosts=12 --fail-at=700`

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use gosync_context::{background, Context};
use gosync_errgroup::{singleflight, Group};

#[derive(Debug, Clone, PartialEq)]
enum CrawlError {
    Broken(usize),
}

impl std::fmt::Display for CrawlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrawlError::Broken(page) => write!(f, "page {page} is broken"),
        }
    }
}

impl std::error::Error for CrawlError {}

struct Config {
    pages: usize,
    limit: usize,
    hosts: usize,
    fail_at: usize,
    lookup: Duration,
    fetch: Duration,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        pages: 1500,
        limit: 8,
        hosts: 12,
        fail_at: 700,
        lookup: Duration::from_millis(40),
        fetch: Duration::from_millis(3),
    };
    for arg in std::env::args().skip(1) {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected --name=value, got {arg:?}"))?;
        let n: usize = value
            .parse()
            .map_err(|e| format!("{name}: {value:?} is not a count: {e}"))?;
        match name {
            "--pages" => c.pages = n,
            "--limit" => c.limit = n,
            "--hosts" => c.hosts = n,
            "--fail-at" => c.fail_at = n,
            "--lookup-ms" => c.lookup = Duration::from_millis(n as u64),
            "--fetch-ms" => c.fetch = Duration::from_millis(n as u64),
            _ => return Err(format!("unknown flag {name}")),
        }
    }
    if c.pages < 2 || c.limit == 0 || c.hosts == 0 || c.fail_at == 0 || c.fail_at >= c.pages {
        return Err(
            "need --pages >= 2, --limit >= 1, --hosts >= 1, 0 < --fail-at < --pages".into(),
        );
    }
    Ok(c)
}

/// The synthetic web: each page links to three others; page `i` lives on host `i % hosts`.
fn links(page: usize, pages: usize) -> [usize; 3] {
    [
        (page + 1) % pages,
        (page * 7 + 3) % pages,
        (page * 13 + 5) % pages,
    ]
}

/// Host name → address: a cache in front of a slow lookup, with singleflight collapsing
/// the concurrent misses for one host.
struct Resolver {
    cache: Mutex<HashMap<usize, String>>,
    flight: singleflight::Group<usize, String>,
    lookups: AtomicUsize,
    shared: AtomicUsize,
    delay: Duration,
}

impl Resolver {
    fn resolve(&self, host: usize) -> String {
        if let Some(addr) = self.cache.lock().unwrap().get(&host) {
            return addr.clone();
        }
        let (addr, shared) = self.flight.run(host, || {
            // Checked again inside the flight: a call that finished between our miss and
            // this run already filled the cache.
            if let Some(addr) = self.cache.lock().unwrap().get(&host) {
                return addr.clone();
            }
            self.lookups.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(self.delay); // the slow lookup
            let addr = format!("10.0.{}.{}", host / 256, host % 256);
            // Filled before the flight ends, so no later miss repeats the lookup.
            self.cache.lock().unwrap().insert(host, addr.clone());
            addr
        });
        if shared {
            self.shared.fetch_add(1, Ordering::Relaxed);
        }
        addr
    }
}

#[derive(Default)]
struct Stats {
    fetched: AtomicUsize,
    skipped: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

struct Report {
    result: Result<(), CrawlError>,
    cause: Option<String>,
    fetched: usize,
    skipped: usize,
    max_running: usize,
    lookups: usize,
    shared: usize,
    hosts_seen: usize,
    started: usize,
    elapsed: Duration,
}

fn fetch(
    page: usize,
    c: &Config,
    ctx: &Context,
    resolver: &Resolver,
    stats: &Stats,
) -> Result<Vec<usize>, CrawlError> {
    if ctx.is_done() {
        stats.skipped.fetch_add(1, Ordering::Relaxed);
        return Ok(vec![]); // an earlier page failed: stop early
    }
    let now = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_running.fetch_max(now, Ordering::SeqCst);
    let _addr = resolver.resolve(page % c.hosts);
    std::thread::sleep(c.fetch); // the fetch itself
    stats.running.fetch_sub(1, Ordering::SeqCst);
    if page == c.fail_at {
        return Err(CrawlError::Broken(page));
    }
    stats.fetched.fetch_add(1, Ordering::Relaxed);
    Ok(links(page, c.pages).to_vec())
}

fn crawl(c: &Arc<Config>, broken: bool) -> Report {
    let start = Instant::now();
    let config = Arc::new(Config {
        fail_at: if broken { c.fail_at } else { usize::MAX },
        ..**c
    });
    let resolver = Arc::new(Resolver {
        cache: Mutex::default(),
        flight: singleflight::Group::new(),
        lookups: AtomicUsize::new(0),
        shared: AtomicUsize::new(0),
        delay: c.lookup,
    });
    let stats = Arc::new(Stats::default());
    let (g, ctx) = Group::with_context(&background());
    g.set_limit(c.limit as isize);

    // Each task reports once: the links it found (none if it failed or was cancelled).
    let (found_tx, found) = mpsc::channel::<Vec<usize>>();
    let mut seen = HashSet::from([0]);
    let mut pending = 0;
    let start_task = |page: usize| {
        let (config, ctx, resolver, stats, tx) = (
            Arc::clone(&config),
            ctx.clone(),
            Arc::clone(&resolver),
            Arc::clone(&stats),
            found_tx.clone(),
        );
        g.go(move || {
            let result = fetch(page, &config, &ctx, &resolver, &stats);
            let _ = tx.send(result.as_ref().map_or_else(|_| vec![], Clone::clone));
            result.map(drop)
        });
    };
    start_task(0);
    pending += 1;
    while pending > 0 {
        let links = found.recv().expect("every task reports");
        pending -= 1;
        if ctx.is_done() {
            continue; // drain: start nothing new once the crawl is cancelled
        }
        for link in links {
            if seen.insert(link) {
                start_task(link); // blocks while `limit` tasks run
                pending += 1;
            }
        }
    }
    let result = g.wait();
    let hosts_seen = seen
        .iter()
        .map(|p| p % c.hosts)
        .collect::<HashSet<_>>()
        .len();
    Report {
        result,
        cause: ctx.cause().map(|e| e.to_string()),
        fetched: stats.fetched.load(Ordering::Relaxed),
        skipped: stats.skipped.load(Ordering::Relaxed),
        max_running: stats.max_running.load(Ordering::SeqCst),
        lookups: resolver.lookups.load(Ordering::Relaxed),
        shared: resolver.shared.load(Ordering::Relaxed),
        hosts_seen,
        started: seen.len(),
        elapsed: start.elapsed(),
    }
}

fn print(name: &str, r: &Report) {
    println!(
        "{name}: {:?} in {:.0?}; {} tasks: fetched {} pages, skipped {} after the cancel; \
         at most {} fetches at once; {} lookups for {} hosts, {} callers shared a lookup; cause: {}",
        r.result,
        r.elapsed,
        r.started,
        r.fetched,
        r.skipped,
        r.max_running,
        r.lookups,
        r.hosts_seen,
        r.shared,
        r.cause.as_deref().unwrap_or("-")
    );
}

fn main() {
    let config = match parse_args() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("crawler: {e}");
            std::process::exit(2);
        }
    };
    let mut failures = vec![];
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failures.push(what.to_owned());
        }
    };

    let clean = crawl(&config, false);
    print("clean crawl", &clean);
    // Every page is reachable from page 0 through the `+1` links.
    check(clean.result.is_ok(), "the clean crawl failed");
    check(
        clean.fetched == config.pages,
        "the clean crawl missed pages",
    );
    check(clean.skipped == 0, "the clean crawl skipped pages");
    check(
        clean.max_running <= config.limit,
        "more fetches ran at once than the limit",
    );
    check(
        clean.lookups == clean.hosts_seen,
        "a host was looked up more than once (cache + singleflight should prevent it)",
    );
    check(
        clean.cause.as_deref() == Some("context canceled"),
        "wait did not cancel the context",
    );

    let broken = crawl(&config, true);
    print("broken crawl", &broken);
    check(
        broken.result == Err(CrawlError::Broken(config.fail_at)),
        "the broken crawl did not return the broken page's error",
    );
    check(
        broken.cause == Some(CrawlError::Broken(config.fail_at).to_string()),
        "the context's cause is not the first error",
    );
    check(
        broken.fetched + broken.skipped + 1 == broken.started,
        "a started task is unaccounted for (fetched + skipped + the broken one)",
    );
    check(
        broken.max_running <= config.limit,
        "more fetches ran at once than the limit",
    );

    if failures.is_empty() {
        println!("result: PASS");
    } else {
        for f in &failures {
            println!("check failed: {f}");
        }
        println!("result: FAIL");
        std::process::exit(1);
    }
}
