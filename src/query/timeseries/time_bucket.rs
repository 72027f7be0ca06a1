//! `time_bucket`, with TimescaleDB's semantics: the start of the bucket of
//! width `width` that holds a time.
//!
//! ```text
//! time_bucket(width interval, ts timestamp | timestamptz | date)
//! time_bucket(width interval, ts, offset interval)
//! time_bucket(width interval, ts, origin timestamp | timestamptz | date)
//! time_bucket(width interval, ts timestamptz, timezone text [, origin timestamptz [, offset interval]])
//! time_bucket(width integer, ts integer [, offset integer])
//! ```
//!
//! - Buckets of days and smaller are aligned on the origin, by default
//!   2000-01-03 00:00 (a Monday, so week buckets start on Mondays). A day is 24
//!   hours unless a time zone is given.
//! - Buckets of months (and years) start on the first of a month, counted from
//!   the origin's month, by default January 2000. A width cannot mix months
//!   with days or time.
//! - With a time zone, `ts` is bucketed in that zone's wall-clock time, so a
//!   day bucket starts at local midnight also across daylight-saving changes,
//!   and the start is turned back into a `timestamptz` as PostgreSQL's
//!   `AT TIME ZONE` does (a wall-clock time that a change skips is read with
//!   the offset before it; one that happens twice is the later one).
//! - The offset shifts every bucket: `ts - offset` is bucketed and `offset` is
//!   added back.
//!
//! The width, origin, offset and time zone must be constants. For constant
//! arguments the bucket keeps `ts`'s order, so an ordered scan grouped by
//! bucket stays ordered.

use std::sync::Arc;

use chrono::{
    DateTime, Datelike, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeDelta, TimeZone,
};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, PrimitiveArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Int64Type, IntervalMonthDayNano, IntervalUnit, TimeUnit,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, internal_err};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::query::error::Error;

/// 2000-01-03 00:00:00, TimescaleDB's origin for buckets of days and smaller.
fn default_origin() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 3)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// 2000-01-01 00:00:00, TimescaleDB's origin for buckets of months.
fn default_month_origin() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

const INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

/// The `time_bucket` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimeBucket {
    signature: Signature,
}

impl TimeBucket {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn invalid(reason: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(Error::InvalidArgument {
        function: "time_bucket",
        reason: reason.into(),
    }))
}

fn out_of_range() -> DataFusionError {
    DataFusionError::External(Box::new(Error::DatetimeOutOfRange))
}

