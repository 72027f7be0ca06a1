//! PostgreSQL values in their wire forms: for each type EpochDB stores or
//! returns, its text form (PostgreSQL's `*_in`/`*_out` functions) and its
//! binary form (`*_recv`/`*_send`), in both directions. Results (encode),
//! Bind parameters and COPY all go through here, so a type reads and prints
//! the same on every path, and one policy holds for values out of range:
//! they are an error ([`ValueError::OutOfRange`], 22003, or
//! [`ValueError::DatetimeOutOfRange`], 22008), never clamped or wrapped.
//!
//! A leaf module: it knows Arrow's and PostgreSQL's types, and nothing of
//! the rest of EpochDB.

mod array;
mod boolean;
mod bytea;
mod datetime;
mod datetime_text;
mod error;
mod float;
mod input;
mod int;
mod interval_text;
pub mod json;
mod numeric;
mod types;
mod uuid;
mod zone_abbrevs;

pub use array::{array_elements, quote_array_element};
pub use boolean::{bool_in, bool_out};
pub use bytea::{bytea_in, bytea_out};
pub use datetime::{
    PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_MICROS, date_in, date_out, date_recv, date_send,
    instant_of_wall, interval_out, iso_timestamp, time_out, timestamp_in, timestamp_out,
    timestamp_recv, timestamp_send, timestamptz_out, wall_micros, zone_offset,
};
pub use datetime_text::{DatetimeTarget, iso_datetime_text};
pub use error::{ValueError, ValueResult};
pub use float::{float4_in, float4_out, float8_in, float8_out, short_decimal};
pub use input::{fixed, trim_space, utf8};
pub use int::{int_in, short_integer};
pub use interval_text::interval_text;
pub use json::{json_in, jsonb_in, jsonb_recv};
pub use numeric::{
    DivisionError, MAX_DIGITS, fits_precision, float8_numeric_text, is_special_numeric_text,
    numeric_div, numeric_in, numeric_in_own_scale, numeric_out, numeric_recv, numeric_send,
    numeric_text_scale, rescale,
};
pub use types::{
    REGTYPE_TEXT_KEY, array_type, arrow_type, arrow_type_name, element_type,
    has_dedicated_encoding, pg_type, pg_type_metadata, pg_type_of_metadata, type_name, type_oid,
};
pub use uuid::{uuid_in, uuid_out, uuid_recv, uuid_send};

#[cfg(test)]
mod tests;
