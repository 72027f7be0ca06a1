//! A column's default as PostgreSQL's catalogs show it: `pg_get_expr` of
//! its `pg_attrdef` row, which psql's `\d` and the ORMs' inspectors read.
//!
//! PostgreSQL keeps a default as a parsed expression and prints it back:
//! a literal carries the type it was read as (`'x'::text`, `'-1'::integer`),
//! an implicit cast to the column's type is left out (`0` in a `double
//! precision` column), and the SQL value functions keep their keywords
//! (`CURRENT_DATE`). EpochDB keeps a default as the text it was given, so
//! the forms clients set (literals, value functions, calls without
//! arguments, `nextval`) are printed PostgreSQL's way here. Anything else
//! is shown as it was written.

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectNamePart, UnaryOperator, Value,
};
use datafusion::sql::sqlparser::parser::Parser;

use crate::pgtype;
use crate::query::pg::dialect::PostgresDialect;
use crate::storage::{ColumnSchema, ColumnType};

/// SQL value functions, which PostgreSQL prints as their keyword.
const VALUE_FUNCTIONS: &[(&str, &str)] = &[
    ("current_date", "CURRENT_DATE"),
    ("current_timestamp", "CURRENT_TIMESTAMP"),
    ("current_time", "CURRENT_TIME"),
    ("localtimestamp", "LOCALTIMESTAMP"),
    ("localtime", "LOCALTIME"),
    ("current_user", "CURRENT_USER"),
    ("user", "USER"),
    ("session_user", "SESSION_USER"),
    ("current_role", "CURRENT_ROLE"),
    ("current_catalog", "CURRENT_CATALOG"),
    ("current_schema", "CURRENT_SCHEMA"),
];

/// How `column`'s default reads in `pg_attrdef`; `None` when it has no
/// default there: none set, a bare `NULL` (PostgreSQL stores none), or an
/// identity column (whose values come from `attidentity`).
pub(crate) fn shown_default(column: &ColumnSchema) -> Option<String> {
    if column.identity.is_some() {
        return None;
    }
    let text = column.default.as_deref()?;
    let Ok(expr) = Parser::new(&PostgresDialect::default())
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
    else {
        return Some(text.to_owned());
    };
    if matches!(&expr, Expr::Value(v) if v.value == Value::Null) {
        return None;
    }
    Some(shown(&expr, column).unwrap_or_else(|| text.to_owned()))
}

