//! Runs the crawler example with small sizes: it must exit 0 with its `result: PASS`
//! line (it verifies its own runs: every page fetched once, each host looked up once,
//! the limit kept, the first error returned and given as the context's cause), and it
//! must reject bad flags with exit status 2.
//!
//! The example binary is the one `cargo test -p gosync-examples` builds next to this test
//! (`target/<profile>/examples/crawler`).

use std::path::PathBuf;
use std::process::Command;

fn crawler() -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/crawler-<hash> → target/<profile>/examples/crawler
    let bin = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples")
        .join(format!("crawler{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p gosync-examples`, which builds the examples",
        bin.display()
    );
    bin
}

#[test]
fn crawler_passes_with_small_sizes() {
    for limit in ["1", "4"] {
        let out = Command::new(crawler())
            .args([
                "--pages=60",
                "--hosts=5",
                "--fail-at=30",
                "--lookup-ms=5",
                "--fetch-ms=1",
            ])
            .arg(format!("--limit={limit}"))
            .output()
            .expect("the crawler runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "limit {limit}: {:?}\n{stdout}",
            out.status
        );
        assert!(stdout.contains("result: PASS"), "limit {limit}:\n{stdout}");
        assert!(
            stdout.contains("Err(Broken(30))"),
            "limit {limit}:\n{stdout}"
        );
    }
}

#[test]
fn crawler_rejects_bad_flags() {
    for args in [
        &["--pages=1"][..],
        &["--fail-at=99", "--pages=10"],
        &["--limit"],
        &["--bogus=1"],
    ] {
        let out = Command::new(crawler())
            .args(args)
            .output()
            .expect("the crawler runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("crawler: "),
            "{args:?}"
        );
    }
}
