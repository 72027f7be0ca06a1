//! The building blocks every codec shares: a checked byte [`Reader`], LEB128
//! varints, zigzag, bitmaps, and the two frame bit-packed streams (the
//! frame-of-reference stream and the XOR stream).
//!
//! A stream packs its values in frames of [`FRAME_LEN`] values (the last frame
//! may be shorter) with one bit width per frame. A frame of `len` values at
//! `width` bits takes `ceil(len * width / 8)` bytes, bits least significant
//! first, so a full frame is exactly `2 * width` little-endian `u64` words and
//! unpacks in a loop specialised for its width.

use super::{Error, Result};

/// Values per frame of a packed stream.
pub(crate) const FRAME_LEN: usize = 128;

/// The fewest bytes a frame of a packed stream can take: its width byte and a
/// one-byte reference (or shift). Bounds how many values an input can hold.
const MIN_FRAME_BYTES: usize = 2;

/// A cursor over encoded bytes whose every read is checked.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Fails unless at least `needed` bytes remain.
    pub(crate) fn ensure(&self, needed: usize) -> Result<()> {
        if needed > self.rest.len() {
            return Err(Error::Truncated {
                needed,
                available: self.rest.len(),
            });
        }
        Ok(())
    }

    /// Fails unless enough bytes remain for a packed stream of `count` values.
    pub(crate) fn ensure_stream(&self, count: usize) -> Result<()> {
        self.ensure(min_stream_len(count))
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(len).ok_or(Error::Truncated {
            needed: len,
            available: self.rest.len(),
        })?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let (&byte, tail) = self.rest.split_first().ok_or(Error::Truncated {
            needed: 1,
            available: 0,
        })?;
        self.rest = tail;
        Ok(byte)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64> {
        let (head, tail) = self.rest.split_first_chunk::<8>().ok_or(Error::Truncated {
            needed: 8,
            available: self.rest.len(),
        })?;
        self.rest = tail;
        Ok(u64::from_le_bytes(*head))
    }

    /// An unsigned LEB128 varint of at most 10 bytes, in its shortest form.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for index in 0..10 {
            let byte = self.u8()?;
            if index == 9 && byte > 1 {
                return Err(Error::Corrupt {
                    reason: "varint overflows 64 bits",
                });
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 {
                    return Err(Error::Corrupt {
                        reason: "varint has a redundant zero byte",
                    });
                }
                return Ok(value);
            }
        }
        Err(Error::Corrupt {
            reason: "varint longer than 10 bytes",
        })
    }

    /// A value count (a varint) that must fit in `usize`.
    pub(crate) fn count(&mut self) -> Result<usize> {
        usize::try_from(self.varint()?).map_err(|_| Error::Corrupt {
            reason: "value count does not fit in usize",
        })
    }

    /// Reads the codec's tag byte, failing with [`Error::UnknownTag`] unless
    /// `accept` recognises it.
    pub(crate) fn tag(&mut self, codec: &'static str, accept: impl Fn(u8) -> bool) -> Result<u8> {
        let tag = self.u8()?;
        if accept(tag) {
            Ok(tag)
        } else {
            Err(Error::UnknownTag { codec, tag })
        }
    }

    /// Succeeds only if every byte was read.
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}

/// Runs `decode`, which appends to `out`; on error, restores `out` to its
/// previous length so that callers never see half a column.
pub(crate) fn append_or_restore<T>(
    out: &mut Vec<T>,
    decode: impl FnOnce(&mut Vec<T>) -> Result<()>,
) -> Result<()> {
    let len = out.len();
    let result = decode(out);
    if result.is_err() {
        out.truncate(len);
    }
    result
}

pub(crate) fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes [`write_varint`] takes for `value`.
pub(crate) fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Maps small magnitudes, positive or negative, to small unsigned numbers.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Bits needed to hold `value`.
pub(crate) fn width_of(value: u64) -> u8 {
    (64 - value.leading_zeros()) as u8
}

/// Bytes taken by `len` values packed at `width` bits.
pub(crate) fn packed_len(len: usize, width: u8) -> usize {
    (len * usize::from(width)).div_ceil(8)
}

/// The fewest bytes a packed stream of `count` values can take.
pub(crate) fn min_stream_len(count: usize) -> usize {
    count.div_ceil(FRAME_LEN).saturating_mul(MIN_FRAME_BYTES)
}