impl ScalarUDFImpl for TimeBucket {
    fn name(&self) -> &str {
        "time_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=5).contains(&args.len()) {
            return Err(Error::UndefinedFunction {
                message: format!("time_bucket takes 2 to 5 arguments, not {}", args.len()),
            }
            .into());
        }
        let ts = &args[1];
        if ts.is_integer() || (ts == &DataType::Null && args[0].is_integer()) {
            if args.len() > 3 || !args.iter().all(|a| a.is_integer() || a == &DataType::Null) {
                return Err(Error::UndefinedFunction {
                    message: "time_bucket over integers takes integer width and offset".to_string(),
                }
                .into());
            }
            return Ok(vec![DataType::Int64; args.len()]);
        }
        let ts = match ts {
            DataType::Timestamp(..) | DataType::Date32 => ts.clone(),
            DataType::Date64 => DataType::Date32,
            DataType::Null => DataType::Timestamp(TimeUnit::Microsecond, None),
            other => {
                return Err(Error::UndefinedFunction {
                    message: format!("time_bucket does not support type {other} for its time"),
                }
                .into());
            }
        };
        let interval = |t: &DataType, what: &str| -> Result<DataType> {
            match t {
                DataType::Interval(_) | DataType::Utf8 | DataType::Utf8View | DataType::Null => {
                    Ok(INTERVAL)
                }
                other => Err(Error::UndefinedFunction {
                    message: format!("time_bucket's {what} must be an interval, not {other}"),
                }
                .into()),
            }
        };
        let mut coerced = vec![interval(&args[0], "width")?, ts.clone()];
        let zoned = matches!(ts, DataType::Timestamp(_, Some(_)));
        match args.get(2) {
            None => {}
            Some(DataType::Utf8 | DataType::Utf8View) if zoned => {
                coerced.push(DataType::Utf8);
                if let Some(origin) = args.get(3) {
                    match origin {
                        DataType::Timestamp(..)
                        | DataType::Date32
                        | DataType::Utf8
                        | DataType::Null => coerced.push(ts.clone()),
                        other => {
                            return Err(Error::UndefinedFunction {
                                message: format!(
                                    "time_bucket's origin must be a timestamptz, not {other}"
                                ),
                            }
                            .into());
                        }
                    }
                }
                if let Some(offset) = args.get(4) {
                    coerced.push(interval(offset, "offset")?);
                }
            }
            Some(_) if args.len() > 3 => {
                return Err(Error::UndefinedFunction {
                    message: "time_bucket takes an origin and an offset only after a time zone, \
                     which needs a timestamptz time"
                        .to_string(),
                }
                .into());
            }
            Some(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => {
                coerced.push(ts.clone());
            }
            Some(other) => coerced.push(interval(other, "offset")?),
        }
        Ok(coerced)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        let constants = input
            .iter()
            .enumerate()
            .all(|(i, p)| i == 1 || p.sort_properties == SortProperties::Singleton);
        Ok(if constants {
            input[1].sort_properties
        } else {
            SortProperties::Unordered
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut constants = Vec::with_capacity(args.args.len());
        for (i, arg) in args.args.iter().enumerate() {
            match arg {
                ColumnarValue::Scalar(value) => constants.push(value.clone()),
                ColumnarValue::Array(_) if i == 1 => constants.push(ScalarValue::Null),
                ColumnarValue::Array(_) => {
                    return Err(DataFusionError::External(Box::new(Error::Unsupported {
                        what: "time_bucket with a width, origin, offset or time zone that is not a constant"
                            .to_owned(),
                    })));
                }
            }
        }
        // A constant time is bucketed once.
        let ts = match &args.args[1] {
            ColumnarValue::Scalar(value) => value.to_array()?,
            ColumnarValue::Array(array) => array.clone(),
        };
        let out_type = ts.data_type().clone();
        // A NULL argument makes every bucket NULL.
        if constants
            .iter()
            .enumerate()
            .any(|(i, c)| i != 1 && c.is_null())
        {
            return Ok(ColumnarValue::Array(new_null_array(
                &out_type,
                args.number_rows,
            )));
        }
        let buckets = match &out_type {
            DataType::Int64 => integer_buckets(&constants, &ts)?,
            DataType::Timestamp(unit, zone) => {
                // A timestamptz is bucketed in UTC, but months in the
                // session's time zone, as TimescaleDB does.
                let session_zone = zone
                    .as_ref()
                    .and(args.config_options.execution.time_zone.as_deref())
                    .and_then(|name| name.parse::<Tz>().ok());
                let bucketer = Bucketer::new(&constants, session_zone)?;
                timestamp_buckets(&bucketer, &ts, *unit)?
            }
            DataType::Date32 => {
                let bucketer = Bucketer::new(&constants, None)?;
                date_buckets(&bucketer, &ts)?
            }
            other => return internal_err!("time_bucket does not support type {other}"),
        };
        let scalar = matches!(args.args[1], ColumnarValue::Scalar(_));
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&buckets, 0)?)
        } else {
            ColumnarValue::Array(buckets)
        })
    }
}

/// TimescaleDB's integer buckets: `floor((ts - offset) / width) * width + offset`.
fn integer_buckets(constants: &[ScalarValue], ts: &ArrayRef) -> Result<ArrayRef> {
    let width = match &constants[0] {
        ScalarValue::Int64(Some(w)) => *w,
        other => return internal_err!("time_bucket's width {other} is not an integer"),
    };
    if width <= 0 {
        return Err(invalid("period must be greater than 0"));
    }
    let offset = match constants.get(2) {
        Some(ScalarValue::Int64(Some(o))) => *o,
        _ => 0,
    };
    let offset = i128::from(offset % width);
    let width = i128::from(width);
    let values = ts.as_primitive::<Int64Type>();
    let buckets: Int64Array = values.try_unary(|t| {
        let shifted = i128::from(t) - offset;
        let bucket = shifted.div_euclid(width) * width + offset;
        i64::try_from(bucket).map_err(|_| out_of_range())
    })?;
    Ok(Arc::new(buckets))
}