/// `expr` printed as PostgreSQL prints it in `column`, for the forms this
/// module knows.
fn shown(expr: &Expr, column: &ColumnSchema) -> Option<String> {
    match expr {
        Expr::Nested(inner) => shown(inner, column),
        Expr::Value(value) => match &value.value {
            Value::Number(digits, false) => number(digits, false),
            Value::Boolean(b) => Some(b.to_string()),
            Value::SingleQuotedString(s) => string_in(s, column),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(value) => match &value.value {
                Value::Number(digits, false) => number(digits, true),
                _ => None,
            },
            _ => None,
        },
        // A string cast to the column's own type reads as the string would.
        Expr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr,
            data_type,
            format: None,
            ..
        } if string_literal(expr).is_some() && sql_type_is(data_type, column) => {
            shown(expr, column)
        }
        Expr::Function(function) => {
            let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else {
                return None;
            };
            if name.quote_style.is_some() || function.over.is_some() || function.filter.is_some() {
                return None;
            }
            let name = name.value.to_ascii_lowercase();
            match &function.args {
                FunctionArguments::None => VALUE_FUNCTIONS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, keyword)| (*keyword).to_owned()),
                FunctionArguments::List(list)
                    if list.args.is_empty() && list.clauses.is_empty() =>
                {
                    Some(format!("{name}()"))
                }
                FunctionArguments::List(list) if name == "nextval" && list.clauses.is_empty() => {
                    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice()
                    else {
                        return None;
                    };
                    let sequence = match arg {
                        Expr::Cast {
                            expr,
                            data_type: SqlType::Regclass,
                            ..
                        } => string_literal(expr)?,
                        other => string_literal(other)?,
                    };
                    Some(format!(
                        "nextval('{}'::regclass)",
                        sequence.replace('\'', "''")
                    ))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The text of a string literal.
fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the type `data_type` names is `column`'s.
fn sql_type_is(data_type: &SqlType, column: &ColumnSchema) -> bool {
    let name = data_type.to_string().to_ascii_lowercase();
    let expected: &[&str] = match (column.column_type, column.max_chars) {
        (ColumnType::Utf8, None) => &["text"],
        (ColumnType::Utf8, Some(_)) => return false,
        (ColumnType::Int32, _) => &["int", "integer", "int4"],
        (ColumnType::Int64, _) => &["bigint", "int8"],
        (ColumnType::Int16, _) => &["smallint", "int2"],
        (ColumnType::Boolean, _) => &["bool", "boolean"],
        (ColumnType::Date, _) => &["date"],
        (ColumnType::Json, _) => &["json"],
        (ColumnType::Jsonb, _) => &["jsonb"],
        (ColumnType::Uuid, _) => &["uuid"],
        (ColumnType::Bytea, _) => &["bytea"],
        _ => return false,
    };
    expected.contains(&name.as_str())
}

/// A number literal, with its sign: an `integer` when it fits one, else a
/// `bigint`, else a `numeric` (always, with a point). PostgreSQL prints an
/// `integer` that is not negative, or such a `numeric` with a point, bare,
/// and anything else quoted with its type.
fn number(digits: &str, negative: bool) -> Option<String> {
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !plain(whole) || !plain(fraction) || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let signed = if negative {
        format!("-{digits}")
    } else {
        digits.to_owned()
    };
    if digits.contains('.') {
        return Some(if negative {
            format!("'{signed}'::numeric")
        } else {
            digits.to_owned()
        });
    }
    Some(if let Ok(n) = signed.parse::<i32>() {
        if n >= 0 {
            n.to_string()
        } else {
            format!("'{n}'::integer")
        }
    } else if let Ok(n) = signed.parse::<i64>() {
        format!("'{n}'::bigint")
    } else {
        format!("'{signed}'::numeric")
    })
}

/// A string literal read as `column`'s type.
fn string_in(s: &str, column: &ColumnSchema) -> Option<String> {
    let quoted =
        |text: &str, type_name: &str| format!("'{}'::{type_name}", text.replace('\'', "''"));
    match column.column_type {
        ColumnType::Utf8 if column.max_chars.is_some() => Some(quoted(s, "character varying")),
        ColumnType::Utf8 => Some(quoted(s, "text")),
        ColumnType::Json => pgtype::json_in(s).ok().map(|()| quoted(s, "json")),
        ColumnType::Jsonb => pgtype::jsonb_in(s).ok().map(|j| quoted(&j, "jsonb")),
        ColumnType::Uuid => pgtype::uuid_in(s).ok().map(|u| quoted(&u, "uuid")),
        ColumnType::Boolean => pgtype::bool_in(s).ok().map(|b| b.to_string()),
        ColumnType::Float64 => {
            let value = pgtype::float8_in(s).ok()?;
            Some(quoted(&pgtype::float8_out(value), "double precision"))
        }
        ColumnType::Bytea => {
            let bytes = pgtype::bytea_in(s).ok()?;
            Some(quoted(&pgtype::bytea_out(&bytes), "bytea"))
        }
        ColumnType::Float32 => {
            let value = pgtype::float4_in(s).ok()?;
            Some(quoted(&pgtype::float4_out(value), "real"))
        }
        ColumnType::Int32 => {
            let n: i32 = s.trim().parse().ok()?;
            Some(if n < 0 {
                format!("'{n}'::integer")
            } else {
                n.to_string()
            })
        }
        ColumnType::Int16 => Some(quoted(
            &s.trim().parse::<i16>().ok()?.to_string(),
            "smallint",
        )),
        ColumnType::Int64 => Some(quoted(&s.trim().parse::<i64>().ok()?.to_string(), "bigint")),
        // A date as PostgreSQL prints one (ISO, no era) is kept as it is.
        ColumnType::Date => {
            let b = s.as_bytes();
            let iso = b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
            iso.then(|| quoted(s, "date"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ColumnRole;

    fn column(column_type: ColumnType, default: &str) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            column_type,
            role: ColumnRole::Field,
            nullable: true,
            max_chars: None,
            default: Some(default.into()),
            identity: None,
        }
    }

    /// Each case was read from PostgreSQL 15's `pg_get_expr(adbin, adrelid)`.
    #[test]
    fn prints_defaults_as_postgres_does() {
        let cases = [
            (ColumnType::Int32, "5", "5"),
            (ColumnType::Int32, "'5'", "5"),
            (ColumnType::Int32, "-1", "'-1'::integer"),
            (ColumnType::Int64, "5", "5"),
            (ColumnType::Int64, "-3000000000", "'-3000000000'::bigint"),
            (ColumnType::Float64, "0", "0"),
            (ColumnType::Float64, "-1.5", "'-1.5'::numeric"),
            (ColumnType::Float32, "1.5", "1.5"),
            (ColumnType::Int16, "1", "1"),
            (ColumnType::Utf8, "'x'", "'x'::text"),
            (ColumnType::Utf8, "'x'::text", "'x'::text"),
            (ColumnType::Boolean, "'t'", "true"),
            (ColumnType::Boolean, "false", "false"),
            (ColumnType::Date, "'2024-01-01'", "'2024-01-01'::date"),
            (ColumnType::Date, "current_date", "CURRENT_DATE"),
            (
                ColumnType::Timestamp {
                    with_time_zone: true,
                },
                "CURRENT_TIMESTAMP",
                "CURRENT_TIMESTAMP",
            ),
            (
                ColumnType::Timestamp {
                    with_time_zone: true,
                },
                "now()",
                "now()",
            ),
            (ColumnType::Uuid, "gen_random_uuid()", "gen_random_uuid()"),
            (
                ColumnType::Jsonb,
                r#"'{"b":1, "a":2}'"#,
                r#"'{"a": 2, "b": 1}'::jsonb"#,
            ),
            (
                ColumnType::Json,
                r#"'{"b":1, "a":2}'"#,
                r#"'{"b":1, "a":2}'::json"#,
            ),
            (ColumnType::Utf8, "current_user", "CURRENT_USER"),
            (
                ColumnType::Int32,
                "nextval('devices_id_seq'::regclass)",
                "nextval('devices_id_seq'::regclass)",
            ),
            (ColumnType::Int64, "nextval('s')", "nextval('s'::regclass)"),
            (ColumnType::Int32, "-2147483648", "'-2147483648'::integer"),
            (
                ColumnType::Int64,
                "9223372036854775808",
                "'9223372036854775808'::numeric",
            ),
            (ColumnType::Int32, "-0", "0"),
            (ColumnType::Float64, "'-1.5'", "'-1.5'::double precision"),
            (ColumnType::Float64, "'1e20'", "'1e+20'::double precision"),
            (ColumnType::Float32, "'1.5'", "'1.5'::real"),
            (ColumnType::Boolean, "'y'", "true"),
            (ColumnType::Utf8, "user", "USER"),
            (ColumnType::Int64, "'007'", "'7'::bigint"),
            (ColumnType::Bytea, r"'\x00'", r"'\x00'::bytea"),
        ];
        for (column_type, default, expected) in cases {
            let shown = shown_default(&column(column_type, default));
            assert_eq!(shown.as_deref(), Some(expected), "{default}");
        }
        let mut varchar = column(ColumnType::Utf8, "'a''b'");
        varchar.max_chars = Some(5);
        assert_eq!(
            shown_default(&varchar).as_deref(),
            Some("'a''b'::character varying")
        );
    }

    #[test]
    fn null_and_identity_have_no_default_row() {
        assert_eq!(shown_default(&column(ColumnType::Int32, "NULL")), None);
        let mut identity = column(ColumnType::Int32, "nextval('t_id_seq'::regclass)");
        identity.identity = Some(crate::storage::Identity::Always);
        assert_eq!(shown_default(&identity), None);
    }

    #[test]
    fn other_expressions_are_shown_as_written() {
        assert_eq!(
            shown_default(&column(ColumnType::Int32, "1 + 2")).as_deref(),
            Some("1 + 2")
        );
    }
}
