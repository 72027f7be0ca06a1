//! `date_part` (and so `extract`) and `date_trunc` with what PostgreSQL has
//! beyond DataFusion's, the rest left to DataFusion's functions, which these
//! wrap under the same names:
//!
//! - `date_part` of `century`, `decade`, `millennium` (of a timestamp,
//!   date or interval; BC years as PostgreSQL counts them), `julian` (of a
//!   timestamp or date: the Julian day, with the fraction of the day), and
//!   `timezone`, `timezone_hour` and `timezone_minute` (of a `timestamptz`:
//!   the session zone's offset east of UTC). `date_part` is a `double
//!   precision` whatever the field, as PostgreSQL's is; the fields with a
//!   fraction (`epoch`, `second`, ...) are computed exactly by
//!   [`extract`](super::extract). [`rewrite_extract`] makes `EXTRACT`
//!   that module's numeric; `EXTRACT(JULIAN ...)`, a numeric of a scale of
//!   its own, is refused.
//! - `date_trunc(field, timestamptz, zone)`: truncated as a wall time in
//!   `zone`, as PostgreSQL does (a unit of a day or more starts at that
//!   day's midnight there; a smaller one keeps the instant's offset).
//! - `date_trunc` of a `date`, which PostgreSQL truncates as a
//!   `timestamptz` ([`truncate_dates_as_timestamptz`]).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int32Builder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, FieldRef, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::common::tree_node::Transformed;
use datafusion::common::types::{NativeType, logical_string};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, TypeSignatureClass, cast as cast_expr,
};
use datafusion::sql::sqlparser::ast::{self, DateTimeField};

use super::at_time_zone::{ZoneCache, function_call, session_zone};
use super::columnar::columnar;
use super::extract::{EXTRACT, Exact, duration_as_interval, exact_as_double};
use super::plan_exprs::{input_schema, retype_nodes, rewrite_node};
use crate::pgtype;
use crate::query::error::{Error, Result as QueryResult};

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// The Julian day of 1970-01-01.
const UNIX_EPOCH_JULIAN: i64 = 2_440_588;

/// A field of `date_part` that DataFusion does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    Century,
    Decade,
    Millennium,
    Julian,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

impl Extra {
    /// The field PostgreSQL reads `name` as (its names and abbreviations).
    fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "c" | "cent" | "century" | "centuries" => Self::Century,
            "dec" | "decs" | "decade" | "decades" => Self::Decade,
            "mil" | "mils" | "millennium" | "millennia" | "millenium" => Self::Millennium,
            "j" | "julian" => Self::Julian,
            "timezone" => Self::Timezone,
            "timezone_h" | "timezone_hour" => Self::TimezoneHour,
            "timezone_m" | "timezone_minute" => Self::TimezoneMinute,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Century => "century",
            Self::Decade => "decade",
            Self::Millennium => "millennium",
            Self::Julian => "julian",
            Self::Timezone => "timezone",
            Self::TimezoneHour => "timezone_hour",
            Self::TimezoneMinute => "timezone_minute",
        }
    }
}

/// PostgreSQL's century, decade or millennium of an astronomical year
/// (1 BC is 0).
fn of_year(field: Extra, year: i64) -> i64 {
    match field {
        Extra::Century if year > 0 => (year + 99) / 100,
        Extra::Century => -((99 - (year - 1)) / 100),
        Extra::Decade if year >= 0 => year / 10,
        Extra::Decade => -((8 - (year - 1)) / 10),
        Extra::Millennium if year > 0 => (year + 999) / 1000,
        Extra::Millennium => -((999 - (year - 1)) / 1000),
        _ => 0,
    }
}

fn not_supported(field: Extra, type_name: &str) -> Error {
    Error::FeatureNotSupported {
        message: format!(
            "unit \"{}\" not supported for type {type_name}",
            field.name()
        ),
    }
}

