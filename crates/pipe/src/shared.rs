//! The rendezvous both ends share: Go's `pipe` struct, with the writer's slice lent to
//! the readers instead of sent over a channel.
//!
//! # Protocol
//!
//! All state is under one mutex (`Shared::state`); there is no other lock.
//!
//! 1. A writer first takes the write slot (`State::writing`, Go's `wrMu`), so writes
//!    are serialized whole. Only the slot holder publishes an [`Offer`].
//! 2. The slot holder publishes an `Offer`: raw pointers into its own borrowed
//!    `&[IoSlice]`. It does not return from `write` until it has set `State::offer`
//!    back to `None` under the lock (on success, close, time-out, and unwinding: see
//!    `Retract`). So a pointer read from `State::offer` under the lock is always valid.
//! 3. A reader copies from the offer *while holding the lock* (into its own buffer), so
//!    no copy can still be running when the writer retracts the offer. A reader that
//!    drains the offer clears it and wakes the writer.
//! 4. Closing either end records the first cause for that end (Go's `onceError`), and
//!    wakes everyone. A later cause is dropped after the lock is released: user code
//!    (the error's `Drop`) never runs under it. From then on readers never touch the offer (Go's `done` is checked
//!    first), and the writer retracts it and returns: data in flight is abandoned.
//!
//! # Spinning
//!
//! A thread wake-up costs tens of microseconds on a VM, more than copying a whole
//! 64 KiB chunk. So before parking, a waiter spins (bounded in time: [`SPIN`], or
//! [`WAKE_SPIN`] when its partner is known to be waking up) on `Shared::hint`, a
//! lock-free mirror of the state that is only ever written under the lock. The hint is
//! only advice: every decision is re-made under the lock, so all its accesses are
//! `Relaxed`. Which partner is parked is counted under the lock (`State::parked`).
//!
//! # Deadlines and cancellation
//!
//! Every blocking wait goes through [`Shared::wait`] inside a loop that re-checks the
//! state under the lock, and gives up (`expired`) only at that check. Next to it sits
//! the [`Interrupt`] check (a context, feature `context`): before the first park the
//! interrupt is armed without the lock (a cancel hook that calls
//! [`Shared::interrupt`], which locks `state` and notifies the three condition
//! variables, as [`Shared::closed`] does), then the loop re-checks everything. A call
//! that is interrupted stops exactly like one that timed out.
//!
//! # Async ends
//!
//! A task's buffer lives only for one poll, so an async writer cannot lend it across
//! polls as a blocked thread lends its slice. Instead a waiting read *requests* data
//! (`State::want`, the length of its buffer, capped at [`WANT_MAX`]), and an async write
//! ([`Shared::poll_write`]) moves at most that much of its buffer into `State::stash`,
//! under the lock, only while a request stands; it returns `Pending`, having moved
//! nothing, otherwise. Reads take from the stash before anything else (it holds bytes
//! of a write that has returned), even after the writer closed. An async reader
//! ([`Shared::poll_read`]) copies from a blocking writer's offer exactly as a blocking
//! reader does.
//!
//! 5. A request is made under the lock by a read that found no stash, no offer and no
//!    close, just before it waits (parks, or returns `Pending`); it stands until a write
//!    consumes it (one write per request: a read never spans two writes, as in Go).
//!    A request that outlives its read (the read timed out, was satisfied by an offer,
//!    or its future was dropped) stays: the next async write may fill it, and the next
//!    read delivers it. Never clearing a request is what keeps several waiting readers
//!    live: a reader can withdraw only its own, and requests carry no owner.
//! 6. Invariant: a non-empty stash means no request stands (a stash consumes the
//!    request, and only a read that found the stash empty makes one).
//! 7. One waker slot per end (`reader_task`, `writer_task`): the async traits take
//!    `&mut` ends, so at most one task polls each end. A slot is filled under the lock in
//!    the same critical section that decides to return `Pending`, and taken (then woken
//!    after the lock is released) by whatever that task waits for: a request or a close
//!    for the writer (or the stash drained, while it flushes), a stash, an offer or a
//!    close for the reader. A slot left by an abandoned poll is dropped at the next
//!    registration or wake, or with the pipe.
//! 8. Wakers are user code: cloned before the lock is taken (a poll that finds a
//!    different waker in its slot releases the lock, clones, and starts over), and
//!    woken or dropped after it is released, after the condition variables are
//!    notified, so a panicking waker cannot keep a thread asleep.

use std::io::{self, IoSlice};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use gosync_core::clock::Clock;
use gosync_core::spin::Spin;
use gosync_core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use gosync_core::sync::{Condvar, Mutex, MutexGuard};

use crate::copy::copy;
use crate::error::{timed_out, Cause, ClosedPipe};

