//! Property test: any sequence of `add` deltas behaves like an `i64` counter that must
//! stay within Go's `0..=i32::MAX`, panicking with Go's message exactly when it leaves it.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use gosync_waitgroup::WaitGroup;
use proptest::prelude::*;

fn delta() -> impl Strategy<Value = isize> {
    prop_oneof![
        4 => -3isize..=3,
        1 => Just(i32::MAX as isize),
        1 => Just(-(i32::MAX as isize)),
        1 => Just(i32::MAX as isize + 1),
        1 => Just(isize::MIN),
        1 => any::<isize>(),
    ]
}

proptest! {
    // Miri interprets every case: a few there (proptest's default elsewhere).
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 256 }))]

    #[test]
    fn add_matches_the_counter_model(deltas in proptest::collection::vec(delta(), 1..40)) {
        let wg = WaitGroup::new();
        let mut model: i64 = 0;
        for d in deltas {
            let next = i128::from(model) + d as i128;
            let r = catch_unwind(AssertUnwindSafe(|| wg.add(d)));
            if next < 0 {
                let p = r.expect_err("negative counter must panic");
                prop_assert_eq!(p.downcast_ref::<String>().map(String::as_str), Some("sync: negative WaitGroup counter"));
                return Ok(()); // the group's state is unspecified after a misuse panic, as in Go
            } else if next > i128::from(i32::MAX) {
                let p = r.expect_err("overflow must panic");
                prop_assert_eq!(p.downcast_ref::<String>().map(String::as_str), Some("sync: WaitGroup counter overflow"));
                return Ok(());
            }
            prop_assert!(r.is_ok());
            model = next as i64;
            prop_assert_eq!(wg.count() as i64, model);
            prop_assert_eq!(wg.wait_timeout(Duration::ZERO), model == 0);
        }
    }
}
