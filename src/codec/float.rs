//! Float columns, bit-exact for every value: NaN payloads, `-0.0`, infinities
//! and subnormals included.
//!
//! Most float columns hold decimals: integer-valued measurements, prices,
//! readings rounded to a few places. For those the encoder uses ALP (adaptive
//! lossless floating point): it picks a decimal exponent `e` in `0..=18` and
//! stores each value `v` as the integer `x = round(v × 10^e)`, which is only
//! allowed when decoding gives back `v` bit for bit:
//!
//! ```text
//! f64: v == x as f64 / 10^e            f32: v == (x as f64 / 10^e) as f32
//! ```
//!
//! (with `|x| < 2^51`, so that `x as f64` is exact). The integers go through the
//! [`integer`](super::integer) machinery (frame-of-reference, delta or
//! delta-of-delta, then frame bit-packing). Values that fail the test (NaN,
//! `-0.0`, infinities, too many digits, too large) are exceptions: their
//! positions and raw bits are stored apart, and their slots in the integer
//! sequence repeat the previous integer so as to cost nothing.
//!
//! The exponent is chosen on a sample of the block (up to 8 runs of 32
//! consecutive values) by estimating the bits of the deltas and of the
//! exceptions. When the sample has more exceptions than not, or when ALP comes
//! out above a quarter of the raw size, the encoder also tries an XOR stream
//! (each value's bits XORed with the previous value's, frame bit-packed with a
//! per-frame shift for common trailing zeros) and keeps the smaller.
//!
//! ```text
//! ALP: tag u8 (0x30 f64, 0x38 f32) | count varint | e u8 | exceptions varint
//!      | integer body of the count integers (order u8, heads, frame-of-reference stream)
//!      | if exceptions > 0: integer body of their positions (strictly increasing)
//!                           and XOR stream of their raw bits
//! XOR: tag u8 (0x31 f64, 0x39 f32) | count varint | XOR stream of the raw bits
//! ```
//!
//! `f32` columns use the same logic on their own bits: the decimal test is
//! made in `f32`, and raw bits are 32 wide (the decoder rejects wider frames).

use super::bits::{self, Reader};
use super::integer;
use super::{Error, Result};

const ALP_F64: u8 = 0x30;
const XOR_F64: u8 = 0x31;
const ALP_F32: u8 = 0x38;
const XOR_F32: u8 = 0x39;

const MAX_EXPONENT: u8 = 18;

/// `10^e`, each exact in `f64`.
const POWERS: [f64; MAX_EXPONENT as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Bound on `|v × 10^e|` for ALP: integers below it convert to `f64` exactly,
/// and the rounding trick below is exact.
const ALP_LIMIT: f64 = 2_251_799_813_685_248.0; // 2^51

/// `1.5 × 2^52`: adding and subtracting it rounds any `|x| < 2^51` to the
/// nearest integer (ties to even) without a call to `round`.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// Runs of consecutive values sampled to choose the exponent.
const SAMPLE_RUNS: usize = 8;
const SAMPLE_RUN_LEN: usize = 32;

/// Appends the encoding of `values` to `out`.
pub fn encode(values: &[f64], out: &mut Vec<u8>) {
    encode_generic(values, out);
}

/// Decodes a column written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<f64>> {
    let mut values = Vec::new();
    decode_into(bytes, &mut values)?;
    Ok(values)
}

/// Decodes a column written by [`encode`], appending its values to `out`. On
/// error, `out` is left as it was.
pub fn decode_into(bytes: &[u8], out: &mut Vec<f64>) -> Result<()> {
    decode_generic(bytes, out)
}

/// Appends the encoding of `values` to `out`.
pub fn encode_f32(values: &[f32], out: &mut Vec<u8>) {
    encode_generic(values, out);
}

/// Decodes a column written by [`encode_f32`].
pub fn decode_f32(bytes: &[u8]) -> Result<Vec<f32>> {
    let mut values = Vec::new();
    decode_f32_into(bytes, &mut values)?;
    Ok(values)
}

/// Decodes a column written by [`encode_f32`], appending its values to `out`.
/// On error, `out` is left as it was.
pub fn decode_f32_into(bytes: &[u8], out: &mut Vec<f32>) -> Result<()> {
    decode_generic(bytes, out)
}

