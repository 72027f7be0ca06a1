//! Any bytes either decode as a text column or fail with an error; the
//! dictionary form and the expanded form agree, and whatever decodes
//! re-encodes to the same strings.

#![no_main]

use epochdb::codec::text;
use libfuzzer_sys::fuzz_target;

/// Expanding a dictionary costs (values × entry length): a few kilobytes of
/// input can legitimately describe gigabytes of strings, so only smaller
/// expansions are checked.
const MAX_EXPANDED_BYTES: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok((entries, keys)) = text::decode_dictionary(data) else {
        return;
    };
    let expanded: usize = keys.iter().map(|&key| entries[key as usize].len()).sum();
    if expanded > MAX_EXPANDED_BYTES {
        return;
    }
    let values = text::decode(data).expect("decodes as its dictionary did");
    assert!(values.iter().zip(&keys).all(|(value, &key)| *value == entries[key as usize]));
    assert_eq!(values.len(), keys.len());
    let mut bytes = Vec::new();
    text::encode(&values, &mut bytes);
    assert_eq!(text::decode(&bytes).ok(), Some(values));
});
