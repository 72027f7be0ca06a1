//! `to_char(timestamp, template)` with PostgreSQL's template patterns
//! (`YYYY-MM-DD HH24:MI:SS`, `FMMonth`, `DDth`, `TZ`, ...), where
//! DataFusion's `to_char` reads strftime codes and copies PostgreSQL's
//! patterns through as text. A `timestamptz` (and a `date`, which
//! PostgreSQL reads as one) is printed in the session's time zone.
//! `to_char` of numbers and intervals is refused (0A000).

use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::OffsetName;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::query::error::Error;

/// `to_char`; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ToChar {
    signature: Signature,
    /// DataFusion's `to_char` answers to `date_format` too; taking that
    /// name as well leaves none of its registrations behind, which a later
    /// re-registration of every function could bring back as `to_char`.
    aliases: Vec<String>,
}

impl ToChar {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Stable),
            aliases: vec!["date_format".to_owned()],
        }
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, _template] = arg_types else {
            return Err(Error::UndefinedFunction {
                message: "to_char takes a value and a template".into(),
            }
            .into());
        };
        let value = match value {
            DataType::Timestamp(_, Some(_)) | DataType::Date32 | DataType::Date64 => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
            DataType::Null => DataType::Timestamp(TimeUnit::Microsecond, None),
            // Refused when run, where the refusal keeps its code (0A000).
            other => other.clone(),
        };
        Ok(vec![value, DataType::Utf8])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = args
            .config_options
            .execution
            .time_zone
            .as_deref()
            .and_then(|name| name.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC);
        let [value, template] = args.args.as_slice() else {
            return exec_err!("to_char takes a value and a template");
        };
        let rows = args.number_rows;
        let is_scalar = matches!(
            (value, template),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let values = value.to_array(rows.max(1))?;
        if !matches!(values.data_type(), DataType::Timestamp(..)) {
            return Err(Error::Unsupported {
                what: format!(
                    "to_char of {} (only of timestamps and dates)",
                    values.data_type()
                ),
            }
            .into());
        }
        let zoned = matches!(values.data_type(), DataType::Timestamp(_, Some(_)));
        let values = cast(&values, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let values = values.as_primitive::<TimestampMicrosecondType>();
        let templates = cast(&template.to_array(rows.max(1))?, &DataType::Utf8)?;
        let templates = templates.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 20);
        let mut parsed: Option<(String, Vec<Node>)> = None;
        for row in 0..values.len() {
            if values.is_null(row) || templates.is_null(row) {
                out.append_null();
                continue;
            }
            let text = templates.value(row);
            if parsed.as_ref().is_none_or(|(t, _)| t != text) {
                parsed = Some((text.to_owned(), parse(text)));
            }
            let Some((_, nodes)) = &parsed else {
                return exec_err!("to_char lost its template");
            };
            let Some(moment) = Moment::new(values.value(row), zoned.then_some(&zone)) else {
                return Err(Error::DatetimeOutOfRange.into());
            };
            out.append_value(render(nodes, &moment));
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(if is_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Literal(String),
    /// Double-quoted text: printed as it is, and in `to_timestamp` a
    /// character of input skipped for each of its characters.
    Quoted(String),
    Field {
        field: Field,
        /// `FM`: no padding.
        fill: bool,
        /// `TH` or `th`: an ordinal suffix, upper or lower case.
        ordinal: Option<bool>,
    },
}

/// Letter case of a name field: `MONTH`, `Month` or `month`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Case {
    Upper,
    Capitalized,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Field {
    Hour12,
    Hour24,
    Minute,
    Second,
    Millis,
    Micros,
    Fraction(u8),
    SecondsOfDay,
    Meridiem { upper: bool, dotted: bool },
    Era { upper: bool, dotted: bool },
    YearComma,
    Year(u8),
    IsoYear(u8),
    MonthName(Case, bool),
    Month,
    DayName(Case, bool),
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    Julian,
    Quarter,
    Roman { upper: bool },
    ZoneName { upper: bool },
    ZoneHours,
    ZoneMinutes,
    ZoneOffset,
}

/// Keywords, each with its field, longest first where one begins another.
const KEYWORDS: &[(&str, Field)] = {
    use Case::{Capitalized as C, Lower as L, Upper as U};
    use Field::*;
    &[
        (
            "A.D.",
            Era {
                upper: true,
                dotted: true,
            },
        ),
        (
            "a.d.",
            Era {
                upper: false,
                dotted: true,
            },
        ),
        (
            "B.C.",
            Era {
                upper: true,
                dotted: true,
            },
        ),
        (
            "b.c.",
            Era {
                upper: false,
                dotted: true,
            },
        ),
        (
            "A.M.",
            Meridiem {
                upper: true,
                dotted: true,
            },
        ),
        (
            "a.m.",
            Meridiem {
                upper: false,
                dotted: true,
            },
        ),
        (
            "P.M.",
            Meridiem {
                upper: true,
                dotted: true,
            },
        ),
        (
            "p.m.",
            Meridiem {
                upper: false,
                dotted: true,
            },
        ),
        ("Y,YYY", YearComma),
        ("y,yyy", YearComma),
        ("SSSSS", SecondsOfDay),
        ("sssss", SecondsOfDay),
        ("MONTH", MonthName(U, false)),
        ("Month", MonthName(C, false)),
        ("month", MonthName(L, false)),
        ("HH24", Hour24),
        ("hh24", Hour24),
        ("HH12", Hour12),
        ("hh12", Hour12),
        ("IDDD", IsoDayOfYear),
        ("iddd", IsoDayOfYear),
        ("IYYY", IsoYear(4)),
        ("iyyy", IsoYear(4)),
        ("YYYY", Year(4)),
        ("yyyy", Year(4)),
        ("SSSS", SecondsOfDay),
        ("ssss", SecondsOfDay),
        ("FF1", Fraction(1)),
        ("FF2", Fraction(2)),
        ("FF3", Fraction(3)),
        ("FF4", Fraction(4)),
        ("FF5", Fraction(5)),
        ("FF6", Fraction(6)),
        ("ff1", Fraction(1)),
        ("ff2", Fraction(2)),
        ("ff3", Fraction(3)),
        ("ff4", Fraction(4)),
        ("ff5", Fraction(5)),
        ("ff6", Fraction(6)),
        ("DAY", DayName(U, false)),
        ("Day", DayName(C, false)),
        ("day", DayName(L, false)),
        ("DDD", DayOfYear),
        ("ddd", DayOfYear),
        ("IYY", IsoYear(3)),
        ("iyy", IsoYear(3)),
        ("MON", MonthName(U, true)),
        ("Mon", MonthName(C, true)),
        ("mon", MonthName(L, true)),
        ("TZH", ZoneHours),
        ("tzh", ZoneHours),
        ("TZM", ZoneMinutes),
        ("tzm", ZoneMinutes),
        ("YYY", Year(3)),
        ("yyy", Year(3)),
        (
            "AD",
            Era {
                upper: true,
                dotted: false,
            },
        ),
        (
            "ad",
            Era {
                upper: false,
                dotted: false,
            },
        ),
        (
            "AM",
            Meridiem {
                upper: true,
                dotted: false,
            },
        ),
        (
            "am",
            Meridiem {
                upper: false,
                dotted: false,
            },
        ),
        (
            "BC",
            Era {
                upper: true,
                dotted: false,
            },
        ),
        (
            "bc",
            Era {
                upper: false,
                dotted: false,
            },
        ),
        ("CC", Century),
        ("cc", Century),
        ("DD", DayOfMonth),
        ("dd", DayOfMonth),
        ("DY", DayName(U, true)),
        ("Dy", DayName(C, true)),
        ("dy", DayName(L, true)),
        ("HH", Hour12),
        ("hh", Hour12),
        ("ID", IsoDayOfWeek),
        ("id", IsoDayOfWeek),
        ("IW", IsoWeek),
        ("iw", IsoWeek),
        ("IY", IsoYear(2)),
        ("iy", IsoYear(2)),
        ("MI", Minute),
        ("mi", Minute),
        ("MM", Month),
        ("mm", Month),
        ("MS", Millis),
        ("ms", Millis),
        ("OF", ZoneOffset),
        ("of", ZoneOffset),
        (
            "PM",
            Meridiem {
                upper: true,
                dotted: false,
            },
        ),
        (
            "pm",
            Meridiem {
                upper: false,
                dotted: false,
            },
        ),
        ("RM", Roman { upper: true }),
        ("rm", Roman { upper: false }),
        ("SS", Second),
        ("ss", Second),
        ("TZ", ZoneName { upper: true }),
        ("tz", ZoneName { upper: false }),
        ("US", Micros),
        ("us", Micros),
        ("WW", WeekOfYear),
        ("ww", WeekOfYear),
        ("YY", Year(2)),
        ("yy", Year(2)),
        ("D", DayOfWeek),
        ("d", DayOfWeek),
        ("I", IsoYear(1)),
        ("i", IsoYear(1)),
        ("J", Julian),
        ("j", Julian),
        ("Q", Quarter),
        ("q", Quarter),
        ("W", WeekOfMonth),
        ("w", WeekOfMonth),
        ("Y", Year(1)),
        ("y", Year(1)),
    ]
};

/// The template as PostgreSQL reads it: keywords with their `FM` prefix
/// and `TH` suffix, double-quoted text, a backslash escaping the next
/// character, and every other character as itself.
pub(super) fn parse(template: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        let mut fill = false;
        let mut after_prefix = rest;
        loop {
            if let Some(r) = after_prefix
                .strip_prefix("FM")
                .or_else(|| after_prefix.strip_prefix("fm"))
            {
                fill = true;
                after_prefix = r;
            } else if let Some(r) = after_prefix
                .strip_prefix("TM")
                .or_else(|| after_prefix.strip_prefix("tm"))
                .or_else(|| after_prefix.strip_prefix("FX"))
                .or_else(|| after_prefix.strip_prefix("fx"))
            {
                after_prefix = r;
            } else {
                break;
            }
        }
        if let Some((keyword, field)) = KEYWORDS.iter().find(|(k, _)| after_prefix.starts_with(k)) {
            if !literal.is_empty() {
                nodes.push(Node::Literal(std::mem::take(&mut literal)));
            }
            rest = &after_prefix[keyword.len()..];
            let ordinal = if let Some(r) = rest.strip_prefix("TH") {
                rest = r;
                Some(true)
            } else if let Some(r) = rest.strip_prefix("th") {
                rest = r;
                Some(false)
            } else {
                None
            };
            nodes.push(Node::Field {
                field: *field,
                fill,
                ordinal,
            });
            continue;
        }
        if after_prefix.len() != rest.len() {
            // Prefixes before no keyword: PostgreSQL drops them.
            rest = after_prefix;
            continue;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '"' => {
                if !literal.is_empty() {
                    nodes.push(Node::Literal(std::mem::take(&mut literal)));
                }
                let mut quoted = String::new();
                while let Some(q) = rest.chars().next() {
                    rest = &rest[q.len_utf8()..];
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = rest.chars().next() {
                                quoted.push(e);
                                rest = &rest[e.len_utf8()..];
                            }
                        }
                        other => quoted.push(other),
                    }
                }
                nodes.push(Node::Quoted(quoted));
            }
            '\\' if rest.starts_with('"') => {
                literal.push('"');
                rest = &rest[1..];
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        nodes.push(Node::Literal(literal));
    }
    nodes
}

/// A timestamp's wall time and, for a `timestamptz`, its zone there.
struct Moment {
    wall: NaiveDateTime,
    /// Seconds east of UTC and the zone's abbreviation.
    zone: Option<(i32, String)>,
}

impl Moment {
    fn new(micros: i64, zone: Option<&chrono_tz::Tz>) -> Option<Self> {
        let utc = chrono::DateTime::from_timestamp_micros(micros)?;
        Some(match zone {
            None => Self {
                wall: utc.naive_utc(),
                zone: None,
            },
            Some(tz) => {
                let offset = tz.offset_from_utc_datetime(&utc.naive_utc());
                let seconds = offset.fix().local_minus_utc();
                let name = offset
                    .abbreviation()
                    .map_or_else(|| format_offset(seconds, true), str::to_owned);
                Self {
                    wall: utc.naive_utc() + chrono::TimeDelta::seconds(i64::from(seconds)),
                    zone: Some((seconds, name)),
                }
            }
        })
    }
}

/// `+HH` or `+HH:MM` (`-` west of UTC).
fn format_offset(seconds: i32, minutes_if_any: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let (h, m) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    if minutes_if_any && m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}:{m:02}")
    }
}

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

