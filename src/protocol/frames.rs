//! Frames checked as PostgreSQL checks them, before pgwire decodes them.
//!
//! pgwire reads a Query without its terminating NUL as an empty query,
//! ignores bytes after the NUL, and waits forever for the body of a frame
//! whose length field is below 4. PostgreSQL answers the first two with an
//! error (08P01, `invalid string in message` and `invalid message format`)
//! and goes on, and closes the connection on the third. [`CheckedIo`] sits
//! between the (decrypted) connection and pgwire's decoder and follows the
//! frames as they pass:
//!
//! - a frame whose length is below 4 ends the stream, as if the client had
//!   hung up;
//! - a malformed Query is held back whole and replaced by a Query of
//!   [`VIOLATION`] and the message, which the query handler answers with
//!   the error PostgreSQL gives (no client's SQL starts with that byte).
//!
//! Other frames pass through as they arrive.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The first character of a Query that stands for a malformed one; the
/// rest is PostgreSQL's message.
pub(super) const VIOLATION: char = '\u{1}';

/// The protocol version of a StartupMessage (3.0); after it, every frame
/// has a type byte. The other untyped frames (SSLRequest, GSSENCRequest,
/// CancelRequest) are followed by another untyped one, or by nothing.
const STARTUP_MAJOR: u16 = 3;

/// Where in the frame stream the next byte falls.
#[derive(Debug)]
enum State {
    /// The header of an untyped frame: its length, then its first word.
    Untyped { header: [u8; 8], have: usize },
    /// The rest of an untyped frame.
    UntypedBody { left: usize, startup: bool },
    /// The header of a typed frame: type byte and length.
    Header { header: [u8; 5], have: usize },
    /// The body of a frame passed through as it arrives.
    Body { left: usize },
    /// The body of a Query, held back until it is whole.
    Query { body: Vec<u8>, left: usize },
    /// A frame whose length is impossible: the stream has ended.
    Closed,
}

/// The checks; see the module documentation.
#[derive(Debug)]
pub(super) struct FrameCheck {
    state: State,
}

impl FrameCheck {
    /// At the start of a connection, after TLS negotiation.
    pub(super) fn new() -> Self {
        Self {
            state: State::Untyped {
                header: [0; 8],
                have: 0,
            },
        }
    }

    /// Follows `bytes`, already buffered by the decoder and so not to be
    /// checked, only counted.
    pub(super) fn skip(&mut self, bytes: &[u8]) {
        let mut sink = BytesMut::new();
        self.feed(bytes, &mut sink);
    }

    /// Follows `bytes` and appends to `out` what the decoder is to read.
    fn feed(&mut self, mut bytes: &[u8], out: &mut BytesMut) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Closed => return,
                State::Untyped { header, have } => {
                    let take = (8 - *have).min(bytes.len());
                    header[*have..*have + take].copy_from_slice(&bytes[..take]);
                    out.extend_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 8 {
                        let len = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
                        let major = u16::from_be_bytes([header[4], header[5]]);
                        if len < 8 {
                            self.state = State::Closed;
                            return;
                        }
                        self.state = State::UntypedBody {
                            left: len as usize - 8,
                            startup: major == STARTUP_MAJOR,
                        };
                        self.end_untyped();
                    }
                }
                State::UntypedBody { left, .. } => {
                    let take = (*left).min(bytes.len());
                    out.extend_from_slice(&bytes[..take]);
                    *left -= take;
                    bytes = &bytes[take..];
                    self.end_untyped();
                }
                State::Header { header, have } => {
                    let take = (5 - *have).min(bytes.len());
                    header[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have < 5 {
                        continue;
                    }
                    let kind = header[0];
                    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                    if len < 4 {
                        self.state = State::Closed;
                        return;
                    }
                    let left = len as usize - 4;
                    if kind == b'Q' {
                        self.state = State::Query {
                            body: Vec::with_capacity(left.min(1 << 16)),
                            left,
                        };
                        self.end_query(out);
                    } else {
                        out.extend_from_slice(&header[..]);
                        self.state = if left == 0 {
                            State::Header {
                                header: [0; 5],
                                have: 0,
                            }
                        } else {
                            State::Body { left }
                        };
                    }
                }
                State::Body { left } => {
                    let take = (*left).min(bytes.len());
                    out.extend_from_slice(&bytes[..take]);
                    *left -= take;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        self.state = State::Header {
                            header: [0; 5],
                            have: 0,
                        };
                    }
                }
                State::Query { body, left } => {
                    let take = (*left).min(bytes.len());
                    body.extend_from_slice(&bytes[..take]);
                    *left -= take;
                    bytes = &bytes[take..];
                    self.end_query(out);
                }
            }
        }
    }

    /// After an untyped frame ends: a StartupMessage is followed by typed
    /// frames, the others by another untyped one.
    fn end_untyped(&mut self) {
        if let State::UntypedBody { left: 0, startup } = self.state {
            self.state = if startup {
                State::Header {
                    header: [0; 5],
                    have: 0,
                }
            } else {
                State::Untyped {
                    header: [0; 8],
                    have: 0,
                }
            };
        }
    }

    /// A whole Query goes on as it is, or, malformed, as its replacement.
    fn end_query(&mut self, out: &mut BytesMut) {
        let State::Query { body, left: 0 } = &self.state else {
            return;
        };
        let text = match body.iter().position(|&b| b == 0) {
            None => Err("invalid string in message"),
            Some(end) if end + 1 != body.len() => Err("invalid message format"),
            Some(_) => Ok(body.as_slice()),
        };
        let replacement;
        let body = match text {
            Ok(body) => body,
            Err(message) => {
                replacement = format!("{VIOLATION}{message}\0").into_bytes();
                replacement.as_slice()
            }
        };
        out.extend_from_slice(b"Q");
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(body);
        self.state = State::Header {
            header: [0; 5],
            have: 0,
        };
    }
}

