//! Text read as a `timestamp` (without time zone) as PostgreSQL reads it:
//! an offset in the text is ignored (`'12:00+05'::timestamp` is 12:00),
//! where Arrow's cast moves the time to UTC. The [`semantics`](super::semantics)
//! rule sends such casts here, to [`crate::pgtype::timestamp_in`], the
//! parser Bind and COPY use too.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, StringArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    DataType as SqlDataType, Expr as SqlExpr, FunctionArg, FunctionArgExpr, Statement, TableFactor,
    TimezoneInfo, Value as SqlValue, VisitMut, VisitorMut,
};

use super::columnar::columnar;
use crate::pgtype::{self, DatetimeTarget};
use crate::query::error::Error;

/// The name of [`arrow_text_form`]'s function.
pub(crate) const ARROW_TEXT_FORM: &str = "epochdb_arrow_text_form";

/// What a text is about to be cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TextTarget {
    Date,
    Timestamp,
    Interval,
}

/// `text` rewritten from PostgreSQL's other forms of dates, timestamps
/// ([`pgtype::iso_datetime_text`]) and intervals ([`pgtype::interval_text`])
/// to the forms Arrow's casts read (ISO 8601, and lists of quantities and
/// units); other text as it is.
pub(crate) fn arrow_text_form(text: Expr, target: TextTarget) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(ArrowTextForm {
            signature: Signature::any(1, Volatility::Immutable),
            target,
        })),
        vec![text],
    ))
}

/// One text in the form Arrow reads, if it needs another.
fn arrow_form(text: &str, target: TextTarget) -> Option<String> {
    match target {
        TextTarget::Date => pgtype::iso_datetime_text(text, DatetimeTarget::Date),
        TextTarget::Timestamp => pgtype::iso_datetime_text(text, DatetimeTarget::Timestamp),
        TextTarget::Interval => pgtype::interval_text(text),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrowTextForm {
    signature: Signature,
    target: TextTarget,
}

impl ScalarUDFImpl for ArrowTextForm {
    fn name(&self) -> &str {
        ARROW_TEXT_FORM
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("{ARROW_TEXT_FORM} takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let texts = cast(&value.into_array(1)?, &DataType::Utf8)?;
        let iso: StringArray = (texts.as_string::<i32>().iter())
            .map(|text| text.map(|t| arrow_form(t, self.target).unwrap_or_else(|| t.to_owned())))
            .collect();
        let array: ArrayRef = Arc::new(iso);
        columnar(array, is_scalar)
    }
}

/// `text` read as a microsecond `timestamp`.
pub(crate) fn timestamp_in(text: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(TimestampIn {
            signature: Signature::any(1, Volatility::Immutable),
        })),
        vec![text],
    ))
}

/// The function; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampIn {
    signature: Signature,
}

impl ScalarUDFImpl for TimestampIn {
    fn name(&self) -> &str {
        "epochdb_timestamp_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_timestamp_in takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let texts = cast(&value.into_array(1)?, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut out = TimestampMicrosecondBuilder::with_capacity(texts.len());
        for text in texts.iter() {
            match text {
                None => out.append_null(),
                Some(text) => {
                    let micros = pgtype::timestamp_in(text, false).map_err(|_| {
                        Error::InvalidDatetimeFormat {
                            message: format!("invalid input syntax for type timestamp: \"{text}\""),
                        }
                    })?;
                    out.append_value(micros);
                }
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        columnar(array, is_scalar)
    }
}

/// Date, timestamp and interval literals in the arguments of table
/// functions (`generate_series(timestamptz '2024-01-01 00:00', ...)`),
/// rewritten to the forms Arrow reads: DataFusion evaluates those
/// arguments while it plans, before the `semantics` rule could send their
/// casts to [`arrow_text_form`].
pub(crate) fn table_function_literals(statement: &mut Statement) {
    let _ = statement.visit(&mut TableFunctionLiterals { inside: 0 });
}

struct TableFunctionLiterals {
    /// How many table functions' arguments are being visited.
    inside: usize,
}

/// Whether `factor` is `generate_series(...)` in `FROM`.
fn is_series(factor: &TableFactor) -> bool {
    matches!(
        factor,
        TableFactor::Table { name, args: Some(_), .. }
            if name.0.last().and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"))
    )
}

/// `generate_series` of dates is PostgreSQL's of `timestamptz` (a date
/// casts to it implicitly), where DataFusion's would be of `timestamp`:
/// its date literals are read as `timestamptz` ones.
fn dates_as_timestamptz(factor: &mut TableFactor) {
    let TableFactor::Table {
        args: Some(args), ..
    } = factor
    else {
        return;
    };
    date_literals_as_timestamptz(&mut args.args);
}

/// The date literals among `args` as `timestamptz` ones: what PostgreSQL's
/// `generate_series` of dates (in FROM or a select list) reads them as.
pub(crate) fn date_literals_as_timestamptz(args: &mut [FunctionArg]) {
    for arg in args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
            continue;
        };
        let data_type = match expr {
            SqlExpr::TypedString(typed) => &mut typed.data_type,
            SqlExpr::Cast { data_type, .. } => data_type,
            _ => continue,
        };
        if *data_type == SqlDataType::Date {
            *data_type = SqlDataType::Timestamp(None, TimezoneInfo::WithTimeZone);
        }
    }
}

fn takes_arguments(factor: &TableFactor) -> bool {
    matches!(
        factor,
        TableFactor::Table { args: Some(_), .. }
            | TableFactor::Function { .. }
            | TableFactor::TableFunction { .. }
    )
}

impl VisitorMut for TableFunctionLiterals {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if takes_arguments(factor) {
            self.inside += 1;
        }
        if is_series(factor) {
            dates_as_timestamptz(factor);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if takes_arguments(factor) {
            self.inside -= 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
        if self.inside == 0 {
            return ControlFlow::Continue(());
        }
        let target = |data_type: &SqlDataType| match data_type {
            SqlDataType::Date => Some(TextTarget::Date),
            SqlDataType::Timestamp(..) | SqlDataType::Datetime(_) => Some(TextTarget::Timestamp),
            SqlDataType::Interval { .. } => Some(TextTarget::Interval),
            _ => None,
        };
        let (value, data_type) = match expr {
            SqlExpr::TypedString(typed) => (&mut typed.value.value, &typed.data_type),
            SqlExpr::Cast {
                expr: inner,
                data_type,
                ..
            } => match inner.as_mut() {
                SqlExpr::Value(value) => (&mut value.value, &*data_type),
                _ => return ControlFlow::Continue(()),
            },
            _ => return ControlFlow::Continue(()),
        };
        if let (SqlValue::SingleQuotedString(text), Some(target)) = (value, target(data_type))
            && let Some(form) = arrow_form(text, target)
        {
            *text = form;
        }
        ControlFlow::Continue(())
    }
}