/// `hint` bit: an offer is published and not yet drained or retracted.
const OFFERED: usize = 1;
/// `hint` bit: at least one end is closed.
const CLOSED: usize = 2;
/// `hint` bit: a reader drained an offer while its writer was parked, so the writer is
/// waking up (tens of microseconds) before it can offer more: the next reader to wait
/// spins for [`WAKE_SPIN`] instead of [`SPIN`]. Cleared by the next offer.
const WAKING: usize = 4;
/// `hint` bit: the stash holds bytes of an async write not yet read.
const STASHED: usize = 8;
/// `hint` bit: a read's request stands (`State::want > 0`). Lets an async writer that
/// will have to wait clone its waker before it takes the lock.
const WANTED: usize = 16;
/// `hint` increment: a reader copied a piece of the offer (the rest of the word is a
/// wrapping progress counter).
const PROGRESS: usize = 32;

/// The largest request a read makes of an async write (see "Async ends"): bounds the
/// stash, which the pipe keeps allocated for its next write. Not a timing constant: at
/// 256 KiB the wake-ups per request cost well under 1% of copying it.
const WANT_MAX: usize = 256 * 1024;

/// A reader bumps the progress counter after each piece this large, so a writer that
/// spins while a large read copies its data sees it moving.
const PIECE: usize = 64 * 1024;
/// How long a reader spins for an offer before parking, and a writer for its offer to
/// be drained (restarted whenever a reader signals progress), when the partner is not
/// known to be waking up.
///
/// Why 10 µs: a partner that is running answers within a cache-line round trip or two
/// (0.1-0.5 µs on these VMs), or, for a writer whose reader is copying, within one
/// [`PIECE`] (64 KiB: 10 µs at 6.5 GB/s, a third of an L2-resident `memcpy` here). A
/// longer wait means the partner is not running, and parking then costs this side
/// less than spinning: on a loaded machine (load 12-20 on 2 vCPUs) a 50 µs spin, pausing
/// or yielding, made 4 KiB writes 3-40x slower than a 4.6 µs one, as the spinners held
/// or gave away the CPUs their partners waited for. Every spin also ends as soon as it
/// finds its CPU contended (`gosync_core::spin::CONTENDED`).
#[cfg(not(loom))]
const SPIN: Duration = Duration::from_micros(10);
/// How long a side spins when it knows its partner is waking up: a writer that has just
/// woken a parked reader, or a reader whose drain woke a parked writer ([`WAKING`]).
///
/// Why 50 µs: it must outlast one wake-up of a parked thread. Measured on the 2-vCPU
/// VMs gosync is benchmarked on, a condition-variable wake-up takes 35-55 µs (median)
/// before the woken thread runs, because its idle vCPU had halted. A side that gives up
/// sooner than its partner can wake finds the partner parked again when it next needs
/// it: each write then pays a wake-up on each side, and the pair never leaves that
/// regime. That was the old budget (400 `spin_loop` hints, 4.6 µs on an Intel Xeon
/// whose hint takes 11 ns): 0.06-1.8 parks per write, 4 KiB writes at 1.5 GiB/s where
/// they now run at 4.4-5.7 (SCHED_RR, same session). After one wake-up with this budget,
/// both sides are spinning again.
#[cfg(not(loom))]
const WAKE_SPIN: Duration = Duration::from_micros(50);
/// After a failed [`WAKE_SPIN`], wake-ups spin [`SPIN`] only, but every this many-th
/// tries the long spin again (the load may have gone).
const WAKE_SPIN_RETRY: u32 = 16;
/// The writer's whole spin, progress or not, so a slow reader of a huge write is parked
/// on: 1 ms, 20 wake-ups' worth, bounds the CPU spent waiting on one write while a
/// reader keeps copying (a 1 MiB write is drained in ~50 µs at memcpy speed).
#[cfg(not(loom))]
const WRITE_SPIN_MAX: Duration = Duration::from_millis(1);
// Under loom a `Spin` spins once, whatever its budget.
#[cfg(loom)]
const SPIN: Duration = Duration::ZERO;
#[cfg(loom)]
const WAKE_SPIN: Duration = Duration::ZERO;
#[cfg(loom)]
const WRITE_SPIN_MAX: Duration = Duration::ZERO;

/// Keeps its field on cache lines of its own (two: the adjacent-line prefetcher pairs
/// them), so that a spinner's loads do not steal the line its partner is writing.
#[repr(align(128))]
struct Padded<T>(T);

/// Layout: the hint on its own line (spinners poll it); the lock with the offer and the
/// write slot on the next (each side takes it once per write); the close causes, the
/// condition variables and the clock after them, read-mostly.
#[repr(C)]
pub(crate) struct Shared {
    /// Lock-free mirror of `state` for spinners: `OFFERED | CLOSED | progress`.
    hint: Padded<AtomicUsize>,
    state: Padded<Mutex<State>>,
    /// Readers wait here for an offer or a close.
    readable: Condvar,
    /// The slot holder waits here for its offer to be drained, or a close.
    drained: Condvar,
    /// Writers wait here for the write slot, or a close.
    slot: Condvar,
    clock: Clock,
    /// Wake-up spins that failed in a row, modulo [`WAKE_SPIN_RETRY`] (see
    /// `Shared::try_wake_spin`); advice only.
    wake_spin_failures: AtomicU32,
    /// Parks so far: `[readers, writers]` (feature `diagnostics`; plain std atomics
    /// under loom too, since they are counters only, never a decision).
    #[cfg(feature = "diagnostics")]
    parks: [std::sync::atomic::AtomicU64; 2],
}

