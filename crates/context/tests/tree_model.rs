//! Property test: random trees and random cancel / deadline events against a reference
//! model of which nodes are done, and why (error and cause).
#![cfg(not(loom))]

use std::io;
use std::time::{Duration, Instant};

use gosync_context::{
    background_with_clock, with_cancel_cause, with_deadline, with_deadline_cause, with_value,
    without_cancel, CancelCauseFunc, CancelFunc, Context, Error, Key,
};
use gosync_core::FakeClock;
use proptest::prelude::*;

static KEY: Key<usize> = Key::new("node");

#[derive(Clone, Debug)]
enum Op {
    /// `with_cancel_cause(nodes[p % len])`.
    Cancel {
        p: usize,
    },
    /// `with_deadline(_cause)(nodes[p % len], now + secs)`.
    Deadline {
        p: usize,
        secs: u64,
        cause: bool,
    },
    Value {
        p: usize,
    },
    Without {
        p: usize,
    },
    /// Call the cancel function of `nodes[n % len]` (if it has one).
    CancelNode {
        n: usize,
        cause: bool,
    },
    Advance {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<usize>().prop_map(|p| Op::Cancel { p }),
        3 => (any::<usize>(), 0..12u64, any::<bool>())
            .prop_map(|(p, secs, cause)| Op::Deadline { p, secs, cause }),
        1 => any::<usize>().prop_map(|p| Op::Value { p }),
        1 => any::<usize>().prop_map(|p| Op::Without { p }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(n, cause)| Op::CancelNode { n, cause }),
        2 => (1..6u64).prop_map(|secs| Op::Advance { secs }),
    ]
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum MKind {
    Root,
    Cancel,
    Value,
    Without,
}

/// The reference model of one node.
struct MNode {
    parent: Option<usize>,
    kind: MKind,
    /// Own deadline (seconds since start) served by the timer.
    own_deadline: Option<u64>,
    deadline_cause: Option<String>,
    /// For cancellable nodes: the error and cause message once done.
    state: Option<(Error, String)>,
}

struct Model {
    nodes: Vec<MNode>,
    now: u64,
}

impl Model {
    fn core(&self, i: usize) -> Option<usize> {
        match self.nodes[i].kind {
            MKind::Cancel => Some(i),
            MKind::Value => self.core(self.nodes[i].parent.unwrap()),
            MKind::Root | MKind::Without => None,
        }
    }

    fn deadline(&self, i: usize) -> Option<u64> {
        let n = &self.nodes[i];
        match n.kind {
            MKind::Root | MKind::Without => None,
            MKind::Value => self.deadline(n.parent.unwrap()),
            MKind::Cancel => n.own_deadline.or_else(|| self.deadline(n.parent.unwrap())),
        }
    }

    fn status(&self, i: usize) -> Option<(Error, String)> {
        self.core(i).and_then(|c| self.nodes[c].state.clone())
    }

    /// Cancels core `i` and every cancellable node whose nearest core ancestor is `i`.
    fn cancel(&mut self, i: usize, err: Error, cause: String) {
        if self.nodes[i].state.is_some() {
            return;
        }
        self.nodes[i].state = Some((err, cause.clone()));
        for j in 0..self.nodes.len() {
            if self.nodes[j].kind == MKind::Cancel
                && self.nodes[j].parent.and_then(|p| self.core(p)) == Some(i)
            {
                self.cancel(j, err, cause.clone());
            }
        }
    }

    fn add(&mut self, parent: usize, kind: MKind, own: Option<u64>, dl_cause: Option<String>) {
        let i = self.nodes.len();
        self.nodes.push(MNode {
            parent: Some(parent),
            kind,
            own_deadline: own,
            deadline_cause: dl_cause,
            state: None,
        });
        if kind == MKind::Cancel {
            if let Some(state) = self.status(parent) {
                self.nodes[i].state = Some(state); // born cancelled
            } else if own.is_some_and(|d| d <= self.now) {
                self.fire(i);
            }
        }
    }

    fn fire(&mut self, i: usize) {
        let cause = self.nodes[i]
            .deadline_cause
            .clone()
            .unwrap_or_else(|| Error::DeadlineExceeded.to_string());
        self.cancel(i, Error::DeadlineExceeded, cause);
    }

