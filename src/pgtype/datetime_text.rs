//! The forms of date and timestamp text PostgreSQL reads beyond strict ISO
//! 8601, rewritten to the ISO form the parsers downstream read:
//! `YYYY-MM-DD HH:MM:SS[.ffffff][±HH:MM]`, or `YYYY-MM-DD` for a date.
//!
//! Read here: ISO dates (`2024-1-5` too) with or without a time, `T` or
//! space before the time, times without seconds, fractions of any length
//! (rounded to microseconds, as PostgreSQL rounds), numeric offsets and the
//! fixed zone abbreviations (`Z`, `UTC`, `PST`, `CEST`, ...); `MM/DD/YYYY`
//! (PostgreSQL's default `DateStyle`, MDY) and `YYYY/MM/DD`; month names (`Jan 1 2024`, `January 1, 2024`,
//! `1 Jan 2024`); and `epoch`. What is not read here is left to the strict
//! parsers, which refuse it with PostgreSQL's error.

use std::fmt::Write;

use super::zone_abbrevs::abbreviation_offset;

/// What the text is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatetimeTarget {
    /// A date: the time of day and any offset are read and dropped.
    Date,
    /// A timestamp, keeping the offset if the text has one.
    Timestamp,
}

/// `s` in the ISO form, or `None` when it is in none of the forms above
/// (or names an impossible date or time).
pub fn iso_datetime_text(s: &str, target: DatetimeTarget) -> Option<String> {
    let parsed = parse(s.trim())?;
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}",
        parsed.year, parsed.month, parsed.day
    );
    if target == DatetimeTarget::Date {
        return Some(out);
    }
    let (hour, minute, second, micros) = parsed.time;
    let _ = write!(out, " {hour:02}:{minute:02}:{second:02}");
    if micros > 0 {
        let _ = write!(out, ".{micros:06}");
    }
    if let Some(offset) = parsed.offset_minutes {
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.abs();
        let _ = write!(out, "{sign}{:02}:{:02}", offset / 60, offset % 60);
    }
    Some(out)
}

#[derive(Debug, PartialEq)]
struct Parsed {
    year: u32,
    month: u32,
    day: u32,
    /// Hour, minute, second, microsecond.
    time: (u32, u32, u32, u32),
    offset_minutes: Option<i32>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// A month named in full or by its first three letters (`sept` too).
fn month_named(word: &str) -> Option<u32> {
    let word = word.to_ascii_lowercase();
    let word = word.strip_suffix('.').unwrap_or(&word);
    if word.len() < 3 {
        return None;
    }
    (1u32..)
        .zip(MONTHS)
        .find(|(_, name)| {
            name.starts_with(word) && (word.len() == 3 || word == "sept" || word == *name)
        })
        .map(|(number, _)| number)
}

/// A cursor over the text.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let len = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if len < min || len > max {
            return None;
        }
        let value = self.rest[..len].parse().ok()?;
        self.rest = &self.rest[len..];
        Some(value)
    }

    fn word(&mut self) -> Option<&'a str> {
        let len = self
            .rest
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic() || *b == b'.')
            .count();
        (len > 0).then(|| {
            let word = &self.rest[..len];
            self.rest = &self.rest[len..];
            word
        })
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn spaces(&mut self) -> bool {
        let trimmed = self.rest.trim_start();
        let any = trimmed.len() < self.rest.len();
        self.rest = trimmed;
        any
    }
}

fn parse(s: &str) -> Option<Parsed> {
    if s.eq_ignore_ascii_case("epoch") {
        return Some(Parsed {
            year: 1970,
            month: 1,
            day: 1,
            time: (0, 0, 0, 0),
            offset_minutes: Some(0),
        });
    }
    let mut cursor = Cursor { rest: s };
    let (year, month, day) = date(&mut cursor)?;
    if !(1..=12).contains(&month)
        || day < 1
        || i64::from(day) > days_in_month(i64::from(year), i64::from(month))
        || year < 1
    {
        return None;
    }
    let mut parsed = Parsed {
        year,
        month,
        day,
        time: (0, 0, 0, 0),
        offset_minutes: None,
    };
    let separated = cursor.eat('T') || cursor.eat('t') || cursor.spaces();
    if cursor.rest.is_empty() {
        return Some(parsed);
    }
    if !separated {
        return None;
    }
    parsed.time = time(&mut cursor)?;
    cursor.spaces();
    if !cursor.rest.is_empty() {
        parsed.offset_minutes = Some(offset(&mut cursor)?);
    }
    cursor.rest.is_empty().then_some(parsed)
}

