//! Requests hyper cannot parse get our JSON error too.
//!
//! A request head hyper's parser refuses (a DEL byte or another control character in a header
//! value, a bad method, URI or version, a head too large) never reaches the router: hyper
//! answers it itself with a bare `400`, `414` or `431` and no body, then closes the
//! connection. Every other error the hub gives says what is wrong in a JSON body, and a panic
//! button's firmware or a resident's script deserves the same. hyper has no hook for it, so
//! each connection's socket is wrapped in [`ExplainParseErrors`], which recognises that one
//! response on its way out — a status line of 400, 414 or 431 and a head with
//! `content-length: 0`, written alone — and sends in its place the same status with a JSON
//! body. Our handlers never send those statuses without a body, and nothing after a WebSocket
//! upgrade starts with `HTTP/1.1`, so nothing else is touched.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's socket whose parse-error responses carry a JSON body.
pub struct ExplainParseErrors<IO> {
    inner: IO,
    /// The replacement being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<IO> ExplainParseErrors<IO> {
    pub fn new(inner: IO) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The response to send instead of `head`, if `head` is hyper's bodiless answer to a request
/// it could not parse.
fn explained(head: &[u8]) -> Option<Vec<u8>> {
    let (status, code, message) = if head.starts_with(b"HTTP/1.1 400 ") {
        (
            "400 Bad Request",
            "unparsable_request",
            "the request is not valid HTTP/1.1: a bad method, URI, version or header \
             (header values may not hold control characters such as DEL)",
        )
    } else if head.starts_with(b"HTTP/1.1 414 ") {
        (
            "414 URI Too Long",
            "uri_too_long",
            "the request's URI is too long",
        )
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (
            "431 Request Header Fields Too Large",
            "headers_too_large",
            "the request's headers are too large",
        )
    } else {
        return None;
    };
    // hyper's own answer is a head alone, ending at its first blank line, with no body.
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    if !text
        .to_ascii_lowercase()
        .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let date = text
        .split("\r\n")
        .find(|l| l.get(..5).is_some_and(|n| n.eq_ignore_ascii_case("date:")))
        .map(|d| format!("{d}\r\n"))
        .unwrap_or_default();
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n{date}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<IO: AsyncWrite + Unpin> ExplainParseErrors<IO> {
    /// Writes what is left of a replacement.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `head` as written if it is to be replaced.
    fn replace(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let replacement = explained(head)?;
        self.pending = Some((replacement, 0));
        // Start writing now; flush and shutdown finish it.
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(head.len())),
        })
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ExplainParseErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ExplainParseErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if buf.starts_with(b"HTTP/1.1 4") {
            if let Some(done) = self.replace(cx, buf) {
                return done;
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            if only.starts_with(b"HTTP/1.1 4") {
                if let Some(done) = self.replace(cx, only) {
                    return done;
                }
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const HYPER_400: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 03:00:00 GMT\r\n\r\n";

    #[test]
    fn hypers_bodiless_answers_are_explained() {
        let out = String::from_utf8(explained(HYPER_400).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("date: Sun, 06 Dec 2026 03:00:00 GMT"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "unparsable_request");
        for (head, code) in [
            (
                &b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"[..],
                "headers_too_large",
            ),
            (
                &b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n"[..],
                "uri_too_long",
            ),
        ] {
            let out = String::from_utf8(explained(head).unwrap()).unwrap();
            let body = out.split_once("\r\n\r\n").unwrap().1;
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], code);
        }
    }

    #[test]
    fn our_own_answers_pass_as_they_are() {
        // A handler's 400 has a body; a 404 or a 200 is never hyper's parse error.
        for head in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        ] {
            assert!(explained(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }

    #[tokio::test]
    async fn the_socket_carries_the_replacement_and_passes_the_rest() {
        let (a, mut b) = tokio::io::duplex(16);
        let mut wrapped = ExplainParseErrors::new(a);
        let writer = tokio::spawn(async move {
            wrapped.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            // Reported as written whole, though what goes out is longer than the pipe's buffer.
            let n = wrapped.write(HYPER_400).await.unwrap();
            assert_eq!(n, HYPER_400.len());
            wrapped.shutdown().await.unwrap();
        });
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        writer.await.unwrap();
        let rest = got.strip_prefix("HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!(rest.as_bytes(), explained(HYPER_400).unwrap());
    }
}
