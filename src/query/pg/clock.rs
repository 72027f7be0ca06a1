//! PostgreSQL's clock functions beyond `now()`:
//!
//! - `clock_timestamp()`: the time at the call, changing within a
//!   statement (`statement_timestamp()` and `transaction_timestamp()` are
//!   `now()`'s other names, registered with it);
//! - `localtimestamp` and `localtime`, which the parser reads as column
//!   names: [`rewrite_expr`] makes them calls of [`LocalTime`] on `now()`, the
//!   statement's time read as a wall time in the session's zone;
//! - `pg_sleep(seconds)`, which returns `void` (rendered empty, as
//!   `pg_advisory_unlock_all` is). It is an asynchronous function, which
//!   DataFusion awaits: the sleep holds no thread, and a canceled statement
//!   (or its timeout) ends it. DataFusion evaluates asynchronous functions
//!   only in a projection or a filter.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::sql::sqlparser::ast;

use super::at_time_zone::{function_call, session_zone};
use super::columnar::columnar;
use crate::pgtype;
use crate::query::error::Error;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `clock_timestamp()`, `pg_sleep(seconds)`, `localtimestamp(now)` and
/// `localtime(now)`.
pub(crate) fn udfs() -> Vec<ScalarUDF> {
    vec![
        create_udf(
            "clock_timestamp",
            vec![],
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            Volatility::Volatile,
            Arc::new(|_| {
                let now = chrono::Utc::now().timestamp_nanos_opt();
                Ok(ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
                    now,
                    Some("UTC".into()),
                )))
            }),
        ),
        AsyncScalarUDF::new(Arc::new(PgSleep {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Volatile),
        }))
        .into_scalar_udf(),
        ScalarUDF::new_from_impl(LocalTime::new(false)),
        ScalarUDF::new_from_impl(LocalTime::new(true)),
    ]
}

/// `pg_sleep(seconds)`: an asynchronous function, so that the sleep holds
/// no thread and ends when the statement is canceled.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(Error::Unsupported {
            what: "pg_sleep here (only in a select list or WHERE clause)".into(),
        }
        .into())
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for PgSleep {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [seconds] = args.args.as_slice() else {
            return exec_err!("pg_sleep takes one argument");
        };
        let rows = args.number_rows.max(1);
        let seconds = cast(&seconds.to_array(rows)?, &DataType::Float64)?;
        let seconds = seconds.as_primitive::<Float64Type>();
        for row in 0..seconds.len() {
            if !seconds.is_valid(row) {
                continue;
            }
            let secs = seconds.value(row);
            if secs.is_nan() {
                return Err(Error::InvalidParameterValue {
                    message: "pg_sleep: NaN seconds".into(),
                }
                .into());
            }
            if secs > 0.0 {
                let duration = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
                tokio::time::sleep(duration).await;
            }
        }
        Ok(ColumnarValue::Array(
            ScalarValue::Utf8(Some(String::new())).to_array_of_size(args.number_rows)?,
        ))
    }
}

/// `localtimestamp(now)` (a `timestamp`) or `localtime(now)` (a `time`):
/// the instant's wall time in the session's zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct LocalTime {
    time_only: bool,
    signature: Signature,
}

impl LocalTime {
    fn new(time_only: bool) -> Self {
        Self {
            time_only,
            signature: Signature::user_defined(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        if self.time_only {
            "localtime"
        } else {
            "localtimestamp"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Timestamp(_, Some(_))] => Ok(vec![DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into()),
            )]),
            _ => Err(Error::UndefinedFunction {
                message: format!("function {}() does not exist", self.name()),
            }
            .into()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.time_only {
            DataType::Time64(TimeUnit::Microsecond)
        } else {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone: Tz = session_zone(&args)?;
        let [value] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let micros = cast(
            &value.to_array(1)?,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let walls = micros
            .as_primitive::<TimestampMicrosecondType>()
            .unary::<_, TimestampMicrosecondType>(|v| pgtype::wall_micros(v, &zone));
        let array: ArrayRef = if self.time_only {
            Arc::new(walls.unary::<_, Time64MicrosecondType>(|v| v.rem_euclid(MICROS_PER_DAY)))
        } else {
            Arc::new(walls)
        };
        columnar(array, is_scalar)
    }
}

/// `expr` made a call of [`LocalTime`] on `now()` if it is the bare
/// keyword `localtimestamp` or `localtime`; with a precision, refused.
pub(crate) fn rewrite_expr(expr: &mut ast::Expr) -> Result<(), Error> {
    if let ast::Expr::Function(ast::Function {
        name,
        args: ast::FunctionArguments::List(list),
        ..
    }) = expr
        && name.0.len() == 1
        && let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Value(precision)))] =
            list.args.as_slice()
        && matches!(precision.value, ast::Value::Number(..))
        && let Some(ident) = name.0[0].as_ident()
        && ident.quote_style.is_none()
        && ["localtimestamp", "localtime"].contains(&ident.value.to_ascii_lowercase().as_str())
    {
        return Err(Error::Unsupported {
            what: format!("{} with a precision", ident.value.to_ascii_lowercase()),
        });
    }
    let name = match expr {
        ast::Expr::Identifier(ident) if ident.quote_style.is_none() => &ident.value,
        // The parser reads the keywords as calls without arguments.
        ast::Expr::Function(ast::Function {
            name,
            args: ast::FunctionArguments::None,
            ..
        }) if name.0.len() == 1 => match name.0[0].as_ident() {
            Some(ident) if ident.quote_style.is_none() => &ident.value,
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let name = name.to_ascii_lowercase();
    if name == "localtimestamp" || name == "localtime" {
        *expr = function_call(&name, vec![function_call("now", vec![])]);
    }
    Ok(())
}
