//! Ctrl-C without a dependency, and the terminal's width, for the controller demos.
//!
//! On Unix a `sigaction` handler writes one byte to a pipe (async-signal-safe), and a
//! watcher thread blocked reading it runs the callback, so the callback may do anything
//! (cancel a context, shut a queue down, print). Off Unix there is no handler: Ctrl-C
//! terminates the process, and the status line assumes 80 columns.
//!
//! # Examples
//!
//! ```no_run
//! use gosync_context::{background, with_cancel};
//!
//! let (ctx, cancel) = with_cancel(&background());
//! // Keep the watch alive while Ctrl-C should cancel; dropping it restores the default.
//! let _watch = gosync_examples::signal::on_interrupt(move |n| {
//!     if n == 1 {
//!         cancel.cancel();
//!     }
//! });
//! ctx.wait(); // returns at the first Ctrl-C
//! ```

#[cfg(unix)]
pub use unix::{on_interrupt, terminal_width, Watch};

#[cfg(not(unix))]
pub use other::{on_interrupt, terminal_width, Watch};

#[cfg(unix)]
mod unix {
    use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
    use std::thread::JoinHandle;

    /// The write end of the wake-up pipe, or -1. `Relaxed`: the handler only needs the
    /// value, which is stored before the handler is installed (sigaction is the fence).
    static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_sigint(_: libc::c_int) {
        let fd = WAKE_FD.load(Relaxed);
        if fd >= 0 {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            // SAFETY: errno is thread-local; this reads the handler's own thread's.
            let saved = unsafe { *libc::__errno_location() };
            let byte = 1u8;
            // SAFETY: `write` is async-signal-safe; the buffer is one live byte; the fd
            // is non-blocking, so a full pipe (many Ctrl-Cs) drops the byte.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
            #[cfg(any(target_os = "linux", target_os = "android"))]
            // SAFETY: as above; restores what the interrupted code may be about to read.
            unsafe {
                *libc::__errno_location() = saved
            };
        }
    }

    /// The terminal's width in columns, if stdout is a terminal that reports one.
    pub fn terminal_width() -> Option<usize> {
        // SAFETY: a zeroed winsize is valid; TIOCGWINSZ writes one into it, and fails
        // harmlessly (returns -1) when stdout is not a terminal.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `ws` outlives the call.
        let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
        (r == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
    }

    /// The installed Ctrl-C handler: stops watching when dropped (the handler is reset
    /// to the default, and the watcher thread joined).
    #[derive(Debug)]
    pub struct Watch {
        fds: [libc::c_int; 2],
        thread: Option<JoinHandle<()>>,
    }

    /// Runs `f(n)` on a watcher thread at the `n`-th Ctrl-C. `None` if the handler could
    /// not be installed (the default, terminating, action stays).
    pub fn on_interrupt(mut f: impl FnMut(u32) + Send + 'static) -> Option<Watch> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe {
            let flags = libc::fcntl(fds[1], libc::F_GETFL);
            libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let read_fd = fds[0];
        let thread = std::thread::spawn(move || {
            let mut count = 0;
            loop {
                let mut byte = 0u8;
                // SAFETY: reads one byte into a live local from a descriptor kept open
                // until this thread is joined.
                let r = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
                match r {
                    1 if byte == 1 => {
                        count += 1;
                        f(count);
                    }
                    -1 if std::io::Error::last_os_error().kind()
                        == std::io::ErrorKind::Interrupted => {}
                    _ => return, // 0 from `Drop`, or an error
                }
            }
        });
        WAKE_FD.store(fds[1], Relaxed);
        // SAFETY: a zeroed sigaction is valid; the handler is an `extern "C" fn(c_int)`
        // that only makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) != 0 {
                return None;
            }
        }
        Some(Watch {
            fds,
            thread: Some(thread),
        })
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            // SAFETY: restores the default action; a zeroed sigaction with SIG_DFL is valid.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
            }
            WAKE_FD.store(-1, Relaxed);
            let stop = 0u8;
            // SAFETY: one live byte to our own pipe; the watcher reads it and returns.
            unsafe { libc::write(self.fds[1], (&stop as *const u8).cast(), 1) };
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            // The write end stays open: a handler that loaded the fd just before the
            // reset may still write to it, and a closed (reused) descriptor must not
            // receive that byte. Only the read end is closed.
            // SAFETY: the watcher thread, the only reader, has been joined.
            unsafe { libc::close(self.fds[0]) };
        }
    }
}

#[cfg(not(unix))]
mod other {
    /// Unknown off Unix: the status line assumes 80 columns.
    pub fn terminal_width() -> Option<usize> {
        None
    }

    /// Never made off Unix (there is no handler to keep installed).
    #[derive(Debug)]
    pub struct Watch(());

    /// No handler off Unix: Ctrl-C terminates the process.
    pub fn on_interrupt(_f: impl FnMut(u32) + Send + 'static) -> Option<Watch> {
        None
    }
}
