//! Integer columns: per block, the smallest of frame-of-reference, delta and
//! delta-of-delta, then frame bit-packing.
//!
//! The encoder computes, for each order `k` in 0..=2, the residuals (the
//! values themselves, their deltas, or their deltas of deltas, all with
//! wrapping arithmetic so that any `i64` sequence is exact), measures the packed
//! stream each would make, and keeps the smallest (the lowest order on a tie,
//! as it decodes fastest).
//!
//! ```text
//! tag:   u8   0x10 + k (k = 0: frame-of-reference, 1: delta, 2: delta-of-delta)
//! count: varint
//! heads: min(count, k) × i64 LE, the first values, which have no residual
//! body:  frame-of-reference stream of the count - min(count, k) residuals
//! ```
//!
//! The stream gives every frame of 128 residuals its own minimum (as a zigzag
//! varint against the previous frame's) and bit width, so a monotonic counter
//! or a jittery interval costs only the bits of its spread.
//!
//! The same machinery serves [`timestamp`](super::timestamp), with its own tags,
//! and the float codec, which nests a body without tag or count.

use super::bits::{self, Reader};
use super::{Error, Result};

const TAG: u8 = 0x10;

/// The highest residual order: delta-of-delta.
const MAX_ORDER: u8 = 2;

/// Appends the encoding of `values` to `out`.
pub fn encode(values: &[i64], out: &mut Vec<u8>) {
    encode_tagged(values, TAG, out);
}

/// Decodes a column written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<i64>> {
    let mut values = Vec::new();
    decode_into(bytes, &mut values)?;
    Ok(values)
}

/// Decodes a column written by [`encode`], appending its values to `out`. On
/// error, `out` is left as it was.
pub fn decode_into(bytes: &[u8], out: &mut Vec<i64>) -> Result<()> {
    decode_tagged(bytes, TAG, "integer", out)
}

/// Writes `[tag_base + order][count][heads][stream]`.
pub(crate) fn encode_tagged(values: &[i64], tag_base: u8, out: &mut Vec<u8>) {
    let mut residuals = Vec::with_capacity(values.len());
    let order = choose_order(values, &mut residuals);
    out.push(tag_base + order);
    bits::write_varint(values.len() as u64, out);
    write_heads_and_stream(values, order, &residuals, out);
}

/// Reads `[tag_base + order][count][heads][stream]`, then expects the end.
pub(crate) fn decode_tagged(
    bytes: &[u8],
    tag_base: u8,
    codec: &'static str,
    out: &mut Vec<i64>,
) -> Result<()> {
    bits::append_or_restore(out, |out| {
        let mut reader = Reader::new(bytes);
        let tag = reader.tag(codec, |tag| tag.wrapping_sub(tag_base) <= MAX_ORDER)?;
        let count = reader.count()?;
        let order = tag - tag_base;
        reader.ensure(min_len(order, count))?;
        out.reserve(count);
        read_heads_and_stream(&mut reader, order, count, out, |value| value)?;
        reader.finish()
    })
}

/// Writes a body nested in another encoding, whose count is known to the
/// reader: `[order][heads][stream]`.
pub(crate) fn encode_nested(values: &[i64], out: &mut Vec<u8>) {
    let mut residuals = Vec::with_capacity(values.len());
    let order = choose_order(values, &mut residuals);
    out.push(order);
    write_heads_and_stream(values, order, &residuals, out);
}

/// The fewest bytes a nested body of `count` values can take.
pub(crate) fn min_nested_len(count: usize) -> usize {
    1 + bits::min_stream_len(count)
}

/// Reads a body written by [`encode_nested`], appending each decoded value,
/// through `convert`, to `out`.
pub(crate) fn read_nested<T>(
    reader: &mut Reader<'_>,
    count: usize,
    out: &mut Vec<T>,
    convert: impl Fn(i64) -> T,
) -> Result<()> {
    let order = reader.u8()?;
    if order > MAX_ORDER {
        return Err(Error::Corrupt {
            reason: "integer residual order over 2",
        });
    }
    reader.ensure(min_len(order, count))?;
    read_heads_and_stream(reader, order, count, out, convert)
}

