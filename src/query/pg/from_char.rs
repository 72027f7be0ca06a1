//! `to_timestamp(text, template)` and `to_date(text, template)`, reading
//! text by PostgreSQL's template patterns (the ones `to_char` prints,
//! parsed by [`to_char::parse`](super::to_char::parse)) as PostgreSQL 15
//! reads them outside `FX` mode:
//!
//! - spaces before a field and after one are skipped;
//! - a space or separator (`-`, `/`, `:` ...) of the template matches one
//!   of the input or nothing;
//! - any other template character, and each character of double-quoted
//!   text, skips one character of input, whatever it is;
//! - a number is read to its field's width when a number field or a digit
//!   of the template follows with nothing between them (`YYYYMMDD`), unless
//!   `FM` or a `TH` suffix says otherwise, and else for as long as there
//!   are digits; a `YYY`, `YY` or `Y` year of fewer than four characters
//!   is put near 2020; `MS` and `US` add up; `AM`/`PM` make the hour one of
//!   a 12-hour clock; a day of the year fills a month or day not given;
//! - the input may end before the template; what the template leaves
//!   unread is ignored.
//!
//! Fields PostgreSQL reads but EpochDB does not (`FX`, `J`, ISO weeks,
//! week numbers, centuries, roman months, `SSSS`, zone names) are refused
//! (as is the text `FX` anywhere in the template, even quoted)
//! with 0A000, as are BC dates and years after 9999, which EpochDB's
//! timestamps do not hold.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, FieldRef, TimeUnit};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::at_time_zone::session_zone;
use super::columnar::columnar;
use super::to_char::{DAYS, Field, MONTHS, Node, parse};
use crate::pgtype;
use crate::query::error::Error;

/// What a template's fields set.
#[derive(Debug, Default)]
struct Parsed {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<(i64, bool)>,
    minute: i64,
    second: i64,
    micros: i64,
    /// `AM` (`false`) or `PM` (`true`).
    pm: Option<bool>,
    /// The zone's offset, from `TZH` and `TZM`: hours and minutes east of
    /// UTC, without their sign, and the sign.
    zone_hours: Option<i64>,
    zone_minutes: i64,
    zone_negative: bool,
}

/// The template's pieces as `to_timestamp` reads them.
enum Piece {
    /// A space or separator: matches one of the input, or nothing.
    Separator,
    /// Skips one character of input: the template's character.
    Skip(char),
    /// A field, whether `FM` makes it read every digit, and whether a `TH`
    /// suffix follows (which does too, and skips two characters after).
    Field {
        field: Field,
        fill: bool,
        ordinal: bool,
    },
}

fn pieces(template: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for node in parse(template) {
        match node {
            Node::Literal(text) => pieces.extend(text.chars().map(|c| {
                if c.is_ascii_punctuation() || c.is_ascii_whitespace() {
                    Piece::Separator
                } else {
                    Piece::Skip(c)
                }
            })),
            Node::Quoted(text) => pieces.extend(text.chars().map(Piece::Skip)),
            Node::Field {
                field,
                fill,
                ordinal,
            } => pieces.push(Piece::Field {
                field,
                fill,
                ordinal: ordinal.is_some(),
            }),
        }
    }
    pieces
}

fn format_error(message: String) -> Error {
    Error::InvalidDatetimeFormat { message }
}

/// Whether `field` reads digits.
fn is_digits(field: Field) -> bool {
    !matches!(
        field,
        Field::ZoneHours
            | Field::Meridiem { .. }
            | Field::Era { .. }
            | Field::MonthName(..)
            | Field::DayName(..)
            | Field::ZoneName { .. }
            | Field::Roman { .. }
    )
}

