//! A stream adapter that flushes its writes by itself. `connection::serve` writes with
//! `write_all` and never flushes, which suits a TCP socket but would leave bytes in the
//! buffers of a TLS or WebSocket layer. It buffers nothing itself and knows nothing of MQTT.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Wraps a buffering stream so that what is written gets sent without a `flush` call.
#[derive(Debug)]
pub(crate) struct Flushing<S> {
    inner: S,
    /// Bytes were written that the inner stream may still hold.
    unflushed: bool,
}

impl<S> Flushing<S> {
    pub(crate) fn new(inner: S) -> Flushing<S> {
        Flushing {
            inner,
            unflushed: false,
        }
    }
}

impl<S: AsyncWrite + Unpin> Flushing<S> {
    /// Pushes out what earlier writes left in the inner stream; ready once nothing is left.
    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Flushing<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A write the peer could not take at once is finished here: the connection task
        // always waits for input, and the pending flush wakes it when the socket drains.
        if let Poll::Ready(Err(err)) = this.poll_push(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Flushing<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Earlier bytes go out before new ones are taken, so a slow peer pushes back here.
        ready!(this.poll_push(cx))?;
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.unflushed = true;
        // Usually done at once; otherwise the next read or write finishes it.
        if let Poll::Ready(Err(err)) = this.poll_push(cx) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_push(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

    use crate::edge::flushing::Flushing;

    /// Holds written bytes until flushed, like a TLS or WebSocket layer.
    #[derive(Default)]
    struct Buffering {
        held: Vec<u8>,
        sent: Vec<u8>,
    }

    impl AsyncRead for Buffering {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Buffering {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().held.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.sent.append(&mut this.held);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.poll_flush(cx)
        }
    }

    #[tokio::test]
    async fn written_bytes_are_sent_without_a_flush_call() {
        let mut stream = Flushing::new(Buffering::default());

        stream.write_all(b"connack").await.expect("write");

        assert_eq!(stream.inner.sent, b"connack");
        assert!(stream.inner.held.is_empty());
    }
}
