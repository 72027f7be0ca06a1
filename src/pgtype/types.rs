//! Which PostgreSQL type an Arrow column is reported as, and back: the types
//! of RowDescription and of Bind parameters, and their names.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use pgwire::api::Type;

/// Field metadata that datafusion-pg-catalog puts on OID-typed `Int32` columns.
const OID_ALIAS_KEY: &str = "pg.oid_alias";
/// Field metadata marking PostgreSQL's internal one-byte `"char"` type.
const CHAR_KEY: &str = "pg.char";
/// Field metadata marking a text column of type names as PostgreSQL's
/// `regtype` (what `pg_typeof` returns): sent as the name, or in binary as
/// the type's oid.
pub const REGTYPE_TEXT_KEY: &str = "pg.regtype_text";
/// Field metadata naming the PostgreSQL type of a column whose Arrow type
/// says less: `json` and `jsonb`, held as text. It is Arrow's extension
/// type key, which DataFusion drops when a value is cast (`meta::text` is
/// text), as PostgreSQL's cast does.
const PG_TYPE_KEY: &str = "ARROW:extension:name";
/// The prefix of EpochDB's extension type names (`epochdb.jsonb`).
const PG_TYPE_PREFIX: &str = "epochdb.";

/// Field metadata saying a text field holds values of PostgreSQL type
/// `name` (`json`, `jsonb`).
pub fn pg_type_metadata(name: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(PG_TYPE_KEY.to_owned(), format!("{PG_TYPE_PREFIX}{name}"))])
}

/// The PostgreSQL type a field's [`pg_type_metadata`] names, if any.
pub fn pg_type_of_metadata(field: &Field) -> Option<&str> {
    field
        .metadata()
        .get(PG_TYPE_KEY)?
        .strip_prefix(PG_TYPE_PREFIX)
}

/// The PostgreSQL type a result column is reported as.
pub fn pg_type(field: &Field) -> Type {
    if let Some(alias) = field.metadata().get(OID_ALIAS_KEY) {
        return match alias.as_str() {
            "regclass" => Type::REGCLASS,
            "regtype" => Type::REGTYPE,
            "regproc" => Type::REGPROC,
            "regprocedure" => Type::REGPROCEDURE,
            "regnamespace" => Type::REGNAMESPACE,
            "regrole" => Type::REGROLE,
            "regoper" => Type::REGOPER,
            "regconfig" => Type::REGCONFIG,
            _ => Type::OID,
        };
    }
    match field.data_type() {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal128(..) => Type::NUMERIC,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            if field.metadata().contains_key(CHAR_KEY) {
                Type::CHAR
            } else if let Some(name) = pg_type_of_metadata(field) {
                match name {
                    "json" => Type::JSON,
                    "jsonb" => Type::JSONB,
                    "uuid" => Type::UUID,
                    _ => Type::TEXT,
                }
            } else if field.metadata().contains_key(REGTYPE_TEXT_KEY) {
                Type::REGTYPE
            } else {
                Type::TEXT
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Dictionary(_, value) => {
            pg_type(&Field::new(field.name(), value.as_ref().clone(), true))
        }
        DataType::List(element) | DataType::LargeList(element)
            if has_dedicated_encoding(element.data_type()) =>
        {
            array_type(&pg_type(element)).unwrap_or(Type::TEXT)
        }
        _ => Type::TEXT,
    }
}

/// Each element type with an array type, and that array type.
const ARRAY_TYPES: &[(Type, Type)] = &[
    (Type::BOOL, Type::BOOL_ARRAY),
    (Type::INT2, Type::INT2_ARRAY),
    (Type::INT4, Type::INT4_ARRAY),
    (Type::INT8, Type::INT8_ARRAY),
    (Type::FLOAT4, Type::FLOAT4_ARRAY),
    (Type::FLOAT8, Type::FLOAT8_ARRAY),
    (Type::NUMERIC, Type::NUMERIC_ARRAY),
    (Type::TEXT, Type::TEXT_ARRAY),
    (Type::VARCHAR, Type::VARCHAR_ARRAY),
    (Type::CHAR, Type::CHAR_ARRAY),
    (Type::BYTEA, Type::BYTEA_ARRAY),
    (Type::TIMESTAMP, Type::TIMESTAMP_ARRAY),
    (Type::TIMESTAMPTZ, Type::TIMESTAMPTZ_ARRAY),
    (Type::DATE, Type::DATE_ARRAY),
    (Type::TIME, Type::TIME_ARRAY),
    (Type::INTERVAL, Type::INTERVAL_ARRAY),
    (Type::OID, Type::OID_ARRAY),
];

/// The one-dimensional array type whose elements are `element`.
pub fn array_type(element: &Type) -> Option<Type> {
    ARRAY_TYPES
        .iter()
        .find(|(e, _)| e == element)
        .map(|(_, array)| array.clone())
}

/// The element type of array type `array`.
pub fn element_type(array: &Type) -> Option<Type> {
    ARRAY_TYPES
        .iter()
        .find(|(_, a)| a == array)
        .map(|(element, _)| element.clone())
}

/// Whether values of `data_type` have a form of their own here (rather than
/// Arrow's rendering as text).
pub fn has_dedicated_encoding(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Timestamp(_, _)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time64(_)
            | DataType::Time32(_)
            | DataType::Interval(_)
            | DataType::Duration(_)
    )
}

