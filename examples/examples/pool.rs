//! `gosync_pool::Pool`: scratch buffers reused across a thread pool, and what `trim`
//! does with the idle ones.
//!
//! `--threads` threads run `--jobs` jobs; each job takes a `Vec<u8>` from the pool,
//! encodes a `--record-kib` KiB record into it and checksums it, and the buffer goes
//! back to the pool when its guard drops (the reset hook clears it and keeps its
//! capacity). The same jobs then run with a fresh `Vec` each, for comparison.
//!
//! The pool's statistics are printed after the work, after one `trim` (the idle buffers
//! survive it as *victims*, Go's GC rule), after a second round of work (which reuses
//! the victims), and after two more trims (idle through two trims: dropped).
//!
//! Run: `cargo run --release -p gosync-examples --example pool`

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use gosync_examples::{fmt_duration, Flags};
use gosync_pool::{Pool, PoolStats};

/// Encodes job `job`'s record into `buf`: `size` bytes of 64-byte lines, each stamped
/// with the job and line number, grown line by line as an encoder would. Returns a
/// checksum of it (so the work is not optimized away).
fn encode(buf: &mut Vec<u8>, job: u64, size: usize) -> u64 {
    const LINE: &[u8; 64] = b"job ........ line ........: the quick brown fox jumps over it\n..";
    let mut line = 0u64;
    while buf.len() < size {
        let at = buf.len();
        buf.extend_from_slice(LINE);
        buf[at + 4..at + 12].copy_from_slice(&job.to_le_bytes());
        buf[at + 18..at + 26].copy_from_slice(&line.to_le_bytes());
        line += 1;
    }
    buf.truncate(size);
    buf.chunks(8).fold(0u64, |acc, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        acc.rotate_left(5) ^ u64::from_le_bytes(w)
    })
}

/// Runs `jobs` jobs on `threads` threads; `job(n)` returns (checksum, warm) where warm
/// says the job's buffer came with capacity already.
fn run(threads: usize, jobs: u64, job: impl Fn(u64) -> (u64, bool) + Sync) -> (Duration, u64, u64) {
    let next = AtomicU64::new(0);
    let (sum, warm) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Relaxed); // each job once
                if n >= jobs {
                    break;
                }
                let (c, w) = job(n);
                sum.fetch_xor(c, Relaxed);
                warm.fetch_add(u64::from(w), Relaxed);
            });
        }
    });
    (start.elapsed(), sum.into_inner(), warm.into_inner())
}

fn show(when: &str, s: &PoolStats) {
    println!(
        "  {when:<28} created {:>4}  idle {:>4}  dropped {:>4}  live {:>2}  trims {}  stolen {}",
        s.created,
        s.idle,
        s.dropped,
        s.live(),
        s.trims,
        s.stolen
    );
}

fn main() {
    let mut f = Flags::from_env(
        "pool",
        "Scratch buffers reused across a thread pool, with the pool's stats before and after trim.",
    );
    let threads: usize = f.value("threads", 4, "threads in the pool");
    let jobs: u64 = f.value("jobs", 20_000, "jobs, one buffer each");
    let record_kib: usize = f.value("record-kib", 32, "KiB encoded per job");
    f.finish();
    let size = record_kib.max(1) << 10;
    let threads = threads.max(1);
    let mut checks: Vec<(bool, String)> = Vec::new();

    // `Vec::new`: a buffer built by the pool starts empty; one reused has its capacity.
    let pool = Pool::builder(Vec::<u8>::new).reset(Vec::clear).build();
    println!("{jobs} jobs on {threads} threads, {record_kib} KiB encoded per job");

    let pooled_job = |n| {
        let mut buf = pool.get(); // an idle buffer, or a new one
        let warm = buf.capacity() >= size;
        (encode(&mut buf, n, size), warm)
    }; // the guard gives the buffer back, cleared
    let (pooled_time, pooled_sum, warm) = run(threads, jobs, pooled_job);
    let after_work = pool.stats();
    let (fresh_time, fresh_sum, _) = run(threads, jobs, |n| {
        let mut buf = Vec::new();
        (encode(&mut buf, n, size), false)
    });
    println!(
        "  with the pool: {} ({} buffers built for {jobs} jobs); a fresh Vec per job: {}",
        fmt_duration(pooled_time),
        after_work.created,
        fmt_duration(fresh_time)
    );
    checks.push((
        pooled_sum == fresh_sum,
        "the pooled and the fresh runs encoded the same records".into(),
    ));
    checks.push((
        warm == jobs - after_work.created as u64,
        format!(
            "{warm} jobs got a reused buffer with its capacity, {} a new one: {warm} + {} = {jobs} jobs",
            after_work.created, after_work.created
        ),
    ));
    checks.push((
        jobs < 4 * threads as u64 || (after_work.created as u64) < jobs / 2,
        format!(
            "buffers were reused: {} built for {jobs} jobs",
            after_work.created
        ),
    ));

    println!("\npool stats:");
    show("after the work", &after_work);
    checks.push((
        after_work.live() == 0 && after_work.idle == after_work.created,
        "every buffer came back: idle = created, live 0".into(),
    ));
    pool.trim();
    let after_one = pool.stats();
    show("after trim 1", &after_one);
    checks.push((
        after_one.idle == after_work.idle && after_one.dropped == 0,
        "one trim keeps the idle buffers (as victims)".into(),
    ));

    let (_, _, warm2) = run(threads, jobs / 4, pooled_job);
    let after_round2 = pool.stats();
    show("after a second round", &after_round2);
    println!(
        "  (the second round's {} jobs reused the victims: {warm2} warm gets, {} new buffers)",
        jobs / 4,
        after_round2.created - after_work.created
    );
    pool.trim();
    let after_two = pool.stats();
    show("after trim 2", &after_two);
    pool.trim();
    let after_three = pool.stats();
    show("after trim 3", &after_three);
    checks.push((
        after_three.idle == 0
            && after_three.dropped == after_three.created
            && after_three.live() == 0,
        format!(
            "idle through two trims: dropped ({} of {} buffers dropped, none idle, none leaked)",
            after_three.dropped, after_three.created
        ),
    ));

    println!("\nverification:");
    let mut ok = true;
    for (passed, what) in &checks {
        ok &= passed;
        println!("  [{}] {what}", if *passed { " ok " } else { "FAIL" });
    }
    println!("\nresult: {}", if ok { "PASS" } else { "FAIL" });
    std::process::exit(if ok { 0 } else { 1 });
}
