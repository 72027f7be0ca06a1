//! Compression codecs for sealed, immutable column blocks.
//!
//! Pure functions from a column's values to bytes and back: no I/O, no async,
//! no Arrow, and nothing else of the crate. The storage engine encodes each
//! column of a block once, when the block is sealed, and decodes it on every
//! scan, so decoding is the hot path.
//!
//! | module | values | scheme |
//! | --- | --- | --- |
//! | [`timestamp`] | `i64` microseconds | delta or delta-of-delta, frame bit-packed |
//! | [`integer`] | `i64` | frame-of-reference, delta or delta-of-delta, frame bit-packed |
//! | [`float`] | `f64`, `f32`, bit-exact | ALP decimal integers with exceptions, or an XOR stream |
//! | [`boolean`] | `bool` | per-frame bitmap or constant |
//! | [`text`] | strings | sorted dictionary and bit-packed indexes |
//! | [`validity`] | `bool` (true = not NULL) | bitmap |
//!
//! Codecs see dense values only: a block's NULLs are the [`validity`] bitmap's
//! business, and the block omits that bitmap when it has none.
//!
//! # Format conventions
//!
//! Every encoding is self-describing: it starts with a tag byte naming its codec
//! and scheme (so bytes of one codec are rejected by another), then the value
//! count as a varint, then the scheme's body. Fixed-width integers are
//! little-endian; varints are unsigned LEB128 (least significant group first, at
//! most 10 bytes); signed varints are zigzag-mapped first. A new layout gets a
//! new tag, never a change to an old one. Checksums are left to the container
//! that stores the encoded column (the block or snapshot format).
//!
//! Most schemes end in a packed stream: values in frames of 128 (the last may be
//! shorter), each frame with its own bit width, so that a regular series packs to
//! almost nothing and a frame unpacks in one loop specialised for its width.
//! `bits` documents the two stream layouts.
//!
//! # Errors
//!
//! Decoders accept any bytes: they check every length, width, count and index
//! and return [`Error`] rather than panic. They never allocate more than the
//! input could hold (a frame of 128 values takes at least 2 bytes), and a
//! failed `decode_into` leaves its output as it was.

#![deny(clippy::big_endian_bytes, clippy::host_endian_bytes)]

mod bits;
pub mod boolean;
pub mod float;
pub mod integer;
pub mod text;
pub mod timestamp;
pub mod validity;

/// Errors of decoding an encoded column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("encoded column is truncated: needed {needed} more bytes, {available} left")]
    Truncated { needed: usize, available: usize },
    #[error("encoded column has {count} bytes past its end")]
    TrailingBytes { count: usize },
    #[error("unknown {codec} encoding tag {tag:#04x}")]
    UnknownTag { codec: &'static str, tag: u8 },
    #[error("bit width {width} is over the maximum of {max}")]
    BitWidth { width: u8, max: u8 },
    #[error("dictionary index {index} is out of range for {len} entries")]
    DictionaryIndex { index: u64, len: usize },
    #[error("dictionary entry {entry} is not valid UTF-8")]
    InvalidUtf8 {
        entry: usize,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("corrupt encoded column: {reason}")]
    Corrupt { reason: &'static str },
}

/// The codec layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
