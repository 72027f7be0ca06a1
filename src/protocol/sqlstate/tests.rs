//! The SQLSTATE mapping, and for every rule that reads DataFusion's or
//! Arrow's wording, a statement that meets it: if a DataFusion upgrade
//! changes the wording, the rule is no longer met and a test fails.

use std::sync::Arc;

use super::*;
use crate::query::{Principal, QueryConfig, QueryEngine};
use crate::session::Session;
use crate::storage::{DEFAULT_DATABASE, Storage};

#[test]
fn every_storage_error_has_a_client_or_server_code() {
    let cases = [
        (
            storage::Error::TableNotFound { name: "t".into() },
            UNDEFINED_TABLE,
        ),
        (
            storage::Error::TableExists { name: "t".into() },
            DUPLICATE_TABLE,
        ),
        (
            storage::Error::Unsupported { what: "x".into() },
            FEATURE_NOT_SUPPORTED,
        ),
        (
            storage::Error::UniqueViolation {
                constraint: "t_pkey".into(),
                detail: "Key (id)=(1) already exists.".into(),
            },
            UNIQUE_VIOLATION,
        ),
        (storage::Error::ConcurrentUpdate, SERIALIZATION_FAILURE),
        (
            storage::Error::NotNullViolation {
                table: "t".into(),
                column: "time".into(),
            },
            NOT_NULL_VIOLATION,
        ),
    ];
    for (error, code) in cases {
        assert_eq!(storage_code(&error).0, code, "{error}");
    }
}

#[test]
fn datafusion_errors_are_unwrapped_to_their_root() {
    let wrapped = DataFusionError::Context(
        "while planning".into(),
        Box::new(DataFusionError::ArrowError(
            Box::new(ArrowError::CastError(
                "Cannot cast string 'x' to value of Int32 type".into(),
            )),
            None,
        )),
    );
    assert_eq!(datafusion_code(&wrapped).0, INVALID_TEXT_REPRESENTATION);
    let external = DataFusionError::External(Box::new(storage::Error::NotNullViolation {
        table: "cpu".into(),
        column: "time".into(),
    }));
    assert_eq!(datafusion_code(&external).0, NOT_NULL_VIOLATION);
    assert_eq!(
        datafusion_message(&external),
        "null value in column \"time\" of relation \"cpu\" violates not-null constraint"
    );
    let ours = DataFusionError::from(query::Error::UndefinedFunction {
        message: "time_bucket takes 2 to 5 arguments, not 1".into(),
    });
    assert_eq!(datafusion_code(&ours).0, UNDEFINED_FUNCTION);
}

/// Statements that fail in DataFusion or Arrow with wording a rule reads,
/// each with the SQLSTATE PostgreSQL 15 gives it (checked on the server).
const STATEMENTS: &[(&str, &str)] = &[
    ("SELECT sqrt(true)", UNDEFINED_FUNCTION),
    ("SELECT nosuchfunc(1)", UNDEFINED_FUNCTION),
    ("SELECT md5(name => 'a')", UNDEFINED_FUNCTION),
    ("SELECT v > ALL (host) FROM t", WRONG_OBJECT_TYPE),
    ("SELECT true AND 1", DATATYPE_MISMATCH),
    ("SELECT * FROM t WHERE v", DATATYPE_MISMATCH),
    ("SELECT NOT v FROM t", DATATYPE_MISMATCH),
    ("SELECT true UNION SELECT time FROM t", DATATYPE_MISMATCH),
    ("SELECT * FROM t WHERE host = true", UNDEFINED_FUNCTION),
    ("SELECT host + 1 FROM t", UNDEFINED_FUNCTION),
    ("SELECT time + time FROM t", UNDEFINED_FUNCTION),
    ("SELECT regexp_like('a', 'a', 'g')", INVALID_PARAMETER_VALUE),
    ("SELECT host, v FROM t GROUP BY host", GROUPING_ERROR),
    ("SELECT host FROM t WHERE sum(v) > 1", GROUPING_ERROR),
    (
        "SELECT host FROM t GROUP BY host HAVING v > 1",
        GROUPING_ERROR,
    ),
    ("SELECT 1 UNION SELECT 1, 2", SYNTAX_ERROR),
    (
        "SELECT v FROM t WHERE v = ANY (SELECT v, host FROM t)",
        SYNTAX_ERROR,
    ),
    ("INSERT INTO t (time, v) VALUES (now(), 1, 2)", SYNTAX_ERROR),
    ("SELECT v FROM t ORDER BY 5", INVALID_COLUMN_REFERENCE),
    ("SELECT * FROM generate_series", UNDEFINED_TABLE),
    (
        "INSERT INTO pg_catalog.pg_am DEFAULT VALUES",
        FEATURE_NOT_SUPPORTED,
    ),
    ("SELECT 'a' ~ ANY(ARRAY['a'])", FEATURE_NOT_SUPPORTED),
    (
        "SELECT array_agg(v ORDER BY v) OVER () FROM t",
        FEATURE_NOT_SUPPORTED,
    ),
    (
        "SELECT sum(v) OVER (ORDER BY v RANGE BETWEEN v PRECEDING AND CURRENT ROW) FROM t",
        INVALID_COLUMN_REFERENCE,
    ),
    ("SELECT (SELECT v FROM t)", CARDINALITY_VIOLATION),
    // DataFusion's own function (PostgreSQL has none by this name).
    (
        "SELECT to_timestamp_seconds('abc', '%Y')",
        INVALID_DATETIME_FORMAT,
    ),
    ("SELECT make_date(2024, 13, 1)", DATETIME_FIELD_OVERFLOW),
    ("SELECT make_time(25, 0, 0)", DATETIME_FIELD_OVERFLOW),
    ("SELECT factorial(30)", NUMERIC_VALUE_OUT_OF_RANGE),
    (
        "SELECT to_timestamp(99999999999999)",
        NUMERIC_VALUE_OUT_OF_RANGE,
    ),
    ("SELECT chr(-1)", INVALID_PARAMETER_VALUE),
    (
        "SELECT timestamp '9999-01-01' + interval '300000 years'",
        DATETIME_FIELD_OVERFLOW,
    ),
    (
        "SELECT date '2024-01-01' + interval '9999999 years'",
        DATETIME_FIELD_OVERFLOW,
    ),
    (
        "SELECT abs(-9223372036854775807 - 1)",
        NUMERIC_VALUE_OUT_OF_RANGE,
    ),
    (
        "SELECT CAST(CAST(10000000000 AS DECIMAL(20, 0)) AS INT)",
        NUMERIC_VALUE_OUT_OF_RANGE,
    ),
    ("SELECT 99999999999::int", NUMERIC_VALUE_OUT_OF_RANGE),
    ("SELECT 12345.6::numeric(5,2)", NUMERIC_VALUE_OUT_OF_RANGE),
    (
        "SELECT arrow_cast(12345.6, 'Decimal128(5, 2)')",
        NUMERIC_VALUE_OUT_OF_RANGE,
    ),
    ("SELECT 1.5 / 0", DIVISION_BY_ZERO),
    (
        "SELECT x / 2.0 FROM (VALUES (1)) t(x)",
        FEATURE_NOT_SUPPORTED,
    ),
    (
        "SELECT sqrt(-1::float8)",
        INVALID_ARGUMENT_FOR_POWER_FUNCTION,
    ),
    ("SELECT 'abc'::int", INVALID_TEXT_REPRESENTATION),
    (
        "SELECT '9223372036854775808'::bigint",
        NUMERIC_VALUE_OUT_OF_RANGE,
    ),
    ("SELECT ' -32769'::smallint", NUMERIC_VALUE_OUT_OF_RANGE),
];

