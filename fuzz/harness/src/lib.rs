//! The logic of the gosync fuzz targets, one module per target.
//!
//! Each module's `run(data)` decodes the bytes into a sequence of operations on one
//! primitive, applies each to the primitive and to a simple reference model, and panics
//! at the first step where they disagree. Any byte string is a valid input: a short
//! one just means fewer operations (missing bytes read as zero).
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` are one-line calls of these
//! functions, and `tests/replay.rs` replays the committed seed corpora
//! (`fuzz/seeds/<target>/`) through them in the normal `cargo test --workspace`, on
//! stable Rust and without libFuzzer.
//!
//! * [`pipe_ops`]: the pipe against a queue of pending writes.
//! * [`workqueue_ops`]: the work queue against the model of its property test.
//! * [`ratelimit_ops`]: the token bucket against an exact rational-arithmetic bucket,
//!   the exponential and fast/slow limiters against per-item failure maps, and `max_of`
//!   over the three.
//! * [`context_ops`]: a context tree (cancels, deadlines on a fake clock, values,
//!   `without_cancel`, dropped handles) against a model of which nodes are done and why.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

mod input;

pub mod context_ops;
pub mod pipe_ops;
pub mod ratelimit_ops;
pub mod workqueue_ops;

/// A target's entry point: runs one input, panicking where the primitive and its model
/// disagree.
pub type Run = fn(&[u8]);

/// The fuzz targets by name (the file names in `fuzz/fuzz_targets/` and the directory
/// names in `fuzz/seeds/`) with their `run` functions.
pub const TARGETS: [(&str, Run); 4] = [
    ("pipe_ops", pipe_ops::run),
    ("workqueue_ops", workqueue_ops::run),
    ("ratelimit_ops", ratelimit_ops::run),
    ("context_ops", context_ops::run),
];