/// The template's name of `field`, for messages.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Hour12 => "HH12",
        Field::Hour24 => "HH24",
        Field::Minute => "MI",
        Field::Second => "SS",
        Field::Millis => "MS",
        Field::Micros => "US",
        Field::Fraction(_) => "FF",
        Field::Year(4) => "YYYY",
        Field::Year(3) => "YYY",
        Field::Year(2) => "YY",
        Field::Year(_) => "Y",
        Field::Month => "MM",
        Field::DayOfMonth => "DD",
        Field::DayOfYear => "DDD",
        Field::MonthName(_, true) => "MON",
        Field::MonthName(_, false) => "MONTH",
        Field::DayName(_, true) => "DY",
        Field::DayName(_, false) => "DAY",
        Field::ZoneHours => "TZH",
        Field::ZoneMinutes => "TZM",
        Field::Quarter => "Q",
        Field::Meridiem { dotted: false, .. } => "AM",
        Field::Meridiem { dotted: true, .. } => "A.M.",
        Field::Era { dotted: false, .. } => "AD",
        Field::Era { dotted: true, .. } => "A.D.",
        Field::IsoYear(_) => "IYYY",
        Field::IsoWeek => "IW",
        Field::IsoDayOfWeek => "ID",
        Field::IsoDayOfYear => "IDDD",
        Field::Julian => "J",
        Field::WeekOfYear => "WW",
        Field::WeekOfMonth => "W",
        Field::Century => "CC",
        Field::DayOfWeek => "D",
        Field::Roman { .. } => "RM",
        Field::SecondsOfDay => "SSSS",
        Field::YearComma => "Y,YYY",
        _ => "field",
    }
}

/// Reads `input` by `template`.
fn read(input: &str, template: &str) -> std::result::Result<Parsed, Error> {
    if template.contains("FX") || template.contains("fx") {
        return Err(Error::FeatureNotSupported {
            message: "the FX template modifier is not supported".into(),
        });
    }
    let pieces = pieces(template);
    let mut parsed = Parsed::default();
    let mut rest = input;
    // Spaces and separators skipped beyond what the template had: a
    // template character after them does not take another.
    let mut extra_skip = 0isize;
    for (at, piece) in pieces.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        if at == 0 || matches!(piece, Piece::Field { .. }) {
            let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            extra_skip += skipped(rest, trimmed);
            rest = trimmed;
        }
        match piece {
            Piece::Separator => {
                extra_skip -= 1;
                if let Some(c) = rest.chars().next()
                    && (c.is_ascii_whitespace() || c.is_ascii_punctuation())
                {
                    rest = &rest[c.len_utf8()..];
                    extra_skip += 1;
                }
                continue;
            }
            Piece::Skip(_) => {
                if extra_skip > 0 {
                    extra_skip -= 1;
                } else if let Some(c) = rest.chars().next() {
                    rest = &rest[c.len_utf8()..];
                }
                continue;
            }
            Piece::Field {
                field,
                fill,
                ordinal,
            } => {
                // A number field is read to its width when a digit field or
                // a digit of the template follows with nothing between.
                let next_is_digits = match pieces.get(at + 1) {
                    Some(Piece::Field { field: next, .. }) => is_digits(*next),
                    Some(Piece::Skip(c)) => c.is_ascii_digit(),
                    _ => false,
                };
                let next_is_digits = next_is_digits && !fill && !ordinal;
                if *field == Field::ZoneHours {
                    // Its sign, which a separator before it may have taken.
                    let before = input[..input.len() - rest.len()].chars().next_back();
                    rest = match rest.chars().next() {
                        Some(sign @ ('+' | '-' | ' ')) => {
                            parsed.zone_negative = sign == '-';
                            &rest[1..]
                        }
                        _ => {
                            parsed.zone_negative = extra_skip > 0 && before == Some('-');
                            rest
                        }
                    };
                }
                rest = read_field(*field, rest, next_is_digits, &mut parsed)?;
                if *ordinal {
                    // The suffix (`th`, `nd`, ...) after the number.
                    let letters = rest.chars().take(2).take_while(char::is_ascii_alphabetic);
                    let cut: usize = letters.map(char::len_utf8).sum();
                    rest = &rest[cut..];
                }
            }
        }
        let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        extra_skip = skipped(rest, trimmed);
        rest = trimmed;
    }
    Ok(parsed)
}

/// How many characters `rest` lost to become `trimmed`.
fn skipped(rest: &str, trimmed: &str) -> isize {
    let count = rest[..rest.len() - trimmed.len()].chars().count();
    isize::try_from(count).unwrap_or(isize::MAX)
}

/// The width a number field is read to when a number field follows it.
fn width(field: Field) -> usize {
    match field {
        Field::Year(n) | Field::Fraction(n) => usize::from(n),
        Field::DayOfYear | Field::Millis => 3,
        Field::Micros => 6,
        Field::Quarter | Field::DayOfWeek => 1,
        _ => 2,
    }
}

