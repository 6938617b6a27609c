//! Replays the committed seed corpora: every file in `fuzz/seeds/<target>/` through that
//! target's `run`, so `cargo test --workspace` (and `./ci/test.sh`) checks the inputs
//! that exercise the interesting paths, and the crashes once found, on stable Rust and
//! without libFuzzer.

use std::fs;
use std::path::Path;

use gosync_fuzz_harness::TARGETS;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../seeds")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    for file in files {
        let data = fs::read(&file).unwrap();
        // Name the input if it fails (the panic itself says what diverged).
        eprintln!("replaying {}", file.display());
        run(&data);
    }
}

#[test]
fn pipe_ops_seeds() {
    replay("pipe_ops", gosync_fuzz_harness::pipe_ops::run);
}

#[test]
fn workqueue_ops_seeds() {
    replay("workqueue_ops", gosync_fuzz_harness::workqueue_ops::run);
}

#[test]
fn ratelimit_ops_seeds() {
    replay("ratelimit_ops", gosync_fuzz_harness::ratelimit_ops::run);
}

#[test]
fn context_ops_seeds() {
    replay("context_ops", gosync_fuzz_harness::context_ops::run);
}

/// Every target has a seed directory and a test above.
#[test]
fn every_target_is_replayed() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    for (name, _) in TARGETS {
        assert!(seeds.join(name).is_dir(), "no fuzz/seeds/{name}");
    }
}
