//! Boolean columns: per frame of 128 values, a constant or a bitmap.
//!
//! ```text
//! tag:   u8   0x40
//! count: varint
//! then, per frame of min(128, values left) values, a kind byte:
//!   0: every value false
//!   1: every value true
//!   2: a bitmap of ceil(len / 8) bytes, least significant bit first, padding bits zero
//! ```
//!
//! A constant column costs a byte per 128 values, and a mixed one about 1.06
//! bits per value.

use super::bits::{self, FRAME_LEN, Reader};
use super::{Error, Result};

const TAG: u8 = 0x40;

const ALL_FALSE: u8 = 0;
const ALL_TRUE: u8 = 1;
const BITMAP: u8 = 2;

/// Appends the encoding of `values` to `out`.
pub fn encode(values: &[bool], out: &mut Vec<u8>) {
    out.push(TAG);
    bits::write_varint(values.len() as u64, out);
    for frame in values.chunks(FRAME_LEN) {
        if frame.iter().all(|&value| !value) {
            out.push(ALL_FALSE);
        } else if frame.iter().all(|&value| value) {
            out.push(ALL_TRUE);
        } else {
            out.push(BITMAP);
            bits::write_bitmap(frame, out);
        }
    }
}

/// Decodes a column written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<bool>> {
    let mut values = Vec::new();
    decode_into(bytes, &mut values)?;
    Ok(values)
}

/// Decodes a column written by [`encode`], appending its values to `out`. On
/// error, `out` is left as it was.
pub fn decode_into(bytes: &[u8], out: &mut Vec<bool>) -> Result<()> {
    bits::append_or_restore(out, |out| {
        let mut reader = Reader::new(bytes);
        reader.tag("boolean", |tag| tag == TAG)?;
        let count = reader.count()?;
        // At least one byte per frame.
        reader.ensure(count.div_ceil(FRAME_LEN))?;
        out.reserve(count);
        let mut left = count;
        while left > 0 {
            let len = left.min(FRAME_LEN);
            match reader.u8()? {
                ALL_FALSE => out.resize(out.len() + len, false),
                ALL_TRUE => out.resize(out.len() + len, true),
                BITMAP => bits::read_bitmap(&mut reader, len, out)?,
                _ => {
                    return Err(Error::Corrupt {
                        reason: "unknown boolean frame kind",
                    });
                }
            }
            left -= len;
        }
        reader.finish()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(values: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        assert_eq!(decode(&out).unwrap(), values);
        out
    }

    fn boundary_len() -> impl Strategy<Value = usize> {
        prop::sample::select(vec![
            0usize, 1, 7, 8, 9, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025,
        ])
    }

    proptest! {
        #[test]
        fn arbitrary_values_round_trip(values in proptest::collection::vec(any::<bool>(), 0..1100)) {
            round_trip(&values);
        }

        #[test]
        fn mostly_constant_values_round_trip(
            value in any::<bool>(),
            len in boundary_len(),
            flips in proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
        ) {
            let mut values = vec![value; len];
            if len > 0 {
                for at in flips {
                    let at = at.index(len);
                    values[at] = !values[at];
                }
            }
            round_trip(&values);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoding_damaged_encodings_never_panics(
            values in proptest::collection::vec(any::<bool>(), 0..600),
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
    fn constant_columns_take_a_byte_per_frame() {
        assert_eq!(
            round_trip(&[true; 8640]).len(),
            3 + 8640usize.div_ceil(FRAME_LEN)
        );
        assert_eq!(round_trip(&[false; 1]).len(), 3);
        assert_eq!(round_trip(&[]).len(), 2);
    }

    #[test]
    fn mixed_frames_are_bitmaps() {
        let values: Vec<bool> = (0..1000).map(|i| i % 3 == 0).collect();
        let bytes = round_trip(&values);
        assert!(bytes.len() <= 3 + 8 + 1000 / 8 + 1);
    }

    #[test]
    fn corrupt_inputs_are_rejected() {
        assert!(matches!(decode(&[TAG, 1, 3]), Err(Error::Corrupt { .. })));
        assert!(matches!(
            decode(&[TAG, 3, BITMAP, 0b1000]),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            decode(&[TAG, 200, 1]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(decode(&[0x60, 0]), Err(Error::UnknownTag { .. })));
        assert!(matches!(
            decode(&[TAG, 1, 1, 1]),
            Err(Error::TrailingBytes { count: 1 })
        ));
    }
}
