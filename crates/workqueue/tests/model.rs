//! Model-based property test: random op sequences against a reference model (a `VecDeque`,
//! two `HashSet`s and a waiting map ordered like a heap), on a fake clock.
#![cfg(not(loom))]

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_workqueue::{Queue, TryGetError};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    AddAfter(u8, u64),
    Get,
    Done(u8),
    /// `done_and_get_detached`, issued only when it cannot block (see `run`).
    DoneAndGet(u8),
    Advance(u64),
    ShutDown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..5).prop_map(Op::Add),
        3 => (0u8..5, 0u64..4).prop_map(|(k, d)| Op::AddAfter(k, d)),
        4 => Just(Op::Get),
        3 => (0u8..5).prop_map(Op::Done),
        2 => (0u8..5).prop_map(Op::DoneAndGet),
        2 => (0u64..3).prop_map(Op::Advance),
        1 => Just(Op::ShutDown),
    ]
}

/// The reference: client-go's queue with this crate's delay rules (earliest time wins).
#[derive(Default, Clone)]
struct Model {
    queue: VecDeque<u8>,
    dirty: HashSet<u8>,
    processing: HashSet<u8>,
    waiting: HashMap<u8, (u64, u64)>, // item -> (ready time, push number)
    seq: u64,
    now: u64,
    shut: bool,
}

impl Model {
    fn add(&mut self, k: u8) {
        if self.shut || self.dirty.contains(&k) {
            return;
        }
        self.waiting.remove(&k);
        self.dirty.insert(k);
        if !self.processing.contains(&k) {
            self.queue.push_back(k);
        }
    }
    fn add_after(&mut self, k: u8, d: u64) {
        if self.shut {
            return;
        }
        if d == 0 {
            return self.add(k);
        }
        if self.dirty.contains(&k) {
            return;
        }
        let at = self.now + d;
        match self.waiting.get(&k) {
            Some(&(old, _)) if old <= at => {}
            _ => {
                self.seq += 1;
                self.waiting.insert(k, (at, self.seq));
            }
        }
    }
    fn advance(&mut self, d: u64) {
        self.now += d;
        let mut due: Vec<(u64, u64, u8)> = self
            .waiting
            .iter()
            .filter(|(_, &(at, _))| at <= self.now)
            .map(|(&k, &(at, s))| (at, s, k))
            .collect();
        due.sort();
        for (_, _, k) in due {
            self.waiting.remove(&k);
            self.add(k);
        }
    }
    fn get(&mut self) -> Result<u8, TryGetError> {
        match self.queue.pop_front() {
            Some(k) => {
                assert!(self.processing.insert(k), "processed twice at once");
                self.dirty.remove(&k);
                Ok(k)
            }
            None if self.shut => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }
    fn done(&mut self, k: u8) -> bool {
        if !self.processing.remove(&k) {
            return false;
        }
        if self.dirty.contains(&k) {
            self.queue.push_back(k);
        }
        true
    }
}

fn run(ops: Vec<Op>) {
    let fake = FakeClock::new();
    let q: Queue<u8> = Queue::builder().clock(fake.clock()).build();
    let mut m = Model::default();
    let sec = Duration::from_secs(1);
    for op in ops {
        match op {
            Op::Add(k) => {
                q.add(k);
                m.add(k);
            }
            Op::AddAfter(k, d) => {
                q.add_after(k, sec * d as u32);
                m.add_after(k, d);
            }
            Op::Get => {
                let got = q.try_get().map(|g| g.into_inner());
                assert_eq!(got, m.get());
            }
            Op::Done(k) => assert_eq!(q.done(&k), m.done(k)),
            Op::DoneAndGet(k) => {
                // It blocks when nothing is ready after the done and the queue is open:
                // the model decides first, and the op is skipped in that case.
                let mut after = m.clone();
                after.done(k);
                if !after.queue.is_empty() || after.shut {
                    m.done(k);
                    let got = q.done_and_get_detached(&k);
                    assert_eq!(got, m.get().ok());
                }
            }
            Op::Advance(d) => {
                fake.advance(sec * d as u32);
                m.advance(d);
                // The delay loop fires asynchronously: wait until it has caught up.
                let hang = Instant::now() + Duration::from_secs(20);
                while q.waiting_len() != m.waiting.len() {
                    assert!(Instant::now() < hang, "delay loop never fired");
                    std::thread::yield_now();
                }
            }
            Op::ShutDown => {
                q.shut_down();
                m.shut = true;
                m.waiting.clear();
            }
        }
        // Never lost, never duplicated: the ready count and waiting count agree.
        assert_eq!(q.len(), m.queue.len());
        assert_eq!(q.waiting_len(), m.waiting.len());
        assert_eq!(q.shutting_down(), m.shut);
    }
    // Drain what is left and check the FIFO order end to end.
    for k in m.processing.clone() {
        assert!(q.done(&k));
        m.done(k);
    }
    while let Ok(k) = m.get() {
        assert_eq!(q.try_get().map(|g| g.into_inner()), Ok(k));
        assert!(q.done(&k));
        m.done(k);
    }
    q.shut_down();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn queue_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