/// Year, month and day, in one of the date forms.
fn date(cursor: &mut Cursor<'_>) -> Option<(u32, u32, u32)> {
    if cursor.rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        // `Jan 1 2024`, `January 1, 2024`
        let month = month_named(cursor.word()?)?;
        cursor.spaces();
        let day = cursor.digits(1, 2)?;
        cursor.eat(',');
        if !cursor.spaces() {
            return None;
        }
        let year = cursor.digits(4, 4)?;
        return Some((year, month, day));
    }
    let first_len = cursor.rest.bytes().take_while(u8::is_ascii_digit).count();
    let first = cursor.digits(1, 4)?;
    if first_len == 4 {
        // `2024-01-05`, `2024/01/05`
        let separator = if cursor.eat('-') {
            '-'
        } else if cursor.eat('/') {
            '/'
        } else {
            return None;
        };
        let month = cursor.digits(1, 2)?;
        if !cursor.eat(separator) {
            return None;
        }
        let day = cursor.digits(1, 2)?;
        return Some((first, month, day));
    }
    if cursor.eat('/') {
        // `01/05/2024`: month first, PostgreSQL's default DateStyle.
        let day = cursor.digits(1, 2)?;
        if !cursor.eat('/') {
            return None;
        }
        let year = cursor.digits(4, 4)?;
        return Some((year, first, day));
    }
    // `1 Jan 2024`
    if !cursor.spaces() {
        return None;
    }
    let month = month_named(cursor.word()?)?;
    cursor.eat(',');
    if !cursor.spaces() {
        return None;
    }
    let year = cursor.digits(4, 4)?;
    Some((year, month, first))
}

/// `HH:MM[:SS[.fraction]]`, the fraction rounded to microseconds.
fn time(cursor: &mut Cursor<'_>) -> Option<(u32, u32, u32, u32)> {
    let hour = cursor.digits(1, 2)?;
    if !cursor.eat(':') {
        return None;
    }
    let minute = cursor.digits(2, 2)?;
    let mut second = 0;
    let mut micros = 0;
    if cursor.eat(':') {
        second = cursor.digits(2, 2)?;
        if cursor.eat('.') {
            let len = cursor.rest.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            let digits = &cursor.rest[..len];
            cursor.rest = &cursor.rest[len..];
            // As PostgreSQL computes it: the fraction as a double, times a
            // million, rounded half to even.
            let fraction: f64 = format!("0.{digits}").parse().ok()?;
            micros = (fraction * 1_000_000.0).round_ties_even() as u32;
        }
    }
    // 24:00:00 is PostgreSQL's end of the day; 60 seconds is not refused by
    // PostgreSQL either, but rolls over: leave both to the strict parsers.
    if hour > 23 || minute > 59 || second > 59 || micros > 999_999 {
        return None;
    }
    Some((hour, minute, second, micros))
}

/// A fixed time zone abbreviation PostgreSQL reads (`Z`, `UTC`, `PST`,
/// `CEST`, ...), `±HH`, `±HHMM` or `±HH:MM`, in minutes east of UTC.
fn offset(cursor: &mut Cursor<'_>) -> Option<i32> {
    if let Some(word) = cursor.word() {
        return abbreviation_offset(word).map(|seconds| seconds / 60);
    }
    let sign = if cursor.eat('+') {
        1
    } else if cursor.eat('-') {
        -1
    } else {
        return None;
    };
    let len = cursor.rest.bytes().take_while(u8::is_ascii_digit).count();
    let (hours, minutes) = match len {
        1 | 2 => {
            let hours = cursor.digits(1, 2)?;
            let minutes = if cursor.eat(':') {
                cursor.digits(2, 2)?
            } else {
                0
            };
            (hours, minutes)
        }
        4 => {
            let both = cursor.digits(4, 4)?;
            (both / 100, both % 100)
        }
        _ => return None,
    };
    if hours > 15 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 60 + minutes) as i32)
}

