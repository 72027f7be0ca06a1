//! `timestamp`, `timestamptz`, `date`, `time` and `interval`. EpochDB holds
//! instants as microseconds since the Unix epoch and dates as days since it;
//! PostgreSQL's binary forms count from 2000-01-01, and the conversion is
//! checked: a value the other side cannot hold is out of range (22008).

use arrow::array::timezone::Tz;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, Timelike, Utc};

use super::datetime_text::{DatetimeTarget, days_in_month, iso_datetime_text};
use super::error::{ValueError, ValueResult};
use super::input::{fixed, trim_space};

/// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
pub const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

fn timestamp_out_of_range() -> ValueError {
    ValueError::DatetimeOutOfRange { what: "timestamp" }
}

fn date_out_of_range() -> ValueError {
    ValueError::DatetimeOutOfRange { what: "date" }
}

/// A `timestamp`/`timestamptz` in its binary form: microseconds since
/// 2000-01-01, as microseconds since the Unix epoch.
pub fn timestamp_recv(bytes: &[u8], type_name: &'static str) -> ValueResult<i64> {
    i64::from_be_bytes(fixed(bytes, type_name)?)
        .checked_add(PG_EPOCH_OFFSET_MICROS)
        .ok_or_else(timestamp_out_of_range)
}

/// Microseconds since the Unix epoch as the binary form's count from
/// 2000-01-01.
pub fn timestamp_send(micros: i64) -> ValueResult<i64> {
    micros
        .checked_sub(PG_EPOCH_OFFSET_MICROS)
        .ok_or_else(timestamp_out_of_range)
}

/// A `date` in its binary form: days since 2000-01-01, as days since the
/// Unix epoch.
pub fn date_recv(bytes: &[u8]) -> ValueResult<i32> {
    i32::from_be_bytes(fixed(bytes, "date")?)
        .checked_add(PG_EPOCH_OFFSET_DAYS)
        .ok_or_else(date_out_of_range)
}

/// Days since the Unix epoch as the binary form's count from 2000-01-01.
pub fn date_send(days: i32) -> ValueResult<i32> {
    days.checked_sub(PG_EPOCH_OFFSET_DAYS)
        .ok_or_else(date_out_of_range)
}

/// Days since the Unix epoch of a date's text, in the forms
/// [`iso_datetime_text`] reads (a time of day is read and dropped, as
/// PostgreSQL's `date_in` drops it).
pub fn date_in(s: &str) -> ValueResult<i32> {
    let invalid = || ValueError::InvalidText {
        type_name: "date",
        value: s.to_owned(),
    };
    let Some(iso) = iso_datetime_text(s, DatetimeTarget::Date) else {
        // Fields that read as numbers but name no day, as `2024-02-30`.
        let fields: Vec<&str> = trim_space(s).splitn(3, '-').collect();
        let numeric = |f: &&str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
        return Err(if fields.len() == 3 && fields.iter().all(numeric) {
            ValueError::DatetimeField {
                value: s.to_owned(),
            }
        } else {
            invalid()
        });
    };
    let date = NaiveDate::parse_from_str(&iso, "%Y-%m-%d").map_err(|_| invalid())?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(date_out_of_range)?;
    i32::try_from((date - epoch).num_days()).map_err(|_| date_out_of_range())
}