/// The fewest bytes heads and stream of `count` values can take at `order`.
fn min_len(order: u8, count: usize) -> usize {
    let heads = count.min(usize::from(order));
    8 * heads + bits::min_stream_len(count - heads)
}

/// Fills `residuals` with the residuals of the order whose stream is smallest
/// and returns that order.
fn choose_order(values: &[i64], residuals: &mut Vec<i64>) -> u8 {
    let mut best = (usize::MAX, 0);
    for order in 0..=MAX_ORDER {
        fill_residuals(values, order, residuals);
        let heads = values.len().min(usize::from(order));
        let len = 8 * heads + bits::for_stream_len(residuals);
        if len < best.0 {
            best = (len, order);
        }
    }
    fill_residuals(values, best.1, residuals);
    best.1
}

fn fill_residuals(values: &[i64], order: u8, residuals: &mut Vec<i64>) {
    residuals.clear();
    match order {
        0 => residuals.extend_from_slice(values),
        1 => residuals.extend(values.windows(2).map(|w| w[1].wrapping_sub(w[0]))),
        _ => residuals.extend(values.windows(3).map(|w| {
            w[2].wrapping_sub(w[1])
                .wrapping_sub(w[1].wrapping_sub(w[0]))
        })),
    }
}

fn write_heads_and_stream(values: &[i64], order: u8, residuals: &[i64], out: &mut Vec<u8>) {
    for head in values.iter().take(usize::from(order)) {
        out.extend_from_slice(&head.to_le_bytes());
    }
    bits::write_for_stream(residuals, out);
}

/// Reads `min(count, order)` heads and the stream of the remaining residuals,
/// rebuilding the values with wrapping prefix sums and appending them, through
/// `convert`, to `out`.
fn read_heads_and_stream<T>(
    reader: &mut Reader<'_>,
    order: u8,
    count: usize,
    out: &mut Vec<T>,
    convert: impl Fn(i64) -> T,
) -> Result<()> {
    let heads_len = count.min(usize::from(order));
    let mut heads = [0i64; MAX_ORDER as usize];
    for head in &mut heads[..heads_len] {
        *head = reader.u64_le()? as i64;
    }
    out.extend(heads[..heads_len].iter().map(|&head| convert(head)));
    let residuals = count - heads_len;
    // Each frame's loop keeps its running sums in locals (registers), and
    // keeps the frame's reference off the loop-carried chain: the value is
    // the sum of the offsets plus a separate multiple of the reference.
    match order {
        0 => bits::read_for_stream(reader, residuals, |offsets, reference, _| {
            out.extend(
                offsets
                    .iter()
                    .map(|&offset| convert(reference.wrapping_add(offset) as i64)),
            );
        }),
        1 => {
            let mut previous = heads[0];
            bits::read_for_stream(reader, residuals, |offsets, reference, width| {
                let reference = reference as i64;
                let mut sum = previous;
                let mut base = 0i64;
                if width == 0 {
                    out.extend(offsets.iter().map(|_| {
                        sum = sum.wrapping_add(reference);
                        convert(sum)
                    }));
                } else {
                    out.extend(offsets.iter().map(|&offset| {
                        sum = sum.wrapping_add(offset as i64);
                        base = base.wrapping_add(reference);
                        convert(sum.wrapping_add(base))
                    }));
                }
                previous = sum.wrapping_add(base);
            })
        }
        _ => {
            let mut previous = heads[1];
            let mut previous_delta = heads[1].wrapping_sub(heads[0]);
            bits::read_for_stream(reader, residuals, |offsets, reference, _| {
                let reference = reference as i64;
                let (mut value, mut delta) = (previous, previous_delta);
                let mut base = 0i64;
                out.extend(offsets.iter().map(|&offset| {
                    delta = delta.wrapping_add(offset as i64);
                    base = base.wrapping_add(reference);
                    value = value.wrapping_add(delta.wrapping_add(base));
                    convert(value)
                }));
                (previous, previous_delta) = (value, delta.wrapping_add(base));
            })
        }
    }
}

#[cfg(test)]
mod tests;
