//! Blocking 4 KiB write/read rounds in a plain loop, for instruction counts under
//! callgrind (criterion's harness would drown them): a writer thread writes `N` chunks
//! of 4 KiB, the main thread reads them into a 4 KiB buffer.
//!
//! ```sh
//! cargo build --release -p gosync-pipe --example round_instructions
//! for n in 10000 20000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//!         target/release/examples/round_instructions $n
//! done
//! ```
//!
//! Instructions per round = (total at 20 000 − total at 10 000) / 10 000, which
//! subtracts process start and thread creation (or total / 20 000: the setup is under
//! 1%). Under valgrind the two threads run one at a time, so each round includes the
//! side that waits spinning out its budget (in time, so in instructions it varies with
//! valgrind's scheduling) and parking: compare medians of many runs, before and after a
//! change, interleaved. To see the spin apart from the rest, build both versions with
//! `#[inline(never)]` on `Shared::spin_reader` and `Shared::spin_writer` (a local edit,
//! not committed): `callgrind_annotate` then shows their inclusive cost, and the
//! exclusive cost of `Shared::read` / `Shared::write_counted_with` is the deterministic
//! part of a round.

use std::io::{Read, Write};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: round_instructions ROUNDS");
    let (mut r, mut w) = gosync_pipe::pipe();
    let src = vec![0x5a_u8; 4096];
    let writer = std::thread::spawn(move || {
        for _ in 0..n {
            w.write_all(&src).unwrap();
        }
    });
    let mut dst = vec![0_u8; 4096];
    let mut got = 0;
    loop {
        let k = r.read(&mut dst).unwrap();
        if k == 0 {
            break;
        }
        got += k;
    }
    writer.join().unwrap();
    assert_eq!(got, n * 4096);
    std::hint::black_box(&dst);
}
