//! Any bytes either decode as booleans or fail with an error; whatever
//! decodes re-encodes to the same values.

#![no_main]

use epochdb::codec::boolean;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = boolean::decode(data) {
        let mut bytes = Vec::new();
        boolean::encode(&values, &mut bytes);
        assert_eq!(boolean::decode(&bytes).ok(), Some(values));
    }
});