#[repr(C)] // the hot fields first, on the lock's cache line
struct State {
    /// The unread rest of the slot holder's write.
    offer: Option<Offer>,
    /// A writer holds the write slot (Go's `wrMu`).
    writing: bool,
    /// Threads parked on `readable` and on `drained`: advice for the spin lengths only
    /// (see [`WAKE_SPIN`]). A panic out of a wait would leave a count high, which only
    /// lengthens spins.
    parked: [u32; 2],
    /// Why the reader end was closed; the first cause wins.
    rerr: Option<Cause>,
    /// Why the writer end was closed; the first cause wins.
    werr: Option<Cause>,
    /// Bytes of async writes not yet read: `stash[stash_pos..]` (see "Async ends").
    stash: Vec<u8>,
    stash_pos: usize,
    /// The standing request of a waiting read: how many bytes the next async write may
    /// move into the stash (0: none).
    want: usize,
    /// The async writer waits for the stash to be read (`poll_flush`).
    flushing: bool,
    /// The task polling the reader end, while it waits.
    reader_task: Option<Waker>,
    /// The task polling the writer end, while it waits.
    writer_task: Option<Waker>,
}

/// The unread part of a write, lent by the blocked writer.
///
/// Invariant: while an `Offer` is in `State::offer`, the writer that published it is
/// blocked in `Shared::write`, so `cur..cur + cur_len` and the `rest_len` `IoSlice`s at
/// `rest` (and the bytes they point to) are valid for reads.
struct Offer {
    cur: *const u8,
    cur_len: usize,
    rest: NonNull<IoSlice<'static>>,
    rest_len: usize,
    /// Bytes consumed so far (Go's `n` in `write`).
    taken: usize,
}

// SAFETY: the pointers are only dereferenced under `Shared::state` while the offer is
// published, when the writer guarantees their validity (invariant of `Offer`); the bytes
// are only read, and `[u8]` / `IoSlice` are `Sync`.
unsafe impl Send for Offer {}

impl Offer {
    /// An offer of `bufs`, and its total length. Slices beyond a total of `usize::MAX`
    /// bytes (possible only when the same memory is repeated) are left out.
    fn new(bufs: &[IoSlice<'_>]) -> (Offer, usize) {
        let mut total = 0usize;
        let mut count = 0;
        for b in bufs {
            match total.checked_add(b.len()) {
                Some(t) => total = t,
                None => break,
            }
            count += 1;
        }
        let offer = Offer {
            cur: [].as_ptr(),
            cur_len: 0,
            // Never null (a slice's pointer is not), which gives `Option<Offer>` a niche.
            rest: NonNull::from(bufs).cast::<IoSlice<'static>>(),
            rest_len: count,
            taken: 0,
        };
        (offer, total)
    }

    /// Moves past empty slices; returns whether nothing is left.
    ///
    /// # Safety
    ///
    /// The offer is published (invariant of `Offer`) and the caller holds the lock.
    unsafe fn drained(&mut self) -> bool {
        while self.cur_len == 0 {
            if self.rest_len == 0 {
                return true;
            }
            // SAFETY: `rest_len > 0` slices at `rest` are valid (invariant of `Offer`).
            let s: &[u8] = unsafe { self.rest.as_ref() };
            self.cur = s.as_ptr();
            self.cur_len = s.len();
            // SAFETY: at most one past the end of the caller's slice of `IoSlice`s.
            self.rest = unsafe { self.rest.add(1) };
            self.rest_len -= 1;
        }
        false
    }

    /// Copies as much as fits into `dst`; returns the count. Bumps the progress count in
    /// `hint` between pieces; the caller signals the end of the call.
    ///
    /// # Safety
    ///
    /// As [`Offer::drained`].
    unsafe fn take(&mut self, dst: &mut [u8], hint: &AtomicUsize) -> usize {
        let mut n = 0;
        // SAFETY: forwarded caller contract.
        while n < dst.len() && !unsafe { self.drained() } {
            if n > 0 {
                // A piece is done and another follows; the caller signals the last one.
                hint.fetch_add(PROGRESS, Relaxed);
            }
            let k = self.cur_len.min(dst.len() - n).min(PIECE);
            // SAFETY: `cur..cur + cur_len` is valid for reads (invariant of `Offer`),
            // `dst[n..n + k]` for writes; they cannot overlap, since the writer holds a
            // shared borrow of its bytes and this reader an exclusive one of `dst`.
            unsafe { copy(self.cur, dst.as_mut_ptr().add(n), k) };
            // SAFETY: `k <= cur_len`.
            self.cur = unsafe { self.cur.add(k) };
            self.cur_len -= k;
            n += k;
        }
        self.taken += n;
        n
    }
}

impl State {
    fn is_closed(&self) -> bool {
        self.rerr.is_some() || self.werr.is_some()
    }

