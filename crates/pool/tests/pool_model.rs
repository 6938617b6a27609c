//! Property test: any sequence of get / take / return / put / detach / drop / trim
//! against a reference model of one CPU's shard and the burst store (the test thread is
//! pinned to one CPU, so every operation uses the same shard, as in Go's tests with
//! `runtime_procPin`).
#![cfg(not(loom))]

mod common;

use common::{pin_to_one_cpu, Census, Tracked};
use gosync_pool::{Pool, PoolGuard};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// `get()` and hold the guard.
    Get,
    /// `take()` and hold the object.
    Take,
    /// Drop a held guard (returns its object).
    DropGuard(usize),
    /// `put` a held object back.
    Put(usize),
    /// `put` an object the pool never built.
    PutForeign,
    /// `PoolGuard::into_inner` on a held guard.
    Detach(usize),
    /// Drop a held object outside the pool.
    DropOwned(usize),
    Trim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Get),
        2 => Just(Op::Take),
        3 => (0..8usize).prop_map(Op::DropGuard),
        2 => (0..8usize).prop_map(Op::Put),
        1 => Just(Op::PutForeign),
        1 => (0..8usize).prop_map(Op::Detach),
        1 => (0..8usize).prop_map(Op::DropOwned),
        2 => Just(Op::Trim),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Empty,
    /// An idle object: (id, trim generation when returned).
    Full(usize, usize),
    /// An object checked out in place by a guard.
    Busy(usize),
    /// Empty and kept busy for this thread's next `put` (the lease of `take`).
    Leased,
}

/// How the model says a guard holds its object.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Held {
    InSlot(usize),
    Owned,
}

/// The reference: one shard's slots, used in order from the first, and the burst store,
/// a stack of (id, generation) of at most `burst_max` objects.
struct Model {
    slots: Vec<Slot>,
    burst: Vec<(usize, usize)>,
    burst_max: usize,
    generation: usize,
    next_id: usize,
    created: usize,
    dropped: usize,
    /// The slot the test thread leased with its last `take`, if not yet resolved.
    lease: Option<usize>,
    /// The thread stopped leasing (a `take` found its lease unresolved) until its next
    /// `put`.
    declined: bool,
}

impl Model {
    fn construct(&mut self) -> usize {
        self.created += 1;
        self.next_id += 1;
        self.next_id - 1
    }

    /// `get`: claim the first idle object in place; else build one, in place in the
    /// first empty slot if any.
    fn get(&mut self) -> (usize, Held) {
        if let Some(i) = self.slots.iter().position(|s| matches!(s, Slot::Full(..))) {
            let Slot::Full(id, _) = self.slots[i] else {
                unreachable!()
            };
            self.slots[i] = Slot::Busy(id);
            return (id, Held::InSlot(i));
        }
        let id = match self.burst.pop() {
            Some((id, _)) => id,
            None => self.construct(),
        };
        match self.slots.iter().position(|s| *s == Slot::Empty) {
            Some(i) => {
                self.slots[i] = Slot::Busy(id);
                (id, Held::InSlot(i))
            }
            None => (id, Held::Owned),
        }
    }

    /// `take`: move the first idle object out, else build one. An unresolved lease is
    /// freed first (and the thread declines leasing); otherwise, unless declined, the
    /// slot the object came from is leased.
    fn take(&mut self) -> usize {
        let may_lease = match self.lease.take() {
            Some(i) => {
                assert_eq!(self.slots[i], Slot::Leased);
                self.slots[i] = Slot::Empty;
                self.declined = true;
                false
            }
            None => !self.declined,
        };
        match self.slots.iter().position(|s| matches!(s, Slot::Full(..))) {
            Some(i) => {
                let Slot::Full(id, _) = self.slots[i] else {
                    unreachable!()
                };
                if may_lease {
                    self.slots[i] = Slot::Leased;
                    self.lease = Some(i);
                } else {
                    self.slots[i] = Slot::Empty;
                }
                id
            }
            None => match self.burst.pop() {
                Some((id, _)) => id,
                None => self.construct(),
            },
        }
    }

    /// `Pool::put` from the test thread: into the leased slot if there is one, else as
    /// any return (and the thread may lease again).
    fn put_by_thread(&mut self, id: usize) {
        match self.lease.take() {
            Some(i) => {
                assert_eq!(self.slots[i], Slot::Leased);
                self.slots[i] = Slot::Full(id, self.generation);
            }
            None => {
                self.declined = false;
                self.put(id);
            }
        }
    }

