//! Context: gosync vs tokio-util's `CancellationToken`.
//!
//! * `child_cancel`: create a child of a live parent and cancel it (gosync: `with_cancel`
//!   + `cancel`; tokio-util: `child_token` + `cancel`), dropping both.
//! * `is_done`: the done check on a live context (`is_done` / `is_cancelled`).
//! * `tree_build` / `tree_cancel`: a 100,000-node tree of fan-out 10 under one root;
//!   build it, then cancel the root and check that every node observes it.
//! * `wakeup`: a thread blocked on a context is woken by a cancel from another thread;
//!   each iteration is one create + block + cancel + wake-up round trip (gosync: the
//!   blocking `wait`; tokio-util: its `cancelled()` future on a park/unpark executor).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::future::Future;
use std::hint::black_box;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gosync_context::{background, with_cancel, CancelFunc, Context};
use tokio_util::sync::CancellationToken;

const TREE: usize = 100_000;
const FANOUT: usize = 10;

fn child_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("context/child_cancel");
    let (parent, _cancel) = with_cancel(&background());
    group.bench_function("gosync", |b| {
        b.iter(|| {
            let (ctx, cancel) = with_cancel(black_box(&parent));
            cancel.cancel();
            black_box(ctx);
        })
    });
    let token = CancellationToken::new();
    group.bench_function("tokio_util", |b| {
        b.iter(|| {
            let child = black_box(&token).child_token();
            child.cancel();
            black_box(child);
        })
    });
    group.finish();
}

fn is_done(c: &mut Criterion) {
    let mut group = c.benchmark_group("context/is_done");
    let (ctx, _cancel) = with_cancel(&background());
    group.bench_function("gosync", |b| b.iter(|| black_box(&ctx).is_done()));
    let token = CancellationToken::new();
    group.bench_function("tokio_util", |b| {
        b.iter(|| black_box(&token).is_cancelled())
    });
    group.finish();
}

/// Builds a tree of `TREE` nodes below `root` (breadth first, fan-out `FANOUT`).
fn build<T>(root: T, child: impl Fn(&T) -> T) -> Vec<T> {
    let mut nodes = Vec::with_capacity(TREE);
    nodes.push(root);
    let mut i = 0;
    while nodes.len() < TREE {
        for _ in 0..FANOUT {
            if nodes.len() == TREE {
                break;
            }
            let c = child(&nodes[i]);
            nodes.push(c);
        }
        i += 1;
    }
    nodes
}

fn gosync_tree() -> (Vec<(Context, CancelFunc)>, CancelFunc) {
    let (root, cancel) = with_cancel(&background());
    let nodes = build((root, cancel.clone()), |(p, _)| with_cancel(p));
    (nodes, cancel)
}

fn tree(c: &mut Criterion) {
    let mut group = c.benchmark_group("context/tree_build");
    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let tree = gosync_tree();
                total += t.elapsed();
                drop(tree);
            }
            total
        })
    });
    group.bench_function("tokio_util", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let tree = build(CancellationToken::new(), CancellationToken::child_token);
                total += t.elapsed();
                drop(tree);
            }
            total
        })
    });
    group.finish();

    let mut group = c.benchmark_group("context/tree_cancel");
    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (nodes, cancel) = gosync_tree();
                let t = Instant::now();
                cancel.cancel();
                assert!(nodes.iter().all(|(c, _)| c.is_done()));
                total += t.elapsed();
            }
            total
        })
    });
    group.bench_function("tokio_util", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let nodes = build(CancellationToken::new(), CancellationToken::child_token);
                let t = Instant::now();
                nodes[0].cancel();
                assert!(nodes.iter().all(CancellationToken::is_cancelled));
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// One helper thread blocks on each context it is sent and acknowledges the wake-up;
/// the bench thread sends a fresh context, lets the helper block, and cancels it.
fn wakeup(c: &mut Criterion) {
    let mut group = c.benchmark_group("context/wakeup");
    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = mpsc::sync_channel::<Context>(0);
            let (ack_tx, ack) = mpsc::sync_channel::<()>(0);
            let helper = std::thread::spawn(move || {
                for ctx in rx {
                    ctx.wait();
                    ack_tx.send(()).unwrap();
                }
            });
            let parent = background();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (ctx, cancel) = with_cancel(&parent);
                tx.send(ctx).unwrap();
                let t = Instant::now();
                cancel.cancel();
                ack.recv().unwrap();
                total += t.elapsed();
            }
            drop(tx);
            helper.join().unwrap();
            total
        })
    });
    group.bench_function("tokio_util", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = mpsc::sync_channel::<CancellationToken>(0);
            let (ack_tx, ack) = mpsc::sync_channel::<()>(0);
            let helper = std::thread::spawn(move || {
                for token in rx {
                    block_on(token.cancelled());
                    ack_tx.send(()).unwrap();
                }
            });
            let parent = CancellationToken::new();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let token = parent.child_token();
                tx.send(token.clone()).unwrap();
                let t = Instant::now();
                token.cancel();
                ack.recv().unwrap();
                total += t.elapsed();
            }
            drop(tx);
            helper.join().unwrap();
            total
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    child_cancel(c);
    is_done(c);
    tree(c);
    wakeup(c);
}

criterion_group! {
    name = group;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(group);
