//! Bind parameters: wire bytes (text or binary) → DataFusion scalars.
//!
//! A parameter's bytes are read by [`pgtype`] in the form of the type it
//! has: the type the client declared at Parse, or else the one the plan
//! expects. Text the leaf has no reader for is cast by Arrow, as an SQL
//! literal of the type would be.

use bytes::Bytes;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::{ParamValues, ScalarValue};
use pgwire::api::Type;
use pgwire::error::PgWireError;

use super::sqlstate;
use crate::pgtype::{self, ValueError, ValueResult};

/// One parameter as bound by the client.
pub(super) struct BoundParameter<'a> {
    pub(super) value: Option<&'a Bytes>,
    pub(super) binary: bool,
    /// The type the client declared at Parse, or the one we reported.
    pub(super) pg_type: &'a Type,
    /// Whether the client declared `pg_type` (rather than leaving it to us).
    pub(super) declared: bool,
    /// The Arrow type the plan expects, if DataFusion inferred one.
    pub(super) expected: Option<&'a DataType>,
}

/// Decodes all parameters, in order.
pub(super) fn decode_all(params: &[BoundParameter<'_>]) -> Result<ParamValues, PgWireError> {
    let values = params
        .iter()
        .enumerate()
        .map(|(i, p)| decode(p).map_err(|e| sqlstate::parameter_error(i + 1, &e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ParamValues::from(values))
}

fn decode(param: &BoundParameter<'_>) -> ValueResult<ScalarValue> {
    // A parameter the client declared has that type (the plan casts it);
    // an unspecified one the type the plan expects.
    let target = param
        .declared
        .then(|| pgtype::arrow_type(param.pg_type))
        .flatten()
        .or_else(|| param.expected.cloned())
        .or_else(|| pgtype::arrow_type(param.pg_type))
        .unwrap_or(DataType::Utf8);
    let Some(bytes) = param.value else {
        return ScalarValue::try_from(&target).map_err(|_| unsupported(param.pg_type));
    };
    let scalar = if param.binary {
        decode_binary(bytes, param.pg_type)?
    } else {
        decode_text(pgtype::utf8(bytes)?, &target)?
    };
    // A numeric keeps its own scale: PostgreSQL's numeric has one per value.
    if scalar.data_type() == target
        || matches!(
            (scalar.data_type(), &target),
            (DataType::Decimal128(..), DataType::Decimal128(..))
        )
    {
        return Ok(scalar);
    }
    let type_name = pgtype::type_name(&pgtype::pg_type(&Field::new("", target.clone(), true)));
    scalar
        .cast_to(&target)
        .map_err(|_| ValueError::InvalidText {
            type_name,
            value: scalar.to_string(),
        })
}

fn unsupported(pg_type: &Type) -> ValueError {
    ValueError::InvalidText {
        type_name: pgtype::type_name(pg_type),
        value: String::new(),
    }
}

/// A text parameter read as the type the plan expects.
fn decode_text(text: &str, target: &DataType) -> ValueResult<ScalarValue> {
    Ok(match target {
        DataType::Boolean => ScalarValue::Boolean(Some(pgtype::bool_in(text)?)),
        DataType::Int16 => ScalarValue::Int16(Some(pgtype::int_in(text, "smallint")?)),
        DataType::Int32 => ScalarValue::Int32(Some(pgtype::int_in(text, "integer")?)),
        DataType::Int64 => ScalarValue::Int64(Some(pgtype::int_in(text, "bigint")?)),
        DataType::Float32 => ScalarValue::Float32(Some(pgtype::float4_in(text)?)),
        DataType::Float64 => ScalarValue::Float64(Some(pgtype::float8_in(text)?)),
        DataType::Binary => ScalarValue::Binary(Some(pgtype::bytea_in(text)?)),
        DataType::Decimal128(..) => {
            let (value, scale) = pgtype::numeric_in_own_scale(text)?;
            ScalarValue::Decimal128(Some(value), pgtype::MAX_DIGITS, scale)
        }
        DataType::Timestamp(TimeUnit::Microsecond, zone) => ScalarValue::TimestampMicrosecond(
            Some(pgtype::timestamp_in(text, zone.is_some())?),
            zone.clone(),
        ),
        DataType::List(element) => {
            let values = pgtype::array_elements(text)?
                .into_iter()
                .map(|item| match item {
                    Some(item) => decode_text(&item, element.data_type()),
                    None => null_of(element.data_type()),
                })
                .collect::<ValueResult<Vec<_>>>()?;
            list_of(&values, element.data_type())
        }
        _ => ScalarValue::Utf8(Some(text.to_owned())),
    })
}

fn null_of(data_type: &DataType) -> ValueResult<ScalarValue> {
    ScalarValue::try_from(data_type).map_err(|_| ValueError::NotSupported {
        what: "parameters of this element type",
    })
}

/// A one-dimensional array of `values`, each of type `element`.
fn list_of(values: &[ScalarValue], element: &DataType) -> ScalarValue {
    ScalarValue::List(ScalarValue::new_list_nullable(values, element))
}

/// A binary array (`array_send`'s form): dimensions, flags, the element
/// type, each dimension's length and lower bound, then each element's length
/// (-1 for NULL) and bytes. Only one-dimensional arrays are read.
fn decode_binary_array(bytes: &[u8], element: &Type) -> ValueResult<ScalarValue> {
    let malformed = || ValueError::InvalidBinary {
        type_name: pgtype::type_name(element),
        expected: 12,
        actual: bytes.len(),
    };
    let mut rest = bytes;
    let int = |rest: &mut &[u8]| -> ValueResult<i32> {
        let (head, tail) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
        *rest = tail;
        Ok(i32::from_be_bytes(*head))
    };
    let dimensions = int(&mut rest)?;
    let _has_nulls = int(&mut rest)?;
    let _element_oid = int(&mut rest)?;
    let count = match dimensions {
        0 => 0,
        1 => {
            let length = int(&mut rest)?;
            let _lower_bound = int(&mut rest)?;
            usize::try_from(length).map_err(|_| malformed())?
        }
        _ => {
            return Err(ValueError::NotSupported {
                what: "multidimensional arrays",
            });
        }
    };
    let target = pgtype::arrow_type(element).unwrap_or(DataType::Utf8);
    let mut values = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let length = int(&mut rest)?;
        let value = match usize::try_from(length) {
            // -1: NULL.
            Err(_) => null_of(&target)?,
            Ok(length) => {
                if rest.len() < length {
                    return Err(malformed());
                }
                let (value, tail) = rest.split_at(length);
                rest = tail;
                decode_binary(value, element)?
            }
        };
        values.push(value);
    }
    Ok(list_of(&values, &target))
}

/// A binary parameter read by its declared type.
fn decode_binary(bytes: &[u8], pg_type: &Type) -> ValueResult<ScalarValue> {
    if let Some(element) = pgtype::element_type(pg_type) {
        return decode_binary_array(bytes, &element);
    }
    let name = pgtype::type_name(pg_type);
    Ok(match *pg_type {
        Type::BOOL => ScalarValue::Boolean(Some(pgtype::fixed::<1>(bytes, name)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(pgtype::fixed(bytes, name)?))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(pgtype::fixed(bytes, name)?))),
        Type::OID => {
            ScalarValue::Int32(Some(u32::from_be_bytes(pgtype::fixed(bytes, name)?) as i32))
        }
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(pgtype::fixed(bytes, name)?))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(pgtype::fixed(bytes, name)?))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(pgtype::fixed(bytes, name)?))),
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = pgtype::timestamp_recv(bytes, name)?;
            let tz = (*pg_type == Type::TIMESTAMPTZ).then(|| "UTC".into());
            ScalarValue::TimestampMicrosecond(Some(micros), tz)
        }
        Type::DATE => ScalarValue::Date32(Some(pgtype::date_recv(bytes)?)),
        Type::NUMERIC => {
            let (value, scale) = pgtype::numeric_recv(bytes)?;
            ScalarValue::Decimal128(Some(value), pgtype::MAX_DIGITS, scale)
        }
        Type::JSONB => ScalarValue::Utf8(Some(pgtype::jsonb_recv(bytes)?)),
        Type::UUID => ScalarValue::Utf8(Some(pgtype::uuid_recv(bytes)?)),
        // Text-like types have their text as their binary form.
        _ => ScalarValue::Utf8(Some(pgtype::utf8(bytes)?.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
            declared: false,
            expected,
        }
    }

    #[test]
    fn text_parameters_read_as_the_expected_type() {
        let v = Bytes::from_static(b" 42 ");
        let p = decode(&param(&v, false, &Type::TEXT, Some(&DataType::Int64))).unwrap();
        assert_eq!(p, ScalarValue::Int64(Some(42)));
        let bad = Bytes::from_static(b"forty-two");
        assert!(matches!(
            decode(&param(&bad, false, &Type::TEXT, Some(&DataType::Int64))),
            Err(ValueError::InvalidText { .. })
        ));
        let big = Bytes::from_static(b"3000000000");
        assert!(matches!(
            decode(&param(&big, false, &Type::TEXT, Some(&DataType::Int32))),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn binary_timestamps_are_relative_to_2000_and_checked() {
        let v = Bytes::copy_from_slice(&0i64.to_be_bytes());
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
        let p = decode(&param(&v, true, &Type::TIMESTAMPTZ, Some(&ts))).unwrap();
        assert_eq!(
            p,
            ScalarValue::TimestampMicrosecond(
                Some(pgtype::PG_EPOCH_OFFSET_MICROS),
                Some(Arc::from("UTC"))
            )
        );
        let short = Bytes::from_static(b"\x00\x01");
        assert!(matches!(
            decode(&param(&short, true, &Type::INT8, None)),
            Err(ValueError::InvalidBinary { .. })
        ));
        let overflow = Bytes::copy_from_slice(&i64::MAX.to_be_bytes());
        assert_eq!(
            decode(&param(&overflow, true, &Type::TIMESTAMPTZ, Some(&ts))),
            Err(ValueError::DatetimeOutOfRange { what: "timestamp" })
        );
    }

    #[test]
    fn null_takes_the_expected_type() {
        let p = decode(&BoundParameter {
            value: None,
            binary: false,
            pg_type: &Type::TEXT,
            declared: false,
            expected: Some(&DataType::Float64),
        })
        .unwrap();
        assert_eq!(p, ScalarValue::Float64(None));
    }
}
