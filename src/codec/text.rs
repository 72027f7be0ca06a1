//! Text columns: a sorted dictionary of the distinct strings, and each value's
//! index into it, bit-packed. Byte strings (`bytea`) are written the same
//! way under a tag of their own, without the UTF-8 check.
//!
//! ```text
//! tag:        u8   0x50 (text) or 0x51 (bytes)
//! count:      varint, the number of values
//! entries:    varint, the number of distinct strings (0 only when count is 0)
//! lengths:    frame-of-reference stream of the entries' byte lengths
//! bytes:      the entries' UTF-8 bytes, concatenated, in strictly increasing
//!             byte order
//! indexes:    frame-of-reference stream of the count indexes, each < entries
//! ```
//!
//! Each frame of 128 indexes packs at the width of its own spread, so a column
//! that keeps one value for a while costs two bytes per frame. The decoder
//! checks the UTF-8 and the order of every entry and the range of every index.

use std::collections::HashMap;

use super::bits::{self, Reader};
use super::{Error, Result};

const TAG: u8 = 0x50;
const BYTES_TAG: u8 = 0x51;

/// Appends the encoding of `values` to `out`.
pub fn encode<S: AsRef<str>>(values: &[S], out: &mut Vec<u8>) {
    encode_tagged(values.iter().map(|v| v.as_ref().as_bytes()), TAG, out);
}

/// Appends the encoding of byte strings `values` to `out`.
pub fn encode_bytes<S: AsRef<[u8]>>(values: &[S], out: &mut Vec<u8>) {
    encode_tagged(values.iter().map(AsRef::as_ref), BYTES_TAG, out);
}

fn encode_tagged<'a>(values: impl ExactSizeIterator<Item = &'a [u8]>, tag: u8, out: &mut Vec<u8>) {
    let count = values.len();
    // Number the distinct strings in order of appearance, then by rank.
    let mut numbers: HashMap<&[u8], usize> = HashMap::new();
    let mut distinct: Vec<&[u8]> = Vec::new();
    let appearance: Vec<usize> = values
        .map(|value| {
            *numbers.entry(value).or_insert_with(|| {
                distinct.push(value);
                distinct.len() - 1
            })
        })
        .collect();
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_unstable_by_key(|&number| distinct[number]);
    let mut rank = vec![0i64; distinct.len()];
    for (position, &number) in order.iter().enumerate() {
        rank[number] = position as i64;
    }
    let lengths: Vec<i64> = order
        .iter()
        .map(|&number| distinct[number].len() as i64)
        .collect();
    let indexes: Vec<i64> = appearance.iter().map(|&number| rank[number]).collect();

    out.push(tag);
    bits::write_varint(count as u64, out);
    bits::write_varint(distinct.len() as u64, out);
    bits::write_for_stream(&lengths, out);
    for &number in &order {
        out.extend_from_slice(distinct[number]);
    }
    bits::write_for_stream(&indexes, out);
}

/// Decodes a column written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<String>> {
    let mut values = Vec::new();
    decode_into(bytes, &mut values)?;
    Ok(values)
}

/// Decodes a column written by [`encode`], appending its values to `out`. On
/// error, `out` is left as it was.
pub fn decode_into(bytes: &[u8], out: &mut Vec<String>) -> Result<()> {
    // Check everything before copying a string per value.
    let (entries, keys) = read(bytes)?;
    out.extend(keys.iter().map(|&key| entries[key as usize].to_owned()));
    Ok(())
}

/// Decodes a column written by [`encode_bytes`].
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let (entries, keys) = read_tagged(bytes, BYTES_TAG)?;
    Ok(keys
        .iter()
        .map(|&key| entries[key as usize].to_vec())
        .collect())
}

/// [`decode_dictionary`] for a column written by [`encode_bytes`].
pub fn decode_bytes_dictionary(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<u32>)> {
    let (entries, keys) = read_tagged(bytes, BYTES_TAG)?;
    Ok((entries.into_iter().map(<[u8]>::to_vec).collect(), keys))
}

