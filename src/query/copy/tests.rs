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
