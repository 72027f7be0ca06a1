//! Validity bitmaps: which rows of a column are not NULL.
//!
//! The storage layer omits the bitmap of a block without NULLs, so this is
//! only ever a plain bitmap:
//!
//! ```text
//! tag:    u8   0x60
//! count:  varint
//! bitmap: ceil(count / 8) bytes, least significant bit first, 1 = valid,
//!         padding bits zero
//! ```

use super::Result;
use super::bits::{self, Reader};

const TAG: u8 = 0x60;

/// Appends the encoding of `valid` (true = not NULL) to `out`.
pub fn encode(valid: &[bool], out: &mut Vec<u8>) {
    out.push(TAG);
    bits::write_varint(valid.len() as u64, out);
    bits::write_bitmap(valid, out);
}

/// Decodes a bitmap written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<bool>> {
    let mut valid = Vec::new();
    decode_into(bytes, &mut valid)?;
    Ok(valid)
}

/// Decodes a bitmap written by [`encode`], appending it to `out`. On error,
/// `out` is left as it was.
pub fn decode_into(bytes: &[u8], out: &mut Vec<bool>) -> Result<()> {
    bits::append_or_restore(out, |out| {
        let mut reader = Reader::new(bytes);
        reader.tag("validity", |tag| tag == TAG)?;
        let count = reader.count()?;
        reader.ensure(count.div_ceil(8))?;
        out.reserve(count);
        bits::read_bitmap(&mut reader, count, out)?;
        reader.finish()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::Error;

    fn round_trip(valid: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(valid, &mut out);
        assert_eq!(decode(&out).unwrap(), valid);
        out
    }

    proptest! {
        #[test]
        fn arbitrary_bitmaps_round_trip(valid in proptest::collection::vec(any::<bool>(), 0..1100)) {
            let bytes = round_trip(&valid);
            prop_assert!(bytes.len() <= 3 + valid.len().div_ceil(8));
        }

        #[test]
        fn boundary_lengths_round_trip(
            len in prop::sample::select(vec![0usize, 1, 7, 8, 9, 127, 128, 129, 1023, 1024, 1025]),
            value in any::<bool>(),
        ) {
            round_trip(&vec![value; len]);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            // The format is canonical: whatever decodes re-encodes to itself.
            if let Ok(valid) = decode(&bytes) {
                let mut again = Vec::new();
                encode(&valid, &mut again);
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn decoding_damaged_encodings_never_panics(
            valid in proptest::collection::vec(any::<bool>(), 0..600),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
        ) {
            let mut bytes = Vec::new();
            encode(&valid, &mut bytes);
            let _ = decode(&bytes[..cut.index(bytes.len() + 1)]);
            for (at, bit) in flips {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn corrupt_inputs_are_rejected() {
        assert_eq!(
            decode(&[TAG, 9, 0xff]),
            Err(Error::Truncated {
                needed: 2,
                available: 1
            })
        );
        assert!(matches!(
            decode(&[TAG, 2, 0b100]),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            decode(&[TAG, 1, 1, 0]),
            Err(Error::TrailingBytes { count: 1 })
        ));
        assert!(matches!(decode(&[0x40, 0]), Err(Error::UnknownTag { .. })));
    }

    #[test]
    fn failed_decode_into_leaves_output_alone() {
        let mut out = vec![true];
        assert!(decode_into(&[TAG, 9, 0xff], &mut out).is_err());
        assert_eq!(out, [true]);
    }
}
