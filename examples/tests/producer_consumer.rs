//! Runs the `producer_consumer` example with small sizes: all three product areas,
//! a timeout, `--verbose`, a product lost on purpose, bad arguments, and Ctrl-C.
//! `cargo test -p gosync-examples` builds the example first; with a target filter the
//! test builds it itself.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The example's executable, next to this test's (`target/<profile>/examples/`). A
/// plain `cargo test` builds it first; with a target filter (`--test`, `--tests`) cargo
/// skips examples, so if the binary is missing or older than its source, the test
/// builds it.
fn example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe
                .parent() // deps/
                .and_then(|d| d.parent())
                .expect("target/<profile>/deps/<test>")
                .to_path_buf();
            let path = profile_dir
                .join("examples")
                .join(format!("producer_consumer{}", std::env::consts::EXE_SUFFIX));
            let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/producer_consumer.rs");
            let modified =
                |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            if modified(&path) <= modified(source.as_ref()) {
                let mut cargo = Command::new(env!("CARGO"));
                cargo.args([
                    "build",
                    "-p",
                    "gosync-examples",
                    "--example",
                    "producer_consumer",
                ]);
                if profile_dir.file_name().is_some_and(|n| n == "release") {
                    cargo.arg("--release");
                }
                let status = cargo.status().expect("run cargo");
                assert!(
                    status.success() && path.exists(),
                    "{} not built",
                    path.display()
                );
            }
            path
        })
        .clone()
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(example())
        .args(args)
        .output()
        .expect("run the example");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// All three product areas, each producer stopping after a fixed number of products
/// (the duration is only a hang guard): every product is consumed exactly once.
#[test]
fn all_impls_conserve_products() {
    let out = run(&["--impl", "all", "--items", "2000", "--duration", "120s"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for name in ["cond", "workqueue", "channel"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")) && l.contains("made"))
            .unwrap_or_else(|| panic!("no result line for {name}"));
        assert!(line.contains("10000 products"), "{line}");
        assert!(line.ends_with("conservation OK"), "{line}");
    }
}

/// Stopped by the context's timeout instead: producers stop (those blocked on a full
/// area are woken by the cancel), consumers drain, and the counts still match.
#[test]
fn timeout_stops_the_run_and_the_area_drains() {
    let out = run(&["--impl", "all", "--duration", "200ms", "--capacity", "2"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches("conservation OK").count(), 3, "{stdout}");
}

/// `--verbose` prints every produce and consume with the area's fill level.
#[test]
fn verbose_prints_each_step_with_the_fill_level() {
    let out = run(&[
        "--verbose",
        "--items",
        "3",
        "--producers",
        "2",
        "--consumers",
        "2",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let puts = stdout.lines().filter(|l| l.contains(" put ")).count();
    let takes = stdout.lines().filter(|l| l.contains(" took ")).count();
    assert_eq!((puts, takes), (6, 6), "{stdout}");
    assert!(stdout
        .lines()
        .filter(|l| l.contains(" put "))
        .all(|l| l.contains("/3")));
}

/// The conservation check can fail: with a product lost on purpose, the example says
/// so and exits non-zero.
#[test]
fn a_lost_product_fails_the_run() {
    let out = run(&["--inject-loss", "--items", "50", "--impl", "all"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.matches("CONSERVATION FAILED for producer").count(),
        3,
        "{stdout}"
    );
}

/// Bad arguments: a usage message and exit status 2, never a run.
#[test]
fn bad_arguments_are_rejected() {
    for args in [
        &["--impl", "nope"][..],
        &["--capacity", "0"],
        &["--duration", "soon"],
        &["--items"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
}

/// Ctrl-C (SIGINT) stops the run like its timeout: producers stop, consumers drain,
/// the counts match, the remaining implementations are skipped, exit status 0.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_gracefully() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut child = Command::new(example())
        .args(["--impl", "all", "--duration", "600s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example");
    // Hang guard: if the example never gets going or never stops, kill it, so that
    // the reads below end (and the test fails) instead of hanging. The child is
    // reaped only after `finished` is sent, so its pid cannot be reused meanwhile.
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
    // Wait until the first run has started (the handler is installed before it).
    let mut line = String::new();
    while !line.contains("cond: running") {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "no run started");
    }
    // SAFETY: sends SIGINT to the child we spawned (still running: it waits 600 s).
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    let mut rest = String::new();
    for line in stdout.lines() {
        rest.push_str(&line.unwrap());
        rest.push('\n');
    }
    finished.send(()).unwrap();
    guard.join().unwrap();
    let out = child.wait_with_output().unwrap();
    println!("{rest}");
    assert!(out.status.success(), "{rest}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(
        rest.contains("cond: ") && rest.contains("conservation OK"),
        "{rest}"
    );
    assert!(rest.contains("workqueue: skipped (interrupted)"), "{rest}");
    assert!(rest.contains("channel: skipped (interrupted)"), "{rest}");
}