/// The days of a month of the proleptic Gregorian calendar.
pub(super) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<String> {
        iso_datetime_text(s, DatetimeTarget::Timestamp)
    }

    #[test]
    fn postgres_forms_become_iso() {
        assert_eq!(
            ts("2024-01-01 01:00").as_deref(),
            Some("2024-01-01 01:00:00")
        );
        assert_eq!(ts(" 2024-1-5 ").as_deref(), Some("2024-01-05 00:00:00"));
        assert_eq!(
            ts("2024-01-01T01:02").as_deref(),
            Some("2024-01-01 01:02:00")
        );
        assert_eq!(
            ts("2024-01-01T01:02:03Z").as_deref(),
            Some("2024-01-01 01:02:03+00:00")
        );
        assert_eq!(
            ts("2024-01-01 01:02:03.5 -0530").as_deref(),
            Some("2024-01-01 01:02:03.500000-05:30")
        );
        assert_eq!(
            ts("2024-01-01 01:02:03.1234567").as_deref(),
            Some("2024-01-01 01:02:03.123457")
        );
        // Half a microsecond rounds to even, as rint does in PostgreSQL.
        assert_eq!(
            ts("2024-01-01 01:02:03.0000005").as_deref(),
            Some("2024-01-01 01:02:03")
        );
        assert_eq!(
            ts("2024-01-01 01:00 UTC").as_deref(),
            Some("2024-01-01 01:00:00+00:00")
        );
        assert_eq!(ts("Jan 1 2024").as_deref(), Some("2024-01-01 00:00:00"));
        assert_eq!(
            ts("January 2, 2024 10:00").as_deref(),
            Some("2024-01-02 10:00:00")
        );
        assert_eq!(ts("3 Sept 2024").as_deref(), Some("2024-09-03 00:00:00"));
        assert_eq!(ts("01/02/2024").as_deref(), Some("2024-01-02 00:00:00"));
        assert_eq!(
            ts("2024/01/02 03:04:05").as_deref(),
            Some("2024-01-02 03:04:05")
        );
        assert_eq!(ts("epoch").as_deref(), Some("1970-01-01 00:00:00+00:00"));
        assert_eq!(
            iso_datetime_text("2024-01-01 01:00+05", DatetimeTarget::Date).as_deref(),
            Some("2024-01-01")
        );
    }

    #[test]
    fn impossible_or_unknown_text_is_left_alone() {
        for text in [
            "",
            "garbage",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01 24:00",
            "2024-01-01 01:60",
            "2024-01-01 01",
            "2024-01-0101:00",
            "2024-01-01 01:00 +16",
            "2024-01-01 01:00 America/New_York",
            "Foo 1 2024",
            "ma 1 2024",
            "infinity",
            "now",
        ] {
            assert_eq!(ts(text), None, "{text}");
        }
    }

    proptest::proptest! {
        /// Any text is either left alone or rewritten to an ISO form that
        /// the strict parser reads.
        #[test]
        fn rewritten_text_is_strict_iso(text in "[0-9A-Za-z :./,+TZ-]{0,40}") {
            if let Some(iso) = ts(&text) {
                proptest::prop_assert!(
                    crate::pgtype::iso_timestamp(iso.as_bytes(), true).is_some(),
                    "{} -> {}", text, iso
                );
            }
        }

        #[test]
        fn iso_timestamps_survive_the_rewrite(
            year in 1u32..=9999, month in 1u32..=12, day in 1u32..=28,
            hour in 0u32..24, minute in 0u32..60, second in 0u32..60,
        ) {
            let text = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
            proptest::prop_assert_eq!(ts(&text), Some(text));
        }
    }
}