/// Microseconds since the Unix epoch of a timestamp's text. The common ISO
/// 8601 forms take [`iso_timestamp`]'s fast path, PostgreSQL's other forms
/// are first rewritten to ISO ([`iso_datetime_text`]); others are read by Arrow's
/// parser (ISO 8601 with a space or a `T`, with or without an offset). A
/// value without an offset is UTC. A `timestamp` (not `zoned`) ignores an
/// offset, as PostgreSQL's does: `'12:00+05'` is 12:00.
pub fn timestamp_in(s: &str, zoned: bool) -> ValueResult<i64> {
    let t = trim_space(s);
    let t = if zoned { t } else { without_offset(t) };
    if let Some(micros) = iso_timestamp(t.as_bytes(), zoned) {
        return Ok(micros);
    }
    // PostgreSQL's other forms (no seconds, month names, `epoch`, ...).
    if let Some(iso) = iso_datetime_text(s, DatetimeTarget::Timestamp) {
        let iso = if zoned {
            iso.as_str()
        } else {
            without_offset(&iso)
        };
        if let Some(micros) = iso_timestamp(iso.as_bytes(), zoned) {
            return Ok(micros);
        }
    }
    let type_name = if zoned {
        "timestamp with time zone"
    } else {
        "timestamp without time zone"
    };
    let parsed =
        arrow::compute::kernels::cast_utils::string_to_datetime(&Utc, t).map_err(|_| {
            ValueError::InvalidText {
                type_name,
                value: s.to_owned(),
            }
        })?;
    Ok(parsed.timestamp_micros())
}

/// `t` without a trailing UTC offset (`Z`, `±HH`, `±HHMM`, `±HH:MM`) after
/// its time of day.
fn without_offset(t: &str) -> &str {
    let bytes = t.as_bytes();
    // The time of day: a colon after the date.
    let Some(time) = t.get(10..).and_then(|rest| rest.find(':')).map(|i| i + 10) else {
        return t;
    };
    if let Some(stripped) = t.strip_suffix(['Z', 'z'])
        && stripped.len() > time
    {
        return stripped.trim_end();
    }
    let digits = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit() || **b == b':')
        .count();
    let sign = bytes.len() - digits;
    if digits > 0 && sign > time + 2 && matches!(bytes.get(sign - 1), Some(b'+' | b'-')) {
        return t[..sign - 1].trim_end();
    }
    t
}