/// What the codec needs of `f64` and `f32`.
trait Float: Copy {
    const CODEC: &'static str;
    const BITS: u8;
    const ALP_TAG: u8;
    const XOR_TAG: u8;
    fn raw(self) -> u64;
    /// `raw` must hold at most [`Self::BITS`] bits.
    fn from_raw(raw: u64) -> Self;
    /// Exact for every value but NaN.
    fn widen(self) -> f64;
    fn narrow(value: f64) -> Self;
}

impl Float for f64 {
    const CODEC: &'static str = "float";
    const BITS: u8 = 64;
    const ALP_TAG: u8 = ALP_F64;
    const XOR_TAG: u8 = XOR_F64;
    fn raw(self) -> u64 {
        self.to_bits()
    }
    fn from_raw(raw: u64) -> Self {
        f64::from_bits(raw)
    }
    fn widen(self) -> f64 {
        self
    }
    fn narrow(value: f64) -> Self {
        value
    }
}

impl Float for f32 {
    const CODEC: &'static str = "f32 float";
    const BITS: u8 = 32;
    const ALP_TAG: u8 = ALP_F32;
    const XOR_TAG: u8 = XOR_F32;
    fn raw(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn from_raw(raw: u64) -> Self {
        f32::from_bits(raw as u32)
    }
    fn widen(self) -> f64 {
        f64::from(self)
    }
    fn narrow(value: f64) -> Self {
        value as f32
    }
}

/// The ALP integer of `value` at `power = 10^e`, if decoding it gives back
/// `value` bit for bit.
#[inline]
fn alp_int<F: Float>(value: F, power: f64) -> Option<i64> {
    let scaled = value.widen() * power;
    if scaled.abs() < ALP_LIMIT {
        let int = ((scaled + ROUND_MAGIC) - ROUND_MAGIC) as i64;
        (alp_value::<F>(int, power).raw() == value.raw()).then_some(int)
    } else {
        None
    }
}

/// The decoding formula, shared by the encoder's test and the decoder.
#[inline(always)]
fn alp_value<F: Float>(int: i64, power: f64) -> F {
    F::narrow(int as f64 / power)
}

fn encode_generic<F: Float>(values: &[F], out: &mut Vec<u8>) {
    let start = out.len();
    let Some(exponent) = choose_exponent(values) else {
        write_xor(values, out);
        return;
    };
    write_alp(values, exponent, out);
    let alp_len = out.len() - start;
    // Above a quarter of the raw size, XOR may do better: measure it.
    if alp_len * 4 * 8 > values.len() * usize::from(F::BITS) {
        let mut xor = Vec::new();
        write_xor(values, &mut xor);
        if xor.len() < alp_len {
            out.truncate(start);
            out.extend_from_slice(&xor);
        }
    }
}

/// The exponent that the sample says encodes smallest, or `None` when most
/// of the sample fits no exponent.
fn choose_exponent<F: Float>(values: &[F]) -> Option<usize> {
    let runs: Vec<&[F]> = if values.len() <= SAMPLE_RUNS * SAMPLE_RUN_LEN {
        vec![values]
    } else {
        let stride = (values.len() - SAMPLE_RUN_LEN) / (SAMPLE_RUNS - 1);
        (0..SAMPLE_RUNS)
            .filter_map(|run| values.get(run * stride..run * stride + SAMPLE_RUN_LEN))
            .collect()
    };
    let sampled: usize = runs.iter().map(|run| run.len()).sum();
    let exception_bits = u64::from(F::BITS) + 16;
    let mut best: Option<(u64, usize, usize)> = None;
    for (exponent, &power) in POWERS.iter().enumerate() {
        let mut cost = 0u64;
        let mut conforming = 0usize;
        for run in &runs {
            let mut previous = None;
            let (mut low, mut high) = (i64::MAX, i64::MIN);
            let mut run_conforming = 0u64;
            for &value in *run {
                match alp_int(value, power) {
                    Some(int) => {
                        if let Some(previous) = previous {
                            let delta = i64::wrapping_sub(int, previous);
                            low = low.min(delta);
                            high = high.max(delta);
                        }
                        previous = Some(int);
                        run_conforming += 1;
                    }
                    None => cost += exception_bits,
                }
            }
            let width = if low <= high {
                bits::width_of(high.wrapping_sub(low) as u64)
            } else {
                0
            };
            cost += run_conforming * u64::from(width);
            conforming += run_conforming as usize;
        }
        if best.is_none_or(|(best_cost, _, _)| cost < best_cost) {
            best = Some((cost, exponent, conforming));
        }
        // With every sampled value exact at this exponent, a larger one only
        // scales the integers (and their deltas) by 10: it cannot cost less.
        if conforming == sampled {
            break;
        }
    }
    best.filter(|&(_, _, conforming)| conforming > 0 && conforming * 2 >= sampled)
        .map(|(_, exponent, _)| exponent)
}

fn write_alp<F: Float>(values: &[F], exponent: usize, out: &mut Vec<u8>) {
    let power = POWERS[exponent];
    let mut ints = Vec::with_capacity(values.len());
    let mut positions = Vec::new();
    let mut raws = Vec::new();
    // An exception's slot repeats the previous integer (the first conforming
    // one at the start), so it adds nothing to the deltas.
    let mut previous = values
        .iter()
        .find_map(|&value| alp_int(value, power))
        .unwrap_or(0);
    for (position, &value) in values.iter().enumerate() {
        match alp_int(value, power) {
            Some(int) => previous = int,
            None => {
                positions.push(position as i64);
                raws.push(value.raw());
            }
        }
        ints.push(previous);
    }
    out.push(F::ALP_TAG);
    bits::write_varint(values.len() as u64, out);
    out.push(exponent as u8);
    bits::write_varint(positions.len() as u64, out);
    integer::encode_nested(&ints, out);
    if !positions.is_empty() {
        integer::encode_nested(&positions, out);
        bits::write_xor_stream(&raws, out);
    }
}

fn write_xor<F: Float>(values: &[F], out: &mut Vec<u8>) {
    out.push(F::XOR_TAG);
    bits::write_varint(values.len() as u64, out);
    let raws: Vec<u64> = values.iter().map(|value| value.raw()).collect();
    bits::write_xor_stream(&raws, out);
}

fn decode_generic<F: Float>(bytes: &[u8], out: &mut Vec<F>) -> Result<()> {
    bits::append_or_restore(out, |out| {
        let mut reader = Reader::new(bytes);
        let tag = reader.tag(F::CODEC, |tag| tag == F::ALP_TAG || tag == F::XOR_TAG)?;
        let count = reader.count()?;
        if tag == F::ALP_TAG {
            read_alp(&mut reader, count, out)?;
        } else {
            reader.ensure_stream(count)?;
            out.reserve(count);
            bits::read_xor_stream(&mut reader, count, F::BITS, |raws| {
                out.extend(raws.iter().map(|&raw| F::from_raw(raw)));
            })?;
        }
        reader.finish()
    })
}

fn read_alp<F: Float>(reader: &mut Reader<'_>, count: usize, out: &mut Vec<F>) -> Result<()> {
    let exponent = reader.u8()?;
    let power = *POWERS.get(usize::from(exponent)).ok_or(Error::Corrupt {
        reason: "ALP exponent over 18",
    })?;
    let exceptions = reader.count()?;
    if exceptions > count {
        return Err(Error::Corrupt {
            reason: "more ALP exceptions than values",
        });
    }
    reader.ensure(integer::min_nested_len(count))?;
    out.reserve(count);
    let start = out.len();
    if exponent == 0 {
        // x / 1.0 == x: the same formula, without the division.
        integer::read_nested(reader, count, out, |int| F::narrow(int as f64))?;
    } else {
        integer::read_nested(reader, count, out, |int| alp_value::<F>(int, power))?;
    }
    if exceptions == 0 {
        return Ok(());
    }
    reader.ensure(integer::min_nested_len(exceptions) + bits::min_stream_len(exceptions))?;
    let mut positions = Vec::with_capacity(exceptions);
    integer::read_nested(reader, exceptions, &mut positions, |position| position)?;
    // Strictly increasing and in range.
    let mut next = 0i64;
    for &position in &positions {
        if position < next || position as u64 >= count as u64 {
            return Err(Error::Corrupt {
                reason: "ALP exception positions out of order or out of range",
            });
        }
        next = position.saturating_add(1);
    }
    let decoded = &mut out[start..];
    let mut positions = positions.into_iter();
    bits::read_xor_stream(reader, exceptions, F::BITS, |raws| {
        for (&raw, position) in raws.iter().zip(&mut positions) {
            if let Some(slot) = decoded.get_mut(position as usize) {
                *slot = F::from_raw(raw);
            }
        }
    })
}

#[cfg(test)]
mod tests;
