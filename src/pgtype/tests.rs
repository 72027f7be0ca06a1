//! Each type round-trips text → value → text and binary → value → binary,
//! the fast paths agree with the general ones, and out-of-range values are
//! errors. Text forms are PostgreSQL 15's (the integration test `pg_formats`
//! checks a sample against the real server).

use arrow::array::timezone::Tz;
use proptest::prelude::*;

use super::float::float8_out_general;
use super::*;

/// From 0001-01-01 to 9999-12-31: what Arrow's parser, which the general
/// timestamp input falls back on, reads back.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

#[test]
fn floats_print_as_postgres_prints_them() {
    // Expected strings are PostgreSQL 15's float8out/float4out output.
    let cases8 = [
        (1.0, "1"),
        (-0.0, "-0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123.456, "123.456"),
        (1e15, "1e+15"),
        (123456789012345.0, "123456789012345"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-1.5e-10, "-1.5e-10"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (f64::NAN, "NaN"),
    ];
    for (value, want) in cases8 {
        assert_eq!(float8_out(value), want, "float8 {value:?}");
    }
    let cases4 = [
        (1.5f32, "1.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (0.1, "0.1"),
    ];
    for (value, want) in cases4 {
        assert_eq!(float4_out(value), want, "float4 {value:?}");
    }
}

#[test]
fn timestamps_trim_fractions_and_render_offsets() {
    let micros = 1_704_067_200_000_000; // 2024-01-01 00:00:00 UTC
    assert_eq!(timestamp_out(micros), "2024-01-01 00:00:00");
    assert_eq!(timestamp_out(micros + 120_500), "2024-01-01 00:00:00.1205");
    assert_eq!(timestamptz_out(micros, None), "2024-01-01 00:00:00+00");
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    assert_eq!(
        timestamptz_out(micros, Some(&berlin)),
        "2024-01-01 01:00:00+01"
    );
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
    assert_eq!(
        timestamptz_out(micros, Some(&kolkata)),
        "2024-01-01 05:30:00+05:30"
    );
    // Year 0 is 1 BC; the era goes last, after the offset.
    let year_zero = -62_167_219_200_000_000;
    assert_eq!(timestamp_out(year_zero), "0001-01-01 00:00:00 BC");
    assert_eq!(
        timestamp_out(year_zero - 1),
        "0002-12-31 23:59:59.999999 BC"
    );
    assert_eq!(
        timestamptz_out(year_zero, None),
        "0001-01-01 00:00:00+00 BC"
    );
}

#[test]
fn intervals_use_the_postgres_style() {
    assert_eq!(interval_out(0, 0, 0), "00:00:00");
    assert_eq!(
        interval_out(14, 3, 3_723_000_000),
        "1 year 2 mons 3 days 01:02:03"
    );
    assert_eq!(interval_out(0, 1, 0), "1 day");
    assert_eq!(interval_out(0, 0, -1_500_000), "-00:00:01.5");
}

#[test]
fn out_of_range_values_are_errors_never_clamped() {
    let overflow = ValueError::DatetimeOutOfRange { what: "timestamp" };
    assert_eq!(
        timestamp_recv(&i64::MAX.to_be_bytes(), "timestamp"),
        Err(overflow.clone())
    );
    assert_eq!(timestamp_send(i64::MIN), Err(overflow));
    assert_eq!(
        date_recv(&i32::MAX.to_be_bytes()),
        Err(ValueError::DatetimeOutOfRange { what: "date" })
    );
    assert_eq!(
        date_send(i32::MIN),
        Err(ValueError::DatetimeOutOfRange { what: "date" })
    );
    assert_eq!(
        int_in::<i32>("2147483648", "integer"),
        Err(ValueError::OutOfRange {
            type_name: "integer",
            value: "2147483648".into()
        })
    );
    assert_eq!(
        int_in::<i16>(" -32769", "smallint"),
        Err(ValueError::OutOfRange {
            type_name: "smallint",
            value: " -32769".into()
        })
    );
    assert!(matches!(
        float8_in("1e400"),
        Err(ValueError::OutOfRange { .. })
    ));
    assert!(matches!(
        float4_in("1e39"),
        Err(ValueError::OutOfRange { .. })
    ));
    assert_eq!(float8_in("-Infinity"), Ok(f64::NEG_INFINITY));
    assert!(matches!(
        fixed::<8>(&[0; 4], "bigint"),
        Err(ValueError::InvalidBinary {
            expected: 8,
            actual: 4,
            ..
        })
    ));
}

#[test]
fn text_input_follows_postgres() {
    assert_eq!(bool_in(" TRUE "), Ok(true));
    assert_eq!(bool_in("of"), Ok(false));
    assert_eq!(bool_in("ye"), Ok(true));
    assert!(bool_in("o").is_err(), "ambiguous: on or off");
    assert_eq!(int_in::<i64>("\t+42\n", "bigint"), Ok(42));
    assert!(int_in::<i64>("4 2", "bigint").is_err());
    assert_eq!(float8_in(" 1.5e3 "), Ok(1500.0));
    assert!(float8_in("1.5x").is_err());
    assert_eq!(bytea_in("\\x4a6B"), Ok(b"Jk".to_vec()));
    assert_eq!(bytea_in("a\\\\b\\101"), Ok(b"a\\bA".to_vec()));
    assert!(bytea_in("\\x4").is_err());
    assert!(bytea_in("\\9").is_err());
    assert_eq!(
        timestamp_in("2024-01-01T00:00:00Z", true),
        Ok(1_704_067_200_000_000)
    );
    assert_eq!(
        timestamp_in("2024-01-01 01:00:00+01", true),
        Ok(1_704_067_200_000_000)
    );
}

#[test]
fn array_literals_read_as_array_in_reads_them() {
    let read = |text: &str| array_elements(text).map_err(|e| e.to_string());
    let some = |items: &[&str]| -> Vec<Option<String>> {
        items.iter().map(|s| Some((*s).to_owned())).collect()
    };
    assert_eq!(read("{a,b}"), Ok(some(&["a", "b"])));
    assert_eq!(read(" { a b , \"c,d\" } "), Ok(some(&["a b", "c,d"])));
    assert_eq!(
        read("{NULL,\"NULL\",null,N\\ULL}"),
        Ok(vec![None, Some("NULL".into()), None, Some("NULL".into())])
    );
    assert_eq!(read("{\"q\\\"z\",x\\ }"), Ok(some(&["q\"z", "x "])));
    assert_eq!(read("{}"), Ok(vec![]));
    assert_eq!(read("{\"\"}"), Ok(some(&[""])));
    for bad in [
        "a,b", "{a,,b}", "{a", "{a}}", "{\"a}", "{a\"b}", "{a} x", "{,}",
    ] {
        assert_eq!(
            read(bad),
            Err(format!("malformed array literal: \"{bad}\"")),
            "{bad}"
        );
    }
    assert!(read("{{1,2},{3,4}}").is_err_and(|e| e.contains("not supported")));
    assert!(read("[1:2]={1,2}").is_err_and(|e| e.contains("not supported")));
}

proptest! {
    /// What `array_out` writes, `array_in` reads back.
    #[test]
    fn array_text_round_trips(items in proptest::collection::vec(
        proptest::option::of("[ a-zA-Z0-9,{}\"\\\\]{0,6}"), 0..6)) {
        let mut text = Vec::from(b"{".as_slice());
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            match item {
                Some(item) => quote_array_element(item.as_bytes(), &mut text),
                None => text.extend_from_slice(b"NULL"),
            }
        }
        text.push(b'}');
        let text = String::from_utf8(text).unwrap();
        prop_assert_eq!(array_elements(&text).unwrap(), items);
    }

    /// Any text gives elements or an error, never a panic.
    #[test]
    fn array_input_never_panics(text in "\\PC{0,24}") {
        let _ = array_elements(&text);
    }

    #[test]
    fn booleans_round_trip(v in any::<bool>()) {
        prop_assert_eq!(bool_in(bool_out(v)), Ok(v));
    }

    #[test]
    fn integers_round_trip_as_text(v in any::<i64>()) {
        let text = v.to_string();
        prop_assert_eq!(int_in::<i64>(&text, "bigint"), Ok(v));
        if let Some(fast) = short_integer::<i64>(text.as_bytes()) {
            prop_assert_eq!(fast, v);
        }
        let narrow = i32::try_from(v);
        prop_assert_eq!(int_in::<i32>(&text, "integer").is_ok(), narrow.is_ok());
        prop_assert_eq!(short_integer::<i32>(text.as_bytes()).is_some(), narrow.is_ok());
    }

    #[test]
    fn floats_round_trip_as_text(bits in any::<u64>()) {
        let v = f64::from_bits(bits);
        let back = float8_in(&float8_out(v)).unwrap();
        prop_assert!(back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()));
        let narrow = f32::from_bits(bits as u32);
        let back = float4_in(&float4_out(narrow)).unwrap();
        prop_assert!(back.to_bits() == narrow.to_bits() || (narrow.is_nan() && back.is_nan()));
    }

    #[test]
    fn float8_fast_path_agrees(bits in any::<u64>(), whole in -1e15f64..1e15) {
        for v in [f64::from_bits(bits), whole.trunc()] {
            prop_assert_eq!(float8_out(v), float8_out_general(v));
        }
    }

    #[test]
    fn timestamps_round_trip_as_text_and_binary(micros in MIN_MICROS..=MAX_MICROS) {
        let text = timestamp_out(micros);
        prop_assert_eq!(timestamp_in(&text, false), Ok(micros), "{}", text);
        let zoned = timestamptz_out(micros, None);
        prop_assert_eq!(timestamp_in(&zoned, true), Ok(micros), "{}", zoned);
        let sent = timestamp_send(micros).unwrap();
        prop_assert_eq!(timestamp_recv(&sent.to_be_bytes(), "timestamp"), Ok(micros));
    }

    #[test]
    fn the_fast_timestamp_path_agrees_with_the_general_one(micros in MIN_MICROS..=MAX_MICROS) {
        let text = timestamp_out(micros).replace(' ', "T");
        let general = arrow::compute::kernels::cast_utils::string_to_datetime(&chrono::Utc, &text)
            .unwrap()
            .timestamp_micros();
        prop_assert_eq!(iso_timestamp(text.as_bytes(), false), Some(general));
    }

    #[test]
    fn dates_round_trip_as_binary(days in -2_000_000i32..2_000_000) {
        let sent = date_send(days).unwrap();
        prop_assert_eq!(date_recv(&sent.to_be_bytes()), Ok(days));
    }

    #[test]
    fn bytea_round_trips_as_text(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(bytea_in(&bytea_out(&bytes)), Ok(bytes));
    }
}

#[test]
fn numbers_parse_as_postgres_does() {
    assert_eq!(int_in::<i32>("42", "integer").ok(), Some(42));
    assert!(matches!(
        int_in::<i16>("40000", "smallint"),
        Err(ValueError::OutOfRange { .. })
    ));
    assert!(matches!(
        int_in::<i64>("4x", "bigint"),
        Err(ValueError::InvalidText { .. })
    ));
    assert_eq!(float8_in("1.5e3").ok(), Some(1500.0));
    assert!(float8_in("NaN").is_ok_and(f64::is_nan));
    assert_eq!(float8_in("-Infinity").ok(), Some(f64::NEG_INFINITY));
    assert_eq!(float8_in("inf").ok(), Some(f64::INFINITY));
    assert!(matches!(
        float8_in("1e999"),
        Err(ValueError::OutOfRange { .. })
    ));
    assert!(matches!(
        float8_in("1,5"),
        Err(ValueError::InvalidText { .. })
    ));
    assert!(matches!(float8_in(""), Err(ValueError::InvalidText { .. })));
}

#[test]
fn booleans_take_postgres_spellings() {
    for t in ["t", "TRUE", "yes", "y", "on", "1", "tr"] {
        assert_eq!(bool_in(t).ok(), Some(true), "{t}");
    }
    for f in ["f", "False", "no", "n", "off", "0"] {
        assert_eq!(bool_in(f).ok(), Some(false), "{f}");
    }
    for bad in ["", "o", "2", "maybe"] {
        assert!(bool_in(bad).is_err(), "{bad}");
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
        let arrow = arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(&text)
            .ok()
            .map(|nanos| nanos / 1000);
        let fast = iso_timestamp(text.as_bytes(), true);
        let valid = chrono::NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32).is_some();
        if valid && (1678..2262).contains(&year) {
            proptest::prop_assert_eq!(fast, arrow, "{}", text);
        } else if !valid {
            proptest::prop_assert!(fast.is_none(), "{}", text);
        } else if let (Some(fast), Some(arrow)) = (fast, arrow) {
            // Arrow's nanoseconds hold only part of 1677 and 2262 (and, by
            // an offset, a few hours past them): where both read it, they agree.
            proptest::prop_assert_eq!(fast, arrow, "{}", text);
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