/// Appends `values`, each below `2^width`, packed least significant bit first
/// into exactly [`packed_len`] bytes.
fn pack(values: impl Iterator<Item = u64>, width: u8, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let width = u32::from(width);
    let mut buffer = 0u128;
    let mut bits = 0u32;
    for value in values {
        buffer |= u128::from(value) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(buffer as u64).to_le_bytes());
            buffer >>= 64;
            bits -= 64;
        }
    }
    let tail = (bits as usize).div_ceil(8);
    out.extend_from_slice(&(buffer as u64).to_le_bytes()[..tail]);
}

/// The offsets of a frame packed at width 0.
static ZEROS: [u64; FRAME_LEN] = [0; FRAME_LEN];

/// Scratch space for unpacking one frame at a time.
struct Unpacker {
    /// A short frame's payload, copied so that it can be read as whole words.
    words: [[u8; 8]; 2 * 64],
    values: [u64; FRAME_LEN],
}

impl Unpacker {
    fn new() -> Self {
        Self {
            words: [[0; 8]; 2 * 64],
            values: [0; FRAME_LEN],
        }
    }

    /// Unpacks one frame whose `payload` is exactly `packed_len(len, width)`
    /// bytes, for some `len <= FRAME_LEN`, and returns its values; only the
    /// first `len` are meaningful. `width` must be at most 64.
    fn unpack(&mut self, payload: &[u8], width: u8) -> &[u64; FRAME_LEN] {
        if width == 0 {
            return &ZEROS;
        }
        let (words, tail) = payload.as_chunks::<8>();
        if tail.is_empty() && words.len() == 2 * usize::from(width) {
            // A full frame: exactly 2 × width words, read in place.
            unpack_frame(width, words, &mut self.values);
        } else {
            // A short frame: bytes past the payload keep earlier frames'
            // bytes, which only ever feed values at or past `len`.
            if let Some(prefix) = self.words.as_flattened_mut().get_mut(..payload.len()) {
                prefix.copy_from_slice(payload);
            }
            unpack_frame(width, &self.words, &mut self.values);
        }
        &self.values
    }
}

fn unpack_frame(width: u8, words: &[[u8; 8]], out: &mut [u64; FRAME_LEN]) {
    macro_rules! by_width {
        ($($w:literal)*) => {
            match width {
                $($w => unpack_width::<$w>(words, out),)*
                _ => {}
            }
        };
    }
    by_width!(
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
        63 64
    );
}

/// Unpacks a frame of 128 values of `WIDTH` bits from its first `2 × WIDTH`
/// words. Each half of the frame, 64 values, fills exactly `WIDTH` words.
#[inline(always)]
fn unpack_width<const WIDTH: usize>(words: &[[u8; 8]], out: &mut [u64; FRAME_LEN]) {
    let (halves, _) = words.as_chunks::<WIDTH>();
    let (out_halves, _) = out.as_chunks_mut::<{ FRAME_LEN / 2 }>();
    for (words, out) in halves.iter().zip(out_halves).take(2) {
        unpack_half::<WIDTH>(words, out);
    }
}

/// Unpacks 64 values of `WIDTH` bits (1..=64) from `WIDTH` words, unrolled so
/// that every word index, shift and mask is a constant.
#[inline(always)]
fn unpack_half<const WIDTH: usize>(words: &[[u8; 8]; WIDTH], out: &mut [u64; FRAME_LEN / 2]) {
    let mask = u64::MAX >> (64 - WIDTH);
    macro_rules! unrolled {
        ($($i:literal)*) => {$({
            let bit = $i * WIDTH;
            let (word, shift) = (bit / 64, bit % 64);
            let low = u64::from_le_bytes(words[word]) >> shift;
            out[$i] = if shift + WIDTH > 64 {
                low | (u64::from_le_bytes(words[word + 1]) << (64 - shift))
            } else {
                low
            } & mask;
        })*};
    }
    unrolled!(
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63
    );
}

