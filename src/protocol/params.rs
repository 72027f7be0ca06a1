//! Bind parameters: wire bytes (text or binary) → DataFusion scalars.
//!
//! Text parameters become strings cast to the type the plan expects, so they
//! parse exactly as SQL literals of that type would. Binary parameters are
//! decoded by their PostgreSQL type, then cast likewise.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ParamValues, ScalarValue};
use pgwire::api::Type;
use pgwire::error::PgWireError;

use super::sqlstate::{self, user_error};

/// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

/// One parameter as bound by the client.
pub(super) struct BoundParameter<'a> {
    pub(super) value: Option<&'a Bytes>,
    pub(super) binary: bool,
    /// The type the client declared at Parse, or the one we reported.
    pub(super) pg_type: &'a Type,
    /// The Arrow type the plan expects, if DataFusion inferred one.
    pub(super) expected: Option<&'a DataType>,
}

/// Decodes all parameters, in order.
pub(super) fn decode_all(params: &[BoundParameter<'_>]) -> Result<ParamValues, PgWireError> {
    let values = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            decode(p).map_err(|m| {
                user_error(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!("parameter ${}: {m}", i + 1),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ParamValues::from(values))
}

fn decode(param: &BoundParameter<'_>) -> Result<ScalarValue, String> {
    let target = param
        .expected
        .cloned()
        .or_else(|| arrow_type(param.pg_type))
        .unwrap_or(DataType::Utf8);
    let Some(bytes) = param.value else {
        return ScalarValue::try_from(&target).map_err(|e| e.to_string());
    };
    let scalar = if param.binary {
        decode_binary(bytes, param.pg_type)?
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| "invalid UTF-8".to_owned())?;
        ScalarValue::Utf8(Some(text.to_owned()))
    };
    if scalar.data_type() == target {
        return Ok(scalar);
    }
    scalar
        .cast_to(&target)
        .map_err(|_| format!("invalid input syntax for type {}: \"{}\"", target, scalar))
}

/// The Arrow type matching a PostgreSQL type, where there is one.
fn arrow_type(pg_type: &Type) -> Option<DataType> {
    Some(match *pg_type {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::OID => DataType::Int32,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        Type::DATE => DataType::Date32,
        _ => return None,
    })
}

fn fixed<const N: usize>(bytes: &[u8], pg_type: &Type) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| {
        format!(
            "binary value of type {pg_type} must be {N} bytes, got {}",
            bytes.len()
        )
    })
}

fn decode_binary(bytes: &[u8], pg_type: &Type) -> Result<ScalarValue, String> {
    Ok(match *pg_type {
        Type::BOOL => ScalarValue::Boolean(Some(fixed::<1>(bytes, pg_type)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(fixed(bytes, pg_type)?))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(fixed(bytes, pg_type)?))),
        Type::OID => ScalarValue::Int32(Some(u32::from_be_bytes(fixed(bytes, pg_type)?) as i32)),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(fixed(bytes, pg_type)?))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(bytes, pg_type)?))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(bytes, pg_type)?))),
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(bytes, pg_type)?)
                .checked_add(PG_EPOCH_OFFSET_MICROS)
                .ok_or("timestamp out of range")?;
            let tz = (*pg_type == Type::TIMESTAMPTZ).then(|| Arc::from("UTC"));
            ScalarValue::TimestampMicrosecond(Some(micros), tz)
        }
        Type::DATE => {
            let days = i32::from_be_bytes(fixed(bytes, pg_type)?)
                .checked_add(PG_EPOCH_OFFSET_DAYS)
                .ok_or("date out of range")?;
            ScalarValue::Date32(Some(days))
        }
        // Text-like types have their text as their binary form.
        _ => ScalarValue::Utf8(Some(
            std::str::from_utf8(bytes)
                .map_err(|_| format!("binary format for type {pg_type} is not supported"))?
                .to_owned(),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param<'a>(
        value: &'a Bytes,
        binary: bool,
        pg_type: &'a Type,
        expected: Option<&'a DataType>,
    ) -> BoundParameter<'a> {
        BoundParameter {
            value: Some(value),
            binary,
            pg_type,
            expected,
        }
    }

    #[test]
    fn text_parameters_cast_to_the_expected_type() {
        let v = Bytes::from_static(b"42");
        let p = decode(&param(&v, false, &Type::TEXT, Some(&DataType::Int64))).unwrap();
        assert_eq!(p, ScalarValue::Int64(Some(42)));
        let bad = Bytes::from_static(b"forty-two");
        assert!(decode(&param(&bad, false, &Type::TEXT, Some(&DataType::Int64))).is_err());
    }

    #[test]
    fn binary_timestamps_are_relative_to_2000() {
        let v = Bytes::copy_from_slice(&0i64.to_be_bytes());
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
        let p = decode(&param(&v, true, &Type::TIMESTAMPTZ, Some(&ts))).unwrap();
        assert_eq!(
            p,
            ScalarValue::TimestampMicrosecond(Some(PG_EPOCH_OFFSET_MICROS), Some(Arc::from("UTC")))
        );
        let short = Bytes::from_static(b"\x00\x01");
        assert!(decode(&param(&short, true, &Type::INT8, None)).is_err());
    }

    #[test]
    fn null_takes_the_expected_type() {
        let p = decode(&BoundParameter {
            value: None,
            binary: false,
            pg_type: &Type::TEXT,
            expected: Some(&DataType::Float64),
        })
        .unwrap();
        assert_eq!(p, ScalarValue::Float64(None));
    }
}
