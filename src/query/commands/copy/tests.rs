use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;

use super::*;

#[test]
fn numbers_parse_as_postgres_does() {
    assert_eq!(int::<i32>("42").ok(), Some(42));
    assert!(matches!(int::<i16>("40000"), Err(ParseFailure::OutOfRange)));
    assert!(matches!(int::<i64>("4x"), Err(ParseFailure::Invalid)));
    assert_eq!(float("1.5e3").ok(), Some(1500.0));
    assert!(float("NaN").is_ok_and(f64::is_nan));
    assert_eq!(float("-Infinity").ok(), Some(f64::NEG_INFINITY));
    assert_eq!(float("inf").ok(), Some(f64::INFINITY));
    assert!(matches!(float("1e999"), Err(ParseFailure::OutOfRange)));
    assert!(matches!(float("1,5"), Err(ParseFailure::Invalid)));
    assert!(matches!(float(""), Err(ParseFailure::Invalid)));
}

#[test]
fn booleans_take_postgres_spellings() {
    for t in ["t", "TRUE", "yes", "y", "on", "1", "tr"] {
        assert_eq!(boolean(t).ok(), Some(true), "{t}");
    }
    for f in ["f", "False", "no", "n", "off", "0"] {
        assert_eq!(boolean(f).ok(), Some(false), "{f}");
    }
    for bad in ["", "o", "2", "maybe"] {
        assert!(boolean(bad).is_err(), "{bad}");
    }
}

proptest::proptest! {
    /// The fast path agrees with the full parser wherever it answers.
    #[test]
    fn short_decimals_parse_as_the_full_parser_does(
        sign in "[-+]?",
        whole in "[0-9]{0,16}",
        fraction in proptest::option::of("[0-9]{0,16}"),
    ) {
        let text = match &fraction {
            Some(f) => format!("{sign}{whole}.{f}"),
            None => format!("{sign}{whole}"),
        };
        if let Some(fast) = short_decimal(text.as_bytes()) {
            let full: f64 = text.parse().expect("a decimal the fast path accepts");
            proptest::prop_assert_eq!(fast.to_bits(), full.to_bits(), "{}", text);
        }
    }

    /// The ISO fast path agrees with Arrow's parser, which it stands in for.
    #[test]
    fn iso_timestamps_parse_as_arrow_does(
        (year, month, day) in (1i64..=9999, 1i64..=12, 1i64..=31),
        (hour, minute, second) in (0i64..=23, 0i64..=59, 0i64..=59),
        fraction in proptest::option::of("[0-9]{1,6}"),
        zone in proptest::sample::select(vec!["", "Z", "+00", "-05", "+0530", "+05:30", "-11:45"]),
        separator in proptest::sample::select(vec![" ", "T"]),
    ) {
        let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
        let text = format!(
            "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
        );
        let arrow = string_to_timestamp_nanos(&text)
            .ok()
            .map(|nanos| nanos / 1000);
        let fast = iso_timestamp(text.as_bytes(), true);
        if day <= days_in_month(year, month) && (1678..2262).contains(&year) {
            proptest::prop_assert_eq!(fast, arrow, "{}", text);
        } else {
            // Invalid dates, and years Arrow's nanoseconds cannot hold.
            proptest::prop_assert!(fast.is_none() || arrow.is_none(), "{}", text);
        }
        // Without a zone, an offset is left to the general parser.
        if !zone.is_empty() {
            proptest::prop_assert_eq!(iso_timestamp(text.as_bytes(), false), None);
        }
    }
}

#[test]
fn iso_timestamps_leave_the_unusual_to_the_general_parser() {
    for text in [
        "2024-02-30 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 00:00:60",
        "2024-01-01 00:00:00.1234567",
        "2024-01-01 00:00:00 BC",
        " 2024-01-01 00:00:00",
        "2024-1-01 00:00:00",
        "2024-01-01",
        "0000-01-01 00:00:00",
        "2024-01-01 00:00:00+16",
    ] {
        assert_eq!(iso_timestamp(text.as_bytes(), true), None, "{text}");
    }
    assert_eq!(
        iso_timestamp(b"2024-02-29 12:34:56.5+01", true),
        Some(1_709_206_496_500_000)
    );
    assert_eq!(
        iso_timestamp(b"1969-12-31 23:59:59.999999", false),
        Some(-1)
    );
}