/// The Julian day of a wall time, with the fraction of its day, rounded
/// once from the exact value.
fn julian(wall: i64) -> f64 {
    let days = wall.div_euclid(MICROS_PER_DAY);
    let time = wall.rem_euclid(MICROS_PER_DAY);
    let fraction = i128::from(time) * 10i128.pow(20) / i128::from(MICROS_PER_DAY);
    let text = format!("{}.{fraction:020}", days + UNIX_EPOCH_JULIAN);
    text.parse().unwrap_or(f64::NAN)
}

/// `field` of each value of `array`.
fn extra_part(field: Extra, array: &ArrayRef) -> Result<ArrayRef> {
    let julian_field = field == Extra::Julian;
    let mut ints = Int32Builder::with_capacity(array.len());
    let mut floats = Float64Builder::with_capacity(array.len());
    let mut push = |value: Option<i64>| -> Result<()> {
        match value {
            None => ints.append_null(),
            Some(v) => {
                ints.append_value(i32::try_from(v).map_err(|_| Error::NumericOutOfRange {
                    message: "integer out of range".into(),
                })?)
            }
        }
        Ok(())
    };
    match array.data_type() {
        DataType::Timestamp(_, tag) => {
            let micros = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            let tz = tag.as_deref().map(str::parse::<Tz>).transpose()?;
            for v in micros.iter() {
                let Some(v) = v else {
                    push(None)?;
                    floats.append_null();
                    continue;
                };
                let wall = tz.as_ref().map_or(v, |tz| pgtype::wall_micros(v, tz));
                let offset = (wall - v) / 1_000_000;
                match field {
                    Extra::Timezone | Extra::TimezoneHour | Extra::TimezoneMinute
                        if tz.is_none() =>
                    {
                        return Err(not_supported(field, "timestamp without time zone").into());
                    }
                    Extra::Timezone => push(Some(offset))?,
                    Extra::TimezoneHour => push(Some(offset / 3600))?,
                    Extra::TimezoneMinute => push(Some(offset / 60 % 60))?,
                    Extra::Julian => floats.append_value(julian(wall)),
                    _ => {
                        let date = chrono::DateTime::from_timestamp_micros(wall)
                            .ok_or(Error::DatetimeOutOfRange)?;
                        push(Some(of_year(field, i64::from(date.year()))))?;
                    }
                }
            }
        }
        DataType::Date32 | DataType::Date64 => {
            let days = cast(array, &DataType::Date32)?;
            for v in days.as_primitive::<Date32Type>().iter() {
                let Some(v) = v else {
                    push(None)?;
                    floats.append_null();
                    continue;
                };
                match field {
                    Extra::Timezone | Extra::TimezoneHour | Extra::TimezoneMinute => {
                        return Err(not_supported(field, "date").into());
                    }
                    Extra::Julian => floats.append_value((i64::from(v) + UNIX_EPOCH_JULIAN) as f64),
                    _ => {
                        let date = NaiveDate::from_num_days_from_ce_opt(v + 719_163)
                            .ok_or(Error::DatetimeOutOfRange)?;
                        push(Some(of_year(field, i64::from(date.year()))))?;
                    }
                }
            }
        }
        DataType::Interval(_) => {
            let parts = cast(array, &DataType::Interval(IntervalUnit::MonthDayNano))?;
            for v in parts.as_primitive::<IntervalMonthDayNanoType>().iter() {
                let Some(v) = v else {
                    push(None)?;
                    continue;
                };
                let years = i64::from(v.months / 12);
                match field {
                    Extra::Century => push(Some(years / 100))?,
                    Extra::Decade => push(Some(years / 10))?,
                    Extra::Millennium => push(Some(years / 1000))?,
                    _ => return Err(not_supported(field, "interval").into()),
                }
            }
        }
        other => {
            return Err(not_supported(field, &pgtype::arrow_type_name(other)).into());
        }
    }
    Ok(if julian_field {
        Arc::new(floats.finish())
    } else {
        Arc::new(ints.finish())
    })
}

/// DataFusion's `date_part` with the [`Extra`] fields.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DatePart {
    inner: ScalarUDF,
}

