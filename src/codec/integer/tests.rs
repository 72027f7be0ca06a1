use proptest::prelude::*;

use super::*;
use crate::codec::bits::FRAME_LEN;

fn round_trip(values: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(values, &mut out);
    assert_eq!(decode(&out).unwrap(), values);
    let mut appended = vec![42];
    decode_into(&out, &mut appended).unwrap();
    assert_eq!(appended[0], 42);
    assert_eq!(&appended[1..], values);
    out
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Extremes, small values and anything, from one cheap strategy (generation
/// dominates these tests; `prop_oneof!` is slow in debug builds).
fn interesting() -> impl Strategy<Value = i64> {
    (any::<u8>(), any::<i64>()).prop_map(|(kind, value)| match kind % 6 {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => i64::MIN + 1,
        3 => 0,
        4 => value % 1000,
        _ => value,
    })
}

/// Lengths around frame boundaries.
fn boundary_len() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![
        0usize, 1, 2, 3, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025,
    ])
}

proptest! {
    #[test]
    fn arbitrary_values_round_trip(values in proptest::collection::vec(any::<i64>(), 0..600)) {
        round_trip(&values);
    }

    #[test]
    fn interesting_values_round_trip(values in proptest::collection::vec(interesting(), 0..600)) {
        round_trip(&values);
    }

    #[test]
    fn constant_runs_round_trip(value in interesting(), len in boundary_len()) {
        round_trip(&vec![value; len]);
    }

    #[test]
    fn boundary_lengths_round_trip(len in boundary_len(), seed in any::<u64>(), spread in 0..64u32) {
        let mut state = seed | 1;
        let values: Vec<i64> = (0..len)
            .map(|_| (xorshift(&mut state) >> spread) as i64)
            .collect();
        round_trip(&values);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decoding_arbitrary_tagged_bytes_never_panics(
        tag in TAG..=TAG + 3,
        count in 0..2000u64,
        rest in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = vec![tag];
        bits::write_varint(count, &mut bytes);
        bytes.extend_from_slice(&rest);
        let _ = decode(&bytes);
    }

    #[test]
    fn decoding_damaged_encodings_never_panics(
        values in proptest::collection::vec(interesting(), 0..400),
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
fn empty_and_single_values_are_small() {
    assert_eq!(round_trip(&[]).len(), 2);
    assert!(round_trip(&[i64::MIN]).len() <= 12);
}

#[test]
fn picks_the_smallest_order() {
    let counter: Vec<i64> = (0..1000).map(|i| 1_000_000 + 17 * i).collect();
    assert_eq!(round_trip(&counter)[0], TAG + 1);
    let noise: Vec<i64> = (0..1000).map(|i| (i * 7919) % 13).collect();
    assert_eq!(round_trip(&noise)[0], TAG);
    let accelerating: Vec<i64> = (0..1000).map(|i| i * i).collect();
    assert_eq!(round_trip(&accelerating)[0], TAG + 2);
}

#[test]
fn random_walk_packs_to_its_step_width() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut value = 50i64;
    let values: Vec<i64> = (0..8640)
        .map(|_| {
            value = (value + (xorshift(&mut state) % 7) as i64 - 3).clamp(0, 100);
            value
        })
        .collect();
    let bytes = round_trip(&values);
    // Steps in -3..=3 span 3 bits.
    assert!(bytes.len() * 8 <= values.len() * 3 + values.len().div_ceil(FRAME_LEN) * 24 + 32);
}

#[test]
fn hostile_counts_are_rejected_before_allocating() {
    let mut bytes = vec![TAG];
    bits::write_varint(u64::MAX, &mut bytes);
    assert!(matches!(decode(&bytes), Err(Error::Truncated { .. })));
    let mut bytes = vec![TAG];
    bits::write_varint(1 << 40, &mut bytes);
    bytes.extend_from_slice(&[0; 64]);
    assert!(matches!(decode(&bytes), Err(Error::Truncated { .. })));
}

#[test]
fn corrupt_inputs_are_typed_errors() {
    assert_eq!(
        decode(&[]),
        Err(Error::Truncated {
            needed: 1,
            available: 0
        })
    );
    assert!(matches!(
        decode(&[0x13, 0]),
        Err(Error::UnknownTag {
            codec: "integer",
            tag: 0x13
        })
    ));
    // One value, width 65.
    assert!(matches!(
        decode(&[TAG, 1, 65, 0]),
        Err(Error::BitWidth { width: 65, max: 64 })
    ));
    let mut bytes = round_trip(&[1, 2, 3]);
    bytes.push(0);
    assert_eq!(decode(&bytes), Err(Error::TrailingBytes { count: 1 }));
}
