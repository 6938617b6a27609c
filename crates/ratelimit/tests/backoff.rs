//! Backoff: sequences, bounds, bad input, and retry sleeping through a fake clock.
#![cfg(not(loom))]

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_ratelimit::{Backoff, ConfigError, Jitter};

const MS: Duration = Duration::from_millis(1);

#[test]
fn doubling_sequence_is_exact_and_capped() {
    let b = Backoff::builder()
        .initial(MS)
        .factor(2.0)
        .cap(MS * 20)
        .max_steps(7)
        .build()
        .unwrap();
    let got: Vec<_> = b.collect();
    assert_eq!(got, [1, 2, 4, 8, 16, 20, 20].map(|n| MS * n));
}

#[test]
fn factor_one_is_constant_and_zero_initial_is_zero() {
    let b = Backoff::builder()
        .initial(MS * 7)
        .factor(1.0)
        .max_steps(4)
        .build()
        .unwrap();
    assert_eq!(b.collect::<Vec<_>>(), [MS * 7; 4]);
    let b = Backoff::builder()
        .initial(Duration::ZERO)
        .max_steps(3)
        .build()
        .unwrap();
    assert_eq!(b.collect::<Vec<_>>(), [Duration::ZERO; 3]);
    let mut b = Backoff::builder().max_steps(0).build().unwrap();
    assert_eq!(b.next(), None);
}

#[test]
fn never_overflows() {
    let mut b = Backoff::builder()
        .initial(Duration::MAX)
        .factor(1e300)
        .build()
        .unwrap();
    for _ in 0..100 {
        assert_eq!(b.next(), Some(Duration::MAX));
    }
    let mut b = Backoff::builder()
        .initial(Duration::from_nanos(1))
        .factor(3.0)
        .build()
        .unwrap();
    let mut prev = Duration::ZERO;
    for _ in 0..200 {
        let d = b.next().unwrap();
        assert!(d >= prev);
        prev = d;
    }
    assert_eq!(prev, Duration::MAX);
}

#[test]
fn bad_factors_are_errors() {
    for f in [0.0, 0.999, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = Backoff::builder().factor(f).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidFactor(_)), "{f}");
    }
}

#[test]
fn jitter_is_seeded_and_bounded() {
    let mk = |seed| {
        Backoff::builder()
            .initial(MS * 100)
            .factor(1.0)
            .jitter(Jitter::Full)
            .seed(seed)
            .max_steps(50)
            .build()
            .unwrap()
            .collect::<Vec<_>>()
    };
    assert_eq!(mk(1), mk(1));
    assert_ne!(mk(1), mk(2));
    assert!(mk(3).iter().all(|&d| d <= MS * 100));
    let eq: Vec<_> = Backoff::builder()
        .initial(MS * 100)
        .factor(1.0)
        .jitter(Jitter::Equal)
        .seed(9)
        .max_steps(50)
        .build()
        .unwrap()
        .collect();
    assert!(eq.iter().all(|&d| d >= MS * 50 && d <= MS * 100));
}

#[test]
fn max_elapsed_uses_the_clock() {
    let fake = FakeClock::new();
    let mut b = Backoff::builder()
        .initial(Duration::from_secs(1))
        .factor(2.0)
        .max_elapsed(Duration::from_secs(10))
        .clock(fake.clock())
        .build()
        .unwrap();
    assert_eq!(b.next(), Some(Duration::from_secs(1)));
    fake.advance(Duration::from_secs(1));
    assert_eq!(b.next(), Some(Duration::from_secs(2)));
    fake.advance(Duration::from_secs(2));
    assert_eq!(b.next(), Some(Duration::from_secs(4))); // 3 + 4 <= 10
    fake.advance(Duration::from_secs(4));
    assert_eq!(b.next(), None); // 7 + 8 > 10
    b.reset();
    assert_eq!(b.next(), Some(Duration::from_secs(1)));
    assert_eq!(b.steps(), 1);
}

#[test]
fn retry_sleeps_through_the_fake_clock() {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let mut b = Backoff::builder()
        .initial(Duration::from_secs(10))
        .max_steps(3)
        .clock(fake.clock())
        .build()
        .unwrap();
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            let mut attempts = 0;
            let r: Result<(), u32> = b.retry(|| {
                attempts += 1;
                Err(attempts)
            });
            r
        });
        // Three sleeps: 10 s, 20 s, 40 s; then the fourth failure is returned.
        for secs in [10, 20, 40] {
            assert!(fake.block_until_waiters(1, Duration::from_secs(10)));
            fake.advance(Duration::from_secs(secs));
        }
        assert_eq!(h.join().unwrap(), Err(4));
    });
    assert_eq!(fake.now() - t0, Duration::from_secs(70));
}

#[test]
fn retry_if_stops_on_permanent_errors() {
    let fake = FakeClock::new();
    let mut b = Backoff::builder().clock(fake.clock()).build().unwrap();
    let mut calls = 0;
    let r: Result<(), &str> = b.retry_if(
        || {
            calls += 1;
            Err("permanent")
        },
        |e| *e != "permanent",
    );
    assert_eq!(r, Err("permanent"));
    assert_eq!(calls, 1);
    assert_eq!(b.retry(|| Ok::<_, ()>(5)), Ok(5));
}