    /// A return into the shard (the first empty slot), else the burst store, else
    /// dropped.
    fn put(&mut self, id: usize) {
        match self.slots.iter_mut().find(|s| **s == Slot::Empty) {
            Some(s) => *s = Slot::Full(id, self.generation),
            None if self.burst.len() < self.burst_max => self.burst.push((id, self.generation)),
            None => self.dropped += 1,
        }
    }

    fn release(&mut self, id: usize, held: Held) {
        match held {
            Held::InSlot(i) => {
                assert_eq!(self.slots[i], Slot::Busy(id));
                self.slots[i] = Slot::Full(id, self.generation);
            }
            Held::Owned => self.put(id),
        }
    }

    fn detach(&mut self, id: usize, held: Held) {
        if let Held::InSlot(i) = held {
            assert_eq!(self.slots[i], Slot::Busy(id));
            self.slots[i] = Slot::Empty;
        }
    }

    fn trim(&mut self) {
        self.generation += 1;
        let current = self.generation;
        let before = self.burst.len();
        self.burst.retain(|&(_, g)| current - g < 2);
        self.dropped += before - self.burst.len();
        for s in &mut self.slots {
            if matches!(s, Slot::Full(_, g) if self.generation - *g >= 2) {
                *s = Slot::Empty;
                self.dropped += 1;
            }
        }
    }

    fn idle(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Full(..)))
            .count()
            + self.burst.len()
    }
}

fn run(ops: Vec<Op>, capacity: usize, burst: usize) {
    pin_to_one_cpu();
    let census = Census::new();
    let pool = Pool::builder({
        let census = std::sync::Arc::clone(&census);
        move || Tracked::new(&census)
    })
    .per_cpu_capacity(capacity)
    .burst_capacity(burst)
    .build();
    let mut model = Model {
        slots: vec![Slot::Empty; capacity],
        burst: Vec::new(),
        burst_max: burst * pool.stats().shards,
        generation: 0,
        next_id: 0,
        created: 0,
        dropped: 0,
        lease: None,
        declined: false,
    };
    let mut guards: Vec<(PoolGuard<'_, Tracked>, Held)> = Vec::new();
    let mut owned: Vec<Tracked> = Vec::new();
    for op in ops {
        match op {
            Op::Get => {
                let g = pool.get();
                let (id, held) = model.get();
                assert_eq!(g.id, id, "get handed out the wrong object");
                guards.push((g, held));
            }
            Op::Take => {
                let t = pool.take();
                assert_eq!(t.id, model.take(), "take handed out the wrong object");
                owned.push(t);
            }
            Op::DropGuard(i) if !guards.is_empty() => {
                let (g, held) = guards.swap_remove(i % guards.len());
                model.release(g.id, held);
                drop(g);
            }
            Op::Put(i) if !owned.is_empty() => {
                let t = owned.swap_remove(i % owned.len());
                model.put_by_thread(t.id);
                pool.put(t);
            }
            Op::PutForeign => {
                let t = Tracked::new(&census);
                model.next_id += 1;
                model.put_by_thread(t.id);
                pool.put(t);
            }
            Op::Detach(i) if !guards.is_empty() => {
                let (g, held) = guards.swap_remove(i % guards.len());
                model.detach(g.id, held);
                owned.push(PoolGuard::into_inner(g));
            }
            Op::DropOwned(i) if !owned.is_empty() => {
                drop(owned.swap_remove(i % owned.len()));
            }
            Op::Trim => {
                pool.trim();
                model.trim();
            }
            _ => {}
        }
        let s = pool.stats();
        assert_eq!(s.idle, model.idle(), "idle");
        assert_eq!(s.burst, model.burst.len(), "burst");
        assert_eq!(s.created, model.created, "created");
        assert_eq!(s.dropped, model.dropped, "dropped");
        assert_eq!(s.trims, model.generation, "trims");
        assert_eq!(
            census.live(),
            guards.len() + owned.len() + s.idle,
            "objects alive = held + idle: none lost, none dropped twice"
        );
    }
    drop(guards);
    drop(owned);
    drop(pool);
    assert_eq!(census.live(), 0, "everything dropped once the pool is gone");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 256 }))]

    #[test]
    fn pool_matches_the_model(
        ops in proptest::collection::vec(op(), 0..64),
        capacity in 1..4usize,
        burst in 0..3usize,
    ) {
        run(ops, capacity, burst);
    }
}