    /// Whether a read should take from the stash: bytes are there and the reader end is
    /// open (after the writer closed, they are still delivered before end of file).
    #[inline]
    fn readable_stash(&self) -> bool {
        self.stash_pos < self.stash.len() && self.rerr.is_none()
    }

    /// Go's `readCloseError`, with `EOF` as `Ok(0)`.
    fn read_close_result(&self) -> io::Result<usize> {
        match (&self.rerr, &self.werr) {
            (None, Some(Cause::Closed)) => Ok(0),
            (None, Some(cause)) => Err(cause.to_io(io::ErrorKind::Other)),
            _ => Err(ClosedPipe.into()),
        }
    }

    /// Go's `writeCloseError`.
    fn write_close_error(&self) -> io::Error {
        match (&self.werr, &self.rerr) {
            (None, Some(cause)) => cause.to_io(io::ErrorKind::BrokenPipe),
            _ => ClosedPipe.into(),
        }
    }
}

/// Records `cause` in `slot` unless an earlier close did (the first cause wins), and
/// hands a later one back instead of dropping it: its user error's `Drop` may panic or
/// use this pipe, so the caller drops it once the lock is released.
#[must_use = "a later cause must be dropped after the lock is released"]
fn first_wins(slot: &mut Option<Cause>, cause: Cause) -> Option<Cause> {
    if slot.is_none() {
        *slot = Some(cause);
        None
    } else {
        Some(cause)
    }
}

/// Wakes `wake` and drops `old` after the lock is released: both are user code (the
/// executor's waker); see [`after_unlock`].
#[inline]
fn wake_and_drop(wake: Option<Waker>, old: Option<Waker>) {
    if wake.is_some() || old.is_some() {
        after_unlock([wake, None], old);
    }
}

/// Wakes both wakers (a close); see [`after_unlock`].
#[inline]
fn wake_both(a: Option<Waker>, b: Option<Waker>) {
    if a.is_some() || b.is_some() {
        after_unlock([a, b], None);
    }
}

/// Wakes each of `wake`, then drops `old`, each inside `catch_unwind`, so that a
/// panicking waker neither keeps the other task asleep nor skips the drop; the first
/// panic is then resumed, unless this thread is already unwinding (a close in a drop
/// during a panic), where a second panic would abort the process.
#[cold]
#[inline(never)]
fn after_unlock(wake: [Option<Waker>; 2], old: Option<Waker>) {
    let mut first = None;
    for w in wake.into_iter().flatten() {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
            first.get_or_insert(p);
        }
    }
    if let Some(w) = old {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(w))) {
            first.get_or_insert(p);
        }
    }
    if let Some(p) = first {
        if !std::thread::panicking() {
            resume_unwind(p);
        }
    }
}

/// Retracts the offer and frees the write slot if `Shared::write` unwinds.
struct Retract<'a>(&'a Shared);

impl Drop for Retract<'_> {
    fn drop(&mut self) {
        self.0.finish_write(self.0.state.0.lock());
    }
}

/// Something besides a deadline that can end a blocking call: a context (feature
/// `context`), or [`Never`].
pub(crate) trait Interrupt {
    /// Checked under the lock next to the deadline: `Some(error)` ends the call.
    fn check(&self) -> Option<io::Error>;
    /// Whether [`arm`](Interrupt::arm) must run before the call parks.
    fn needs_arming(&self) -> bool;
    /// Called without the lock: arranges for a later interrupt to call
    /// [`Shared::interrupt`], so a parked call wakes and sees it in `check`.
    fn arm(&self);
}

/// No interrupt: the plain and timed calls.
pub(crate) struct Never;

impl Interrupt for Never {
    #[inline]
    fn check(&self) -> Option<io::Error> {
        None
    }
    #[inline]
    fn needs_arming(&self) -> bool {
        false
    }
    #[inline]
    fn arm(&self) {}
}

