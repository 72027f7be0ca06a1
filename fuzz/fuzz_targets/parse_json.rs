//! Any text either reads as JSON or fails with an error, never a panic or
//! a stack overflow; what reads as `jsonb` normalizes to a fixed point
//! that contains the input and that the input contains.

#![no_main]

use epochdb::pgtype::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = json::json_in(text);
    let Ok(normalized) = json::jsonb_in(text) else {
        return;
    };
    assert_eq!(json::jsonb_in(&normalized).as_ref(), Ok(&normalized));
    let input = json::parse(text, true).expect("read once");
    let output = json::parse(&normalized, true).expect("normalized text reads");
    assert!(json::contains(&input, text, &output, &normalized));
    assert!(json::equal(&output, &normalized, &output, &normalized));
});