/// Reads a number for `field` from the start of `rest`: to its width when
/// `exact`, else while there are digits (after an optional sign). Returns
/// the number, how many characters it took, and the rest.
fn number(field: Field, rest: &str, exact: bool) -> std::result::Result<(i64, usize, &str), Error> {
    let name = field_name(field);
    let width = width(field);
    let (text, after) = if exact {
        let cut = rest
            .char_indices()
            .nth(width)
            .map_or(rest.len(), |(i, _)| i);
        if rest[..cut].chars().count() < width {
            return Err(format_error(format!(
                "source string too short for \"{name}\" formatting field"
            )));
        }
        (&rest[..cut], &rest[cut..])
    } else {
        let signed = rest.strip_prefix(['+', '-']).map_or(0, |_| 1);
        let digits = rest[signed..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let cut = if digits == 0 { 0 } else { signed + digits };
        (&rest[..cut], &rest[cut..])
    };
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let read = digits.bytes().take_while(u8::is_ascii_digit).count();
    if read == 0 {
        let shown: String = rest.chars().take(width).collect();
        return Err(format_error(format!(
            "invalid value \"{shown}\" for \"{name}\": value must be an integer"
        )));
    }
    if exact && read < digits.len() {
        return Err(format_error(format!(
            "invalid value \"{text}\" for \"{name}\": field requires {width} characters, but only {read} could be parsed"
        )));
    }
    let value: i64 = text.parse().map_err(|_| Error::DatetimeFieldOverflow {
        message: format!("value for \"{name}\" in source string is out of range"),
    })?;
    if i32::try_from(value).is_err() {
        return Err(Error::DatetimeFieldOverflow {
            message: format!("value for \"{name}\" in source string is out of range"),
        });
    }
    // PostgreSQL counts the sign among the characters a field took.
    Ok((value, text.chars().count(), after))
}

/// The index of the name in `names` (compared without case, the longest
/// first) that `rest` starts with, and the rest after it.
fn name_in<'a>(
    field: Field,
    rest: &'a str,
    names: &[&str],
    abbreviated: bool,
) -> std::result::Result<(usize, &'a str), Error> {
    let mut best: Option<(usize, usize)> = None;
    for (i, name) in names.iter().enumerate() {
        let name = if abbreviated { &name[..3] } else { name };
        let matches = rest
            .get(..name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(name));
        if matches && best.is_none_or(|(_, len)| name.len() > len) {
            best = Some((i, name.len()));
        }
    }
    match best {
        Some((i, len)) => Ok((i, &rest[len..])),
        None => {
            let shown: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            Err(format_error(format!(
                "invalid value \"{shown}\" for \"{}\": the given value did not match any of the allowed values for this field",
                field_name(field)
            )))
        }
    }
}

