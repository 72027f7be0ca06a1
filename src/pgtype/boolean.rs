//! `boolean`: `boolin` and `boolout`. The binary form is one byte, non-zero
//! for true.

use super::error::{ValueError, ValueResult};
use super::input::trim_space;

/// PostgreSQL's boolean input: `t`, `true`, `yes`, `on`, `1` and their
/// opposites, any case, or an unambiguous prefix of the words, with white
/// space around.
pub fn bool_in(s: &str) -> ValueResult<bool> {
    let lower = trim_space(s).to_ascii_lowercase();
    let is_prefix = |word: &str| !lower.is_empty() && word.starts_with(lower.as_str());
    match lower.as_str() {
        "1" | "on" => Ok(true),
        "0" | "of" | "off" => Ok(false),
        _ if is_prefix("true") || is_prefix("yes") => Ok(true),
        _ if is_prefix("false") || is_prefix("no") => Ok(false),
        _ => Err(ValueError::InvalidText {
            type_name: "boolean",
            value: s.to_owned(),
        }),
    }
}

/// `t` or `f`.
pub fn bool_out(v: bool) -> &'static str {
    if v { "t" } else { "f" }
}
