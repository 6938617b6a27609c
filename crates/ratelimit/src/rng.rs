//! A tiny seedable random number generator (SplitMix64) for jitter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use gosync_core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// SplitMix64 (Steele, Lea, Flood 2014): the state advances by a fixed odd constant and
/// each output is a bijective mix of the state. Advancing is one `fetch_add`, so the
/// generator is lock-free and shared threads never get the same value twice; a single
/// thread gets a deterministic sequence from a seed.
pub(crate) struct SplitMix64 {
    state: AtomicU64,
}

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl SplitMix64 {
    pub(crate) fn from_seed(seed: u64) -> SplitMix64 {
        SplitMix64 {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator seeded from the process's random hash keys.
    pub(crate) fn from_entropy() -> SplitMix64 {
        SplitMix64::from_seed(RandomState::new().hash_one(0x5eed_u64))
    }

    #[inline]
    pub(crate) fn next_u64(&self) -> u64 {
        // Relaxed: only the atomicity of the increment matters; no other data is
        // published through the state.
        let mut z = self.state.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn state(&self) -> u64 {
        self.state.load(Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // The published SplitMix64 outputs for seed 1234567.
        let r = SplitMix64::from_seed(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }
}