    /// Fires the due deadlines in the timer's order: by deadline, then creation.
    fn advance(&mut self, secs: u64) {
        self.now += secs;
        let mut due: Vec<(u64, usize)> = (0..self.nodes.len())
            .filter_map(|i| {
                let d = self.nodes[i].own_deadline?;
                (d <= self.now && d > self.now - secs).then_some((d, i))
            })
            .collect();
        due.sort();
        for (_, i) in due {
            self.fire(i);
        }
    }
}

enum Cancel {
    None,
    Plain(CancelFunc),
    Cause(CancelCauseFunc),
}

fn run(ops: Vec<Op>) {
    let fake = FakeClock::new();
    let t0 = fake.now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let root = background_with_clock(fake.clock());
    let mut real: Vec<(Context, Cancel)> = vec![(root, Cancel::None)];
    let mut model = Model {
        nodes: vec![MNode {
            parent: None,
            kind: MKind::Root,
            own_deadline: None,
            deadline_cause: None,
            state: None,
        }],
        now: 0,
    };
    let mut causes = 0;
    for op in ops {
        let len = real.len();
        match op {
            Op::Cancel { p } => {
                let (c, f) = with_cancel_cause(&real[p % len].0);
                real.push((c, Cancel::Cause(f)));
                model.add(p % len, MKind::Cancel, None, None);
            }
            Op::Deadline { p, secs, cause } => {
                let p = p % len;
                // Deadlines up to a few seconds in the past too.
                let d = (model.now + secs).saturating_sub(3);
                let parent = &real[p].0;
                let dl_cause = cause.then(|| {
                    causes += 1;
                    format!("d{causes}")
                });
                let (c, f) = match &dl_cause {
                    Some(m) => with_deadline_cause(parent, at(d), io::Error::other(m.clone())),
                    None => with_deadline(parent, at(d)),
                };
                real.push((c, Cancel::Plain(f)));
                if model.deadline(p).is_some_and(|cur| cur < d) {
                    model.add(p, MKind::Cancel, None, None);
                } else {
                    model.add(p, MKind::Cancel, Some(d), dl_cause);
                }
            }
            Op::Value { p } => {
                real.push((with_value(&real[p % len].0, &KEY, len), Cancel::None));
                model.add(p % len, MKind::Value, None, None);
            }
            Op::Without { p } => {
                real.push((without_cancel(&real[p % len].0), Cancel::None));
                model.add(p % len, MKind::Without, None, None);
            }
            Op::CancelNode { n, cause } => {
                let n = n % len;
                causes += 1;
                let m = format!("c{causes}");
                match &real[n].1 {
                    Cancel::None => {}
                    Cancel::Plain(f) => {
                        f.cancel();
                        model.cancel(n, Error::Canceled, Error::Canceled.to_string());
                    }
                    Cancel::Cause(f) => {
                        if cause {
                            f.cancel(io::Error::other(m.clone()));
                            model.cancel(n, Error::Canceled, m);
                        } else {
                            f.cancel_with(None);
                            model.cancel(n, Error::Canceled, Error::Canceled.to_string());
                        }
                    }
                }
            }
            Op::Advance { secs } => {
                fake.advance(Duration::from_secs(secs));
                model.advance(secs);
            }
        }
        // Let the timer thread catch up with the model (a hang guard, not a timing
        // assertion), then compare every node.
        let start = Instant::now();
        for (i, (ctx, _)) in real.iter().enumerate() {
            if model.status(i).is_some() {
                while !ctx.is_done() {
                    assert!(
                        start.elapsed() < Duration::from_secs(if cfg!(miri) { 600 } else { 10 }),
                        "node {i} not done"
                    );
                    std::thread::yield_now();
                }
            }
        }
        for (i, (ctx, _)) in real.iter().enumerate() {
            let want = model.status(i);
            assert_eq!(
                ctx.err(),
                want.as_ref().map(|w| w.0),
                "err of node {i} {ctx:?}"
            );
            assert_eq!(
                ctx.cause().map(|c| c.to_string()),
                want.map(|w| w.1),
                "cause of node {i} {ctx:?}"
            );
            assert_eq!(
                ctx.deadline(),
                model.deadline(i).map(at),
                "deadline of node {i}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 8 } else { 96 }, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
