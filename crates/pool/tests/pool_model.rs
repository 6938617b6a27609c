//! Property test: any sequence of get / take / return / put / detach / drop / trim
//! against a reference model of one CPU's shard (the test thread is pinned to one CPU,
//! so every operation uses the same shard, as in Go's tests with `runtime_procPin`).
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

/// The reference: one shard's slots, each empty or holding (object id, generation).
struct Model {
    slots: Vec<Option<(usize, usize)>>,
    generation: usize,
    next_id: usize,
    created: usize,
    dropped: usize,
}

impl Model {
    fn take(&mut self) -> usize {
        match self.slots.iter_mut().find(|s| s.is_some()) {
            Some(s) => s.take().unwrap().0,
            None => {
                self.created += 1;
                self.next_id += 1;
                self.next_id - 1
            }
        }
    }

    fn put(&mut self, id: usize) {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(s) => *s = Some((id, self.generation)),
            None => self.dropped += 1,
        }
    }

    fn trim(&mut self) {
        self.generation += 1;
        for s in &mut self.slots {
            if matches!(s, Some((_, g)) if self.generation - *g >= 2) {
                *s = None;
                self.dropped += 1;
            }
        }
    }

    fn idle(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

fn run(ops: Vec<Op>, capacity: usize) {
    pin_to_one_cpu();
    let census = Census::new();
    let pool = Pool::builder(|| Tracked::new(&census))
        .per_cpu_capacity(capacity)
        .build();
    let mut model = Model {
        slots: vec![None; capacity],
        generation: 0,
        next_id: 0,
        created: 0,
        dropped: 0,
    };
    let mut guards: Vec<PoolGuard<'_, Tracked, _>> = Vec::new();
    let mut owned: Vec<Tracked> = Vec::new();
    for op in ops {
        match op {
            Op::Get => {
                let g = pool.get();
                assert_eq!(g.id, model.take(), "get handed out the wrong object");
                guards.push(g);
            }
            Op::Take => {
                let t = pool.take();
                assert_eq!(t.id, model.take(), "take handed out the wrong object");
                owned.push(t);
            }
            Op::DropGuard(i) if !guards.is_empty() => {
                let g = guards.swap_remove(i % guards.len());
                model.put(g.id);
                drop(g);
            }
            Op::Put(i) if !owned.is_empty() => {
                let t = owned.swap_remove(i % owned.len());
                model.put(t.id);
                pool.put(t);
            }
            Op::PutForeign => {
                let t = Tracked::new(&census);
                model.next_id += 1;
                model.put(t.id);
                pool.put(t);
            }
            Op::Detach(i) if !guards.is_empty() => {
                let g = guards.swap_remove(i % guards.len());
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
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pool_matches_the_model(ops in proptest::collection::vec(op(), 0..64), capacity in 1..4usize) {
        run(ops, capacity);
    }
}