/// Which table and rule `error`'s root message met, if it was read as text.
fn rule_met(error: &session::Error) -> Option<(&'static str, usize)> {
    let session::Error::Query(query::Error::DataFusion(e)) = error else {
        return None;
    };
    let mut root = root(e);
    while let DataFusionError::External(inner) = root {
        root = inner.downcast_ref::<DataFusionError>()?;
        root = super::root(root);
    }
    match root {
        DataFusionError::Plan(m) => Some(("plan", matching_rule(PLAN_MESSAGES, m)?)),
        DataFusionError::Execution(m) => Some(("execution", matching_rule(EXECUTION_MESSAGES, m)?)),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::CastError(m)
            | ArrowError::ParseError(m)
            | ArrowError::ComputeError(m)
            | ArrowError::InvalidArgumentError(m) => {
                Some(("arrow", matching_rule(ARROW_MESSAGES, m)?))
            }
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn every_message_rule_is_met_by_a_statement_with_postgres_code() {
    let engine =
        Arc::new(QueryEngine::try_new(Arc::new(Storage::new()), &QueryConfig::default()).unwrap());
    let session = Session::new(
        engine,
        DEFAULT_DATABASE,
        Arc::new(Principal::new("t", true)),
    )
    .unwrap();
    for sql in [
        "CREATE TABLE t (time TIMESTAMPTZ NOT NULL, host TEXT, v DOUBLE PRECISION)",
        "INSERT INTO t VALUES ('2024-01-01 00:00:00+00', 'a', 1), ('2024-01-01 00:00:01+00', 'b', 2)",
    ] {
        let statement = session.parse(sql).unwrap().remove(0);
        let prepared = session.prepare(statement).await.unwrap();
        let _ = session.execute(&prepared, None).await.unwrap();
    }
    let mut met = std::collections::HashSet::new();
    let mut wrong = Vec::new();
    for &(sql, want) in STATEMENTS {
        let statement = session.parse(sql).unwrap().remove(0);
        let error = match session.prepare(statement).await {
            Err(e) => e,
            Ok(prepared) => match session.execute(&prepared, None).await {
                Err(e) => e,
                Ok(session::Output::Statement(query::Output::Rows(stream))) => {
                    match futures::TryStreamExt::try_collect::<Vec<_>>(stream).await {
                        Err(e) => session::Error::Query(query::Error::DataFusion(e)),
                        Ok(_) => {
                            wrong.push(format!("{sql}: no error"));
                            continue;
                        }
                    }
                }
                Ok(_) => {
                    wrong.push(format!("{sql}: no error"));
                    continue;
                }
            },
        };
        let code = session_code(&error).0;
        if code != want {
            wrong.push(format!("{sql}: {code}, not {want} ({error})"));
        }
        if let Some(rule) = rule_met(&error) {
            met.insert(rule);
        }
    }
    for (table, rules) in [
        ("plan", PLAN_MESSAGES),
        ("execution", EXECUTION_MESSAGES),
        ("arrow", ARROW_MESSAGES),
    ] {
        for (i, (words, _)) in rules.iter().enumerate() {
            if !met.contains(&(table, i)) {
                wrong.push(format!("no statement meets the {table} rule {words:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