/// A connection whose incoming frames pass [`FrameCheck`].
#[derive(Debug)]
pub(super) struct CheckedIo<T> {
    io: T,
    check: FrameCheck,
    /// Checked bytes the decoder has not read yet.
    ready: BytesMut,
}

impl<T> CheckedIo<T> {
    pub(super) fn new(io: T, check: FrameCheck) -> Self {
        Self {
            io,
            check,
            ready: BytesMut::new(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CheckedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let take = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..take]);
                this.ready.advance(take);
                return Poll::Ready(Ok(()));
            }
            if matches!(this.check.state, State::Closed) {
                // End of stream: the decoder sees the client hang up.
                return Poll::Ready(Ok(()));
            }
            let mut scratch = [0u8; 8192];
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let filled = read.filled();
                    if filled.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    this.check.feed(filled, &mut this.ready);
                }
                other => return other,
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CheckedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> Vec<u8> {
        let body = b"\0\x03\0\0user\0u\0\0";
        let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// What the decoder reads of `input`, fed in pieces of `step` bytes.
    fn passed(input: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut check = FrameCheck::new();
        let mut out = BytesMut::new();
        for piece in input.chunks(step) {
            check.feed(piece, &mut out);
        }
        (out.to_vec(), matches!(check.state, State::Closed))
    }

    #[test]
    fn well_formed_frames_pass_unchanged_in_any_pieces() {
        let input = [
            startup(),
            frame(b'Q', b"SELECT 1\0"),
            frame(b'P', b"\0SELECT $1\0\0\0"),
            frame(b'S', b""),
            frame(b'Q', b"\0"),
        ]
        .concat();
        for step in [1, 2, 3, 7, 1000] {
            assert_eq!(passed(&input, step), (input.clone(), false), "step {step}");
        }
    }

    #[test]
    fn malformed_queries_are_replaced_and_short_lengths_close() {
        for (body, message) in [
            (&b"SELECT 1"[..], "invalid string in message"),
            (&b"SELECT 1\0ab"[..], "invalid message format"),
        ] {
            let input = [startup(), frame(b'Q', body), frame(b'S', b"")].concat();
            let expected = [
                startup(),
                frame(b'Q', format!("{VIOLATION}{message}\0").as_bytes()),
                frame(b'S', b""),
            ]
            .concat();
            for step in [1, 4, 1000] {
                assert_eq!(passed(&input, step), (expected.clone(), false));
            }
        }
        let mut input = startup();
        input.extend_from_slice(b"Q\0\0\0\x03");
        assert_eq!(passed(&input, 1000), (startup(), true));
    }

    #[test]
    fn an_ssl_request_is_followed_by_an_untyped_startup() {
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        let input = [ssl.to_vec(), startup(), frame(b'Q', b"SELECT 1\0")].concat();
        assert_eq!(passed(&input, 3), (input.clone(), false));
    }

    proptest::proptest! {
        /// Any bytes, however they are cut into reads, pass the same way:
        /// the checks depend on the frames, not on the reads.
        #[test]
        fn any_bytes_pass_the_same_in_any_pieces(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            step in 1usize..40,
        ) {
            let input = [startup(), tail].concat();
            proptest::prop_assert_eq!(passed(&input, input.len().max(1)), passed(&input, step));
        }
    }
}