fn render(nodes: &[Node], moment: &Moment) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Literal(text) | Node::Quoted(text) => out.push_str(text),
            Node::Field {
                field,
                fill,
                ordinal,
            } => field_text(*field, *fill, *ordinal, moment, &mut out),
        }
    }
    out
}

/// A name in `case`, padded to nine characters unless `fill`.
fn name(name: &str, case: Case, abbreviated: bool, fill: bool) -> String {
    let name = if abbreviated { &name[..3] } else { name };
    let name = match case {
        Case::Upper => name.to_uppercase(),
        Case::Capitalized => name.to_owned(),
        Case::Lower => name.to_lowercase(),
    };
    if abbreviated || fill {
        name
    } else {
        format!("{name:<9}")
    }
}

/// `value` zero-padded to `width` digits unless `fill`, with its ordinal
/// suffix if asked for.
fn number(value: i64, width: usize, fill: bool, ordinal: Option<bool>) -> String {
    let mut text = if fill {
        value.to_string()
    } else if value < 0 {
        format!("-{:0width$}", value.unsigned_abs(), width = width)
    } else {
        format!("{value:0width$}")
    };
    if let Some(upper) = ordinal {
        let suffix = match (value.abs() % 100, value.abs() % 10) {
            (11..=13, _) => "th",
            (_, 1) => "st",
            (_, 2) => "nd",
            (_, 3) => "rd",
            _ => "th",
        };
        text.push_str(&if upper {
            suffix.to_uppercase()
        } else {
            suffix.to_owned()
        });
    }
    text
}