/// How wide a bucket is.
#[derive(Debug, Clone, Copy)]
enum Width {
    /// Days and time, in nanoseconds.
    Fixed(i128),
    Months(i32),
}

/// A bucketing of wall-clock times (or of UTC, without a time zone).
#[derive(Debug)]
pub(crate) struct Bucketer {
    width: Width,
    /// Where buckets are aligned, in the same wall-clock time.
    origin: NaiveDateTime,
    offset: IntervalMonthDayNano,
    zone: Option<Tz>,
}

fn interval_of(value: &ScalarValue, what: &str) -> Result<IntervalMonthDayNano> {
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) => Ok(*v),
        other => internal_err!("time_bucket's {what} {other} is not an interval"),
    }
}

/// A timestamp scalar as UTC (with a zone) or wall-clock (without) time.
fn naive_of(value: &ScalarValue) -> Result<NaiveDateTime> {
    let nanos = match value.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None))? {
        ScalarValue::TimestampNanosecond(Some(n), _) => n,
        other => return internal_err!("time_bucket's origin {other} is not a timestamp"),
    };
    Ok(DateTime::from_timestamp_nanos(nanos).naive_utc())
}

impl Bucketer {
    /// From `time_bucket`'s constant arguments (the time's slot is unused).
    /// `session_zone` is the session's time zone for `timestamptz` times,
    /// where month buckets without a time zone argument are counted.
    fn new(constants: &[ScalarValue], session_zone: Option<Tz>) -> Result<Self> {
        let width = interval_of(&constants[0], "width")?;
        let width = if width.months != 0 {
            if width.days != 0 || width.nanoseconds != 0 {
                return Err(invalid("month intervals cannot have day or time component"));
            }
            Width::Months(width.months)
        } else {
            Width::Fixed(
                i128::from(width.days) * 86_400_000_000_000 + i128::from(width.nanoseconds),
            )
        };
        match width {
            Width::Months(m) if m <= 0 => return Err(invalid("period must be greater than 0")),
            Width::Fixed(n) if n <= 0 => return Err(invalid("period must be greater than 0")),
            _ => {}
        }
        let mut offset = IntervalMonthDayNano::new(0, 0, 0);
        let mut origin = None;
        // Where the time zone variant's arguments are; `None` when it is not.
        let mut bucket_zone = None;
        match constants.get(2) {
            Some(ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name))) => {
                let tz = name
                    .parse::<Tz>()
                    .map_err(|_| invalid(format!("invalid timezone name \"{name}\"")))?;
                bucket_zone = Some(tz);
                if let Some(o) = constants.get(3) {
                    origin = Some(naive_of(o)?);
                }
                if let Some(o) = constants.get(4) {
                    offset = interval_of(o, "offset")?;
                }
            }
            Some(value @ ScalarValue::IntervalMonthDayNano(_)) => {
                offset = interval_of(value, "offset")?;
            }
            Some(value) => origin = Some(naive_of(value)?),
            None => {}
        }
        if bucket_zone.is_none() && matches!(width, Width::Months(_)) {
            bucket_zone = session_zone;
        }
        // An origin is a UTC instant for timestamptz, wall-clock time for
        // timestamp. In a time zone, it counts in that zone's wall-clock time.
        let origin = match (origin, &bucket_zone) {
            (Some(utc), Some(tz)) => local_of(tz, utc),
            (Some(origin), None) => origin,
            (None, _) => match width {
                Width::Fixed(_) => default_origin(),
                Width::Months(_) => default_month_origin(),
            },
        };
        Ok(Self {
            width,
            origin,
            offset,
            zone: bucket_zone,
        })
    }

    /// The start of the bucket of wall-clock time `t`.
    fn bucket(&self, t: NaiveDateTime) -> Result<NaiveDateTime> {
        let shifted = shift(t, self.offset, -1)?;
        let start = match self.width {
            Width::Fixed(width) => {
                let since = nanos_between(self.origin, shifted);
                let steps = since.div_euclid(width);
                let nanos = i64::try_from(steps * width).map_err(|_| out_of_range())?;
                self.origin
                    .checked_add_signed(TimeDelta::nanoseconds(nanos))
                    .ok_or_else(out_of_range)?
            }
            Width::Months(width) => {
                let months = |d: NaiveDateTime| i64::from(d.year()) * 12 + i64::from(d.month0());
                let origin = months(self.origin);
                let steps = (months(shifted) - origin).div_euclid(i64::from(width));
                let month = origin + steps * i64::from(width);
                let year = i32::try_from(month.div_euclid(12)).map_err(|_| out_of_range())?;
                let month0 = u32::try_from(month.rem_euclid(12)).map_err(|_| out_of_range())?;
                NaiveDate::from_ymd_opt(year, month0 + 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .ok_or_else(out_of_range)?
            }
        };
        shift(start, self.offset, 1)
    }

    /// The start of the bucket of UTC instant `utc`, as a UTC instant.
    fn bucket_instant(&self, utc: NaiveDateTime) -> Result<NaiveDateTime> {
        match &self.zone {
            None => self.bucket(utc),
            Some(tz) => Ok(utc_of(tz, self.bucket(local_of(tz, utc))?)),
        }
    }

    /// `t` plus one width, in wall-clock time.
    fn step(&self, t: NaiveDateTime) -> Result<NaiveDateTime> {
        let width = match self.width {
            Width::Fixed(nanos) => {
                IntervalMonthDayNano::new(0, 0, i64::try_from(nanos).map_err(|_| out_of_range())?)
            }
            Width::Months(months) => IntervalMonthDayNano::new(months, 0, 0),
        };
        shift(t, width, 1)
    }

    /// Whether every bucket start is `origin + k * width` in plain integers.
    fn is_arithmetic(&self) -> bool {
        matches!(self.width, Width::Fixed(_)) && self.zone.is_none() && self.offset.months == 0
    }
}

