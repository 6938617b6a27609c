//! No bounds on the struct definitions (API guidelines C-STRUCT-BOUNDS): a user's generic
//! struct can hold each queue type without repeating the queue's bounds. This file
//! compiling is the test; the test functions also use the structs.
#![cfg(not(loom))]

use std::hash::Hash;
use std::time::Duration;

use gosync_workqueue::ratelimit::{ExponentialLimiter, MaxOf};
use gosync_workqueue::{Fifo, Priority, PriorityQueue, Queue, QueueBuilder, RateLimitingQueue};

/// Holds every queue type over an unbounded `K`.
#[derive(Clone, Debug)]
struct Ctl<K> {
    queue: Queue<K>,
    priority: PriorityQueue<K>,
    explicit: Queue<K, Fifo<K>>,
    rate_limited: RateLimitingQueue<K>,
    rate_limited_priority: RateLimitingQueue<K, ExponentialLimiter<K>, Priority<K>>,
    with_limiter: RateLimitingQueue<K, MaxOf<K>, Fifo<K>>,
}

/// An unbounded generic wrapper, the shape of a controller holding its queue, generic
/// over the limiter too. (Generic over the storage `S` it would need `S: Storage<K>`: the
/// one bound the queue types keep.)
struct Wrapper<K, R> {
    q: RateLimitingQueue<K, R>,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Ctl<K> {
    fn new() -> Self {
        Ctl {
            queue: Queue::new(),
            priority: PriorityQueue::new_priority(),
            explicit: Queue::new(),
            rate_limited: RateLimitingQueue::new(),
            rate_limited_priority: RateLimitingQueue::priority_with_limiter(
                QueueBuilder::new(),
                ExponentialLimiter::new(Duration::from_millis(1), Duration::from_secs(1)),
            ),
            with_limiter: RateLimitingQueue::from_builder(QueueBuilder::new()),
        }
    }

    fn shut_down(&self) {
        self.queue.shut_down();
        self.priority.shut_down();
        self.explicit.shut_down();
        self.rate_limited.shut_down();
        self.rate_limited_priority.shut_down();
        self.with_limiter.shut_down();
    }
}

#[test]
fn a_generic_struct_holds_each_queue_without_bounds() {
    let ctl: Ctl<String> = Ctl::new();
    ctl.queue.add("a".to_string());
    ctl.rate_limited.add("b".to_string());
    let copy = ctl.clone();
    assert_eq!(copy.queue.len(), 1);
    assert_eq!(copy.rate_limited.len(), 1);
    assert!(format!("{ctl:?}").contains("Queue"));
    let w = Wrapper {
        q: ctl.rate_limited.clone(),
    };
    assert_eq!(w.q.len(), 1);
    ctl.shut_down();
}