impl DatePart {
    pub(crate) fn new() -> Self {
        Self {
            inner: datafusion::functions::datetime::date_part()
                .as_ref()
                .clone(),
        }
    }
}

/// The extra field a call's first argument names, if it is one.
fn extra_of(scalar: Option<&ScalarValue>) -> Option<Extra> {
    scalar
        .and_then(|s| s.try_as_str().flatten())
        .and_then(Extra::parse)
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    /// PostgreSQL's `date_part` is a `double precision`, whatever the field.
    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let nullable = args.arg_fields.get(1).is_none_or(|f| f.is_nullable());
        if extra_of(args.scalar_arguments.first().copied().flatten()).is_none() {
            // DataFusion's own checks of the field and the value.
            self.inner.return_field_from_args(args)?;
        }
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Float64,
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => Some(s.clone()),
            _ => None,
        };
        let mut args = args;
        let rows = args.number_rows.max(1);
        if let Some(value) = args.args.get_mut(1) {
            let taken = std::mem::replace(value, ColumnarValue::Scalar(ScalarValue::Null));
            *value = duration_as_interval(taken, rows)?;
            if let (Some(field), ColumnarValue::Array(array)) =
                (args.arg_fields.get_mut(1), &*value)
            {
                *field = Arc::new(Field::new(field.name(), array.data_type().clone(), true));
            } else if let (Some(field), ColumnarValue::Scalar(scalar)) =
                (args.arg_fields.get_mut(1), &*value)
            {
                *field = Arc::new(Field::new(field.name(), scalar.data_type(), true));
            }
        }
        let Some(value) = args.args.get(1) else {
            return exec_err!("date_part takes a field and a value");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(rows)?;
        let name = name.as_ref();
        let exact = name
            .and_then(|s| s.try_as_str().flatten())
            .and_then(Exact::parse);
        if let Some(field) = exact
            && let Some(values) = exact_as_double(field, &array)?
        {
            return columnar(values, is_scalar);
        }
        let values = match extra_of(name) {
            Some(field) => extra_part(field, &array)?,
            None => {
                args.return_field = self.inner.return_field_from_args(ReturnFieldArgs {
                    arg_fields: &args.arg_fields,
                    scalar_arguments: &[name, None],
                })?;
                self.inner.invoke_with_args(args)?.to_array(rows)?
            }
        };
        columnar(cast(&values, &DataType::Float64)?, is_scalar)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }
}

/// `EXTRACT(field FROM x)` made [`EXTRACT`]`('field', x)`, PostgreSQL's
/// `numeric` (see [`extract`](super::extract)); the field is named as
/// DataFusion's planner names it, or as [`Extra`] knows it.
/// `EXTRACT(JULIAN ...)`, a numeric of a scale of its own, is refused.
pub(crate) fn rewrite_extract(expr: &mut ast::Expr) -> QueryResult<()> {
    let ast::Expr::Extract {
        field, expr: value, ..
    } = expr
    else {
        return Ok(());
    };
    let extra = match field {
        DateTimeField::Century => Some(Extra::Century),
        DateTimeField::Decade => Some(Extra::Decade),
        DateTimeField::Millennium | DateTimeField::Millenium => Some(Extra::Millennium),
        DateTimeField::Timezone => Some(Extra::Timezone),
        DateTimeField::TimezoneHour => Some(Extra::TimezoneHour),
        DateTimeField::TimezoneMinute => Some(Extra::TimezoneMinute),
        DateTimeField::Julian => Some(Extra::Julian),
        DateTimeField::Custom(ident) => Extra::parse(&ident.value),
        _ => None,
    };
    if extra == Some(Extra::Julian) {
        return Err(Error::Unsupported {
            what: "EXTRACT(JULIAN ...) (date_part('julian', ...) is)".into(),
        });
    }
    let name = match (extra, &*field) {
        (Some(extra), _) => extra.name().to_owned(),
        // `EXTRACT('epoch' FROM x)`: the field without its quotes.
        (None, DateTimeField::Custom(ident)) => ident.value.clone(),
        (None, field) => field.to_string(),
    };
    let name = ast::Expr::value(ast::Value::SingleQuotedString(name));
    let value = std::mem::replace(value.as_mut(), ast::Expr::value(ast::Value::Null));
    *expr = function_call(EXTRACT, vec![name, value]);
    Ok(())
}