fn read_field<'a>(
    field: Field,
    rest: &'a str,
    next_is_digits: bool,
    parsed: &mut Parsed,
) -> std::result::Result<&'a str, Error> {
    let exact = next_is_digits;
    Ok(match field {
        Field::Year(_) => {
            let (year, taken, rest) = number(field, rest, exact)?;
            // Only YYY, YY and Y put a short year near 2020.
            let short = matches!(field, Field::Year(digits) if digits < 4) && taken < 4;
            parsed.year = Some(if short { near_2020(year) } else { year });
            rest
        }
        Field::Month => {
            let (month, _, rest) = number(field, rest, exact)?;
            parsed.month = Some(month);
            rest
        }
        Field::MonthName(_, abbreviated) => {
            let (i, rest) = name_in(field, rest, &MONTHS, abbreviated)?;
            parsed.month = Some(i as i64 + 1);
            rest
        }
        Field::DayName(_, abbreviated) => name_in(field, rest, &DAYS, abbreviated)?.1,
        Field::DayOfMonth => {
            let (day, _, rest) = number(field, rest, exact)?;
            parsed.day = Some(day);
            rest
        }
        Field::DayOfYear => {
            let (day, _, rest) = number(field, rest, exact)?;
            parsed.day_of_year = Some(day);
            rest
        }
        Field::Hour12 | Field::Hour24 => {
            let (hour, _, rest) = number(field, rest, exact)?;
            parsed.hour = Some((hour, field == Field::Hour12));
            rest
        }
        Field::Minute => {
            let (minute, _, rest) = number(field, rest, exact)?;
            parsed.minute = minute;
            rest
        }
        Field::Second => {
            let (second, _, rest) = number(field, rest, exact)?;
            parsed.second = second;
            rest
        }
        // A fraction: its digits scaled as the digits of a fraction
        // (`.5` with MS is 500 milliseconds), up to microseconds.
        Field::Millis | Field::Micros | Field::Fraction(_) => {
            let (value, read, rest) = number(field, rest, exact)?;
            let limit = match field {
                Field::Millis => 3,
                Field::Micros => 6,
                Field::Fraction(n) => usize::from(n),
                _ => 6,
            };
            if read > limit || value < 0 {
                return Err(Error::DatetimeFieldOverflow {
                    message: format!(
                        "date/time field value out of range: \"{}\"",
                        field_name(field)
                    ),
                });
            }
            let scale = 10_i64.pow(6 - u32::try_from(read).unwrap_or(6).min(6));
            // MS and US add up, as in PostgreSQL.
            parsed.micros += value * scale;
            rest
        }
        Field::Meridiem { dotted, .. } => {
            let names: &[&str] = if dotted {
                &["a.m.", "p.m."]
            } else {
                &["am", "pm"]
            };
            let (i, rest) = name_in(field, rest, names, false)?;
            parsed.pm = Some(i == 1);
            rest
        }
        Field::Era { dotted, .. } => {
            let names: &[&str] = if dotted {
                &["a.d.", "b.c."]
            } else {
                &["ad", "bc"]
            };
            let (i, rest) = name_in(field, rest, names, false)?;
            if i == 1 {
                return Err(bc_refused());
            }
            rest
        }
        Field::ZoneHours => {
            let (hours, _, rest) = number(field, rest, exact)?;
            parsed.zone_hours = Some(hours);
            rest
        }
        Field::ZoneMinutes => {
            let (minutes, _, rest) = number(field, rest, exact)?;
            parsed.zone_minutes = minutes;
            rest
        }
        // PostgreSQL reads a quarter and a day of the week and ignores them.
        Field::Quarter | Field::DayOfWeek => number(field, rest, exact)?.2,
        Field::ZoneName { .. } | Field::ZoneOffset => {
            return Err(Error::FeatureNotSupported {
                message: "formatting field \"TZ\" is only supported in to_char".into(),
            });
        }
        other => {
            return Err(Error::FeatureNotSupported {
                message: format!(
                    "formatting field \"{}\" is not supported in to_timestamp and to_date",
                    field_name(other)
                ),
            });
        }
    })
}

/// A year read from fewer than four digits, put near 2020 as PostgreSQL
/// puts it: 1 digit in 2000-2009, 2 in 1970-2069, 3 in 1100-2099.
fn near_2020(year: i64) -> i64 {
    match year {
        ..70 => year + 2000,
        70..100 => year + 1900,
        100..520 => year + 2000,
        520..1000 => year + 1000,
        _ => year,
    }
}

fn bc_refused() -> Error {
    Error::FeatureNotSupported {
        message: "BC dates are not supported".into(),
    }
}

