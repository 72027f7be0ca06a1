//! Any bytes either decode as `f64` or `f32` floats or fail with an error;
//! whatever decodes re-encodes to the same bits.

#![no_main]

use epochdb::codec::float;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = float::decode(data) {
        let mut bytes = Vec::new();
        float::encode(&values, &mut bytes);
        let again = float::decode(&bytes).expect("re-encoded floats decode");
        let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&again), bits(&values));
    }
    if let Ok(values) = float::decode_f32(data) {
        let mut bytes = Vec::new();
        float::encode_f32(&values, &mut bytes);
        let again = float::decode_f32(&bytes).expect("re-encoded floats decode");
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&again), bits(&values));
    }
});
