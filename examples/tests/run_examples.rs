//! Runs every example with small sizes and checks that it passes its own verification:
//! exit status 0 and the `result: PASS` line.
//!
//! The examples are the binaries `cargo test` builds next to this test (under
//! `target/<profile>/examples/`); `cargo test -p gosync-examples` (or the workspace)
//! builds them before running the tests. A test run that builds only this target
//! (`--test run_examples`) finds missing or stale binaries and says so.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Instant, SystemTime};

/// The example binary `name`, built by this `cargo test` run.
fn example(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/run_examples-<hash> → target/<profile>/examples/<name>
    let dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.rs"));
    let modified = |p: &PathBuf| p.metadata().and_then(|m| m.modified()).ok();
    let built = modified(&bin).unwrap_or_else(|| {
        panic!(
            "{} is missing: run `cargo test -p gosync-examples`, which builds the examples",
            bin.display()
        )
    });
    let edited = modified(&source).unwrap_or(SystemTime::UNIX_EPOCH);
    assert!(
        built >= edited,
        "{} is older than {}: run `cargo test -p gosync-examples`, which rebuilds it",
        bin.display(),
        source.display()
    );
    bin
}

/// Runs `name` with `args`; asserts exit status 0 and each of `expect` in its output.
fn run(name: &str, args: &[&str], expect: &[&str]) -> String {
    let started = Instant::now();
    let out = Command::new(example(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run example {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{name} {} ran in {:?}", args.join(" "), started.elapsed());
    assert!(
        out.status.success(),
        "example {name} {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for line in expect {
        assert!(
            stdout.contains(line),
            "example {name} {args:?}: no `{line}` in its output:\n{stdout}\n{stderr}"
        );
    }
    stdout
}

#[test]
fn controller_verifies_its_run() {
    let out = run(
        "controller",
        &[
            "--duration=1s",
            "--objects=300",
            "--rate=3000",
            "--burst=50",
            "--work=100us",
            "--payload=256",
            "--fail-pct=20",
            "--permanent-every=29",
            "--status=200ms",
        ],
        &["result: PASS", "# TYPE workqueue_adds_total counter"],
    );
    // Every check of the report ran, and none failed.
    assert_eq!(out.matches("[ ok ]").count(), 7, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    // Not a terminal: plain status lines, no escape codes.
    assert!(!out.contains('\x1b'), "{out}");
}

#[test]
fn controller_rejects_bad_flags() {
    let out = Command::new(example("controller"))
        .args(["--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(example("controller"))
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flag --no-such-flag"));
    let help = run("controller", &["--help"], &["--duration", "--max-retries"]);
    assert!(help.contains("Flags"), "{help}");
}

#[test]
fn async_controller_verifies_its_run() {
    let out = run(
        "async_controller",
        &[
            "--duration=1s",
            "--objects=300",
            "--rate=3000",
            "--burst=50",
            "--work=100us",
            "--payload=256",
            "--fail-pct=20",
            "--permanent-every=29",
            "--status=200ms",
            "--runtime-threads=2",
        ],
        &[
            "async_controller: 4 worker tasks on 2 runtime threads",
            "result: PASS (7 of 7 checks passed)",
            "workqueue_adds_total{name=\"async_controller\"}",
        ],
    );
    // Every check of the report ran, and none failed; the run was not cut short.
    assert_eq!(out.matches("[ ok ]").count(), 7, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("stopped by: run time over"), "{out}");
    // The status task printed (its first tick is due at 200 ms of a 1 s run), plain
    // lines: not a terminal.
    assert!(out.contains(" items/s  depth "), "{out}");
    assert!(!out.contains('\x1b'), "{out}");
}

#[test]
fn async_controller_rejects_bad_flags() {
    for bad in [["--runtime-threads", "0"], ["--workers", "0"]] {
        let out = Command::new(example("async_controller"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let help = run(
        "async_controller",
        &["--help"],
        &["--runtime-threads", "--max-retries", "worker tasks"],
    );
    assert!(help.contains("Flags"), "{help}");
}

#[test]
fn pipeline_hashes_and_cuts_a_slow_reader() {
    run(
        "pipeline",
        &[
            "--mib=2",
            "--chunk-kib=16",
            // 256 chunks at 5 ms each: the 30 ms deadline cuts the stream even if its
            // timer thread is scheduled a second late (with 16 chunks, 45 ms late was
            // enough for the reader to take the whole stream).
            "--slow-kib=4096",
            "--slow=5ms",
            "--timeout=30ms",
        ],
        &[
            "hashes equal",
            "context deadline exceeded (kind TimedOut)",
            "result: PASS",
        ],
    );
}

#[test]
fn retry_follows_every_rule() {
    run(
        "retry",
        &["--initial=2ms", "--cap=10ms", "--base=1ms", "--items=4"],
        &["result: PASS (7 of 7 checks passed)"],
    );
}

#[test]
fn pool_reuses_and_trims() {
    run(
        "pool",
        &["--jobs=400", "--record-kib=4", "--threads=3"],
        &["idle through two trims: dropped", "result: PASS"],
    );
}

#[test]
fn fake_clock_drives_a_controller() {
    run("fake_clock", &[], &["result: PASS (7 of 7 checks passed)"]);
}

/// Runs `name` for up to ten minutes, sends it one Ctrl-C (SIGINT) once a status line
/// shows it producing at a non-zero rate, and returns its exit status, stdout and stderr: the first Ctrl-C
/// must stop the informer and drain the queue gracefully.
#[cfg(unix)]
fn interrupted(name: &str) -> (std::process::ExitStatus, String, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut child = Command::new(example(name))
        .args(["--duration=600s", "--objects=300", "--status=100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run example {name}: {e}"));
    // Hang guard: if the example never gets going or never stops, kill it, so that the
    // reads below end (and the test fails) instead of hanging. The child is reaped only
    // after `finished` is sent, so its pid cannot be reused meanwhile.
    let (finished, watchdog) = std::sync::mpsc::channel::<()>();
    let pid = child.id() as libc::pid_t;
    let guard = std::thread::spawn(move || {
        if watchdog
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_err()
        {
            // SAFETY: signals our own child, not yet reaped (see above).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The header is printed after the handler is installed; a status line then shows
    // the run under way, so the Ctrl-C comes with work queued or in flight.
    // Only a line with a non-zero rate shows work done (a status line may come before
    // the informer's first event, and a Ctrl-C then would leave nothing to drain).
    let mut out = String::new();
    assert_ne!(stdout.read_line(&mut out).unwrap(), 0, "{name}: no header");
    assert!(out.starts_with(&format!("{name}: ")), "{out}");
    let producing = |line: &str| {
        line.split("] producing ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|rate| rate.parse::<f64>().ok())
            .is_some_and(|rate| rate > 0.0)
    };
    loop {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "no status line with work done:\n{out}"
        );
        out.push_str(&line);
        if producing(&line) {
            break;
        }
    }
    // SAFETY: sends SIGINT to the child we spawned (still running: it waits 600 s).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    for line in stdout.lines() {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    finished.send(()).unwrap();
    guard.join().unwrap();
    let done = child.wait_with_output().unwrap();
    (
        done.status,
        out,
        String::from_utf8_lossy(&done.stderr).into_owned(),
    )
}

#[cfg(unix)]
#[test]
fn controller_drains_on_ctrl_c() {
    let (status, out, err) = interrupted("controller");
    assert!(status.success(), "{status}:\n{out}\n{err}");
    assert!(!out.contains("  events        0 "), "{out}");
    assert!(err.contains("interrupted: the informer stops"), "{err}");
    assert!(out.contains("stopped by: interrupted (Ctrl-C)"), "{out}");
    assert!(out.contains("result: PASS (7 of 7 checks passed)"), "{out}");
}

#[cfg(unix)]
#[test]
fn async_controller_drains_on_ctrl_c() {
    let (status, out, err) = interrupted("async_controller");
    assert!(status.success(), "{status}:\n{out}\n{err}");
    assert!(!out.contains("  events        0 "), "{out}");
    assert!(err.contains("interrupted: the informer stops"), "{err}");
    assert!(out.contains("stopped by: interrupted (Ctrl-C)"), "{out}");
    assert!(out.contains("result: PASS (7 of 7 checks passed)"), "{out}");
}