/// Nanoseconds from `from` to `to`, which may be far apart.
fn nanos_between(from: NaiveDateTime, to: NaiveDateTime) -> i128 {
    let seconds = i128::from(to.and_utc().timestamp()) - i128::from(from.and_utc().timestamp());
    let nanos = i128::from(to.and_utc().timestamp_subsec_nanos())
        - i128::from(from.and_utc().timestamp_subsec_nanos());
    seconds * 1_000_000_000 + nanos
}

/// `t + sign * interval`, months first, as PostgreSQL adds an interval.
fn shift(t: NaiveDateTime, interval: IntervalMonthDayNano, sign: i32) -> Result<NaiveDateTime> {
    let months = interval.months.checked_mul(sign).ok_or_else(out_of_range)?;
    let t = match months {
        0 => Some(t),
        m if m > 0 => t.checked_add_months(Months::new(m.unsigned_abs())),
        m => t.checked_sub_months(Months::new(m.unsigned_abs())),
    }
    .ok_or_else(out_of_range)?;
    let days =
        TimeDelta::try_days(i64::from(interval.days) * i64::from(sign)).ok_or_else(out_of_range)?;
    let nanos = TimeDelta::nanoseconds(interval.nanoseconds.saturating_mul(i64::from(sign)));
    t.checked_add_signed(days)
        .and_then(|t| t.checked_add_signed(nanos))
        .ok_or_else(out_of_range)
}

/// The wall-clock time in `tz` at UTC instant `utc`.
fn local_of(tz: &Tz, utc: NaiveDateTime) -> NaiveDateTime {
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    utc + TimeDelta::seconds(i64::from(offset.local_minus_utc()))
}

