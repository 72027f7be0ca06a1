//! `x AT TIME ZONE zone`, as PostgreSQL's `timezone(zone, x)`:
//!
//! - of a `timestamptz`: the wall time (a `timestamp`) the instant shows
//!   in `zone`;
//! - of a `timestamp`: the instant (a `timestamptz`) at which `zone` shows
//!   that wall time, a skipped or repeated wall time resolved as
//!   PostgreSQL resolves it.
//!
//! DataFusion plans `AT TIME ZONE` as a change of the timestamp's tag,
//! which keeps a `timestamptz` the same instant; so the statement's `AT
//! TIME ZONE` becomes a call of [`Timezone`] before planning. An unknown
//! zone is 22023. Zones are IANA names (and `UTC`); PostgreSQL's POSIX
//! offsets such as `'+05'` or `'UTC+5'`, whose signs run the other way,
//! are refused rather than read as ISO offsets.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{self, VisitMut, VisitorMut};

use crate::pgtype;
use crate::query::error::Error;

/// The function's name, PostgreSQL's.
const NAME: &str = "timezone";

/// Turns every `x AT TIME ZONE zone` of `statement` into `timezone(zone, x)`.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    let _ = statement.visit(&mut Rewriter);
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut ast::Expr) -> ControlFlow<()> {
        if let ast::Expr::AtTimeZone { .. } = expr {
            let placeholder = ast::Expr::Value(ast::Value::Null.into());
            let ast::Expr::AtTimeZone {
                timestamp,
                time_zone,
            } = std::mem::replace(expr, placeholder)
            else {
                return ControlFlow::Continue(());
            };
            *expr = function_call(NAME, vec![*time_zone, *timestamp]);
        }
        ControlFlow::Continue(())
    }
}

/// The call `name(args...)` in a statement.
pub(crate) fn function_call(name: &str, args: Vec<ast::Expr>) -> ast::Expr {
    ast::Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `timezone(zone, timestamp)`; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Timezone {
    signature: Signature,
}

impl Timezone {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The session's `TimeZone`, as a function call sees it (UTC if unset).
pub(crate) fn session_zone(args: &ScalarFunctionArgs) -> Result<Tz> {
    let name = args.config_options.execution.time_zone.as_deref();
    Ok(name
        .unwrap_or("UTC")
        .parse::<Tz>()
        .or_else(|_| "UTC".parse::<Tz>())?)
}

/// Zones by name for a column of zone names, looked up again only when the
/// name changes from the row before.
#[derive(Default)]
pub(crate) struct ZoneCache {
    last: Option<(String, Tz)>,
}

impl ZoneCache {
    /// The zone named `name`, or PostgreSQL's error.
    pub(crate) fn get(&mut self, name: &str) -> Result<Tz> {
        match &self.last {
            Some((last, tz)) if last == name => Ok(*tz),
            _ => {
                let tz = zone(name)?;
                self.last = Some((name.to_owned(), tz));
                Ok(tz)
            }
        }
    }
}

/// The zone named `name`, or PostgreSQL's error.
pub(crate) fn zone(name: &str) -> Result<Tz> {
    let offset_like =
        name.starts_with(['+', '-']) || name.starts_with(|c: char| c.is_ascii_digit());
    let posix_like = name.len() > 3
        && name[..3].eq_ignore_ascii_case("utc")
        && name[3..].starts_with(['+', '-']);
    if offset_like || posix_like {
        return Err(Error::Unsupported {
            what: format!("time zone \"{name}\" (a POSIX offset; name an IANA zone)"),
        }
        .into());
    }
    name.parse::<Tz>().map_err(|_| {
        Error::InvalidParameterValue {
            message: format!("time zone \"{name}\" not recognized"),
        }
        .into()
    })
}

impl ScalarUDFImpl for Timezone {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [_, timestamp] = arg_types else {
            return exec_err!("timezone takes a zone and a timestamp");
        };
        let timestamp = match timestamp {
            DataType::Timestamp(_, Some(_)) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64 => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            other => {
                return Err(Error::UndefinedFunction {
                    message: format!("function timezone(unknown, {other}) does not exist"),
                }
                .into());
            }
        };
        Ok(vec![DataType::Utf8, timestamp])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types.get(1) {
            Some(DataType::Timestamp(_, Some(_))) => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            _ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [zone_arg, timestamp] = args.args.as_slice() else {
            return exec_err!("timezone takes a zone and a timestamp");
        };
        let ColumnarValue::Scalar(zone_value) = zone_arg else {
            return Err(Error::Unsupported {
                what: "AT TIME ZONE with a zone that varies by row".into(),
            }
            .into());
        };
        let Some(name) = zone_value.try_as_str().flatten() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from(
                args.return_field.data_type(),
            )?));
        };
        let tz = zone(name)?;
        let is_scalar = matches!(timestamp, ColumnarValue::Scalar(_));
        let array = timestamp.to_array(1)?;
        let to_wall = matches!(array.data_type(), DataType::Timestamp(_, Some(_)));
        let micros = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let converted: TimestampMicrosecondArray = micros
            .as_primitive::<TimestampMicrosecondType>()
            .unary(|v| {
                if to_wall {
                    pgtype::wall_micros(v, &tz)
                } else {
                    pgtype::instant_of_wall(v, &tz)
                }
            });
        let converted: ArrayRef = if to_wall {
            Arc::new(converted)
        } else {
            Arc::new(converted.with_timezone("UTC"))
        };
        Ok(if is_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&converted, 0)?)
        } else {
            ColumnarValue::Array(converted)
        })
    }
}
