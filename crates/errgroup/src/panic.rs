//! Panic payload helpers shared by the group and singleflight.

use std::any::Any;
use std::fmt;

/// The text of a panic payload: the `&str` or `String` given to `panic!`, or a
/// placeholder for any other payload type.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic payload that is not a string".to_owned()
    }
}

/// The cause an [`errgroup::Group`](crate::errgroup::Group) cancels its context with when a
/// task panics before any task returned an error.
///
/// The panic itself is resumed by [`Group::wait`](crate::errgroup::Group::wait); this
/// error only tells the tasks still running (through
/// [`Context::cause`](gosync_context::Context::cause)) why they were cancelled.
///
/// # Examples
///
/// ```
/// use gosync_context::background;
/// use gosync_errgroup::{Group, TaskPanicked};
/// use std::panic::{catch_unwind, AssertUnwindSafe};
///
/// let (g, ctx) = Group::<std::sync::Arc<std::io::Error>>::with_context(&background());
/// g.go(|| panic!("boom"));
/// let waited = catch_unwind(AssertUnwindSafe(|| g.wait()));
/// assert!(waited.is_err()); // wait resumed the task's panic
/// let cause = ctx.cause().unwrap();
/// assert_eq!(cause.downcast_ref::<TaskPanicked>().unwrap().message(), "boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPanicked {
    message: String,
}

impl TaskPanicked {
    pub(crate) fn new(message: String) -> TaskPanicked {
        TaskPanicked { message }
    }

    /// The panic's message (the `&str` or `String` payload of `panic!`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gosync_context::background;
    /// use gosync_errgroup::{Group, TaskPanicked};
    ///
    /// let (g, ctx) = Group::<std::fmt::Error>::with_context(&background());
    /// g.go(|| panic!("task {} failed", 3));
    /// let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait()));
    /// let cause = ctx.cause().unwrap();
    /// let panicked = cause.downcast_ref::<TaskPanicked>().unwrap();
    /// assert_eq!(panicked.message(), "task 3 failed");
    /// assert_eq!(panicked.to_string(), "errgroup: a task panicked: task 3 failed");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errgroup: a task panicked: {}", self.message)
    }
}

impl std::error::Error for TaskPanicked {}