/// The Arrow type matching a PostgreSQL type, where there is one: how a
/// parameter the client declared is held.
pub fn arrow_type(pg_type: &Type) -> Option<DataType> {
    if let Some(element) = element_type(pg_type) {
        let element = arrow_type(&element)?;
        return Some(DataType::List(Arc::new(Field::new_list_field(
            element, true,
        ))));
    }
    Some(match *pg_type {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::OID => DataType::Int32,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::JSONB
        | Type::UUID => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        Type::DATE => DataType::Date32,
        // `numeric` without a precision or scale, as planning types it; a
        // value bound to it keeps its own scale.
        Type::NUMERIC => DataType::Decimal128(38, 10),
        _ => return None,
    })
}

/// The name PostgreSQL gives the type of values of `data_type`
/// (`format_type`'s), arrays included (`integer[]`).
pub fn arrow_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::FixedSizeList(element, _) => {
            format!("{}[]", arrow_type_name(element.data_type()))
        }
        // An untyped NULL.
        DataType::Null => "unknown".to_owned(),
        other => type_name(&pg_type(&Field::new("", other.clone(), true))).to_owned(),
    }
}

/// The oid of the type `format_type` names `name` (`integer`, `text[]`),
/// for the types [`type_name`] names and their arrays.
pub fn type_oid(name: &str) -> Option<u32> {
    let (element, array) = match name.strip_suffix("[]") {
        Some(element) => (element, true),
        None => (name, false),
    };
    let found = ARRAY_TYPES
        .iter()
        .map(|(element, _)| element)
        .chain(
            [
                Type::NAME,
                Type::BPCHAR,
                Type::UNKNOWN,
                Type::JSON,
                Type::JSONB,
                Type::UUID,
            ]
            .iter(),
        )
        .find(|t| type_name(t) == element)?;
    if array {
        array_type(found).map(|t| t.oid())
    } else {
        Some(found.oid())
    }
}

/// The name PostgreSQL's messages give a type (`format_type`'s).
pub fn type_name(pg_type: &Type) -> &'static str {
    match *pg_type {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::BPCHAR => "character",
        Type::NAME => "name",
        Type::BYTEA => "bytea",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::DATE => "date",
        Type::TIME => "time without time zone",
        Type::INTERVAL => "interval",
        Type::OID => "oid",
        Type::CHAR => "\"char\"",
        Type::JSON => "json",
        Type::JSONB => "jsonb",
        Type::UUID => "uuid",
        _ => "unknown",
    }
}
