//! The reference model of the work queue and the driver that checks a [`Queue`] against
//! it, op by op. Shared by the model proptest (`tests/model.rs`) and the fuzz target
//! (`fuzz/harness/src/workqueue_ops.rs`, which includes this file by path).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_workqueue::{Queue, TryGetError};

/// One operation on the queue; times are whole seconds of the fake clock.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Add(u8),
    AddAfter(u8, u64),
    /// `try_get`.
    Get,
    Done(u8),
    /// `done_and_get_detached`, issued only when it cannot block (see [`Harness::apply`]).
    DoneAndGet(u8),
    Advance(u64),
    ShutDown,
}

/// The reference: client-go's queue with this crate's delay rules (earliest time wins).
#[derive(Default, Clone)]
pub(crate) struct Model {
    pub(crate) queue: VecDeque<u8>,
    pub(crate) dirty: HashSet<u8>,
    pub(crate) processing: HashSet<u8>,
    pub(crate) waiting: HashMap<u8, (u64, u64)>, // item -> (ready time, push number)
    pub(crate) seq: u64,
    pub(crate) now: u64,
    pub(crate) shut: bool,
}

impl Model {
    pub(crate) fn add(&mut self, k: u8) {
        if self.shut || self.dirty.contains(&k) {
            return;
        }
        self.waiting.remove(&k);
        self.dirty.insert(k);
        if !self.processing.contains(&k) {
            self.queue.push_back(k);
        }
    }
    pub(crate) fn add_after(&mut self, k: u8, d: u64) {
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
    pub(crate) fn advance(&mut self, d: u64) {
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
    pub(crate) fn get(&mut self) -> Result<u8, TryGetError> {
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
    pub(crate) fn done(&mut self, k: u8) -> bool {
        if !self.processing.remove(&k) {
            return false;
        }
        if self.dirty.contains(&k) {
            self.queue.push_back(k);
        }
        true
    }
}

/// A queue on a fake clock and the model, driven in step.
pub(crate) struct Harness {
    fake: FakeClock,
    q: Queue<u8>,
    m: Model,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        let fake = FakeClock::new();
        let q = Queue::builder().clock(fake.clock()).build();
        Harness {
            fake,
            q,
            m: Model::default(),
        }
    }

    /// Applies `op` to both and checks that they agree: never lost, never duplicated,
    /// never processed twice at once.
    pub(crate) fn apply(&mut self, op: Op) {
        let (q, m) = (&self.q, &mut self.m);
        let sec = Duration::from_secs(1);
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
                self.fake.advance(sec * d as u32);
                m.advance(d);
                // The delay loop fires asynchronously: wait until it has caught up.
                // A real-time hang guard (Miri runs ~1000x slower).
                let hang = Instant::now() + Duration::from_secs(if cfg!(miri) { 600 } else { 20 });
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
        // The ready count and waiting count agree.
        assert_eq!(q.len(), m.queue.len());
        assert_eq!(q.waiting_len(), m.waiting.len());
        assert_eq!(q.shutting_down(), m.shut);
    }

    /// Finishes what is processing, drains what is left and checks the FIFO order end to
    /// end, then shuts the queue down.
    pub(crate) fn finish(mut self) {
        let (q, m) = (&self.q, &mut self.m);
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
}
