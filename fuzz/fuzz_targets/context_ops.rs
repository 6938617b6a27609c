//! The `context_ops` fuzz target: the logic (decoding and the reference model) is
//! `gosync_fuzz_harness::context_ops`, which also replays the seeds in `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gosync_fuzz_harness::context_ops::run(data));
