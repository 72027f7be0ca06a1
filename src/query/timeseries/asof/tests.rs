use crate::query::pg::dialect::PostgresDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::*;
use crate::query::Error;

fn rewritten(sql: &str) -> Result<String, Error> {
    let mut statements = Parser::parse_sql(&PostgresDialect::default(), sql).unwrap();
    rewrite_joins(&mut statements[0])?;
    Ok(statements[0].to_string())
}

#[test]
fn asof_joins_become_left_joins_with_a_marker() {
    assert_eq!(
        rewritten(
            "SELECT * FROM t ASOF JOIN q MATCH_CONDITION (t.time >= q.time) ON t.sym = q.sym"
        )
        .unwrap(),
        "SELECT * FROM t LEFT OUTER JOIN q ON (t.sym = q.sym) AND epochdb_asof(t.time, q.time, '>=')"
    );
    assert_eq!(
        rewritten(
            "SELECT * FROM (SELECT * FROM t ASOF JOIN q MATCH_CONDITION (q.time < t.time \
             AND t.time - q.time <= INTERVAL '1 minute')) AS s"
        )
        .unwrap(),
        "SELECT * FROM (SELECT * FROM t LEFT OUTER JOIN q ON epochdb_asof(q.time, t.time, '<', \
         INTERVAL '1 minute')) AS s"
    );
}

#[test]
fn other_match_conditions_are_refused() {
    for sql in [
        "SELECT * FROM t ASOF JOIN q MATCH_CONDITION (t.time = q.time)",
        "SELECT * FROM t ASOF JOIN q MATCH_CONDITION (t.time >= q.time AND t.x > 1)",
        "SELECT * FROM t ASOF JOIN q MATCH_CONDITION (t.time >= q.time) USING (sym)",
    ] {
        assert!(rewritten(sql).is_err(), "{sql}");
    }
}
