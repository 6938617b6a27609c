//! The timer service against a model: random schedules, earlier-only schedules, cancels
//! and clock advances over a few entries of one fake clock; after each advance exactly
//! the deadlines the model says are due have fired, each once.
#![cfg(not(loom))]

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use gosync_core::timer::TimerEntry;
use gosync_core::FakeClock;
use proptest::prelude::*;

/// A real-time hang guard only; nothing is timed.
const HANG: Duration = Duration::from_secs(20);
const ENTRIES: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    /// Schedule entry `.0` for `.1` seconds from now.
    Schedule(usize, u64),
    ScheduleEarlier(usize, u64),
    Cancel(usize),
    Advance(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..ENTRIES, 1u64..5).prop_map(|(i, s)| Op::Schedule(i, s)),
            2 => (0..ENTRIES, 1u64..5).prop_map(|(i, s)| Op::ScheduleEarlier(i, s)),
            1 => (0..ENTRIES).prop_map(Op::Cancel),
            3 => (0u64..4).prop_map(Op::Advance),
        ],
        0..40,
    )
}

proptest! {
    // Miri interprets every case: a few there.
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 64 }))]

    #[test]
    fn fires_exactly_what_is_due(ops in ops()) {
        let fake = FakeClock::new();
        let t0 = fake.now();
        let (tx, rx) = mpsc::channel();
        let mut entries: Vec<TimerEntry> = (0..ENTRIES)
            .map(|i| {
                let tx = Mutex::new(tx.clone());
                TimerEntry::new(fake.clock(), move |_| tx.lock().unwrap().send(i).unwrap())
            })
            .collect();
        // The model: each entry's pending deadline, in seconds since t0.
        let mut pending: BTreeMap<usize, u64> = BTreeMap::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Schedule(i, s) => {
                    entries[i].schedule(t0 + Duration::from_secs(now + s));
                    pending.insert(i, now + s);
                }
                Op::ScheduleEarlier(i, s) => {
                    let at = now + s;
                    let keeps = pending.get(&i).is_some_and(|&p| p <= at);
                    let registered = entries[i].schedule_earlier(t0 + Duration::from_secs(at));
                    prop_assert_eq!(registered, !keeps);
                    if !keeps {
                        pending.insert(i, at);
                    }
                }
                Op::Cancel(i) => {
                    entries[i].cancel();
                    pending.remove(&i);
                }
                Op::Advance(s) => {
                    now += s;
                    fake.advance(Duration::from_secs(s));
                    let mut due: Vec<usize> =
                        pending.iter().filter(|(_, &at)| at <= now).map(|(&i, _)| i).collect();
                    pending.retain(|_, at| *at > now);
                    let mut fired: Vec<usize> =
                        due.iter().map(|_| rx.recv_timeout(HANG).expect("a due deadline fired")).collect();
                    due.sort_unstable();
                    fired.sort_unstable();
                    prop_assert_eq!(fired, due);
                }
            }
        }
        // Cancel everything: no deadline may fire afterwards.
        for e in &mut entries {
            e.cancel();
        }
        fake.advance(Duration::from_secs(100));
        prop_assert!(rx.try_recv().is_err(), "a deadline fired that was not due");
    }
}