/// Microseconds since the Unix epoch of the common ISO 8601 forms,
/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (space or `T`), with an offset (`Z`,
/// `±HH`, `±HHMM`, `±HH:MM`) only when `zoned`; an offset-less value counts
/// as UTC. Anything else, and invalid dates, are `None`: the general parser
/// decides those.
pub fn iso_timestamp(s: &[u8], zoned: bool) -> Option<i64> {
    fn number(digits: &[u8]) -> Option<i64> {
        digits.iter().try_fold(0i64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    }
    if s.len() < 19 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b' ' | b'T') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(&s[0..4])?, number(&s[5..7])?, number(&s[8..10])?);
    let (hour, minute, second) = (
        number(&s[11..13])?,
        number(&s[14..16])?,
        number(&s[17..19])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        micros = number(&fraction[..digits])? * 10i64.pow(6 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        [] => 0,
        _ if !zoned => return None,
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (hours, minutes) = match zone {
                [h1, h2] => (number(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => {
                    (number(&[*h1, *h2])?, number(&[*m1, *m2])?)
                }
                _ => return None,
            };
            if hours > 15 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|dt| dt.naive_utc())
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, fractional zeros trimmed, as PostgreSQL does.
/// The era suffix (` BC`) is left to the caller: it goes after any offset.
fn format_naive(dt: &NaiveDateTime) -> String {
    let mut out = format_date_parts(dt.year(), dt.month(), dt.day());
    out.push(' ');
    out.push_str(&format_clock(
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.nanosecond() / 1_000,
    ));
    out
}

fn format_date_parts(year: i32, month: u32, day: u32) -> String {
    // PostgreSQL has no year 0: year 0 of the proleptic calendar is 1 BC.
    let year = if year <= 0 { 1 - year } else { year };
    format!("{year:04}-{month:02}-{day:02}")
}

fn era(year: i32) -> &'static str {
    if year <= 0 { " BC" } else { "" }
}

fn format_clock(hour: u32, minute: u32, second: u32, micros: u32) -> String {
    let mut out = format!("{hour:02}:{minute:02}:{second:02}");
    if micros > 0 {
        let fraction = format!("{micros:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

/// A `timestamp` (without time zone) as PostgreSQL prints it (ISO).
pub fn timestamp_out(micros: i64) -> String {
    match civil(micros) {
        Some(dt) => format_naive(&dt) + era(dt.year()),
        None => micros.to_string(),
    }
}

/// A `timestamptz` in the session time zone (`None`: UTC), with
/// PostgreSQL's `+HH[:MM[:SS]]` offset.
pub fn timestamptz_out(micros: i64, tz: Option<&Tz>) -> String {
    let Some(utc) = DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let offset = tz.map_or(0, |tz| zone_offset(tz, &utc));
    let local = utc.naive_utc() + chrono::TimeDelta::seconds(i64::from(offset));
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    let mut out = format_naive(&local);
    out.push_str(&format!("{sign}{:02}", offset / 3600));
    if offset % 3600 != 0 {
        out.push_str(&format!(":{:02}", offset % 3600 / 60));
        if offset % 60 != 0 {
            out.push_str(&format!(":{:02}", offset % 60));
        }
    }
    out.push_str(era(local.year()));
    out
}

/// The year past which the zone tables hold no transitions: later years
/// follow each zone's last rules.
const LAST_TABLE_YEAR: i32 = 2099;

/// Seconds east of UTC that `tz` is at the instant `utc`. Past the zone
/// tables, the offset is that of the same moment of a year within them
/// that has the same calendar (leap or not, and the same weekday on 1
/// January), so a rule such as "the second Sunday of March" falls on the
/// same dates, as PostgreSQL's reading of a zone's final rule gives.
pub fn zone_offset(tz: &Tz, utc: &DateTime<Utc>) -> i32 {
    let year = utc.year();
    let moment = if year > LAST_TABLE_YEAR {
        let equivalent = (LAST_TABLE_YEAR - 27..=LAST_TABLE_YEAR)
            .find(|&y| same_calendar(y, year))
            .and_then(|y| utc.with_year(y));
        equivalent.unwrap_or(*utc)
    } else {
        *utc
    };
    moment.with_timezone(tz).offset().fix().local_minus_utc()
}

/// Whether two years have the same calendar.
fn same_calendar(a: i32, b: i32) -> bool {
    let jan1 = |y| NaiveDate::from_ymd_opt(y, 1, 1).map(|d| d.weekday());
    let leap = |y: i32| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    leap(a) == leap(b) && jan1(a).is_some() && jan1(a) == jan1(b)
}

/// A `date`, given as days since the Unix epoch.
pub fn date_out(days_since_unix_epoch: i32) -> String {
    match NaiveDate::from_num_days_from_ce_opt(days_since_unix_epoch.saturating_add(719_163)) {
        Some(d) => format_date_parts(d.year(), d.month(), d.day()) + era(d.year()),
        None => days_since_unix_epoch.to_string(),
    }
}

/// A `time` of day, given as microseconds since midnight.
pub fn time_out(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    format_clock(
        (seconds / 3600) as u32,
        (seconds / 60 % 60) as u32,
        (seconds % 60) as u32,
        micros.rem_euclid(1_000_000) as u32,
    )
}

/// An interval in PostgreSQL's default `postgres` IntervalStyle: each
/// non-zero field with its sign (a `+` on a positive field after a negative
/// one), units plural unless the value is 1, then the time.
pub fn interval_out(months: i32, days: i32, micros: i64) -> String {
    let mut out = String::new();
    let mut before_negative = false;
    let (years, months) = (months / 12, months % 12);
    for (value, unit) in [
        (i64::from(years), "year"),
        (i64::from(months), "mon"),
        (i64::from(days), "day"),
    ] {
        if value == 0 {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if before_negative && value > 0 {
            out.push('+');
        }
        out.push_str(&format!("{value} {unit}"));
        if value != 1 {
            out.push('s');
        }
        before_negative = value < 0;
    }
    if out.is_empty() || micros != 0 {
        if !out.is_empty() {
            out.push(' ');
        }
        if micros < 0 {
            out.push('-');
        } else if before_negative {
            out.push('+');
        }
        let abs = micros.unsigned_abs();
        let seconds = abs / 1_000_000;
        out.push_str(&format!(
            "{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ));
        let fraction = abs % 1_000_000;
        if fraction > 0 {
            let digits = format!("{fraction:06}");
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
    }
    out
}

/// The wall time (microseconds since the epoch, read as a `timestamp`)
/// that the instant `micros` shows in `tz`.
pub fn wall_micros(micros: i64, tz: &Tz) -> i64 {
    let offset = DateTime::from_timestamp_micros(micros).map_or(0, |utc| zone_offset(tz, &utc));
    micros.saturating_add(i64::from(offset) * 1_000_000)
}

/// The instant at which `tz` shows the wall time `wall` (microseconds since
/// the epoch, read as a `timestamp`), as PostgreSQL resolves it: a wall
/// time skipped by a spring-forward transition is read with the offset
/// before it, one repeated by a fall-back transition with the offset after
/// it.
pub fn instant_of_wall(wall: i64, tz: &Tz) -> i64 {
    const DAY: i64 = 86_400_000_000;
    let offset_at = |micros: i64| {
        DateTime::from_timestamp_micros(micros).map_or(0, |utc| i64::from(zone_offset(tz, &utc)))
            * 1_000_000
    };
    let before = offset_at(wall.saturating_sub(DAY));
    let after = offset_at(wall.saturating_add(DAY));
    let with_before = wall.saturating_sub(before);
    if before == after {
        return with_before;
    }
    let with_after = wall.saturating_sub(after);
    let before_valid = offset_at(with_before) == before;
    let after_valid = offset_at(with_after) == after;
    match (before_valid, after_valid) {
        (true, false) => with_before,
        // Repeated (both valid): the offset after the transition.
        (_, true) => with_after,
        // Skipped: the offset before it.
        (false, false) => with_before,
    }
}

#[cfg(test)]
mod wall_tests {
    use super::*;

    #[test]
    fn a_timestamp_ignores_an_offset() {
        let noon = timestamp_in("2024-01-01 12:00:00", false).unwrap();
        for text in [
            "2024-01-01 12:00:00+05",
            "2024-01-01 12:00:00-08:00",
            "2024-01-01 12:00:00+0530",
            "2024-01-01T12:00:00Z",
            "2024-01-01 12:00:00 +05",
        ] {
            assert_eq!(timestamp_in(text, false).unwrap(), noon, "{text}");
        }
        assert_eq!(
            timestamp_in("2024-01-01 12:00:00+05", true).unwrap(),
            noon - 5 * 3_600_000_000
        );
        assert_eq!(
            timestamp_in("2024-01-01 12:00:00.5", false).unwrap(),
            noon + 500_000
        );
    }

    #[test]
    fn wall_times_resolve_as_postgres_does() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let micros = |s: &str| timestamp_in(s, false).unwrap();
        // Skipped 02:30 reads as 02:30-05, that is 07:30 UTC.
        assert_eq!(
            instant_of_wall(micros("2024-03-10 02:30:00"), &ny),
            micros("2024-03-10 07:30:00")
        );
        // Repeated 01:30 reads as 01:30-05, that is 06:30 UTC.
        assert_eq!(
            instant_of_wall(micros("2024-11-03 01:30:00"), &ny),
            micros("2024-11-03 06:30:00")
        );
        assert_eq!(
            instant_of_wall(micros("2024-01-01 00:00:00"), &ny),
            micros("2024-01-01 05:00:00")
        );
        assert_eq!(
            wall_micros(micros("2024-01-01 00:00:00"), &ny),
            micros("2023-12-31 19:00:00")
        );
    }
}
