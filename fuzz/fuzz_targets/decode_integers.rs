//! Any bytes either decode as integers or fail with an error; whatever
//! decodes re-encodes to the same values.

#![no_main]

use epochdb::codec::integer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = integer::decode(data) {
        let mut bytes = Vec::new();
        integer::encode(&values, &mut bytes);
        assert_eq!(integer::decode(&bytes).ok(), Some(values));
    }
});
