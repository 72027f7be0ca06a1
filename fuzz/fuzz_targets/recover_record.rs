//! Recovery's record decoder on any bytes: see `fuzz/properties.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../properties.rs"]
mod properties;

fuzz_target!(|data: &[u8]| properties::record(data));
