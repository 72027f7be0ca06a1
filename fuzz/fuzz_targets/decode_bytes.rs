//! Any bytes either decode as a byte-string column or fail with an error;
//! the dictionary form and the expanded form agree, and whatever decodes
//! re-encodes to the same values.

#![no_main]

use epochdb::codec::text;
use libfuzzer_sys::fuzz_target;

/// A few kilobytes of input can describe gigabytes of expanded values (see
/// `decode_text`): only smaller expansions are checked.
const MAX_EXPANDED_BYTES: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok((entries, keys)) = text::decode_bytes_dictionary(data) else {
        return;
    };
    let expanded: usize = keys.iter().map(|&key| entries[key as usize].len()).sum();
    if expanded > MAX_EXPANDED_BYTES {
        return;
    }
    let values = text::decode_bytes(data).expect("decodes as its dictionary did");
    assert!(values.iter().zip(&keys).all(|(value, &key)| *value == entries[key as usize]));
    let mut bytes = Vec::new();
    text::encode_bytes(&values, &mut bytes);
    assert_eq!(text::decode_bytes(&bytes).ok(), Some(values));
});
