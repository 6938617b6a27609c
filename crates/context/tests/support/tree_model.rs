//! The reference model of a context tree, shared by the tree proptest
//! (`tests/tree_model.rs`) and the `context_ops` fuzz target (`fuzz/harness`): which
//! nodes are done, with which error and cause, their deadlines and values.

use gosync_context::Error;

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum MKind {
    Root,
    Cancel,
    Value,
    Without,
}

/// The reference model of one node.
pub(crate) struct MNode {
    pub(crate) parent: Option<usize>,
    pub(crate) kind: MKind,
    /// Own deadline (seconds since start) served by the timer.
    pub(crate) own_deadline: Option<u64>,
    pub(crate) deadline_cause: Option<String>,
    /// For cancellable nodes: the error and cause message once done.
    pub(crate) state: Option<(Error, String)>,
}

pub(crate) struct Model {
    pub(crate) nodes: Vec<MNode>,
    /// Seconds since start.
    pub(crate) now: u64,
}

impl Model {
    /// The nearest cancellable node at or above `i`, stopping at a `without_cancel`.
    pub(crate) fn core(&self, i: usize) -> Option<usize> {
        match self.nodes[i].kind {
            MKind::Cancel => Some(i),
            MKind::Value => self.core(self.nodes[i].parent.unwrap()),
            MKind::Root | MKind::Without => None,
        }
    }

    pub(crate) fn deadline(&self, i: usize) -> Option<u64> {
        let n = &self.nodes[i];
        match n.kind {
            MKind::Root | MKind::Without => None,
            MKind::Value => self.deadline(n.parent.unwrap()),
            MKind::Cancel => n.own_deadline.or_else(|| self.deadline(n.parent.unwrap())),
        }
    }

    /// The index of the nearest `with_value` at or above `i` (values pass through
    /// `without_cancel`).
    pub(crate) fn value(&self, i: usize) -> Option<usize> {
        match self.nodes[i].kind {
            MKind::Value => Some(i),
            _ => self.value(self.nodes[i].parent?),
        }
    }

    pub(crate) fn status(&self, i: usize) -> Option<(Error, String)> {
        self.core(i).and_then(|c| self.nodes[c].state.clone())
    }

    /// Cancels core `i` and every cancellable node whose nearest core ancestor is `i`.
    pub(crate) fn cancel(&mut self, i: usize, err: Error, cause: String) {
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

    pub(crate) fn add(
        &mut self,
        parent: usize,
        kind: MKind,
        own: Option<u64>,
        dl_cause: Option<String>,
    ) {
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

    pub(crate) fn fire(&mut self, i: usize) {
        let cause = self.nodes[i]
            .deadline_cause
            .clone()
            .unwrap_or_else(|| Error::DeadlineExceeded.to_string());
        self.cancel(i, Error::DeadlineExceeded, cause);
    }

    /// Fires the due deadlines in the timer's order: by deadline, then creation.
    pub(crate) fn advance(&mut self, secs: u64) {
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
