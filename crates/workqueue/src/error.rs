//! The errors of the non-blocking and timed gets.

use std::error::Error;
use std::fmt;

/// Why [`Queue::try_get`](crate::Queue::try_get) handed out nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// No item is ready right now.
    Empty,
    /// The queue is shut down and no item is left.
    ShutDown,
}

/// Why [`Queue::get_timeout`](crate::Queue::get_timeout) handed out nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetTimeoutError {
    /// No item became ready before the timeout.
    Timeout,
    /// The queue is shut down and no item is left.
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "work queue is empty",
            TryGetError::ShutDown => "work queue is shut down",
        })
    }
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetTimeoutError::Timeout => "timed out waiting for a work queue item",
            GetTimeoutError::ShutDown => "work queue is shut down",
        })
    }
}

impl Error for TryGetError {}
impl Error for GetTimeoutError {}
