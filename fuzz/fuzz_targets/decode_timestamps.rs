//! Any bytes either decode as timestamps or fail with an error; whatever
//! decodes re-encodes to the same values.

#![no_main]

use epochdb::codec::timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = timestamp::decode(data) {
        let mut bytes = Vec::new();
        timestamp::encode(&values, &mut bytes);
        assert_eq!(timestamp::decode(&bytes).ok(), Some(values));
    }
});