/// The UTC instant of wall-clock time `local` in `tz`, as PostgreSQL reads
/// it: in a gap, with the offset before the change; when ambiguous, the later.
fn utc_of(tz: &Tz, local: NaiveDateTime) -> NaiveDateTime {
    let offset = match tz.offset_from_local_datetime(&local) {
        LocalResult::Single(offset) => offset.fix(),
        LocalResult::Ambiguous(first, second) => {
            let (first, second) = (first.fix(), second.fix());
            // The later instant has the smaller offset.
            if first.local_minus_utc() < second.local_minus_utc() {
                first
            } else {
                second
            }
        }
        LocalResult::None => {
            // A gap is never longer than a few hours; the offset before it
            // is the one a little earlier.
            let before = local - TimeDelta::hours(3);
            match tz.offset_from_local_datetime(&before) {
                LocalResult::Single(o) | LocalResult::Ambiguous(_, o) => o.fix(),
                LocalResult::None => tz.offset_from_utc_datetime(&local).fix(),
            }
        }
    };
    local - TimeDelta::seconds(i64::from(offset.local_minus_utc()))
}

fn unit_nanos(unit: TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

fn timestamp_buckets(bucketer: &Bucketer, ts: &ArrayRef, unit: TimeUnit) -> Result<ArrayRef> {
    // Every unit's values are i64: work on them as such and restore the type
    // at the end.
    let values = cast(ts, &DataType::Int64)?;
    let values = values.as_primitive::<Int64Type>();
    let per_unit = unit_nanos(unit);
    let buckets: PrimitiveArray<Int64Type> = if bucketer.is_arithmetic() {
        // The common case in plain integers: origin + offset, then floor.
        let Width::Fixed(width) = bucketer.width else {
            return internal_err!("time_bucket: arithmetic buckets need a fixed width");
        };
        let align = nanos_between(DateTime::UNIX_EPOCH.naive_utc(), bucketer.origin)
            + i128::from(bucketer.offset.days) * 86_400_000_000_000
            + i128::from(bucketer.offset.nanoseconds);
        values.try_unary(|t| {
            let t = i128::from(t) * per_unit;
            let start = (t - align).div_euclid(width) * width + align;
            // A start between two units rounds down to a whole unit.
            i64::try_from(start.div_euclid(per_unit)).map_err(|_| out_of_range())
        })?
    } else {
        values.try_unary(|t| {
            let t = i128::from(t) * per_unit;
            let seconds = i64::try_from(t.div_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
            let nanos = u32::try_from(t.rem_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
            let utc = DateTime::from_timestamp(seconds, nanos)
                .ok_or_else(out_of_range)?
                .naive_utc();
            let start = bucketer.bucket_instant(utc)?;
            let nanos = nanos_between(DateTime::UNIX_EPOCH.naive_utc(), start);
            i64::try_from(nanos.div_euclid(per_unit)).map_err(|_| out_of_range())
        })?
    };
    Ok(cast(&buckets, ts.data_type())?)
}

fn date_buckets(bucketer: &Bucketer, ts: &ArrayRef) -> Result<ArrayRef> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let dates = ts.as_primitive::<Date32Type>();
    let buckets: Date32Array = dates.try_unary(|days| {
        let date = epoch
            .checked_add_signed(TimeDelta::days(i64::from(days)))
            .ok_or_else(out_of_range)?;
        let start = bucketer.bucket(date.and_time(NaiveTime::MIN))?;
        i32::try_from((start.date() - epoch).num_days()).map_err(|_| out_of_range())
    })?;
    Ok(Arc::new(buckets))
}

#[cfg(test)]
mod tests;

/// The buckets of one `time_bucket` call in order, for gap filling: the
/// bucket that holds a time, and the bucket after a bucket. Times are in the
/// time column's own representation (`i64` units of a timestamp, days of a
/// date, or integers).
#[derive(Debug)]
pub(crate) enum BucketSteps {
    Integer { width: i64, offset: i64 },
    Timestamp { bucketer: Bucketer, unit: TimeUnit },
    Date { bucketer: Bucketer },
}

impl BucketSteps {
    /// From `time_bucket`'s constant arguments (the time's slot is unused)
    /// for times of type `time_type`. `session_zone` is as for
    /// [`Bucketer::new`].
    pub(crate) fn new(
        constants: &[ScalarValue],
        time_type: &DataType,
        session_zone: Option<Tz>,
    ) -> Result<Self> {
        Ok(match time_type {
            DataType::Int64 => {
                let int = |v: Option<&ScalarValue>| match v {
                    Some(ScalarValue::Int64(Some(v))) => Ok(*v),
                    None => Ok(0),
                    Some(other) => {
                        internal_err!("time_bucket's argument {other} is not an integer")
                    }
                };
                let width = int(constants.first())?;
                if width <= 0 {
                    return Err(invalid("period must be greater than 0"));
                }
                Self::Integer {
                    width,
                    offset: int(constants.get(2))? % width,
                }
            }
            DataType::Timestamp(unit, zone) => Self::Timestamp {
                bucketer: Bucketer::new(constants, zone.as_ref().and(session_zone))?,
                unit: *unit,
            },
            DataType::Date32 => Self::Date {
                bucketer: Bucketer::new(constants, None)?,
            },
            other => return internal_err!("time_bucket does not support type {other}"),
        })
    }

    /// The start of the bucket that holds `t`.
    pub(crate) fn bucket(&self, t: i64) -> Result<i64> {
        match self {
            Self::Integer { width, offset } => {
                let (width, offset) = (i128::from(*width), i128::from(*offset));
                let start = (i128::from(t) - offset).div_euclid(width) * width + offset;
                i64::try_from(start).map_err(|_| out_of_range())
            }
            Self::Timestamp { bucketer, unit } => {
                let start = bucketer.bucket_instant(instant_of(t, *unit)?)?;
                units_of(start, *unit)
            }
            Self::Date { bucketer } => {
                let start = bucketer.bucket(date_time_of(t)?)?;
                days_of(start)
            }
        }
    }

    /// The start of the bucket after the one that starts at `start`.
    pub(crate) fn next(&self, start: i64) -> Result<i64> {
        match self {
            Self::Integer { width, .. } => start.checked_add(*width).ok_or_else(out_of_range),
            Self::Timestamp { bucketer, unit } => {
                let utc = instant_of(start, *unit)?;
                let mut local = match &bucketer.zone {
                    Some(tz) => local_of(tz, utc),
                    None => utc,
                };
                // Step in wall-clock time. Where a daylight-saving change
                // skips wall-clock buckets, several map to one instant: step
                // on until the instant moves.
                for _ in 0..64 {
                    local = bucketer.bucket(bucketer.step(local)?)?;
                    let next = match &bucketer.zone {
                        Some(tz) => utc_of(tz, local),
                        None => local,
                    };
                    let next = units_of(next, *unit)?;
                    if next > start {
                        return Ok(next);
                    }
                }
                Err(Error::InvalidParameterValue {
                    message: format!("time_bucket_gapfill: buckets do not advance past {start}"),
                }
                .into())
            }
            Self::Date { bucketer } => {
                let date = date_time_of(start)?;
                days_of(bucketer.bucket(bucketer.step(date)?)?)
            }
        }
    }
}

/// The UTC instant of `t` units since the epoch.
fn instant_of(t: i64, unit: TimeUnit) -> Result<NaiveDateTime> {
    let t = i128::from(t) * unit_nanos(unit);
    let seconds = i64::try_from(t.div_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    let nanos = u32::try_from(t.rem_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
    Ok(DateTime::from_timestamp(seconds, nanos)
        .ok_or_else(out_of_range)?
        .naive_utc())
}

/// `t` as whole units since the epoch, rounded down.
fn units_of(t: NaiveDateTime, unit: TimeUnit) -> Result<i64> {
    let nanos = nanos_between(DateTime::UNIX_EPOCH.naive_utc(), t);
    i64::try_from(nanos.div_euclid(unit_nanos(unit))).map_err(|_| out_of_range())
}

fn date_time_of(days: i64) -> Result<NaiveDateTime> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    Ok(epoch
        .checked_add_signed(TimeDelta::try_days(days).ok_or_else(out_of_range)?)
        .ok_or_else(out_of_range)?
        .and_time(NaiveTime::MIN))
}

fn days_of(t: NaiveDateTime) -> Result<i64> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    Ok((t.date() - epoch).num_days())
}