impl Shared {
    pub(crate) fn new(clock: Clock) -> Shared {
        Shared {
            state: Padded(Mutex::new(State {
                offer: None,
                writing: false,
                parked: [0; 2],
                rerr: None,
                werr: None,
                stash: Vec::new(),
                stash_pos: 0,
                want: 0,
                flushing: false,
                reader_task: None,
                writer_task: None,
            })),
            hint: Padded(AtomicUsize::new(0)),
            readable: Condvar::new(),
            drained: Condvar::new(),
            slot: Condvar::new(),
            clock,
            wake_spin_failures: AtomicU32::new(0),
            #[cfg(feature = "diagnostics")]
            parks: Default::default(),
        }
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Waits on `cv` until notified or `deadline`; returns whether the deadline passed.
    fn wait(
        &self,
        cv: &Condvar,
        st: &mut MutexGuard<'_, State>,
        deadline: Option<Instant>,
    ) -> bool {
        // 0: a reader; 1: the slot holder waiting for its drain; 2: a writer waiting for
        // the slot (not counted: no reader wakes it).
        let side = if std::ptr::eq(cv, &self.readable) {
            0
        } else if std::ptr::eq(cv, &self.drained) {
            1
        } else {
            2
        };
        #[cfg(feature = "diagnostics")]
        // Relaxed: a statistic, read after the threads are joined.
        self.parks[side.min(1)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(n) = st.parked.get_mut(side) {
            *n += 1;
        }
        let expired = match deadline {
            None => {
                cv.wait(st);
                false
            }
            Some(deadline) => self.clock.wait_until(cv, st, deadline),
        };
        if let Some(n) = st.parked.get_mut(side) {
            *n -= 1;
        }
        expired
    }

    /// Reads into `buf` from one write (Go's `pipe.read`).
    pub(crate) fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        self.read_with(buf, deadline, &Never)
    }

    /// [`read`](Shared::read), also ended by `interrupt`.
    pub(crate) fn read_with(
        &self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        interrupt: &impl Interrupt,
    ) -> io::Result<usize> {
        if buf.is_empty() {
            let st = self.state.0.lock();
            return if st.is_closed() {
                st.read_close_result()
            } else {
                Ok(0)
            };
        }
        if self.hint.0.load(Relaxed) & (OFFERED | CLOSED | STASHED) == 0 {
            self.spin_reader();
        }
        let mut st = self.state.0.lock();
        let mut expired = false;
        loop {
            // Bytes of an async write that has returned come first, even after a close.
            if st.readable_stash() {
                let (n, flusher) = self.take_stash(&mut st, buf);
                drop(st);
                wake_and_drop(flusher, None);
                return Ok(n);
            }
            // Go checks `done` first: after a close, an offer is abandoned.
            if st.is_closed() {
                return st.read_close_result();
            }
            if let Some((n, drained)) = self.take_offer(&mut st, buf) {
                drop(st);
                if drained {
                    self.drained.notify_all();
                }
                if n > 0 {
                    return Ok(n);
                }
                // An empty write: it has met its reader; this read waits for data.
                st = self.state.0.lock();
                continue;
            }
            if expired {
                return Err(timed_out("pipe: read timed out"));
            }
            if let Some(e) = interrupt.check() {
                return Err(e);
            }
            if interrupt.needs_arming() {
                drop(st);
                interrupt.arm();
                st = self.state.0.lock();
                continue;
            }
            // About to park: request data of an async writer, and wake it if it waits.
            if let Some(writer) = self.request(&mut st, buf.len()) {
                drop(st);
                wake_and_drop(Some(writer), None);
                st = self.state.0.lock();
                continue;
            }
            expired = self.wait(&self.readable, &mut st, deadline);
        }
    }

    /// Copies from the published offer, if any, into `buf`: `Some((count, drained))`.
    /// A drained offer is cleared; the caller notifies `drained` after unlocking.
    #[inline(always)]
    fn take_offer(&self, st: &mut State, buf: &mut [u8]) -> Option<(usize, bool)> {
        let offer = st.offer.as_mut()?;
        // SAFETY: the offer is published and we hold the lock (protocol 2, 3).
        let n = unsafe { offer.take(buf, &self.hint.0) };
        // SAFETY: as above.
        let drained = unsafe { offer.drained() };
        // One write to the hint per read (the writer spins on its cache line).
        if drained {
            st.offer = None;
            self.hint.0.fetch_and(!OFFERED, Relaxed);
            if st.parked[1] > 0 {
                // The writer wakes up before it offers more: wait for it longer.
                self.hint.0.fetch_or(WAKING, Relaxed);
            }
        } else if n > 0 {
            self.hint.0.fetch_add(PROGRESS, Relaxed);
        }
        Some((n, drained))
    }

    /// Copies from the stash (which has bytes) into `buf` (not empty); returns the count
    /// and, if that emptied the stash while the async writer flushes, its waker.
    #[cold]
    fn take_stash(&self, st: &mut State, buf: &mut [u8]) -> (usize, Option<Waker>) {
        let rest = &st.stash[st.stash_pos..];
        let n = rest.len().min(buf.len());
        // SAFETY: `rest[..n]` is valid for reads and `buf[..n]` for writes; they do not
        // overlap (the stash is the pipe's own allocation, `buf` the caller's `&mut`).
        unsafe { copy(rest.as_ptr(), buf.as_mut_ptr(), n) };
        st.stash_pos += n;
        let mut flusher = None;
        if st.stash_pos == st.stash.len() {
            st.stash.clear(); // keeps the allocation for the next write
            st.stash_pos = 0;
            self.hint.0.fetch_and(!STASHED, Relaxed);
            if st.flushing {
                st.flushing = false;
                flusher = st.writer_task.take();
            }
        }
        (n, flusher)
    }

    /// Makes (or widens) the request of a read that is about to wait with a buffer of
    /// `len` bytes (protocol 5); returns the async writer's waker to wake, if it waits.
    #[inline]
    fn request(&self, st: &mut State, len: usize) -> Option<Waker> {
        if st.want == 0 {
            self.hint.0.fetch_or(WANTED, Relaxed);
        }
        st.want = st.want.max(len.min(WANT_MAX));
        st.writer_task.take()
    }

    /// `AsyncRead::poll_read`: as [`read`](Shared::read), but returns `Pending` (having
    /// taken nothing, and with a request standing: protocol 5) where `read` would park.
    #[cfg_attr(
        not(any(feature = "futures-io", all(feature = "tokio", not(loom)))),
        allow(dead_code)
    )]
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            let st = self.state.0.lock();
            return Poll::Ready(if st.is_closed() {
                st.read_close_result()
            } else {
                Ok(0)
            });
        }
        // A clone of the task's waker, made without the lock (user code): at once if the
        // hint says this read will wait (its slot was emptied by the wake that brought
        // it here, so it needs one), else only if it turns out to be needed.
        let mut waker = self.preclone(cx, OFFERED | CLOSED | STASHED);
        let mut st = self.state.0.lock();
        loop {
            if st.readable_stash() {
                let (n, flusher) = self.take_stash(&mut st, buf);
                drop(st);
                wake_and_drop(flusher, waker);
                return Poll::Ready(Ok(n));
            }
            if st.is_closed() {
                let res = st.read_close_result();
                drop(st);
                drop(waker);
                return Poll::Ready(res);
            }
            if let Some((n, drained)) = self.take_offer(&mut st, buf) {
                drop(st);
                if drained {
                    self.drained.notify_all();
                }
                if n > 0 {
                    drop(waker);
                    return Poll::Ready(Ok(n));
                }
                // An empty write: it has met its reader; this read waits for data.
                st = self.state.0.lock();
                continue;
            }
            let old = match &st.reader_task {
                Some(w) if w.will_wake(cx.waker()) => None,
                _ => match waker.take() {
                    Some(w) => st.reader_task.replace(w),
                    None => {
                        drop(st);
                        waker = Some(cx.waker().clone());
                        st = self.state.0.lock();
                        continue;
                    }
                },
            };
            let writer = self.request(&mut st, buf.len());
            drop(st);
            wake_and_drop(writer, old.or(waker));
            return Poll::Pending;
        }
    }

    /// `AsyncWrite::poll_write` (protocol 5): moves up to the standing request's length
    /// of `bufs` into the stash and returns the count, or returns `Pending` having moved
    /// nothing. An empty write returns `Ok(0)` at once (after the close checks).
    #[cfg_attr(
        not(any(feature = "futures-io", all(feature = "tokio", not(loom)))),
        allow(dead_code)
    )]
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut waker = self.preclone(cx, WANTED | CLOSED);
        let mut st = self.state.0.lock();
        loop {
            if st.is_closed() {
                let err = st.write_close_error();
                drop(st);
                drop(waker);
                return Poll::Ready(Err(err));
            }
            if bufs.iter().all(|b| b.is_empty()) {
                drop(st);
                drop(waker);
                return Poll::Ready(Ok(0));
            }
            // `writing` is never set here: async writes take `&mut PipeWriter`, so no
            // blocking write of this pipe can be in progress.
            if st.want > 0 && st.stash_pos == st.stash.len() {
                let mut room = st.want;
                st.want = 0;
                self.hint.0.fetch_and(!WANTED, Relaxed);
                st.stash.clear();
                st.stash_pos = 0;
                for b in bufs {
                    let k = b.len().min(room);
                    st.stash.extend_from_slice(&b[..k]);
                    room -= k;
                    if room == 0 {
                        break;
                    }
                }
                let n = st.stash.len();
                self.hint.0.fetch_or(STASHED, Relaxed);
                let reader = st.reader_task.take();
                drop(st);
                self.readable.notify_all();
                wake_and_drop(reader, waker);
                return Poll::Ready(Ok(n));
            }
            match self.register_writer(&mut st, cx, &mut waker) {
                Some(old) => {
                    drop(st);
                    wake_and_drop(None, old.or(waker));
                    return Poll::Pending;
                }
                None => {
                    drop(st);
                    waker = Some(cx.waker().clone());
                    st = self.state.0.lock();
                }
            }
        }
    }

    /// `AsyncWrite::poll_flush`: ready once readers have taken every byte of the stash;
    /// if the reader closed first, its close error.
    #[cfg_attr(
        not(any(feature = "futures-io", all(feature = "tokio", not(loom)))),
        allow(dead_code)
    )]
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut waker: Option<Waker> = None;
        let mut st = self.state.0.lock();
        loop {
            if st.stash_pos == st.stash.len() {
                drop(st);
                drop(waker);
                return Poll::Ready(Ok(()));
            }
            if st.rerr.is_some() {
                let err = st.write_close_error();
                drop(st);
                drop(waker);
                return Poll::Ready(Err(err));
            }
            match self.register_writer(&mut st, cx, &mut waker) {
                Some(old) => {
                    st.flushing = true;
                    drop(st);
                    wake_and_drop(None, old.or(waker));
                    return Poll::Pending;
                }
                None => {
                    drop(st);
                    waker = Some(cx.waker().clone());
                    st = self.state.0.lock();
                }
            }
        }
    }

    /// A clone of the task's waker if `hint` has none of `ready` (advice: the call
    /// will likely wait and need it), made before the lock is taken.
    #[inline]
    fn preclone(&self, cx: &Context<'_>, ready: usize) -> Option<Waker> {
        if self.hint.0.load(Relaxed) & ready == 0 {
            Some(cx.waker().clone())
        } else {
            None
        }
    }

    /// Puts the writer task's waker in its slot: `None` if a clone is needed first (the
    /// caller unlocks, clones into `waker` and starts over), else `Some(replaced)`, the
    /// previous waker to drop after unlocking (`Some(None)` if nothing was replaced).
    #[cfg_attr(
        not(any(feature = "futures-io", all(feature = "tokio", not(loom)))),
        allow(dead_code)
    )]
    fn register_writer(
        &self,
        st: &mut State,
        cx: &Context<'_>,
        waker: &mut Option<Waker>,
    ) -> Option<Option<Waker>> {
        match &st.writer_task {
            Some(w) if w.will_wake(cx.waker()) => Some(None),
            _ => waker.take().map(|w| st.writer_task.replace(w)),
        }
    }

    /// Spins until an offer or a close shows up, or the budget runs out.
    fn spin_reader(&self) {
        let waking = self.hint.0.load(Relaxed) & WAKING != 0;
        let long = waking && self.try_wake_spin();
        let mut spin = Spin::new(if long { WAKE_SPIN } else { SPIN });
        let met = loop {
            if self.hint.0.load(Relaxed) & (OFFERED | CLOSED | STASHED) != 0 {
                break true;
            }
            if !spin.spin() {
                break false;
            }
        };
        if long {
            self.wake_spin_outcome(met);
        }
    }

    /// Whether a side whose partner is waking up should spin for [`WAKE_SPIN`]: yes,
    /// unless the last such spin failed (the partner took longer to wake up, as on a
    /// loaded machine, where a long spin only holds a CPU the partner may need: measured
    /// at load 16 on 2 vCPUs, 4 KiB writes ran 5x slower spinning 50 µs after every
    /// wake-up than with the old 4.6 µs spin); then every 16th wake-up tries again.
    fn try_wake_spin(&self) -> bool {
        // Relaxed: advice for a spin length, never a decision.
        let failures = self.wake_spin_failures.load(Relaxed);
        if failures == 0 {
            return true;
        }
        self.wake_spin_failures
            .store((failures + 1) % WAKE_SPIN_RETRY, Relaxed);
        failures + 1 == WAKE_SPIN_RETRY
    }

    /// Records whether a [`WAKE_SPIN`] saw its partner in time.
    fn wake_spin_outcome(&self, met: bool) {
        self.wake_spin_failures
            .store(if met { 0 } else { 1 }, Relaxed);
    }

    /// Writes all of `bufs` as one write: `Ok(n)` with `n` the full length, or the count
    /// consumed before a close or time-out if it is not zero (std's `Write` contract:
    /// an error means nothing was written), else the error.
    pub(crate) fn write(
        &self,
        bufs: &[IoSlice<'_>],
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        self.write_with(bufs, deadline, &Never)
    }

    /// [`write`](Shared::write), also ended by `interrupt`.
    pub(crate) fn write_with(
        &self,
        bufs: &[IoSlice<'_>],
        deadline: Option<Instant>,
        interrupt: &impl Interrupt,
    ) -> io::Result<usize> {
        match self.write_counted_with(bufs, deadline, interrupt) {
            (n, Ok(())) => Ok(n),
            (n, Err(_)) if n > 0 => Ok(n),
            (_, Err(e)) => Err(e),
        }
    }

    /// Go's `pipe.write`: returns once readers have consumed all of `bufs`, or on a
    /// close or time-out, with the count consumed so far and why it stopped.
    pub(crate) fn write_counted(
        &self,
        bufs: &[IoSlice<'_>],
        deadline: Option<Instant>,
    ) -> (usize, io::Result<()>) {
        self.write_counted_with(bufs, deadline, &Never)
    }

    /// [`write_counted`](Shared::write_counted), also ended by `interrupt`.
    pub(crate) fn write_counted_with(
        &self,
        bufs: &[IoSlice<'_>],
        deadline: Option<Instant>,
        interrupt: &impl Interrupt,
    ) -> (usize, io::Result<()>) {
        let mut st = self.state.0.lock();
        let mut expired = false;
        loop {
            if st.is_closed() {
                return (0, Err(st.write_close_error()));
            }
            if !st.writing {
                break;
            }
            if expired {
                return (0, Err(timed_out("pipe: write timed out")));
            }
            if let Some(e) = interrupt.check() {
                return (0, Err(e));
            }
            if interrupt.needs_arming() {
                drop(st);
                interrupt.arm();
                st = self.state.0.lock();
                continue;
            }
            expired = self.wait(&self.slot, &mut st, deadline);
        }
        let (offer, total) = Offer::new(bufs);
        st.writing = true;
        st.offer = Some(offer);
        if self.hint.0.fetch_or(OFFERED, Relaxed) & WAKING != 0 {
            self.hint.0.fetch_and(!WAKING, Relaxed); // this writer is awake
        }
        let reader_parked = st.parked[0] > 0;
        let reader_task = st.reader_task.take();
        drop(st);
        // From here on `bufs` is lent to the readers; `retract` takes it back even if
        // this thread unwinds, and the normal paths take it back in `finish_write`.
        let retract = Retract(self);
        self.readable.notify_all();
        if reader_task.is_some() {
            // A panicking waker unwinds through `retract`: the offer is taken back.
            wake_and_drop(reader_task, None);
        }
        let long = reader_parked && self.try_wake_spin();
        let met = self.spin_writer(if long { WAKE_SPIN } else { SPIN });
        if long {
            self.wake_spin_outcome(met);
        }
        let mut st = self.state.0.lock();
        let result = loop {
            let Some(offer) = &st.offer else {
                break (total, Ok(()));
            };
            if st.is_closed() {
                break (offer.taken, Err(st.write_close_error()));
            }
            if expired {
                break (offer.taken, Err(timed_out("pipe: write timed out")));
            }
            if let Some(e) = interrupt.check() {
                break (offer.taken, Err(e));
            }
            if interrupt.needs_arming() {
                // The offer stays published (still lent) while the lock is released.
                drop(st);
                interrupt.arm();
                st = self.state.0.lock();
                continue;
            }
            expired = self.wait(&self.drained, &mut st, deadline);
        };
        std::mem::forget(retract);
        self.finish_write(st);
        result
    }

    /// Spins until the offer is drained or the pipe closes, while readers make progress.
    /// Returns whether it saw the drain or close (or a reader's progress).
    fn spin_writer(&self, budget: Duration) -> bool {
        let mut last = self.hint.0.load(Relaxed);
        let mut spin = Spin::new(budget).limit(WRITE_SPIN_MAX);
        let first = last;
        while last & OFFERED != 0 && last & CLOSED == 0 {
            if !spin.spin() {
                return last != first;
            }
            let now = self.hint.0.load(Relaxed);
            if now != last {
                spin.restart(); // a reader is copying: the end is near
            }
            last = now;
        }
        true
    }

    /// Takes the offer back (if a reader has not drained it) and frees the write slot.
    fn finish_write(&self, mut st: MutexGuard<'_, State>) {
        if st.offer.take().is_some() {
            self.hint.0.fetch_and(!OFFERED, Relaxed);
        }
        st.writing = false;
        drop(st);
        self.slot.notify_all();
    }

    /// Closes the reader end (Go's `closeRead`).
    pub(crate) fn close_read(&self, cause: Cause) {
        let mut st = self.state.0.lock();
        let later = first_wins(&mut st.rerr, cause);
        self.closed(st);
        // User code (the error's `Drop`), run without the lock.
        drop(later);
    }

    /// Closes the writer end (Go's `closeWrite`).
    pub(crate) fn close_write(&self, cause: Cause) {
        let mut st = self.state.0.lock();
        let later = first_wins(&mut st.werr, cause);
        self.closed(st);
        // User code (the error's `Drop`), run without the lock.
        drop(later);
    }

    /// Wakes every parked call so that it re-checks its [`Interrupt`]. Locking first
    /// means a call is either parked (and woken) or has not yet made its check under
    /// the lock (and will see the interrupt): no lost wake-up.
    #[cfg_attr(not(feature = "context"), allow(dead_code))]
    pub(crate) fn interrupt(&self) {
        drop(self.state.0.lock());
        self.readable.notify_all();
        self.drained.notify_all();
        self.slot.notify_all();
    }

    fn closed(&self, mut st: MutexGuard<'_, State>) {
        self.hint.0.fetch_or(CLOSED, Relaxed);
        let reader_task = st.reader_task.take();
        let writer_task = st.writer_task.take();
        drop(st);
        self.readable.notify_all();
        self.drained.notify_all();
        self.slot.notify_all();
        wake_both(reader_task, writer_task);
    }

    /// How many times readers and writers have parked, `(readers, writers)`.
    #[cfg(feature = "diagnostics")]
    pub(crate) fn parks(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed; // a statistic (see `parks`)
        (self.parks[0].load(Relaxed), self.parks[1].load(Relaxed))
    }

    /// `(offered, closed)` from the hint, for `Debug`: never blocks.
    pub(crate) fn peek(&self) -> (bool, bool) {
        let h = self.hint.0.load(Relaxed);
        (h & OFFERED != 0, h & CLOSED != 0)
    }
}
