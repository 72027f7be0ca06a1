//! Timestamp columns (microseconds since the epoch): delta or delta-of-delta,
//! then frame bit-packing.
//!
//! A series written at a regular interval has constant deltas, so every frame
//! of 128 values packs to width 0: two bytes per frame, well under 0.1 byte per
//! value. Jitter costs only the bits of its spread, because each frame stores
//! its own minimum residual. Any `i64` sequence, in any order, is exact: all
//! arithmetic wraps.
//!
//! The layout is the [`integer`](super::integer) codec's, with tags `0x20 + k`
//! (k = 0: frame-of-reference, 1: delta, 2: delta-of-delta):
//!
//! ```text
//! tag:   u8   0x20 + k
//! count: varint
//! heads: min(count, k) × i64 LE
//! body:  frame-of-reference stream of the remaining residuals
//! ```

use super::Result;
use super::integer;

const TAG: u8 = 0x20;

/// Appends the encoding of `values` to `out`.
pub fn encode(values: &[i64], out: &mut Vec<u8>) {
    integer::encode_tagged(values, TAG, out);
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
    integer::decode_tagged(bytes, TAG, "timestamp", out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::Error;

    fn round_trip(values: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        assert_eq!(decode(&out).unwrap(), values);
        out
    }

    /// Regular timestamps with bounded jitter, starting anywhere.
    fn jittered() -> impl Strategy<Value = Vec<i64>> {
        (any::<i64>(), 1..10_000_000i64, 0..1000i64, 0..1100usize).prop_flat_map(
            |(start, interval, jitter, len)| {
                proptest::collection::vec(-jitter..=jitter, len).prop_map(move |noise| {
                    noise
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            start
                                .wrapping_add((i as i64).wrapping_mul(interval))
                                .wrapping_add(*n)
                        })
                        .collect()
                })
            },
        )
    }

    fn extreme() -> impl Strategy<Value = i64> {
        (any::<u8>(), any::<i64>()).prop_map(|(kind, value)| match kind % 5 {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => 0,
            3 => -1,
            _ => value,
        })
    }

    proptest! {
        #[test]
        fn arbitrary_sequences_round_trip(values in proptest::collection::vec(any::<i64>(), 0..600)) {
            round_trip(&values);
        }

        #[test]
        fn extremes_round_trip(values in proptest::collection::vec(extreme(), 0..300)) {
            round_trip(&values);
        }

        #[test]
        fn jittered_series_round_trip(values in jittered()) {
            round_trip(&values);
        }

        #[test]
        fn frame_boundaries_round_trip(
            len in prop::sample::select(vec![0usize, 1, 2, 3, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025]),
            start in any::<i64>(),
            step in any::<i64>(),
        ) {
            let values: Vec<i64> = (0..len as i64).map(|i| start.wrapping_add(i.wrapping_mul(step))).collect();
            round_trip(&values);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoding_damaged_encodings_never_panics(
            values in jittered(),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
        ) {
            let mut bytes = Vec::new();
            encode(&values, &mut bytes);
            let _ = decode(&bytes[..cut.index(bytes.len() + 1)]);
            for (at, bit) in flips {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn regular_ten_second_series_packs_under_a_tenth_of_a_byte_per_value() {
        let start = 1_700_000_000_000_000i64;
        let values: Vec<i64> = (0..8640).map(|i| start + i * 10_000_000).collect();
        let bytes = round_trip(&values);
        let per_value = bytes.len() as f64 / values.len() as f64;
        assert!(per_value < 0.1, "{per_value} bytes per value");
    }

    #[test]
    fn jittered_series_beats_delta_varints() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let start = 1_700_000_000_000_000i64;
        let values: Vec<i64> = (0..8640)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                start + i * 10_000_000 + (state % 2001) as i64 - 1000
            })
            .collect();
        let bytes = round_trip(&values);
        let mut varints = Vec::new();
        let mut previous = 0i64;
        for &value in &values {
            crate::codec::bits::write_varint(
                crate::codec::bits::zigzag(value.wrapping_sub(previous)),
                &mut varints,
            );
            previous = value;
        }
        assert!(
            bytes.len() < varints.len() / 2,
            "{} vs {}",
            bytes.len(),
            varints.len()
        );
    }

    #[test]
    fn other_codecs_are_rejected() {
        let mut bytes = Vec::new();
        integer::encode(&[1, 2, 3], &mut bytes);
        assert!(matches!(
            decode(&bytes),
            Err(Error::UnknownTag {
                codec: "timestamp",
                ..
            })
        ));
    }

    #[test]
    fn failed_decode_into_leaves_output_alone() {
        let mut bytes = Vec::new();
        encode(&(0..1000).collect::<Vec<_>>(), &mut bytes);
        bytes.pop();
        let mut out = vec![7, 8];
        assert!(decode_into(&bytes, &mut out).is_err());
        assert_eq!(out, [7, 8]);
    }
}
