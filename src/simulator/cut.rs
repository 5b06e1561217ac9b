//! Cutting a connection halfway through a response body (`--rate-reset`): the client gets the
//! status line, headers announcing the full `Content-Length`, part of the body, then the
//! socket closes, as when a connection is reset or a proxy dies mid-transfer.
//!
//! hyper cannot be asked for this. A response body that ends short or fails makes hyper drop
//! the connection without flushing what it had buffered, so the client would see a connection
//! closed before any header: another fault. So the simulator listens through [`CutListener`],
//! whose connections each carry a [`CutSwitch`] (handed to the front door as axum's
//! `ConnectInfo`). The front door arms it with how many body bytes may go out; the connection
//! lets the response head and that many bytes through, then fails the next write, and hyper
//! closes the socket. Every other connection passes bytes through untouched.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The end of an HTTP/1 response head.
const HEAD_END: &[u8; 4] = b"\r\n\r\n";

/// The simulator's listener: a TCP listener whose connections can be cut on request.
pub(super) struct CutListener(pub TcpListener);

/// Where one connection stands; shared by the connection and the requests it carries.
#[derive(Debug, Clone, Default)]
pub(super) struct CutSwitch(Arc<Mutex<Cut>>);

#[derive(Debug, Default)]
enum Cut {
    /// Bytes pass untouched.
    #[default]
    Off,
    /// The next response head passes (`matched` bytes of its end seen so far), then `body`
    /// bytes of its body.
    Head { matched: usize, body: usize },
    /// `left` more body bytes pass, then writes fail.
    Body { left: usize },
}

impl CutSwitch {
    /// Cuts the next response on this connection after `body` bytes of its body. The client
    /// sends no request before reading the whole previous answer (HTTP/1 without
    /// pipelining), so the next head written is that of the response being armed.
    pub fn arm(&self, body: usize) {
        *self.lock() = Cut::Head { matched: 0, body };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cut> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cut {
    /// How many of `buf`'s bytes may be written now.
    fn allowed(&self, buf: &[u8]) -> usize {
        match *self {
            Cut::Off => buf.len(),
            Cut::Head { matched, body } => match head_end(matched, buf) {
                Some(end) => end + body.min(buf.len() - end),
                None => buf.len(),
            },
            Cut::Body { left } => left.min(buf.len()),
        }
    }

    /// Moves past `sent`, bytes the connection has written.
    fn advance(&mut self, sent: &[u8]) {
        match *self {
            Cut::Off => {}
            Cut::Head { matched, body } => match head_end(matched, sent) {
                Some(end) => {
                    let left = body - (sent.len() - end);
                    *self = Cut::Body { left };
                }
                None => {
                    let matched = sent.iter().fold(matched, |m, &b| step(m, b));
                    *self = Cut::Head { matched, body };
                }
            },
            Cut::Body { ref mut left } => *left -= sent.len(),
        }
    }
}

/// The index just past the end of the head in `buf`, `matched` bytes of it already seen.
fn head_end(mut matched: usize, buf: &[u8]) -> Option<usize> {
    for (i, &b) in buf.iter().enumerate() {
        matched = step(matched, b);
        if matched == HEAD_END.len() {
            return Some(i + 1);
        }
    }
    None
}

/// One byte further in matching `\r\n\r\n` (a mismatch can only restart on `\r`).
fn step(matched: usize, b: u8) -> usize {
    if b == HEAD_END[matched] {
        matched + 1
    } else if b == b'\r' {
        1
    } else {
        0
    }
}

impl Listener for CutListener {
    type Io = CutStream;
    /// axum hands a connection's address to `ConnectInfo`; here that is its switch.
    type Addr = CutSwitch;

    async fn accept(&mut self) -> (CutStream, CutSwitch) {
        // axum's own accept loop, which retries (and backs off on) accept errors.
        let (io, _) = Listener::accept(&mut self.0).await;
        let switch = CutSwitch::default();
        (
            CutStream {
                io,
                switch: switch.clone(),
            },
            switch,
        )
    }

    fn local_addr(&self) -> io::Result<CutSwitch> {
        self.0.local_addr().map(|_| CutSwitch::default())
    }
}

impl Connected<IncomingStream<'_, CutListener>> for CutSwitch {
    fn connect_info(stream: IncomingStream<'_, CutListener>) -> CutSwitch {
        stream.remote_addr().clone()
    }
}

/// One accepted connection, writing only what its switch allows.
pub(super) struct CutStream {
    io: TcpStream,
    switch: CutSwitch,
}

impl AsyncRead for CutStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let allowed = this.switch.lock().allowed(buf);
        if allowed == 0 && !buf.is_empty() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection cut mid-body by --rate-reset",
            )));
        }
        let sent = ready!(Pin::new(&mut this.io).poll_write(cx, &buf[..allowed]))?;
        this.switch.lock().advance(&buf[..sent]);
        Poll::Ready(Ok(sent))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `writes` through a switch armed for `body` bytes; returns what went out of each.
    fn written(body: usize, writes: &[&[u8]]) -> Vec<usize> {
        let mut cut = Cut::Head { matched: 0, body };
        writes
            .iter()
            .map(|w| {
                let n = cut.allowed(w);
                cut.advance(&w[..n]);
                n
            })
            .collect()
    }

    #[test]
    fn the_head_passes_whole_then_only_the_armed_body_bytes() {
        let response: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{\"a\":12}";
        let head = response.len() - 8;
        assert_eq!(written(4, &[response, b"}"]), [head + 4, 0]);
        // The head's end split across writes, with a lone \r\n before it.
        let (a, b) = response.split_at(head - 3);
        assert_eq!(written(3, &[b"X\r\nY", a, b]), [4, a.len(), 3 + 3]);
        assert_eq!(written(0, &[response]), [head]);
    }

    #[test]
    fn an_unarmed_connection_passes_everything() {
        let mut cut = Cut::Off;
        let bytes = b"anything\r\n\r\nat all";
        assert_eq!(cut.allowed(bytes), bytes.len());
        cut.advance(b"anything");
        assert!(matches!(cut, Cut::Off));
    }
}
