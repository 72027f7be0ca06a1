use std::sync::Arc;

use super::*;

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
        assert_eq!(format_float8(value), want, "float8 {value:?}");
    }
    let cases4 = [
        (1.5f32, "1.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (0.1, "0.1"),
    ];
    for (value, want) in cases4 {
        assert_eq!(format_float4(value), want, "float4 {value:?}");
    }
}

#[test]
fn timestamps_trim_fractions_and_render_offsets() {
    let micros = 1_704_067_200_000_000; // 2024-01-01 00:00:00 UTC
    assert_eq!(format_timestamp(micros), "2024-01-01 00:00:00");
    assert_eq!(
        format_timestamp(micros + 120_500),
        "2024-01-01 00:00:00.1205"
    );
    assert_eq!(format_timestamptz(micros, None), "2024-01-01 00:00:00+00");
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    assert_eq!(
        format_timestamptz(micros, Some(&berlin)),
        "2024-01-01 01:00:00+01"
    );
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
    assert_eq!(
        format_timestamptz(micros, Some(&kolkata)),
        "2024-01-01 05:30:00+05:30"
    );
    // Year 0 is 1 BC; the era goes last, after the offset.
    let year_zero = -62_167_219_200_000_000;
    assert_eq!(format_timestamp(year_zero), "0001-01-01 00:00:00 BC");
    assert_eq!(
        format_timestamp(year_zero - 1),
        "0002-12-31 23:59:59.999999 BC"
    );
    assert_eq!(
        format_timestamptz(year_zero, None),
        "0001-01-01 00:00:00+00 BC"
    );
}

#[test]
fn intervals_use_the_postgres_style() {
    assert_eq!(format_interval(0, 0, 0), "00:00:00");
    assert_eq!(
        format_interval(14, 3, 3_723_000_000),
        "1 year 2 mons 3 days 01:02:03"
    );
    assert_eq!(format_interval(0, 1, 0), "1 day");
    assert_eq!(format_interval(0, 0, -1_500_000), "-00:00:01.5");
}

#[test]
fn binary_rows_carry_lengths_and_nulls() {
    use datafusion::arrow::array::{Int32Array, StringArray};
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![Some(7), None])),
            Arc::new(StringArray::from(vec![Some("ab"), Some("")])),
        ],
    )
    .unwrap();
    let fields = field_infos(&schema, |_| FieldFormat::Binary);
    let rows = encode_batch(&batch, &fields, &RenderOptions::new("UTC")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        &rows[0].data[..],
        &[0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 2, b'a', b'b']
    );
    assert_eq!(&rows[1].data[..], &[255, 255, 255, 255, 0, 0, 0, 0]);
}

proptest::proptest! {
    /// The fast path of float8 printing agrees with the general one.
    #[test]
    fn float8_fast_path_agrees(bits in proptest::prelude::any::<u64>(), whole in -1e15f64..1e15) {
        for v in [f64::from_bits(bits), whole.trunc(), whole] {
            proptest::prop_assert_eq!(format_float8(v), format_float8_general(v));
        }
    }
}
