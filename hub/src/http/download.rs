//! Video downloads: HTTP byte ranges (`Range: bytes=…`, answered 206, or 416 when outside the
//! file) and bodies written by a blocking writer (files and clips are read with `std::fs`, off
//! the async threads) into a bounded channel, so a slow client holds a few chunks in memory,
//! never the whole file.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use tokio::sync::mpsc;

use super::error::ApiError;

/// Chunks in flight between the writer and the client.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Bytes per chunk.
const CHUNK: usize = 256 * 1024;

/// What of a `len`-byte file a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Whole,
    /// `[start, end)`.
    Part(u64, u64),
    /// Outside the file: 416.
    Unsatisfiable,
}

impl Wanted {
    /// Whether this asks for part of a `len`-byte file, not all of it: a range from the first
    /// byte to the last (`bytes=0-`, what download managers ask) is the whole file.
    pub fn is_part_of(self, len: u64) -> bool {
        matches!(self, Wanted::Part(start, end) if start > 0 || end < len)
    }

    /// What an answer's `Content-Range` says was sent (`bytes first-last/len`): that range of
    /// `len` bytes, or `None` without one, or for `bytes */len` (nothing sent).
    pub fn answered(headers: &HeaderMap) -> Option<(Wanted, u64)> {
        let range = headers
            .get(header::CONTENT_RANGE)?
            .to_str()
            .ok()?
            .strip_prefix("bytes ")?;
        let (span, len) = range.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
        Some((
            Wanted::Part(first, last.saturating_add(1)),
            len.parse().ok()?,
        ))
    }
}

/// Reads the `Range` header. A header this does not understand (several ranges, another unit)
/// is ignored and the whole file sent, as RFC 9110 allows.
pub fn wanted(headers: &HeaderMap, len: u64) -> Wanted {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(len.saturating_sub(n), len),
            None => Wanted::Whole,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return Wanted::Whole;
            };
            let end = match last.is_empty() {
                true => len,
                false => match parse(last) {
                    Some(l) if l >= start => l.saturating_add(1).min(len),
                    _ => return Wanted::Whole,
                },
            };
            if start >= len {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(start, end)
            }
        }
        (true, true) => Wanted::Whole,
    }
}

/// A [`Write`] that hands its bytes to the response body in chunks; fails once the client is
/// gone, which stops the writer.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A body produced by `write` on a blocking thread. An error after the first bytes can only
/// cut the body short (the status is sent); it is logged.
pub fn blocking_body<E: std::fmt::Display + Send + 'static>(
    write: impl FnOnce(&mut ChannelWriter) -> Result<(), E> + Send + 'static,
) -> Body {
    let (tx, mut rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let done = write(&mut out).map_err(|e| e.to_string());
        let done = done.and_then(|()| out.flush().map_err(|e| e.to_string()));
        if let Err(e) = done {
            tracing::warn!(error = %e, "a video download was cut short");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The answer for `wanted` of a `len`-byte video, its bytes written by `write(start, end, out)`.
pub fn video_response<E: std::fmt::Display + Send + 'static>(
    wanted: Wanted,
    len: u64,
    filename: &str,
    write: impl FnOnce(u64, u64, &mut ChannelWriter) -> Result<(), E> + Send + 'static,
) -> Response {
    let (status, start, end) = match wanted {
        Wanted::Whole => (StatusCode::OK, 0, len),
        Wanted::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end),
        Wanted::Unsatisfiable => {
            let mut err = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the requested range is outside the {len} bytes of this video"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                err.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return err;
        }
    };
    let body = blocking_body(move |out| write(start, end, out));
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            headers.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Some(v) = attachment(filename) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `Content-Disposition` saving the answer as `filename` (`None` if it cannot be a header).
pub fn attachment(filename: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(range: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(range).unwrap());
        h
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(wanted(&HeaderMap::new(), 100), Wanted::Whole);
        assert_eq!(wanted(&with("bytes=0-9"), 100), Wanted::Part(0, 10));
        assert_eq!(wanted(&with("bytes=90-"), 100), Wanted::Part(90, 100));
        assert_eq!(wanted(&with("bytes=90-500"), 100), Wanted::Part(90, 100));
        assert_eq!(wanted(&with("bytes=-10"), 100), Wanted::Part(90, 100));
        assert_eq!(wanted(&with("bytes=-500"), 100), Wanted::Part(0, 100));
        assert_eq!(wanted(&with("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(&with("bytes=-0"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(&with("bytes=0-1,5-6"), 100), Wanted::Whole);
        assert_eq!(wanted(&with("items=0-1"), 100), Wanted::Whole);
        assert_eq!(wanted(&with("bytes=9-3"), 100), Wanted::Whole);
    }
}
