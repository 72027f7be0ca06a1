//! Any bytes either decode as a validity bitmap or fail with an error;
//! whatever decodes re-encodes to the same bytes (the format is canonical).

#![no_main]

use epochdb::codec::validity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(valid) = validity::decode(data) {
        let mut bytes = Vec::new();
        validity::encode(&valid, &mut bytes);
        assert_eq!(bytes, data);
    }
});
