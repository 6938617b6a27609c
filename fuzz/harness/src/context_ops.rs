//! Fuzz a context tree on a fake clock: children made with `with_cancel`,
//! `with_cancel_cause`, `with_deadline(_cause)`, `with_timeout(_cause)`, `with_value`
//! and `without_cancel` under any live node, cancels with and without a cause, advances
//! of the clock, and dropped handles (a node's `Context`, its cancel function, or
//! both), checked after every step against a model of which nodes are done and why
//! (error and cause), their deadlines and their values.
//!
//! The model is the one of the tree property test (`crates/context/tests/tree_model.rs`):
//! cancelling a node cancels every cancellable node whose nearest cancellable ancestor
//! it is, recursively; a child of a done node is born done with its error and cause; a
//! deadline later than the parent's is the parent's; due deadlines fire by deadline,
//! then creation. Dropping handles changes nothing for the nodes still held: a child
//! keeps its ancestors alive, so their deadlines and cancels still reach it.
//!
//! Deadlines fire on the tree's timer thread, after the advance that makes them due
//! returns: a node the model says is done is waited for (through an `on_cancel`
//! callback, with a generous real-time hang guard) before it is compared.

use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gosync_context::{
    background_with_clock, with_cancel, with_cancel_cause, with_deadline, with_deadline_cause,
    with_timeout, with_timeout_cause, with_value, without_cancel, CancelCauseFunc, CancelFunc,
    Context, Error, Key,
};
use gosync_core::FakeClock;

use crate::input::Input;

/// At most this many operations per input.
const MAX_OPS: usize = 256;
/// At most this many nodes per tree (the root included).
const MAX_NODES: usize = 64;
/// Real time allowed for the timer thread to cancel a node that is due: a hang guard,
/// not a timing assertion.
const HANG: Duration = Duration::from_secs(20);

static KEY: Key<usize> = Key::new("node");

/// Runs one input; panics where the tree disagrees with the model.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let fake = FakeClock::new();
    let t0 = fake.now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut real: Vec<Handles> = vec![Handles {
        ctx: Some(background_with_clock(fake.clock())),
        cancel: Cancel::None,
    }];
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

    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let arg = input.u8();
        let len = real.len();
        // A parent for a new node: one of the nodes still held.
        let live: Vec<usize> = (0..len).filter(|&i| real[i].view().is_some()).collect();
        let parent = (op % 10 < 5 && len < MAX_NODES && !live.is_empty())
            .then(|| live[usize::from(arg) % live.len()]);
        match (op % 10, parent) {
            (0, Some(p)) => {
                let (c, f) = with_cancel(real[p].view().unwrap());
                real.push(Handles::new(c, Cancel::Plain(f)));
                model.add(p, MKind::Cancel, None, None);
            }
            (1, Some(p)) => {
                let (c, f) = with_cancel_cause(real[p].view().unwrap());
                real.push(Handles::new(c, Cancel::Cause(f)));
                model.add(p, MKind::Cancel, None, None);
            }
            (2, Some(p)) => {
                let how = input.u8();
                let secs = u64::from(how & 15);
                let dl_cause = (how & 16 != 0).then(|| {
                    causes += 1;
                    format!("d{causes}")
                });
                let cause_err = || io::Error::other(dl_cause.clone().unwrap());
                let parent = real[p].view().unwrap();
                // Absolute deadlines reach up to 3 s into the past; timeouts are
                // relative to the fake clock, and `Duration::MAX` means no deadline.
                let (d, (c, f)) = match how >> 5 {
                    0..=3 => {
                        let d = (model.now + secs).saturating_sub(3);
                        let made = match &dl_cause {
                            Some(_) => with_deadline_cause(parent, at(d), cause_err()),
                            None => with_deadline(parent, at(d)),
                        };
                        (Some(d), made)
                    }
                    4..=6 => {
                        let t = Duration::from_secs(secs);
                        let made = match &dl_cause {
                            Some(_) => with_timeout_cause(parent, t, cause_err()),
                            None => with_timeout(parent, t),
                        };
                        (Some(model.now + secs), made)
                    }
                    _ => (None, with_timeout(parent, Duration::MAX)),
                };
                real.push(Handles::new(c, Cancel::Plain(f)));
                match d {
                    Some(d) if !model.deadline(p).is_some_and(|cur| cur < d) => {
                        model.add(p, MKind::Cancel, Some(d), dl_cause)
                    }
                    _ => model.add(p, MKind::Cancel, None, None),
                }
            }
            (3, Some(p)) => {
                let c = with_value(real[p].view().unwrap(), &KEY, len);
                real.push(Handles::new(c, Cancel::None));
                model.add(p, MKind::Value, None, None);
            }
            (4, Some(p)) => {
                let c = without_cancel(real[p].view().unwrap());
                real.push(Handles::new(c, Cancel::None));
                model.add(p, MKind::Without, None, None);
            }
            (5 | 6, _) => {
                let n = usize::from(arg) % len;
                causes += 1;
                let m = format!("c{causes}");
                match &real[n].cancel {
                    Cancel::None => {}
                    Cancel::Plain(f) => {
                        f.cancel();
                        model.cancel(n, Error::Canceled, Error::Canceled.to_string());
                    }
                    Cancel::Cause(f) if op % 10 == 5 => {
                        f.cancel(io::Error::other(m.clone()));
                        model.cancel(n, Error::Canceled, m);
                    }
                    Cancel::Cause(f) => {
                        f.cancel_with(None);
                        model.cancel(n, Error::Canceled, Error::Canceled.to_string());
                    }
                }
            }
            (7, _) => {
                let secs = u64::from(arg % 6);
                fake.advance(Duration::from_secs(secs));
                model.advance(secs);
            }
            (8, _) => real[usize::from(arg) % len].ctx = None,
            (9, _) => real[usize::from(arg) % len].cancel = Cancel::None,
            _ => {}
        }
        check(&real, &model, at);
    }
}

/// Waits for the nodes the model says are done, then compares every node still held.
fn check(real: &[Handles], model: &Model, at: impl Fn(u64) -> Instant) {
    for (i, h) in real.iter().enumerate() {
        let Some(ctx) = h.view() else { continue };
        let want = model.status(i);
        if want.is_some() && !ctx.is_done() {
            let (tx, rx) = mpsc::channel();
            let hook = ctx.on_cancel(move || {
                let _ = tx.send(());
            });
            let fired = rx.recv_timeout(HANG).is_ok();
            drop(hook);
            assert!(fired || ctx.is_done(), "node {i} is not done: {ctx:?}");
        }
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
            model.deadline(i).map(&at),
            "deadline of node {i}"
        );
        assert_eq!(
            ctx.value(&KEY).copied(),
            model.value(i),
            "value of node {i}"
        );
    }
}

/// The handles the run still holds on one node.
struct Handles {
    ctx: Option<Context>,
    cancel: Cancel,
}

enum Cancel {
    /// None made, or dropped.
    None,
    Plain(CancelFunc),
    Cause(CancelCauseFunc),
}

impl Handles {
    fn new(ctx: Context, cancel: Cancel) -> Handles {
        Handles {
            ctx: Some(ctx),
            cancel,
        }
    }

    /// The node, through its `Context` or its cancel function; `None` once both are
    /// dropped.
    fn view(&self) -> Option<&Context> {
        self.ctx.as_ref().or(match &self.cancel {
            Cancel::None => None,
            Cancel::Plain(f) => Some(f.context()),
            Cancel::Cause(f) => Some(f.context()),
        })
    }
}

#[path = "../../../crates/context/tests/support/tree_model.rs"]
mod model;
use model::{MKind, MNode, Model};
