//! Fuzz: byte strings decoded into work-queue ops, checked against a reference model
//! (the same model as `crates/workqueue/tests/model.rs`).
#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use gosync_core::FakeClock;
use gosync_workqueue::{Queue, TryGetError};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Model {
    queue: VecDeque<u8>,
    dirty: HashSet<u8>,
    processing: HashSet<u8>,
    waiting: HashMap<u8, (u64, u64)>,
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

fuzz_target!(|data: &[u8]| {
    let fake = FakeClock::new();
    let q: Queue<u8> = Queue::builder().clock(fake.clock()).build();
    let mut m = Model::default();
    let sec = Duration::from_secs(1);
    for &b in data.iter().take(256) {
        let k = (b >> 3) & 7;
        match b & 7 {
            0 | 1 => {
                q.add(k);
                m.add(k);
            }
            2 => {
                let d = u64::from(k & 3);
                q.add_after(k, sec * d as u32);
                m.add_after(k, d);
            }
            3 | 4 => assert_eq!(q.try_get().map(|g| g.into_inner()), m.get()),
            5 => assert_eq!(q.done(&k), m.done(k)),
            6 => {
                let d = u64::from(k & 3);
                fake.advance(sec * d as u32);
                m.advance(d);
                let hang = Instant::now() + Duration::from_secs(20);
                while q.waiting_len() != m.waiting.len() {
                    assert!(Instant::now() < hang, "delay loop never fired");
                    std::thread::yield_now();
                }
            }
            _ => {
                if k == 0 {
                    q.shut_down();
                    m.shut = true;
                    m.waiting.clear();
                }
            }
        }
        assert_eq!(q.len(), m.queue.len());
        assert_eq!(q.waiting_len(), m.waiting.len());
    }
    q.shut_down();
});
