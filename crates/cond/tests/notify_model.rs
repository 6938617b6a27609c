//! Property test against a model of Go's notify list: a FIFO of waiters in ticket
//! order, where `signal` pops the oldest, `broadcast` pops all, and a waiter that gives
//! up (its deadline passes on the fake clock, its context is cancelled) leaves the list
//! without taking a signal. After every operation the test collects exactly the
//! wake-ups the model predicts (who, and with which outcome) and compares the queue
//! length; a stray wake-up shows up as a mismatch at the next step or at the end.
// The model mixes context waits into every run: it needs the `context` feature.
#![cfg(all(not(loom), feature = "context"))]

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gosync_cond::Cond;
use gosync_context::{background, with_cancel, CancelFunc};
use gosync_core::clock::FakeClock;
use parking_lot::Mutex;
use proptest::prelude::*;

const HANG: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Op {
    /// A plain `wait`.
    Wait,
    /// `wait_timeout` of this many seconds of fake time.
    WaitTimeout(u64),
    /// `wait_context` on a fresh cancellable context.
    WaitContext,
    Signal,
    Broadcast,
    /// Advance the fake clock by this many seconds.
    Advance(u64),
    /// Cancel the context of the n-th queued context waiter (mod their number).
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Wait),
        2 => (1u64..5).prop_map(Op::WaitTimeout),
        2 => Just(Op::WaitContext),
        3 => Just(Op::Signal),
        1 => Just(Op::Broadcast),
        2 => (1u64..4).prop_map(Op::Advance),
        1 => any::<usize>().prop_map(Op::Cancel),
    ]
}

/// The outcome a waiter reports: woken by a signal (`true`) or gave up (`false`).
type Report = (usize, bool);

#[derive(Debug)]
enum Kind {
    Plain,
    Timed(Instant),
    Context(usize),
}

struct Harness {
    fake: FakeClock,
    m: Arc<Mutex<()>>,
    c: Arc<Cond>,
    tx: Sender<Report>,
    rx: Receiver<Report>,
    threads: Vec<JoinHandle<()>>,
    cancels: Vec<Option<CancelFunc>>,
    /// The model: queued waiters in ticket order.
    queue: VecDeque<(usize, Kind)>,
    next_id: usize,
}

impl Harness {
    fn new() -> Harness {
        let fake = FakeClock::new();
        let (tx, rx) = channel();
        Harness {
            m: Arc::new(Mutex::new(())),
            c: Arc::new(Cond::with_clock(fake.clock())),
            fake,
            tx,
            rx,
            threads: Vec::new(),
            cancels: Vec::new(),
            queue: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Starts a waiter and returns once it is queued.
    fn start(
        &mut self,
        kind: Kind,
        body: impl FnOnce(&Cond, &mut parking_lot::MutexGuard<'_, ()>) -> bool + Send + 'static,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let (m, c, tx) = (self.m.clone(), self.c.clone(), self.tx.clone());
        let (ready_tx, ready) = channel();
        self.threads.push(thread::spawn(move || {
            let mut g = m.lock();
            ready_tx.send(()).unwrap();
            let woken = body(&c, &mut g);
            drop(g);
            tx.send((id, woken)).unwrap();
        }));
        ready.recv_timeout(HANG).unwrap();
        drop(self.m.lock());
        self.queue.push_back((id, kind));
    }

    /// Receives exactly the expected reports (in any order).
    fn expect(&self, mut want: Vec<Report>) -> Result<(), TestCaseError> {
        let mut got: Vec<Report> = (0..want.len())
            .map(|_| self.rx.recv_timeout(HANG).expect("lost wake-up"))
            .collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Wait => self.start(Kind::Plain, |c, g| {
                c.wait(g);
                true
            }),
            Op::WaitTimeout(s) => {
                let d = Duration::from_secs(s);
                let deadline = self.fake.now() + d;
                self.start(Kind::Timed(deadline), move |c, g| c.wait_timeout(g, d));
            }
            Op::WaitContext => {
                let (ctx, cancel) = with_cancel(&background());
                let k = self.cancels.len();
                self.cancels.push(Some(cancel));
                self.start(Kind::Context(k), move |c, g| {
                    c.wait_context(&ctx, g).is_ok()
                });
            }
            Op::Signal => {
                self.c.signal();
                let want: Vec<Report> = self
                    .queue
                    .pop_front()
                    .map(|(id, _)| (id, true))
                    .into_iter()
                    .collect();
                self.expect(want)?;
            }
            Op::Broadcast => {
                self.c.broadcast();
                let want = self.queue.drain(..).map(|(id, _)| (id, true)).collect();
                self.expect(want)?;
            }
            Op::Advance(s) => {
                self.fake.advance(Duration::from_secs(s));
                let now = self.fake.now();
                let mut want = Vec::new();
                self.queue.retain(|(id, kind)| match kind {
                    Kind::Timed(deadline) if *deadline <= now => {
                        want.push((*id, false));
                        false
                    }
                    _ => true,
                });
                self.expect(want)?;
            }
            Op::Cancel(n) => {
                let ctx_waiters: Vec<(usize, usize)> = self
                    .queue
                    .iter()
                    .filter_map(|(id, kind)| match kind {
                        Kind::Context(k) => Some((*id, *k)),
                        _ => None,
                    })
                    .collect();
                if ctx_waiters.is_empty() {
                    return Ok(());
                }
                let (id, k) = ctx_waiters[n % ctx_waiters.len()];
                self.cancels[k].take().unwrap().cancel();
                self.queue.retain(|(i, _)| *i != id);
                self.expect(vec![(id, false)])?;
            }
        }
        prop_assert_eq!(self.c.waiters(), self.queue.len());
        Ok(())
    }

    fn finish(mut self) -> Result<(), TestCaseError> {
        self.c.broadcast();
        let want = self.queue.drain(..).map(|(id, _)| (id, true)).collect();
        self.expect(want)?;
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        prop_assert!(self.rx.try_recv().is_err(), "a waiter reported twice");
        prop_assert_eq!(self.c.waiters(), 0);
        Ok(())
    }
}

proptest! {
    // Miri interprets every case: a few there.
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 48 }, ..ProptestConfig::default() })]

    #[test]
    fn cond_matches_the_notify_list_model(ops in proptest::collection::vec(op(), 1..28)) {
        let mut h = Harness::new();
        for op in ops {
            h.apply(op)?;
        }
        h.finish()?;
    }
}
