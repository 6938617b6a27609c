//! The async ends: `futures_io` (feature `futures-io`) and tokio (feature `tokio`)
//! `AsyncRead` for [`PipeReader`] and `AsyncWrite` for [`PipeWriter`].
//!
//! The protocol is in `shared.rs` ("Async ends"); what it guarantees is in the crate
//! docs ("Async reads and writes"). The impls are on the owned ends only, not on
//! `&PipeReader` / `&PipeWriter`: each end keeps one waker, for the one task that
//! polls it through `&mut`.

#[cfg(any(feature = "futures-io", all(feature = "tokio", not(loom))))]
use std::io::{self, IoSlice};
#[cfg(any(feature = "futures-io", all(feature = "tokio", not(loom))))]
use std::pin::Pin;
#[cfg(any(feature = "futures-io", all(feature = "tokio", not(loom))))]
use std::task::{Context, Poll};

#[cfg(any(feature = "futures-io", all(feature = "tokio", not(loom))))]
use crate::{PipeReader, PipeWriter};

/// Waits for a write and copies up to `buf.len()` bytes of it, as [`Read`](std::io::Read)
/// does: `Pending` (nothing taken) where a blocking read would wait; `Ok(0)` at end of
/// file; the bytes of async writes that have returned before anything else, even after
/// the writer closed.
///
/// A `Pending` read leaves a *request* for up to `buf.len()` bytes (capped at
/// 256 KiB): the next async write may move that much into the pipe and return, and the
/// next read delivers it, whether or not this poll is repeated. See the crate docs,
/// "Async reads and writes".
#[cfg(feature = "futures-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
impl futures_io::AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.shared.poll_read(cx, buf)
    }
}

/// Writes once a reader has asked for the bytes: `Ready(Ok(n))` after moving `n` bytes
/// (at most what a waiting read asked for) into the pipe for that read, `Pending`
/// having moved nothing. [`poll_flush`](futures_io::AsyncWrite::poll_flush) waits until
/// readers have copied every byte written; [`poll_close`](futures_io::AsyncWrite::poll_close)
/// is [`PipeWriter::close`]. Vectored writes are one write of all their slices. See the
/// crate docs, "Async reads and writes".
#[cfg(feature = "futures-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
impl futures_io::AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.shared.poll_write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.shared.poll_write(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

/// As the `futures-io` impl: reads into the unfilled part of `buf` (initializing it
/// first if it is not; a buffer reused across reads, as `tokio::io::copy`'s, is
/// initialized once).
#[cfg(all(feature = "tokio", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl tokio::io::AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.shared.poll_read(cx, buf.initialize_unfilled()) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// As the `futures-io` impl; [`poll_shutdown`](tokio::io::AsyncWrite::poll_shutdown)
/// is [`PipeWriter::close`].
#[cfg(all(feature = "tokio", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl tokio::io::AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.shared.poll_write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.shared.poll_write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}
