use proptest::prelude::*;

use super::*;

fn bits64(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn bits32(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn round_trip(values: &[f64]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(values, &mut out);
    assert_eq!(bits64(&decode(&out).unwrap()), bits64(values));
    let mut appended = vec![1.5];
    decode_into(&out, &mut appended).unwrap();
    assert_eq!(bits64(&appended[1..]), bits64(values));
    out
}

fn round_trip_f32(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_f32(values, &mut out);
    assert_eq!(bits32(&decode_f32(&out).unwrap()), bits32(values));
    out
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// TSBS cpu-like fields: integer-valued doubles from a random walk bounded to
/// 0..=100 with steps in -3..=3.
fn random_walk(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed | 1;
    let mut value = 50i64;
    (0..len)
        .map(|_| {
            value = (value + (xorshift(&mut state) % 7) as i64 - 3).clamp(0, 100);
            value as f64
        })
        .collect()
}

/// A smooth signal rounded to 2 decimal places.
fn smooth_decimals(len: usize) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let x = 20.0 + 5.0 * (i as f64 / 200.0).sin() + (i % 7) as f64 * 0.01;
            (x * 100.0).round() / 100.0
        })
        .collect()
}

/// Gorilla's encoded size in bits (first value raw, then control bits, a
/// leading-zeros and length block or the reused window, and the meaningful bits).
fn gorilla_bits(values: &[f64]) -> usize {
    let mut bits = 64;
    let mut previous = values[0].to_bits();
    let (mut window_lead, mut window_trail) = (u32::MAX, 0);
    for value in &values[1..] {
        let xor = value.to_bits() ^ previous;
        previous = value.to_bits();
        if xor == 0 {
            bits += 1;
            continue;
        }
        let (lead, trail) = (xor.leading_zeros().min(31), xor.trailing_zeros());
        if window_lead != u32::MAX && lead >= window_lead && trail >= window_trail {
            bits += 2 + (64 - window_lead - window_trail) as usize;
        } else {
            bits += 2 + 5 + 6 + (64 - lead - trail) as usize;
            (window_lead, window_trail) = (lead, trail);
        }
    }
    bits
}

/// Any f64 bit pattern, weighted toward the awkward ones. (One cheap
/// strategy rather than a `prop_oneof!`: generation dominates these tests.)
fn awkward_f64() -> impl Strategy<Value = f64> {
    (any::<u8>(), any::<u64>()).prop_map(|(kind, bits)| {
        let sign = bits & (1 << 63);
        let mantissa = bits & ((1 << 52) - 1);
        match kind % 12 {
            // NaN with any sign and payload.
            0 => f64::from_bits(sign | 0x7ff << 52 | mantissa.max(1)),
            1 => -0.0,
            2 => 0.0,
            3 => f64::INFINITY,
            4 => f64::NEG_INFINITY,
            5 => f64::MIN_POSITIVE,
            6 => f64::MAX,
            7 => f64::MIN,
            // Subnormals.
            8 => f64::from_bits(sign | mantissa),
            9 => ((bits % 2_000_000) as i64 - 1_000_000) as f64 / 100.0,
            10 => ((bits % 200) as i64 - 100) as f64,
            _ => f64::from_bits(bits),
        }
    })
}

fn awkward_f32() -> impl Strategy<Value = f32> {
    (any::<u8>(), any::<u32>()).prop_map(|(kind, bits)| {
        let sign = bits & (1 << 31);
        let mantissa = bits & ((1 << 23) - 1);
        match kind % 8 {
            0 => f32::from_bits(sign | 0xff << 23 | mantissa.max(1)),
            1 => -0.0,
            2 => f32::INFINITY,
            3 => f32::NEG_INFINITY,
            4 => f32::MAX,
            5 => f32::from_bits(sign | mantissa),
            6 => ((bits % 200_000) as i32 - 100_000) as f32 / 100.0,
            _ => f32::from_bits(bits),
        }
    })
}

fn boundary_len() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![
        0usize, 1, 2, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025,
    ])
}

