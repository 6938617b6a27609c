//! The nodes of the handle tree: what a [`Context`](crate::Context) handle points to.
//!
//! A node owns its parent (a strong reference, invariant 1 in `tree.rs`), its kind (a
//! root with its tree's timer, a cancellable node with its boxed [`Core`], a value, or a
//! `without_cancel`), and links to its tree's timer and its nearest deadline, each
//! found in one step at any depth. Dropping the last reference to a node releases its
//! registration with its parent core and its timer entry, and drops the chain of
//! ancestors it was the last reference to in a loop.
//!
//! The cancellation itself (cores, the cancel walk, waiters) is `tree.rs`, one layer
//! down; the public handle is `context.rs`, one layer up.

use std::any::Any;
use std::time::Instant;

use gosync_core::sync::atomic::Ordering::*;
use gosync_core::sync::Arc;

use crate::timer::TimerHandle;
use crate::tree::{Core, CorePtr, OwnDeadline};

/// One node of the tree; a [`Context`](crate::Context) is an `Arc` of it.
pub(crate) struct Node {
    /// The parent (invariant 1); `None` for a root (and, during an iterative drop, for
    /// a node whose parent has been taken over by the dropping loop).
    pub(crate) parent: Option<Arc<Node>>,
    pub(crate) kind: Kind,
    /// Where this node finds its tree's timer and its deadline in one step, at any
    /// depth (Go's `WithDeadline` is O(1) per node too).
    pub(crate) links: Links,
}

/// Pointers from a node into its ancestors (valid by invariant 1: the ancestors, and so
/// the root's timer and their boxed deadlines, live at least as long as the node).
#[derive(Clone, Copy)]
pub(crate) struct Links {
    /// The timer in the root's `Kind::Root`; null in a root itself.
    timer: *const TimerHandle,
    /// The nearest own deadline of this node or an ancestor, stopping at a
    /// `without_cancel`; null if none.
    deadline: *const OwnDeadline,
}

// SAFETY: the pointees (a `TimerHandle` and an `OwnDeadline`) are `Sync` and are only
// read, while alive (invariant 1), from any thread.
unsafe impl Send for Links {}
// SAFETY: as for `Send`.
unsafe impl Sync for Links {}

impl Links {
    /// The links of a root.
    pub(crate) const ROOT: Links = Links {
        timer: std::ptr::null(),
        deadline: std::ptr::null(),
    };

    /// The links of a child of `parent` that has no deadline of its own
    /// (`inherit: false`: a `without_cancel`, which has none at all).
    pub(crate) fn child_of(parent: &Node, inherit: bool) -> Links {
        Links {
            timer: parent.timer(),
            deadline: if inherit {
                parent.links.deadline
            } else {
                std::ptr::null()
            },
        }
    }

    /// The links of a child of `parent` with its own deadline `own`, whose box the
    /// child keeps for its whole life.
    pub(crate) fn with_own(parent: &Node, own: Option<&OwnDeadline>) -> Links {
        let mut links = Links::child_of(parent, true);
        if let Some(own) = own {
            links.deadline = own;
        }
        links
    }
}

impl Node {
    /// The timer of the node's tree, found in one step.
    #[inline]
    pub(crate) fn timer(&self) -> &TimerHandle {
        match &self.kind {
            Kind::Root { timer, .. } => timer,
            // SAFETY: a non-root node's `timer` link points into its root, which is
            // alive while this node is (invariant 1).
            _ => unsafe { &*self.links.timer },
        }
    }

    /// The deadline this node is cancelled by (its own or an ancestor's), if any.
    #[inline]
    pub(crate) fn deadline(&self) -> Option<Instant> {
        // SAFETY: the link is null or points to the boxed deadline of this node or of
        // an ancestor, alive while this node is (invariant 1).
        unsafe { self.links.deadline.as_ref() }.map(|own| own.at)
    }

    /// The core this node reports the cancellation of: its own, or (a value node) its
    /// nearest cancellable ancestor's; `None` for a node that can never be cancelled.
    #[inline]
    pub(crate) fn core(&self) -> Option<&Core> {
        match &self.kind {
            Kind::Cancel(core) => Some(core),
            // SAFETY: the pointer is an ancestor's core (or null), alive while `self`
            // is (invariant 1).
            Kind::Value { core, .. } => unsafe { core.0.as_ref() },
            _ => None,
        }
    }

    /// [`core`](Node::core) as a pointer (null for none), for a child to keep.
    pub(crate) fn core_ptr(&self) -> CorePtr {
        match self.core() {
            Some(core) => CorePtr(core),
            None => CorePtr::NULL,
        }
    }
}

pub(crate) enum Kind {
    /// `background()` / `todo()`: never cancelled, no deadline, no values.
    Root {
        name: &'static str,
        timer: TimerHandle,
    },
    /// `with_cancel` / `with_deadline` and friends.
    ///
    /// The core has its own allocation (invariant 7): other threads reach it by a
    /// [`CorePtr`] until the node's drop has synchronized with them, and by then
    /// `Arc`'s drop already holds a `&mut Node`, which must not cover the core.
    Cancel(Box<Core>),
    /// `with_value`: reports the cancellation of `core`, its nearest cancellable
    /// ancestor (null if none).
    Value {
        key: usize,
        value: Box<dyn Any + Send + Sync>,
        core: CorePtr,
    },
    /// `without_cancel`: values of the parent, nothing else.
    WithoutCancel,
}

impl Node {
    /// Releases what the node holds in the tree: its timer entry, its registration
    /// with its parent, or (a root) its timer thread. Needs `parent` still set;
    /// idempotent.
    fn release(&self) {
        match &self.kind {
            Kind::Cancel(core) => {
                if let Some(own) = &core.own {
                    // Acquire pairs with the timer thread's Release store of 0 after
                    // firing (invariant 6).
                    if own.timer_id.load(Acquire) != 0 {
                        self.timer().remove(core);
                    }
                }
                core.detach(self.parent.as_deref().and_then(Node::core));
            }
            Kind::Root { timer, .. } => timer.release_root(),
            _ => {}
        }
    }
}

impl Drop for Node {
    /// Releases the node, then drops the chain of ancestors this was the last handle
    /// of in a loop (not recursively), so a chain of any depth drops without deep
    /// recursion.
    fn drop(&mut self) {
        self.release();
        let mut next = self.parent.take();
        while let Some(mut parent) = next {
            // Released in place, never moved out of its `Arc`: registered children,
            // the cancel walk and the timer hold raw pointers to its core.
            let Some(node) = Arc::get_mut(&mut parent) else {
                // Someone else holds it (or is dropping it concurrently: then one
                // level of recursion happens there, no more).
                break;
            };
            node.release();
            next = node.parent.take();
            // `parent` drops `node` here: `release` again (a no-op), no parent to
            // recurse into.
        }
    }
}
