use chrono::NaiveDate;
use datafusion::arrow::array::TimestampMicrosecondArray;
use proptest::prelude::*;

use super::*;

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn interval(months: i32, days: i32, nanos: i64) -> ScalarValue {
    ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(months, days, nanos)))
}

const HOUR: i64 = 3_600_000_000_000;

fn bucketer(args: &[ScalarValue]) -> Bucketer {
    let mut constants = vec![args[0].clone(), ScalarValue::Null];
    constants.extend_from_slice(&args[1..]);
    Bucketer::new(&constants, None).unwrap()
}

#[test]
fn weeks_start_on_monday_and_months_on_the_first() {
    let week = bucketer(&[interval(0, 7, 0)]);
    assert_eq!(
        week.bucket(at("2024-01-10 13:00:00")).unwrap(),
        at("2024-01-08 00:00:00")
    );
    let quarter = bucketer(&[interval(3, 0, 0)]);
    assert_eq!(
        quarter.bucket(at("2024-05-17 08:00:00")).unwrap(),
        at("2024-04-01 00:00:00")
    );
    assert_eq!(
        quarter.bucket(at("1999-12-31 23:59:59")).unwrap(),
        at("1999-10-01 00:00:00")
    );
    let year = bucketer(&[interval(12, 0, 0)]);
    assert_eq!(
        year.bucket(at("2024-05-17 08:00:00")).unwrap(),
        at("2024-01-01 00:00:00")
    );
}

#[test]
fn offsets_and_origins_shift_buckets() {
    let offset = bucketer(&[interval(0, 0, HOUR), interval(0, 0, 15 * 60_000_000_000)]);
    assert_eq!(
        offset.bucket(at("2024-01-01 10:10:00")).unwrap(),
        at("2024-01-01 09:15:00")
    );
    let origin = bucketer(&[
        interval(0, 1, 0),
        ScalarValue::TimestampMicrosecond(
            Some(at("2024-01-01 06:00:00").and_utc().timestamp_micros()),
            None,
        ),
    ]);
    assert_eq!(
        origin.bucket(at("2024-01-05 05:00:00")).unwrap(),
        at("2024-01-04 06:00:00")
    );
}

#[test]
fn day_buckets_in_a_time_zone_start_at_local_midnight_across_dst() {
    let berlin = bucketer(&[
        interval(0, 1, 0),
        ScalarValue::Utf8(Some("Europe/Berlin".to_owned())),
    ]);
    // 2024-03-31, the day clocks go forward: local midnight is 23:00 UTC the day before.
    assert_eq!(
        berlin.bucket_instant(at("2024-03-31 12:00:00")).unwrap(),
        at("2024-03-30 23:00:00")
    );
    // The next day starts at 22:00 UTC (summer time).
    assert_eq!(
        berlin.bucket_instant(at("2024-04-01 05:00:00")).unwrap(),
        at("2024-03-31 22:00:00")
    );
    // A two-hour bucket that would start at 02:00, which 2024-03-31 skips, is read with the
    // offset before the change (+01:00), as PostgreSQL reads it.
    let two_hours = bucketer(&[
        interval(0, 0, 2 * HOUR),
        ScalarValue::Utf8(Some("Europe/Berlin".to_owned())),
    ]);
    assert_eq!(
        two_hours.bucket_instant(at("2024-03-31 01:30:00")).unwrap(),
        at("2024-03-31 01:00:00")
    );
    // 2024-10-27 02:00-03:00 happens twice; its start is the later, in winter time.
    assert_eq!(
        two_hours.bucket_instant(at("2024-10-27 01:30:00")).unwrap(),
        at("2024-10-27 01:00:00")
    );
}

#[test]
fn bad_widths_are_refused() {
    for width in [interval(0, 0, 0), interval(0, -1, 0), interval(1, 1, 0)] {
        assert!(Bucketer::new(&[width, ScalarValue::Null], None).is_err());
    }
}

#[test]
fn integer_buckets_floor_toward_minus_infinity() {
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![-3, 0, 9, 10, 23]));
    let plain = integer_buckets(&[ScalarValue::Int64(Some(10)), ScalarValue::Null], &ts).unwrap();
    assert_eq!(
        plain.as_primitive::<Int64Type>().values(),
        &[-10, 0, 0, 10, 20]
    );
    let offset = integer_buckets(
        &[
            ScalarValue::Int64(Some(10)),
            ScalarValue::Null,
            ScalarValue::Int64(Some(2)),
        ],
        &ts,
    )
    .unwrap();
    assert_eq!(
        offset.as_primitive::<Int64Type>().values(),
        &[-8, -8, 2, 2, 22]
    );
    assert!(integer_buckets(&[ScalarValue::Int64(Some(0)), ScalarValue::Null], &ts).is_err());
}

