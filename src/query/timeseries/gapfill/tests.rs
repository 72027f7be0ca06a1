use crate::query::pg::dialect::PostgresDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::*;
use crate::query::Error;

fn positional(sql: &str) -> Result<String, Error> {
    let mut statements = Parser::parse_sql(&PostgresDialect::default(), sql).unwrap();
    positional_arguments(&mut statements[0])?;
    Ok(statements[0].to_string())
}

#[test]
fn named_arguments_become_positional_with_nulls_for_the_skipped() {
    assert_eq!(
        positional("SELECT time_bucket_gapfill('1h', time, finish => now())").unwrap(),
        "SELECT time_bucket_gapfill('1h', time, NULL, NULL, now())"
    );
    assert_eq!(
        positional("SELECT time_bucket_gapfill('1h', time, 'Europe/Berlin', start => x)").unwrap(),
        "SELECT time_bucket_gapfill('1h', time, 'Europe/Berlin', x)"
    );
    assert_eq!(
        positional("SELECT time_bucket_gapfill('1h', time, a, finish => b)").unwrap(),
        "SELECT time_bucket_gapfill('1h', time, NULL, a, b)"
    );
    assert_eq!(
        positional("SELECT locf(avg(v), treat_null_as_missing => true)").unwrap(),
        "SELECT locf(avg(v), NULL, true)"
    );
    assert_eq!(
        positional("SELECT interpolate(avg(v), next => n, prev => p)").unwrap(),
        "SELECT interpolate(avg(v), p, n)"
    );
}

#[test]
fn other_calls_and_positional_calls_are_left_alone() {
    let sql = "SELECT time_bucket_gapfill('1h', time, a, b), f(x => 1)";
    assert_eq!(positional(sql).unwrap(), sql);
}

#[test]
fn unknown_and_repeated_names_are_errors() {
    assert!(positional("SELECT locf(v, bogus => 1)").is_err());
    assert!(positional("SELECT locf(v, prev => 1, prev => 2)").is_err());
    assert!(positional("SELECT locf(v, value => 1)").is_err());
}
