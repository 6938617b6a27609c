//! Fixtures shared by the rate limiter's loom models (`loom_ratelimit_async.rs`,
//! `loom_ratelimit_context.rs`).

use std::time::Duration;

use gosync_core::clock::FakeClock;
use gosync_ratelimit::{Limit, TokenBucket};

/// The interval between two tokens of [`spent_bucket`].
pub(crate) const D: Duration = Duration::from_millis(100);

/// A bucket of one token, spent: the next token is due at `t0 + D`.
pub(crate) fn spent_bucket(fake: &FakeClock) -> TokenBucket {
    let bucket = TokenBucket::with_clock(Limit::every(D), 1, fake.clock()).unwrap();
    assert!(bucket.allow());
    bucket
}