proptest! {
    #[test]
    fn any_bit_patterns_round_trip(raw in proptest::collection::vec(any::<u64>(), 0..400)) {
        let values: Vec<f64> = raw.into_iter().map(f64::from_bits).collect();
        round_trip(&values);
    }

    #[test]
    fn awkward_values_round_trip(values in proptest::collection::vec(awkward_f64(), 0..600)) {
        round_trip(&values);
    }

    #[test]
    fn decimals_with_a_few_awkward_values_round_trip(
        len in boundary_len(),
        exponent in 0..6u32,
        specials in proptest::collection::vec((any::<prop::sample::Index>(), awkward_f64()), 0..8),
        seed in any::<u64>(),
    ) {
        let mut state = seed | 1;
        let scale = 10f64.powi(exponent as i32);
        let mut values: Vec<f64> = (0..len)
            .map(|_| (xorshift(&mut state) % 100_000) as f64 / scale)
            .collect();
        if !values.is_empty() {
            for (at, special) in specials {
                let at = at.index(values.len());
                values[at] = special;
            }
        }
        round_trip(&values);
    }

    #[test]
    fn constant_runs_round_trip(value in awkward_f64(), len in boundary_len()) {
        round_trip(&vec![value; len]);
    }

    #[test]
    fn f32_bit_patterns_round_trip(raw in proptest::collection::vec(any::<u32>(), 0..400)) {
        let values: Vec<f32> = raw.into_iter().map(f32::from_bits).collect();
        round_trip_f32(&values);
    }

    #[test]
    fn f32_awkward_values_round_trip(values in proptest::collection::vec(awkward_f32(), 0..600)) {
        round_trip_f32(&values);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = decode_f32(&bytes);
    }

    #[test]
    fn decoding_arbitrary_tagged_bytes_never_panics(
        tag in prop::sample::select(vec![ALP_F64, XOR_F64, ALP_F32, XOR_F32]),
        count in 0..2000u64,
        exponent in 0..20u8,
        exceptions in 0..40u64,
        rest in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = vec![tag];
        bits::write_varint(count, &mut bytes);
        bytes.push(exponent);
        bits::write_varint(exceptions, &mut bytes);
        bytes.extend_from_slice(&rest);
        let _ = decode(&bytes);
        let _ = decode_f32(&bytes);
    }

    #[test]
    fn decoding_damaged_encodings_never_panics(
        values in proptest::collection::vec(awkward_f64(), 0..300),
        decimals in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
    ) {
        let values = if decimals { smooth_decimals(values.len()) } else { values };
        let mut bytes = Vec::new();
        encode(&values, &mut bytes);
        let _ = decode(&bytes[..cut.index(bytes.len() + 1)]);
        for (at, bit) in flips {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        let _ = decode(&bytes);
        let _ = decode_f32(&bytes);
    }
}

#[test]
fn random_walk_of_integers_takes_under_a_byte_per_value() {
    let values = random_walk(8640, 0x9e37_79b9_7f4a_7c15);
    let bytes = round_trip(&values);
    assert_eq!(bytes[0], ALP_F64);
    let per_value = bytes.len() as f64 / values.len() as f64;
    assert!(per_value < 1.0, "{per_value} bytes per value");
}

#[test]
fn smooth_decimals_beat_gorilla_by_far() {
    let values = smooth_decimals(8640);
    let bytes = round_trip(&values);
    assert_eq!(bytes[0], ALP_F64);
    let gorilla = gorilla_bits(&values).div_ceil(8);
    assert!(
        bytes.len() * 3 < gorilla,
        "{} bytes vs Gorilla's {gorilla}",
        bytes.len()
    );
}

#[test]
fn decimals_choose_their_exponent() {
    let values: Vec<f64> = (0..1000).map(|i| (i * 37 % 1000) as f64 / 1000.0).collect();
    let bytes = round_trip(&values);
    assert_eq!(bytes[0], ALP_F64);
    // tag, count (2 bytes), exponent.
    assert_eq!(bytes[3], 3);
}

#[test]
fn exceptions_are_exact() {
    let mut values = smooth_decimals(1000);
    values[0] = f64::NAN;
    values[5] = -0.0;
    values[127] = f64::from_bits(0x7ff0_0000_dead_beef);
    values[128] = f64::INFINITY;
    values[999] = f64::from_bits(1);
    values[500] = 1e300;
    let bytes = round_trip(&values);
    assert_eq!(bytes[0], ALP_F64);
}

#[test]
fn full_precision_noise_falls_back_to_xor() {
    let mut state = 0x1234_5678_9abc_def1u64;
    let values: Vec<f64> = (0..1000)
        .map(|_| (xorshift(&mut state) >> 11) as f64 / (1u64 << 53) as f64)
        .collect();
    let bytes = round_trip(&values);
    assert_eq!(bytes[0], XOR_F64);
    assert!(bytes.len() <= values.len() * 8 + 100);
}

#[test]
fn f32_decimals_use_alp() {
    let values: Vec<f32> = (0..1000).map(|i| (i % 300) as f32 / 10.0).collect();
    let bytes = round_trip_f32(&values);
    assert_eq!(bytes[0], ALP_F32);
    assert!(bytes.len() < values.len() * 2);
    let mut with_nan = values.clone();
    with_nan[10] = f32::from_bits(0x7f80_0001);
    with_nan[11] = f32::from_bits(0xffc0_1234);
    round_trip_f32(&with_nan);
}

#[test]
fn f32_and_f64_encodings_are_not_interchangeable() {
    let mut bytes = Vec::new();
    encode(&[1.0, 2.0], &mut bytes);
    assert!(matches!(decode_f32(&bytes), Err(Error::UnknownTag { .. })));
    let mut bytes = Vec::new();
    encode_f32(&[1.0, 2.0], &mut bytes);
    assert!(matches!(decode(&bytes), Err(Error::UnknownTag { .. })));
}

#[test]
fn empty_and_single_values_round_trip() {
    round_trip(&[]);
    round_trip(&[f64::NAN]);
    round_trip(&[-0.0]);
    round_trip(&[12.34]);
    round_trip_f32(&[]);
    round_trip_f32(&[f32::from_bits(0x7fc0_0001)]);
}

#[test]
fn corrupt_exceptions_are_rejected() {
    // Two values, exponent 0, one exception; integers: order 0, one frame of
    // width 0 and reference 0; positions: order 0, frame width 0, reference 5
    // (out of range).
    let bytes = [ALP_F64, 2, 0, 1, 0, 0, 0, 0, 0, 10, 0, 0];
    assert!(matches!(decode(&bytes), Err(Error::Corrupt { .. })));
    // Exponent 19.
    let bytes = [ALP_F64, 0, 19, 0, 0];
    assert!(matches!(decode(&bytes), Err(Error::Corrupt { .. })));
    // An f32 XOR frame 33 bits wide.
    let mut bytes = vec![XOR_F32, 1, 33, 0];
    bytes.extend_from_slice(&[0xff; 5]);
    assert!(matches!(
        decode_f32(&bytes),
        Err(Error::BitWidth { width: 33, max: 32 })
    ));
}