/// Decodes a column written by [`encode`] into its dictionary (distinct
/// strings in increasing byte order) and each value's index into it, without
/// copying a string per value.
pub fn decode_dictionary(bytes: &[u8]) -> Result<(Vec<String>, Vec<u32>)> {
    let (entries, keys) = read(bytes)?;
    Ok((entries.into_iter().map(str::to_owned).collect(), keys))
}

/// Reads and checks a whole column: its entries, and each value's index,
/// which is below the number of entries.
fn read(bytes: &[u8]) -> Result<(Vec<&str>, Vec<u32>)> {
    let (entries, keys) = read_tagged(bytes, TAG)?;
    let entries = (entries.into_iter().enumerate())
        .map(|(entry, value)| {
            std::str::from_utf8(value).map_err(|source| Error::InvalidUtf8 { entry, source })
        })
        .collect::<Result<Vec<&str>>>()?;
    Ok((entries, keys))
}

/// [`read`] for either tag, the entries as bytes.
fn read_tagged(bytes: &[u8], tag: u8) -> Result<(Vec<&[u8]>, Vec<u32>)> {
    let mut reader = Reader::new(bytes);
    let (count, entries) = read_entries(&mut reader, tag)?;
    let len = entries.len();
    if u32::try_from(len).is_err() {
        return Err(Error::Corrupt {
            reason: "dictionary has more than 2^32 entries",
        });
    }
    let mut keys = Vec::with_capacity(count);
    let mut bad = None;
    bits::read_for_stream(&mut reader, count, |offsets, reference, _| {
        keys.extend(offsets.iter().map(|&offset| {
            let index = reference.wrapping_add(offset);
            if index >= len as u64 {
                bad.get_or_insert(index);
            }
            index as u32
        }));
    })?;
    if let Some(index) = bad {
        return Err(Error::DictionaryIndex { index, len });
    }
    reader.finish()?;
    Ok((entries, keys))
}