/// The wall time `parsed` names, and its offset from UTC in seconds when
/// the input gave one. `input` is quoted in range errors.
fn wall_time(
    parsed: &Parsed,
    input: &str,
) -> std::result::Result<(NaiveDateTime, Option<i64>), Error> {
    let out_of_range = || Error::DatetimeFieldOverflow {
        message: format!("date/time field value out of range: \"{input}\""),
    };
    // AM or PM makes the hour one of a 12-hour clock.
    let hour = match parsed.hour {
        None if parsed.pm.is_some() => {
            return Err(format_error(
                "hour \"0\" is invalid for the 12-hour clock".into(),
            ));
        }
        None => 0,
        Some((hour, twelve)) if twelve || parsed.pm.is_some() => {
            if !(1..=12).contains(&hour) {
                return Err(format_error(format!(
                    "hour \"{hour}\" is invalid for the 12-hour clock"
                )));
            }
            hour % 12
        }
        Some((hour, _)) => hour,
    };
    let hour = match parsed.pm {
        Some(true) if hour < 12 => hour + 12,
        Some(false) if hour == 12 => 0,
        _ => hour,
    };
    let clock = |v: i64| u32::try_from(v).map_err(|_| out_of_range());
    let time = NaiveTime::from_hms_micro_opt(
        clock(hour)?,
        clock(parsed.minute)?,
        clock(parsed.second)?,
        clock(parsed.micros)?,
    )
    .ok_or_else(out_of_range)?;
    // Without a year PostgreSQL gives year 1 BC.
    let year = parsed.year.ok_or_else(bc_refused)?;
    if year < 1 {
        return Err(bc_refused());
    }
    if year > 9999 {
        return Err(Error::FeatureNotSupported {
            message: "years after 9999 are not supported".into(),
        });
    }
    let year = i32::try_from(year).map_err(|_| out_of_range())?;
    // A month or day of 0 is one not given; the day of the year gives
    // whichever of them is not past the first.
    let mut month = parsed.month.filter(|&m| m != 0).unwrap_or(1);
    let mut day = parsed.day.filter(|&d| d != 0).unwrap_or(1);
    if let Some(ordinal) = parsed.day_of_year.filter(|&d| d != 0)
        && (month <= 1 || day <= 1)
    {
        let ordinal = u32::try_from(ordinal).map_err(|_| out_of_range())?;
        let from_ordinal = NaiveDate::from_yo_opt(year, ordinal).ok_or_else(out_of_range)?;
        if month <= 1 {
            month = i64::from(from_ordinal.month());
        }
        if day <= 1 {
            day = i64::from(from_ordinal.day());
        }
    }
    let date = NaiveDate::from_ymd_opt(
        year,
        u32::try_from(month).map_err(|_| out_of_range())?,
        u32::try_from(day).map_err(|_| out_of_range())?,
    )
    .ok_or_else(out_of_range)?;
    // PostgreSQL's zones are within 15:59 of UTC.
    let offset = match parsed
        .zone_hours
        .or((parsed.zone_minutes != 0).then_some(0))
    {
        None => None,
        Some(hours) if (0..=15).contains(&hours) && (0..60).contains(&parsed.zone_minutes) => {
            let seconds = hours * 3600 + parsed.zone_minutes * 60;
            Some(if parsed.zone_negative {
                -seconds
            } else {
                seconds
            })
        }
        Some(_) => return Err(out_of_range()),
    };
    Ok((date.and_time(time), offset))
}

/// Which of the two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reading {
    Timestamp,
    Date,
}

/// `to_timestamp(text, template)` (with DataFusion's `to_timestamp` for the
/// other forms) and `to_date(text, template)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FromChar {
    reading: Reading,
    /// DataFusion's `to_timestamp`, for `to_timestamp(double precision)`.
    inner: Option<ScalarUDF>,
    signature: Signature,
}

impl FromChar {
    /// `to_timestamp`, taking the other forms of `inner`.
    pub(crate) fn to_timestamp(inner: ScalarUDF) -> Self {
        Self {
            reading: Reading::Timestamp,
            signature: Signature::user_defined(inner.signature().volatility),
            inner: Some(inner),
        }
    }

    pub(crate) fn to_date() -> Self {
        Self {
            reading: Reading::Date,
            inner: None,
            signature: Signature::user_defined(Volatility::Stable),
        }
    }

    /// Whether a call with `arg_count` arguments is this module's: every
    /// `to_date`, and `to_timestamp` of more than the one number.
    fn templated(&self, arg_count: usize) -> bool {
        self.reading == Reading::Date || arg_count >= 2
    }

    fn output_type(&self) -> DataType {
        match self.reading {
            Reading::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Reading::Date => DataType::Date32,
        }
    }
}