fn field_text(field: Field, fill: bool, ordinal: Option<bool>, moment: &Moment, out: &mut String) {
    let wall = &moment.wall;
    let num = |value: i64, width: usize| number(value, width, fill, ordinal);
    // The year as PostgreSQL shows it: 1 BC is year 1 of its era.
    let year = wall.year();
    let shown_year = i64::from(if year <= 0 { 1 - year } else { year });
    let text = match field {
        Field::Hour12 => num(i64::from((wall.hour() + 11) % 12 + 1), 2),
        Field::Hour24 => num(i64::from(wall.hour()), 2),
        Field::Minute => num(i64::from(wall.minute()), 2),
        Field::Second => num(i64::from(wall.second()), 2),
        Field::Millis => num(i64::from(wall.nanosecond() / 1_000_000), 3),
        Field::Micros => num(i64::from(wall.nanosecond() / 1_000), 6),
        Field::Fraction(digits) => {
            let divisor = 10u32.pow(9 - u32::from(digits));
            num(i64::from(wall.nanosecond() / divisor), usize::from(digits))
        }
        Field::SecondsOfDay => number(
            i64::from(wall.num_seconds_from_midnight()),
            0,
            true,
            ordinal,
        ),
        Field::Meridiem { upper, dotted } => {
            let pm = wall.hour() >= 12;
            let text = match (pm, dotted) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            if upper {
                text.to_owned()
            } else {
                text.to_lowercase()
            }
        }
        Field::Era { upper, dotted } => {
            let bc = year <= 0;
            let text = match (bc, dotted) {
                (false, false) => "AD",
                (true, false) => "BC",
                (false, true) => "A.D.",
                (true, true) => "B.C.",
            };
            if upper {
                text.to_owned()
            } else {
                text.to_lowercase()
            }
        }
        Field::YearComma => {
            let text = format!("{shown_year:04}");
            let split = text.len() - 3;
            format!("{},{}", &text[..split], &text[split..])
        }
        Field::Year(digits) => year_digits(shown_year, digits, fill, ordinal),
        Field::IsoYear(digits) => {
            let iso = i64::from(wall.iso_week().year());
            year_digits(if iso <= 0 { 1 - iso } else { iso }, digits, fill, ordinal)
        }
        Field::MonthName(case, abbreviated) => {
            name(MONTHS[wall.month0() as usize], case, abbreviated, fill)
        }
        Field::Month => num(i64::from(wall.month()), 2),
        Field::DayName(case, abbreviated) => name(
            DAYS[wall.weekday().num_days_from_sunday() as usize],
            case,
            abbreviated,
            fill,
        ),
        Field::DayOfYear => num(i64::from(wall.ordinal()), 3),
        Field::IsoDayOfYear => {
            let week = wall.iso_week().week();
            let day = wall.weekday().number_from_monday();
            num(i64::from((week - 1) * 7 + day), 3)
        }
        Field::DayOfMonth => num(i64::from(wall.day()), 2),
        Field::DayOfWeek => num(i64::from(wall.weekday().number_from_sunday()), 1),
        Field::IsoDayOfWeek => num(i64::from(wall.weekday().number_from_monday()), 1),
        Field::WeekOfMonth => num(i64::from((wall.day() - 1) / 7 + 1), 1),
        Field::WeekOfYear => num(i64::from((wall.ordinal() - 1) / 7 + 1), 2),
        Field::IsoWeek => num(i64::from(wall.iso_week().week()), 2),
        Field::Century => {
            let year = i64::from(year);
            let century = if year > 0 {
                (year + 99) / 100
            } else {
                -((99 - (year - 1)) / 100)
            };
            num(century, 2)
        }
        Field::Julian => num(i64::from(wall.num_days_from_ce()) + 1_721_425, 1),
        Field::Quarter => num(i64::from(wall.month0() / 3 + 1), 1),
        Field::Roman { upper } => {
            let text = ROMAN[wall.month0() as usize];
            let text = if upper {
                text.to_owned()
            } else {
                text.to_lowercase()
            };
            if fill { text } else { format!("{text:<4}") }
        }
        Field::ZoneName { upper } => match &moment.zone {
            Some((_, abbreviation)) if upper => abbreviation.to_uppercase(),
            Some((_, abbreviation)) => abbreviation.to_lowercase(),
            None => String::new(),
        },
        Field::ZoneHours => {
            let seconds = moment.zone.as_ref().map_or(0, |(s, _)| *s);
            let sign = if seconds < 0 { '-' } else { '+' };
            format!("{sign}{:02}", seconds.abs() / 3600)
        }
        Field::ZoneMinutes => {
            let seconds = moment.zone.as_ref().map_or(0, |(s, _)| *s);
            num(i64::from(seconds.abs() % 3600 / 60), 2)
        }
        Field::ZoneOffset => {
            let seconds = moment.zone.as_ref().map_or(0, |(s, _)| *s);
            format_offset(seconds, true)
        }
    };
    out.push_str(&text);
}