/// A `date_trunc` (DataFusion's, or the time-series layer's wrapper of
/// it) and the form with a time zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DateTrunc {
    inner: ScalarUDF,
    signature: Signature,
}

impl DateTrunc {
    /// `inner` with the form with a time zone added.
    pub(crate) fn wrapping(inner: ScalarUDF) -> Self {
        let mut forms = match &inner.signature().type_signature {
            TypeSignature::OneOf(forms) => forms.clone(),
            other => vec![other.clone()],
        };
        forms.push(TypeSignature::Coercible(vec![
            Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
            Coercion::new_implicit(
                TypeSignatureClass::Timestamp,
                vec![TypeSignatureClass::Native(logical_string())],
                NativeType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
        ]));
        let signature = Signature::one_of(forms, inner.signature().volatility);
        Self { inner, signature }
    }
}

/// `wall` (microseconds) truncated to `unit`, as PostgreSQL's
/// `timestamp_trunc` truncates it, and whether the unit is a day or more.
fn truncate_wall(unit: &str, wall: i64) -> QueryResult<(i64, bool)> {
    let t: NaiveDateTime = chrono::DateTime::from_timestamp_micros(wall)
        .ok_or(Error::DatetimeOutOfRange)?
        .naive_utc();
    let micros = i64::from(t.nanosecond() / 1000);
    let time_of_day = wall.rem_euclid(MICROS_PER_DAY);
    let day_start = wall - time_of_day;
    let date_at = |year: i32, month: u32| -> QueryResult<(i64, bool)> {
        let date = NaiveDate::from_ymd_opt(year, month, 1).ok_or(Error::DatetimeOutOfRange)?;
        let at = date.and_hms_opt(0, 0, 0).ok_or(Error::DatetimeOutOfRange)?;
        Ok((at.and_utc().timestamp_micros(), true))
    };
    let year = i64::from(t.year());
    let unit = unit.trim().to_ascii_lowercase();
    Ok(match unit.as_str() {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" => (wall, false),
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => (wall - micros % 1000, false),
        "second" | "seconds" | "s" | "sec" | "secs" => (wall - micros, false),
        "minute" | "minutes" | "m" | "min" | "mins" => {
            (wall - micros - i64::from(t.second()) * 1_000_000, false)
        }
        "hour" | "hours" | "h" | "hr" | "hrs" => (
            wall - micros - i64::from(t.second()) * 1_000_000 - i64::from(t.minute()) * 60_000_000,
            false,
        ),
        "day" | "days" | "d" => (day_start, true),
        "week" | "weeks" | "w" => (
            day_start - i64::from(t.weekday().num_days_from_monday()) * MICROS_PER_DAY,
            true,
        ),
        "month" | "months" | "mon" | "mons" => date_at(t.year(), t.month())?,
        "quarter" | "qtr" => date_at(t.year(), (t.month() - 1) / 3 * 3 + 1)?,
        "year" | "years" | "y" | "yr" | "yrs" => date_at(t.year(), 1)?,
        "decade" | "decades" | "dec" | "decs" => {
            let y = if year >= 0 {
                year / 10 * 10
            } else {
                -((8 - (year - 1)) / 10) * 10
            };
            date_at(i32::try_from(y).map_err(|_| Error::DatetimeOutOfRange)?, 1)?
        }
        "century" | "centuries" | "c" | "cent" => {
            let y = if year > 0 {
                (year + 99) / 100 * 100 - 99
            } else {
                -((99 - (year - 1)) / 100) * 100 + 1
            };
            date_at(i32::try_from(y).map_err(|_| Error::DatetimeOutOfRange)?, 1)?
        }
        "millennium" | "millennia" | "mil" | "mils" => {
            let y = if year > 0 {
                (year + 999) / 1000 * 1000 - 999
            } else {
                -((999 - (year - 1)) / 1000) * 1000 + 1
            };
            date_at(i32::try_from(y).map_err(|_| Error::DatetimeOutOfRange)?, 1)?
        }
        _ => {
            return Err(Error::InvalidParameterValue {
                message: format!(
                    "unit \"{unit}\" not recognized for type timestamp with time zone"
                ),
            });
        }
    })
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        if args.arg_fields.len() == 3 {
            let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
            return Ok(Arc::new(Field::new(
                self.name(),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                nullable,
            )));
        }
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() != 3 {
            return self.inner.invoke_with_args(args);
        }
        let session_zone: Tz = session_zone(&args)?;
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let units = cast(&args.args[0].to_array(rows)?, &DataType::Utf8)?;
        let units = units.as_string::<i32>();
        let values = args.args[1].to_array(rows)?;
        let zoned = matches!(values.data_type(), DataType::Timestamp(_, Some(_)));
        let micros = cast(&values, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let zones = cast(&args.args[2].to_array(rows)?, &DataType::Utf8)?;
        let zones = zones.as_string::<i32>();
        let mut zones_seen = ZoneCache::default();
        let mut out = TimestampMicrosecondBuilder::with_capacity(rows);
        for row in 0..rows {
            if units.is_null(row) || micros.is_null(row) || zones.is_null(row) {
                out.append_null();
                continue;
            }
            let tz = &zones_seen.get(zones.value(row))?;
            // A timestamp without time zone is the session's wall time.
            let instant = if zoned {
                micros.value(row)
            } else {
                pgtype::instant_of_wall(micros.value(row), &session_zone)
            };
            let wall = pgtype::wall_micros(instant, tz);
            let (truncated, whole_days) = truncate_wall(units.value(row), wall)?;
            out.append_value(if whole_days {
                pgtype::instant_of_wall(truncated, tz)
            } else {
                instant - (wall - truncated)
            });
        }
        let array: ArrayRef = Arc::new(out.finish().with_timezone("UTC"));
        columnar(array, is_scalar)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }
}

/// `plan` with each `date_trunc` of a `date` made one of the date as a
/// `timestamptz` (midnight in the session's zone), as PostgreSQL resolves
/// it; DataFusion's truncates a `timestamp` and returns one. Run before
/// type coercion.
pub(crate) fn truncate_dates_as_timestamptz(plan: LogicalPlan) -> Result<LogicalPlan> {
    retype_nodes(plan, |node| {
        let schema = input_schema(&node);
        rewrite_node(node, |expr| match expr {
            Expr::ScalarFunction(mut call)
                if call.func.name() == "date_trunc"
                    && call.args.len() == 2
                    && call.args[1].get_type(&schema)? == DataType::Date32 =>
            {
                let date =
                    std::mem::replace(&mut call.args[1], Expr::Literal(ScalarValue::Null, None));
                call.args[1] = cast_expr(
                    date,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                );
                Ok(Transformed::yes(Expr::ScalarFunction(call)))
            }
            expr => Ok(Transformed::no(expr)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bc_years_count_as_in_postgres() {
        // 1 BC is the astronomical year 0.
        assert_eq!(of_year(Extra::Century, 0), -1);
        assert_eq!(of_year(Extra::Decade, 0), 0);
        assert_eq!(of_year(Extra::Millennium, 0), -1);
        assert_eq!(of_year(Extra::Century, 2000), 20);
        assert_eq!(of_year(Extra::Century, 2001), 21);
        assert_eq!(of_year(Extra::Decade, -10), -1);
        assert_eq!(of_year(Extra::Decade, -11), -2);
        assert_eq!(julian(0), 2_440_588.0);
        assert_eq!(julian(MICROS_PER_DAY / 4), 2_440_588.25);
    }
}