#[test]
fn dates_bucket_by_their_midnight() {
    let week = bucketer(&[interval(0, 7, 0)]);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let day = |d: NaiveDate| i32::try_from((d - epoch).num_days()).unwrap();
    let dates: ArrayRef = Arc::new(Date32Array::from(vec![day(NaiveDate::from_ymd_opt(
        2024, 1, 10,
    )
    .unwrap())]));
    let buckets = date_buckets(&week, &dates).unwrap();
    assert_eq!(
        buckets.as_primitive::<Date32Type>().value(0),
        day(NaiveDate::from_ymd_opt(2024, 1, 8).unwrap())
    );
}

proptest! {
    /// The integer fast path and the calendar path agree on fixed widths.
    #[test]
    fn arithmetic_buckets_match_calendar_buckets(
        micros in -4_000_000_000_000_000i64..4_000_000_000_000_000,
        width_micros in 1i64..40 * 86_400_000_000,
        offset_micros in -86_400_000_000i64..86_400_000_000,
    ) {
        let bucketer = bucketer(&[
            interval(0, 0, width_micros * 1000),
            interval(0, 0, offset_micros * 1000),
        ]);
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![micros]),
        );
        let fast = timestamp_buckets(&bucketer, &ts, TimeUnit::Microsecond).unwrap();
        let fast = cast(&fast, &DataType::Int64).unwrap();
        let utc = DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
        let slow = bucketer.bucket_instant(utc).unwrap().and_utc().timestamp_micros();
        prop_assert_eq!(fast.as_primitive::<Int64Type>().value(0), slow);
    }
}

fn zone_steps(width: ScalarValue, zone: &str) -> BucketSteps {
    let constants = [
        width,
        ScalarValue::Null,
        ScalarValue::Utf8(Some(zone.to_owned())),
    ];
    let time_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    BucketSteps::new(&constants, &time_type, None).unwrap()
}

#[test]
fn steps_across_daylight_saving_changes_stay_on_local_midnight() {
    let days = zone_steps(interval(0, 1, 0), "Europe/Berlin");
    let micros = |s: &str| at(s).and_utc().timestamp_micros();
    // 2024-03-31 has 23 hours in Berlin, 2024-10-27 has 25.
    let mut bucket = days.bucket(micros("2024-03-30 12:00:00")).unwrap();
    assert_eq!(bucket, micros("2024-03-29 23:00:00"));
    bucket = days.next(bucket).unwrap();
    assert_eq!(bucket, micros("2024-03-30 23:00:00"));
    bucket = days.next(bucket).unwrap();
    assert_eq!(bucket, micros("2024-03-31 22:00:00"));
    let bucket = days.bucket(micros("2024-10-27 12:00:00")).unwrap();
    assert_eq!(days.next(bucket).unwrap(), micros("2024-10-27 23:00:00"));
}

proptest! {
    /// Stepping agrees with bucketing: every time is in the bucket that
    /// holds it, before the next one, and a step lands on a bucket start.
    #[test]
    fn steps_and_buckets_agree(
        t in -2_000_000_000_000_000i64..4_000_000_000_000_000,
        width in prop_oneof![
            (1i64..200_000).prop_map(|m| interval(0, 0, m * 60_000_000_000)),
            (1i32..40).prop_map(|d| interval(0, d, 0)),
            (1i32..30).prop_map(|m| interval(m, 0, 0)),
        ],
        zone in prop_oneof![
            Just(None),
            Just(Some("Europe/Berlin")),
            Just(Some("America/New_York")),
            Just(Some("Australia/Lord_Howe")),
        ],
    ) {
        let steps = match zone {
            Some(zone) => zone_steps(width, zone),
            None => {
                let time_type = DataType::Timestamp(TimeUnit::Microsecond, None);
                BucketSteps::new(&[width, ScalarValue::Null], &time_type, None).unwrap()
            }
        };
        let bucket = steps.bucket(t).unwrap();
        let next = steps.next(bucket).unwrap();
        prop_assert!(next > bucket);
        prop_assert_eq!(steps.bucket(next).unwrap(), next);
        // Where a daylight-saving change repeats wall-clock time, a bucket
        // may start after times it holds, as time_bucket places them.
        if zone.is_none() {
            prop_assert!(bucket <= t && t < next);
        } else {
            prop_assert!(t < next);
        }
    }

    #[test]
    fn integer_steps_are_width_apart(t in -1_000_000i64..1_000_000, width in 1i64..1000, offset in -500i64..500) {
        let steps = BucketSteps::new(
            &[ScalarValue::Int64(Some(width)), ScalarValue::Null, ScalarValue::Int64(Some(offset))],
            &DataType::Int64,
            None,
        ).unwrap();
        let bucket = steps.bucket(t).unwrap();
        prop_assert!(bucket <= t && t < bucket + width);
        prop_assert_eq!(steps.next(bucket).unwrap(), bucket + width);
    }
}