/// Appends `values` as a frame-of-reference stream. Each frame is
///
/// ```text
/// width: u8 (0..=64)
/// reference: varint zigzag(reference - previous frame's reference), the first against 0
/// payload: packed_len(len, width) bytes of (value - reference) as u64
/// ```
///
/// where `reference` is the frame's minimum. All arithmetic wraps, so any
/// `i64` values round-trip.
pub(crate) fn write_for_stream(values: &[i64], out: &mut Vec<u8>) {
    let mut previous = 0i64;
    for frame in values.chunks(FRAME_LEN) {
        let (reference, width) = frame_reference(frame);
        out.push(width);
        write_varint(zigzag(reference.wrapping_sub(previous)), out);
        pack(
            frame.iter().map(|&v| v.wrapping_sub(reference) as u64),
            width,
            out,
        );
        previous = reference;
    }
}

/// Bytes [`write_for_stream`] would append for `values`.
pub(crate) fn for_stream_len(values: &[i64]) -> usize {
    let mut previous = 0i64;
    let mut len = 0;
    for frame in values.chunks(FRAME_LEN) {
        let (reference, width) = frame_reference(frame);
        len += 1
            + varint_len(zigzag(reference.wrapping_sub(previous)))
            + packed_len(frame.len(), width);
        previous = reference;
    }
    len
}

/// A frame's minimum and the width of its range.
fn frame_reference(frame: &[i64]) -> (i64, u8) {
    let mut min = i64::MAX;
    let mut max = i64::MIN;
    for &value in frame {
        min = min.min(value);
        max = max.max(value);
    }
    (min, width_of(max.wrapping_sub(min) as u64))
}

/// Reads a frame-of-reference stream of `count` values, calling
/// `frame(offsets, reference, width)` once per frame; each value is
/// `reference.wrapping_add(offset)`, and every offset is 0 when `width` is 0.
pub(crate) fn read_for_stream(
    reader: &mut Reader<'_>,
    count: usize,
    mut frame: impl FnMut(&[u64], u64, u8),
) -> Result<()> {
    reader.ensure_stream(count)?;
    let mut unpacker = Unpacker::new();
    let mut reference = 0u64;
    let mut left = count;
    while left > 0 {
        let len = left.min(FRAME_LEN);
        let width = reader.u8()?;
        if width > 64 {
            return Err(Error::BitWidth { width, max: 64 });
        }
        reference = reference.wrapping_add(unzigzag(reader.varint()?) as u64);
        let payload = reader.take(packed_len(len, width))?;
        let values = unpacker.unpack(payload, width);
        frame(&values[..len], reference, width);
        left -= len;
    }
    Ok(())
}

/// Appends raw bit patterns as an XOR stream: each value is XORed with the one
/// before it (the first with 0), and each frame is
///
/// ```text
/// width: u8 (0..=64)
/// shift: u8, the trailing zero bits common to the frame's XORs (0 when width is 0)
/// payload: packed_len(len, width) bytes of xor >> shift
/// ```
///
/// so a frame pays only for the bits that changed within it.
pub(crate) fn write_xor_stream(values: &[u64], out: &mut Vec<u8>) {
    let mut previous = 0u64;
    let mut xors = [0u64; FRAME_LEN];
    for frame in values.chunks(FRAME_LEN) {
        let mut union = 0u64;
        for (xor, &value) in xors.iter_mut().zip(frame) {
            *xor = value ^ previous;
            union |= *xor;
            previous = value;
        }
        let (shift, width) = if union == 0 {
            (0, 0)
        } else {
            let shift = union.trailing_zeros();
            (shift as u8, width_of(union >> shift))
        };
        out.push(width);
        out.push(shift);
        pack(xors[..frame.len()].iter().map(|&x| x >> shift), width, out);
    }
}

/// Reads an XOR stream of `count` values of at most `max_bits` bits each,
/// calling `frame(values)` once per frame.
pub(crate) fn read_xor_stream(
    reader: &mut Reader<'_>,
    count: usize,
    max_bits: u8,
    mut frame: impl FnMut(&[u64]),
) -> Result<()> {
    reader.ensure_stream(count)?;
    let mut unpacker = Unpacker::new();
    let mut values = [0u64; FRAME_LEN];
    let mut previous = 0u64;
    let mut left = count;
    while left > 0 {
        let len = left.min(FRAME_LEN);
        let width = reader.u8()?;
        let shift = reader.u8()?;
        if u16::from(width) + u16::from(shift) > u16::from(max_bits) {
            return Err(Error::BitWidth {
                width: width.saturating_add(shift),
                max: max_bits,
            });
        }
        if width == 0 && shift != 0 {
            return Err(Error::Corrupt {
                reason: "XOR frame of width 0 with a shift",
            });
        }
        let payload = reader.take(packed_len(len, width))?;
        let xors = unpacker.unpack(payload, width);
        // `shift` < 64 here: it is 0 when `width` is 0, else at most 64 - width.
        let mut value = previous;
        for (slot, &xor) in values.iter_mut().zip(&xors[..len]) {
            value ^= xor << shift;
            *slot = value;
        }
        previous = value;
        frame(&values[..len]);
        left -= len;
    }
    Ok(())
}