impl ScalarUDFImpl for FromChar {
    fn name(&self) -> &str {
        match self.reading {
            Reading::Timestamp => "to_timestamp",
            Reading::Date => "to_date",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if self.templated(arg_types.len()) {
            // PostgreSQL's forms take two texts; a number or a date is no
            // text (42883), where a cast to text would read it.
            let texts = arg_types.iter().all(|t| {
                matches!(
                    t,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
                )
            });
            if arg_types.len() != 2 || !texts {
                let types: Vec<String> = arg_types.iter().map(ToString::to_string).collect();
                return Err(Error::UndefinedFunction {
                    message: format!(
                        "function {}({}) does not exist",
                        self.name(),
                        types.join(", ")
                    ),
                }
                .into());
            }
            return Ok(vec![DataType::Utf8; 2]);
        }
        // PostgreSQL's one-argument form takes a `double precision`: text
        // is read as one (`to_timestamp('abc')` is 22P02).
        Ok(match arg_types {
            [DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View] => vec![DataType::Float64],
            other => other.to_vec(),
        })
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.as_ref()?.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Self::to_timestamp(inner)))
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &self.inner {
            Some(inner) if !self.templated(arg_types.len()) => inner.return_type(arg_types),
            _ => Ok(self.output_type()),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        match &self.inner {
            Some(inner) if !self.templated(args.arg_fields.len()) => {
                inner.return_field_from_args(args)
            }
            _ => Ok(Arc::new(ArrowField::new(
                self.name(),
                self.output_type(),
                true,
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(inner) = &self.inner
            && !self.templated(args.args.len())
        {
            return inner.invoke_with_args(args);
        }
        let zone: Tz = session_zone(&args)?;
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [input, template] = args.args.as_slice() else {
            return Err(Error::UndefinedFunction {
                message: format!("{} takes a text and a template", self.name()),
            }
            .into());
        };
        let inputs = cast(&input.to_array(rows)?, &DataType::Utf8)?;
        let templates = cast(&template.to_array(rows)?, &DataType::Utf8)?;
        let (inputs, templates) = (inputs.as_string::<i32>(), templates.as_string::<i32>());
        let read_row =
            |row: usize| -> std::result::Result<Option<(NaiveDateTime, Option<i64>)>, Error> {
                if inputs.is_null(row) || templates.is_null(row) {
                    return Ok(None);
                }
                let input = inputs.value(row);
                let parsed = read(input, templates.value(row))?;
                wall_time(&parsed, input).map(Some)
            };
        let array: ArrayRef = match self.reading {
            Reading::Timestamp => {
                let mut out = TimestampMicrosecondBuilder::with_capacity(rows);
                for row in 0..rows {
                    match read_row(row)? {
                        None => out.append_null(),
                        Some((wall, offset)) => {
                            let wall = wall.and_utc().timestamp_micros();
                            out.append_value(match offset {
                                Some(seconds) => wall - seconds * 1_000_000,
                                None => pgtype::instant_of_wall(wall, &zone),
                            });
                        }
                    }
                }
                Arc::new(out.finish().with_timezone("UTC"))
            }
            Reading::Date => {
                let mut out = Date32Builder::with_capacity(rows);
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                for row in 0..rows {
                    match read_row(row)? {
                        None => out.append_null(),
                        Some((wall, _)) => {
                            let days = (wall.date() - epoch).num_days();
                            out.append_value(i32::try_from(days).map_err(|_| {
                                Error::DatetimeFieldOverflow {
                                    message: "date out of range".into(),
                                }
                            })?);
                        }
                    }
                }
                Arc::new(out.finish())
            }
        };
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any text read by any template gives a value or an error, never
        /// a panic.
        #[test]
        fn any_text_reads_or_fails(
            input in "[0-9a-zA-Z +:./\\-é]{0,24}",
            template in "(YYYY|YY|Y|MM|DD|DDD|HH24|HH12|MI|SS|MS|US|FF3|Mon|Month|Dy|AM|A.M.|AD|TZH|TZM|Q|\"T\"|[ :/.-]|T|é){0,8}",
        ) {
            if let Ok(parsed) = read(&input, &template) {
                let _ = wall_time(&parsed, &input);
            }
        }
    }

    fn wall(input: &str, template: &str) -> String {
        let parsed = read(input, template).unwrap();
        let (wall, offset) = wall_time(&parsed, input).unwrap();
        match offset {
            Some(seconds) => format!("{wall} {seconds}"),
            None => wall.to_string(),
        }
    }

    /// Each case was read from PostgreSQL 15.
    #[test]
    fn reads_as_postgres_reads() {
        let cases = [
            (
                "2024-03-05 14:07:09",
                "YYYY-MM-DD HH24:MI:SS",
                "2024-03-05 14:07:09",
            ),
            ("05 Mar 2024", "DD Mon YYYY", "2024-03-05 00:00:00"),
            ("2024-3-5", "YYYY-MM-DD", "2024-03-05 00:00:00"),
            ("20240305", "YYYYMMDD", "2024-03-05 00:00:00"),
            ("2000JUN", "YYYY///MON", "2000-06-01 00:00:00"),
            ("2000/JUN", "YYYY MON", "2000-06-01 00:00:00"),
            (
                "05/03/2024 02:07 PM",
                "DD/MM/YYYY HH:MI AM",
                "2024-03-05 14:07:00",
            ),
            (
                "05/03/2024 12:07 am",
                "DD/MM/YYYY HH12:MI pm",
                "2024-03-05 00:07:00",
            ),
            (
                "2024-03-05 14:07:09.123456",
                "YYYY-MM-DD HH24:MI:SS.US",
                "2024-03-05 14:07:09.123456",
            ),
            (
                "2024-03-05 14:07:09.12",
                "YYYY-MM-DD HH24:MI:SS.MS",
                "2024-03-05 14:07:09.120",
            ),
            (
                "2024-03-05T14:07:09",
                "YYYY-MM-DD\"T\"HH24:MI:SS",
                "2024-03-05 14:07:09",
            ),
            (
                "2024-03-05 14:07:09 +05:30",
                "YYYY-MM-DD HH24:MI:SS TZH:TZM",
                "2024-03-05 14:07:09 19800",
            ),
            (
                "2024-03-05 14:07:09 -03",
                "YYYY-MM-DD HH24:MI:SS TZH",
                "2024-03-05 14:07:09 -10800",
            ),
            ("March 5, 2024", "Month DD, YYYY", "2024-03-05 00:00:00"),
            ("Tue 05 Mar 2024", "Dy DD Mon YYYY", "2024-03-05 00:00:00"),
            ("2024-01", "YYYY-MM-DD", "2024-01-01 00:00:00"),
            ("  2024 03 05", "YYYY MM DD", "2024-03-05 00:00:00"),
            ("2024   03   05", "YYYY MM DD", "2024-03-05 00:00:00"),
            ("99-03-05", "YY-MM-DD", "1999-03-05 00:00:00"),
            ("69-03-05", "YY-MM-DD", "2069-03-05 00:00:00"),
            ("5-03-05", "Y-MM-DD", "2005-03-05 00:00:00"),
            ("024-03-05", "YYY-MM-DD", "2024-03-05 00:00:00"),
            ("2024 065", "YYYY DDD", "2024-03-05 00:00:00"),
            (
                "2024-03-05 1:2:3",
                "YYYY-MM-DD HH24:MI:SS",
                "2024-03-05 01:02:03",
            ),
            ("10 2024", "MI YYYY", "2024-01-01 00:10:00"),
            ("2024 Q1", "YYYY \"Q\"Q", "2024-01-01 00:00:00"),
        ];
        for (input, template, expected) in cases {
            assert_eq!(wall(input, template), expected, "{input} / {template}");
        }
    }

    #[test]
    fn refuses_what_postgres_refuses() {
        let range = |input: &str, template: &str| {
            let parsed = read(input, template).unwrap();
            wall_time(&parsed, input).unwrap_err()
        };
        assert!(matches!(
            range("2024-13-01", "YYYY-MM-DD"),
            Error::DatetimeFieldOverflow { .. }
        ));
        assert!(matches!(
            range("2024-02-30", "YYYY-MM-DD"),
            Error::DatetimeFieldOverflow { .. }
        ));
        assert!(matches!(
            range("2024 25:00", "YYYY HH24:MI"),
            Error::DatetimeFieldOverflow { .. }
        ));
        assert!(matches!(
            range("2024 13:00 PM", "YYYY HH12:MI PM"),
            Error::InvalidDatetimeFormat { .. }
        ));
        assert!(matches!(
            range("25:00", "HH24:MI"),
            Error::DatetimeFieldOverflow { .. }
        ));
        assert!(matches!(
            read("20ab-01-01", "YYYY-MM-DD"),
            Err(Error::InvalidDatetimeFormat { .. })
        ));
        assert!(matches!(
            read("2000//JUN", "YYYY/MON"),
            Err(Error::InvalidDatetimeFormat { .. })
        ));
        // What EpochDB does not hold or read.
        assert!(matches!(
            range("14:07", "HH24:MI"),
            Error::FeatureNotSupported { .. }
        ));
        assert!(matches!(
            read("1 BC", "YYYY BC"),
            Err(Error::FeatureNotSupported { .. })
        ));
        assert!(matches!(
            read("2024", "FXYYYY"),
            Err(Error::FeatureNotSupported { .. })
        ));
        assert!(matches!(
            read("2451545", "J"),
            Err(Error::FeatureNotSupported { .. })
        ));
    }
}