/// Reads the header and the dictionary, checking them, and returns the value
/// count and the entries. Leaves the reader at the indexes.
fn read_entries<'a>(reader: &mut Reader<'a>, tag: u8) -> Result<(usize, Vec<&'a [u8]>)> {
    reader.tag("text", |t| t == tag)?;
    let count = reader.count()?;
    let len = reader.count()?;
    if len > count || (len == 0) != (count == 0) {
        return Err(Error::Corrupt {
            reason: "dictionary size does not match the value count",
        });
    }
    reader.ensure(bits::min_stream_len(len) + bits::min_stream_len(count))?;
    let mut lengths = Vec::with_capacity(len);
    let mut total = 0u64;
    bits::read_for_stream(reader, len, |offsets, reference, _| {
        for &offset in offsets {
            let length = reference.wrapping_add(offset);
            total = total.saturating_add(length);
            lengths.push(length);
        }
    })?;
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let mut bytes = reader.take(total)?;
    let mut entries: Vec<&[u8]> = Vec::with_capacity(len);
    for &length in &lengths {
        // The lengths sum to `bytes.len()`, so each fits.
        let (head, tail) = bytes
            .split_at_checked(length as usize)
            .ok_or(Error::Corrupt {
                reason: "dictionary entry lengths overrun their bytes",
            })?;
        bytes = tail;
        let value = head;
        if entries.last().is_some_and(|&previous| previous >= value) {
            return Err(Error::Corrupt {
                reason: "dictionary entries not strictly increasing",
            });
        }
        entries.push(value);
    }
    Ok((count, entries))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(values: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        assert_eq!(decode(&out).unwrap(), values);
        let (entries, keys) = decode_dictionary(&out).unwrap();
        let expanded: Vec<&str> = keys
            .iter()
            .map(|&key| entries[key as usize].as_str())
            .collect();
        assert_eq!(expanded, values);
        out
    }

    proptest! {
        #[test]
        fn arbitrary_strings_round_trip(
            values in proptest::collection::vec(
                proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
                0..300,
            ),
        ) {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            round_trip(&values);
        }

        #[test]
        fn low_cardinality_strings_round_trip(
            picks in proptest::collection::vec(0..5usize, 0..1100),
            names in proptest::collection::vec("[a-z]{0,6}|\\PC{0,4}", 5),
        ) {
            let values: Vec<&str> = picks.iter().map(|&i| names[i].as_str()).collect();
            round_trip(&values);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
            let _ = decode_dictionary(&bytes);
            let _ = decode_bytes(&bytes);
        }

        #[test]
        fn byte_strings_round_trip_and_are_not_text(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 0..300),
        ) {
            let mut out = Vec::new();
            encode_bytes(&values, &mut out);
            prop_assert_eq!(decode_bytes(&out).unwrap(), values);
            prop_assert!(decode(&out).is_err());
            let mut text = Vec::new();
            encode(&["a"], &mut text);
            prop_assert!(decode_bytes(&text).is_err());
        }

        #[test]
        fn decoding_damaged_encodings_never_panics(
            picks in proptest::collection::vec(0..5usize, 0..400),
            names in proptest::collection::vec("[a-z]{0,6}|\\PC{0,4}", 5),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
        ) {
            let values: Vec<&str> = picks.iter().map(|&i| names[i].as_str()).collect();
            let mut bytes = Vec::new();
            encode(&values, &mut bytes);
            let _ = decode(&bytes[..cut.index(bytes.len() + 1)]);
            for (at, bit) in flips {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            let _ = decode(&bytes);
            let _ = decode_dictionary(&bytes);
        }
    }

    #[test]
    fn accepts_owned_strings() {
        let values = vec![String::from("b"), String::from("a"), String::from("b")];
        let mut out = Vec::new();
        encode(&values, &mut out);
        assert_eq!(decode(&out).unwrap(), values);
        assert_eq!(
            decode_dictionary(&out).unwrap(),
            (vec![String::from("a"), String::from("b")], vec![1, 0, 1])
        );
    }

    #[test]
    fn low_cardinality_column_is_small() {
        let hosts = ["host_0", "host_1", "host_2", "host_3"];
        let values: Vec<&str> = (0..8640).map(|i| hosts[(i / 100) % 4]).collect();
        let bytes = round_trip(&values);
        assert!(bytes.len() < 8640 / 4, "{} bytes", bytes.len());
    }

    #[test]
    fn empty_and_single_values_round_trip() {
        assert_eq!(round_trip(&[]).len(), 3);
        round_trip(&[""]);
        round_trip(&["only"]);
    }

    #[test]
    fn corrupt_dictionaries_are_rejected() {
        // One value, one entry of length 1 (frame: width 0, reference 1), byte 0xff.
        let bytes = [TAG, 1, 1, 0, 2, 0xff, 0, 0];
        assert!(matches!(
            decode(&bytes),
            Err(Error::InvalidUtf8 { entry: 0, .. })
        ));
        // Index 1 of 1 entry.
        let bytes = [TAG, 1, 1, 0, 2, b'a', 0, 2];
        assert_eq!(
            decode(&bytes),
            Err(Error::DictionaryIndex { index: 1, len: 1 })
        );
        // Entries out of order: "b", "a".
        let bytes = [TAG, 2, 2, 0, 2, b'b', b'a', 0, 0];
        assert!(matches!(decode(&bytes), Err(Error::Corrupt { .. })));
        // More entries than values.
        let bytes = [TAG, 1, 2, 0, 2, b'a', b'b', 0, 0];
        assert!(matches!(decode(&bytes), Err(Error::Corrupt { .. })));
        // Entry lengths past the input.
        let bytes = [TAG, 1, 1, 0, 0x80, 0x01, b'a', 0, 0];
        assert!(matches!(decode(&bytes), Err(Error::Truncated { .. })));
    }
}