/// Appends `values` as a bitmap, least significant bit first, zero padding.
pub(crate) fn write_bitmap(values: &[bool], out: &mut Vec<u8>) {
    for chunk in values.chunks(8) {
        let byte = chunk
            .iter()
            .enumerate()
            .fold(0u8, |byte, (bit, &set)| byte | (u8::from(set) << bit));
        out.push(byte);
    }
}

/// Each byte's bits as eight `bool`s, least significant first.
const EXPAND: [[bool; 8]; 256] = {
    let mut table = [[false; 8]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut bit = 0;
        while bit < 8 {
            table[byte][bit] = (byte >> bit) & 1 == 1;
            bit += 1;
        }
        byte += 1;
    }
    table
};

/// Reads a bitmap of `count` bits written by [`write_bitmap`] and appends them
/// to `out`. Padding bits must be zero.
pub(crate) fn read_bitmap(
    reader: &mut Reader<'_>,
    count: usize,
    out: &mut Vec<bool>,
) -> Result<()> {
    let bytes = reader.take(count.div_ceil(8))?;
    let full = count / 8;
    let (whole, partial) = bytes.split_at(full);
    for &byte in whole {
        out.extend_from_slice(&EXPAND[usize::from(byte)]);
    }
    if let Some(&last) = partial.first() {
        let bits = count % 8;
        if last >> bits != 0 {
            return Err(Error::Corrupt {
                reason: "bitmap padding bits are set",
            });
        }
        out.extend_from_slice(&EXPAND[usize::from(last)][..bits]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack_all(payload: &[u8], len: usize, width: u8) -> Vec<u64> {
        let mut unpacker = Unpacker::new();
        unpacker.unpack(payload, width)[..len].to_vec()
    }

    #[test]
    fn pack_round_trips_every_width_and_length() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for width in 0..=64u8 {
            let mask = u64::MAX.checked_shr(64 - u32::from(width)).unwrap_or(0);
            for len in [0, 1, 7, 8, 63, 64, 65, 127, 128] {
                let values: Vec<u64> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state & mask
                    })
                    .collect();
                let mut out = Vec::new();
                pack(values.iter().copied(), width, &mut out);
                assert_eq!(out.len(), packed_len(len, width), "width {width} len {len}");
                assert_eq!(
                    unpack_all(&out, len, width),
                    values,
                    "width {width} len {len}"
                );
            }
        }
    }

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_varint(value, &mut out);
            assert_eq!(out.len(), varint_len(value));
            let mut reader = Reader::new(&out);
            assert_eq!(reader.varint().unwrap(), value);
            reader.finish().unwrap();
        }
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            Reader::new(&overflow).varint(),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x80, 0x80]).varint(),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff, 0x00]).varint(),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for value in [0, 1, -1, 2, -2, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn for_stream_round_trips_and_predicts_its_length() {
        let values: Vec<i64> = (0..300)
            .map(|i| match i % 5 {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => i * 7 - 500,
            })
            .collect();
        for len in [0, 1, 128, 129, 300] {
            let mut out = Vec::new();
            write_for_stream(&values[..len], &mut out);
            assert_eq!(out.len(), for_stream_len(&values[..len]));
            let mut decoded = Vec::new();
            let mut reader = Reader::new(&out);
            read_for_stream(&mut reader, len, |offsets, reference, _| {
                decoded.extend(offsets.iter().map(|&o| reference.wrapping_add(o) as i64));
            })
            .unwrap();
            reader.finish().unwrap();
            assert_eq!(decoded, values[..len]);
        }
    }

    #[test]
    fn bitmap_rejects_set_padding() {
        let mut reader = Reader::new(&[0b1000_0001]);
        let mut out = Vec::new();
        assert!(read_bitmap(&mut reader, 3, &mut out).is_err());
    }
}
