//! The WaitGroup/Once fan-out demo: Go's classic pipeline in Rust.
//!
//! Four producers feed numbers into a channel; a closer waits on the producers' group and
//! then closes the channel (Go's `go func() { wg.Wait(); close(ch) }()`); six consumers
//! count the primes they receive, sharing a sieve that the first consumer to need it
//! builds exactly once; the main thread waits on the consumers' group.
//!
//! Run: `cargo run --release -p gosync-examples --example fanout`

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use gosync_once::{once_value, Once};
use gosync_waitgroup::WaitGroup;

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 6;
const PER_PRODUCER: u64 = 250_000;
const LIMIT: u64 = PRODUCERS * PER_PRODUCER;

fn sieve(limit: u64) -> Vec<bool> {
    let n = limit as usize + 1;
    let mut prime = vec![true; n];
    prime[0] = false;
    if n > 1 {
        prime[1] = false;
    }
    let mut i = 2;
    while i * i < n {
        if prime[i] {
            (i * i..n).step_by(i).for_each(|j| prime[j] = false);
        }
        i += 1;
    }
    prime
}

fn main() {
    let started = Instant::now();
    static BANNER: Once = Once::new();
    let table = Arc::new(once_value(|| {
        let t = Instant::now();
        let s = sieve(LIMIT);
        println!(
            "sieve of {LIMIT} built once, by {:?}, in {:?}",
            std::thread::current().id(),
            t.elapsed()
        );
        s
    }));

    let (tx, rx) = mpsc::sync_channel::<u64>(1024);
    let rx = Arc::new(Mutex::new(rx));
    let producers = Arc::new(WaitGroup::new());
    let consumers = Arc::new(WaitGroup::new());
    let received = Arc::new(AtomicU64::new(0));
    let per_consumer = Arc::new(Mutex::new(HashMap::new()));

    for p in 0..PRODUCERS {
        let tx = tx.clone();
        producers.go(move || {
            BANNER.call_once(|| println!("producers started"));
            for n in p * PER_PRODUCER + 1..=(p + 1) * PER_PRODUCER {
                tx.send(n).expect("consumers outlive producers");
            }
        });
    }
    drop(tx);

    // The closer: once every producer is done, the last sender clone is gone and the
    // consumers see the channel end. Here the senders drop with their threads; the closer
    // reports when that happened.
    let closer = {
        let producers = Arc::clone(&producers);
        std::thread::spawn(move || {
            producers.wait();
            println!(
                "all {PRODUCERS} producers done after {:?}",
                started.elapsed()
            );
        })
    };

    for c in 0..CONSUMERS {
        let (rx, table, received, per_consumer) = (
            Arc::clone(&rx),
            Arc::clone(&table),
            Arc::clone(&received),
            Arc::clone(&per_consumer),
        );
        let guard = consumers.guard_owned(); // `done` even if this consumer panics
        std::thread::spawn(move || {
            let _guard = guard;
            let (mut seen, mut primes) = (0u64, 0u64);
            loop {
                let next = rx.lock().unwrap().recv();
                let Ok(n) = next else { break };
                seen += 1;
                if table.get()[n as usize] {
                    primes += 1;
                }
            }
            received.fetch_add(seen, Ordering::Relaxed);
            per_consumer.lock().unwrap().insert(c, primes);
        });
    }

    consumers.wait();
    closer.join().unwrap();
    let per_consumer = per_consumer.lock().unwrap();
    let total_primes: u64 = per_consumer.values().sum();
    let mut split: Vec<_> = per_consumer.iter().collect();
    split.sort();
    println!("consumers' share of primes: {split:?}");
    println!(
        "{} numbers through {CONSUMERS} consumers, {total_primes} primes up to {LIMIT}, in {:?}",
        received.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert_eq!(received.load(Ordering::Relaxed), LIMIT);
    assert_eq!(
        total_primes, 78_498,
        "there are 78498 primes below one million"
    );
    println!("ok: every number was consumed exactly once");
}