/// The last `digits` digits of a year (all of them for four, at least
/// four), zero-padded unless `fill`.
fn year_digits(year: i64, digits: u8, fill: bool, ordinal: Option<bool>) -> String {
    if digits >= 4 {
        return number(year, 4, fill, ordinal);
    }
    let modulus = 10i64.pow(u32::from(digits));
    number(year % modulus, usize::from(digits), fill, ordinal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, zone: Option<&str>, template: &str) -> String {
        let micros = crate::pgtype::timestamp_in(text, true).unwrap();
        let tz: Option<chrono_tz::Tz> = zone.map(|z| z.parse().unwrap());
        render(&parse(template), &Moment::new(micros, tz.as_ref()).unwrap())
    }

    // Each expected text is PostgreSQL 15's.
    #[test]
    fn templates_print_as_postgres_prints_them() {
        let t = "2024-03-05 07:08:09.123456+00";
        let ny = Some("America/New_York");
        assert_eq!(at(t, ny, "YYYY-MM-DD HH24:MI:SS"), "2024-03-05 02:08:09");
        assert_eq!(
            at(t, ny, "SSSS|SSSSS|MS|US|FF1|FF3|HH|HH12|am|PM|A.M.|p.m."),
            "7689|7689|123|123456|1|123|02|02|am|AM|A.M.|a.m."
        );
        assert_eq!(
            at(
                t,
                ny,
                "Month|MONTH|month|Mon|MON|mon|FMMonth|Day|DAY|day|Dy|DY|dy|FMDay"
            ),
            "March    |MARCH    |march    |Mar|MAR|mar|March|Tuesday  |TUESDAY  |tuesday  |Tue|TUE|tue|Tuesday"
        );
        assert_eq!(
            at(
                t,
                ny,
                "DDD|IDDD|DD|D|ID|W|WW|IW|CC|J|Q|RM|rm|FMRM|Y,YYY|YYY|YY|Y|IYYY|IYY|IY|I|BC|ad|B.C."
            ),
            "065|065|05|3|2|1|10|10|21|2460375|1|III |iii |III|2,024|024|24|4|2024|024|24|4|AD|ad|A.D."
        );
        assert_eq!(
            at(
                t,
                ny,
                r#"TZ|tz|TZH|TZM|OF|FMDD|FMHH24|DDth|FMDDth|DDTH|"quoted YYYY"|\"x|FMMM"#
            ),
            r#"EST|est|-05|00|-05|5|2|05th|5th|05TH|quoted YYYY|"x|3"#
        );
        assert_eq!(
            at("2024-03-05 07:08:09+00", None, "TZ|OF|TZH:TZM|HH24"),
            "|+00|+00:00|07"
        );
        assert_eq!(
            at("2024-01-01 00:00:00+00", ny, "IYYY-IW-ID|WW|W"),
            "2023-52-7|53|5"
        );
        assert_eq!(
            at(
                "2024-07-01 12:00:00+00",
                Some("Asia/Kolkata"),
                "TZ OF TZH TZM"
            ),
            "IST +05:30 +05 30"
        );
    }
}
