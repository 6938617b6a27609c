//! [`U256`]: just enough 256-bit arithmetic to rescale a token bucket's amounts exactly
//! when its limit changes (an amount in units, times one limit's units per token, can
//! reach about 2²²⁶).

/// An unsigned 256-bit integer: four 64-bit limbs, least significant first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct U256([u64; 4]);

impl U256 {
    pub(crate) const fn from_u128(v: u128) -> U256 {
        U256([v as u64, (v >> 64) as u64, 0, 0])
    }

    /// `self · m`, or `None` if it does not fit in 256 bits.
    pub(crate) fn checked_mul_u64(self, m: u64) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (o, &limb) in out.iter_mut().zip(&self.0) {
            // limb · m + carry <= (2⁶⁴ − 1)² + 2⁶⁴ − 1 < 2¹²⁸.
            let p = u128::from(limb) * u128::from(m) + carry;
            *o = p as u64;
            carry = p >> 64;
        }
        (carry == 0).then_some(U256(out))
    }

    /// `self + a`, or `None` if it does not fit in 256 bits.
    pub(crate) fn checked_add_u64(self, a: u64) -> Option<U256> {
        let mut out = self.0;
        let mut carry = a;
        for limb in &mut out {
            let (v, c) = limb.overflowing_add(carry);
            *limb = v;
            carry = u64::from(c);
            if carry == 0 {
                return Some(U256(out));
            }
        }
        None
    }

    /// `self − s`, or `None` below zero.
    pub(crate) fn checked_sub_u64(self, s: u64) -> Option<U256> {
        let mut out = self.0;
        let mut borrow = s;
        for limb in &mut out {
            let (v, b) = limb.overflowing_sub(borrow);
            *limb = v;
            borrow = u64::from(b);
            if borrow == 0 {
                return Some(U256(out));
            }
        }
        None
    }

    /// `(self / d, self % d)`.
    ///
    /// # Panics
    ///
    /// If `d` is zero.
    pub(crate) fn div_rem_u64(self, d: u64) -> (U256, u64) {
        let d = u128::from(d);
        let mut out = [0u64; 4];
        let mut rem = 0u128;
        for (o, &limb) in out.iter_mut().zip(&self.0).rev() {
            // rem < d <= 2⁶⁴ − 1, so `cur < d · 2⁶⁴` and the quotient fits a limb.
            let cur = (rem << 64) | u128::from(limb);
            *o = (cur / d) as u64;
            rem = cur % d;
        }
        (U256(out), rem as u64)
    }

    /// `⌈self / d⌉`.
    ///
    /// # Panics
    ///
    /// If `d` is zero.
    pub(crate) fn div_ceil_u64(self, d: u64) -> U256 {
        match self.div_rem_u64(d) {
            (q, 0) => q,
            // q < 2²⁵⁶ / d and d >= 2 here (a remainder needs d >= 2), so q + 1 fits.
            (q, _) => q.checked_add_u64(1).unwrap_or(q),
        }
    }

    /// The value, if it fits in a `u128`.
    pub(crate) fn to_u128(self) -> Option<u128> {
        (self.0[2] == 0 && self.0[3] == 0)
            .then(|| u128::from(self.0[0]) | (u128::from(self.0[1]) << 64))
    }
}

#[cfg(test)]
mod tests {
    use super::U256;

    #[test]
    fn round_trips_and_carries() {
        let max = U256::from_u128(u128::MAX);
        assert_eq!(max.to_u128(), Some(u128::MAX));
        let big = max.checked_mul_u64(u64::MAX).unwrap();
        assert_eq!(big.to_u128(), None);
        assert_eq!(big.div_rem_u64(u64::MAX), (max, 0));
        assert_eq!(
            big.checked_add_u64(5).unwrap().div_rem_u64(u64::MAX),
            (max, 5)
        );
        assert_eq!(big.checked_sub_u64(1).unwrap().div_ceil_u64(u64::MAX), max);
        assert_eq!(U256::from_u128(0).checked_sub_u64(1), None);
        assert_eq!(
            U256::from_u128(u128::MAX)
                .checked_add_u64(1)
                .unwrap()
                .to_u128(),
            None
        );
        let top = U256([u64::MAX; 4]);
        assert_eq!(top.checked_add_u64(1), None);
        assert_eq!(top.checked_mul_u64(2), None);
        assert_eq!(U256::from_u128(7).div_ceil_u64(2).to_u128(), Some(4));
        assert_eq!(U256::from_u128(8).div_ceil_u64(2).to_u128(), Some(4));
    }
}
