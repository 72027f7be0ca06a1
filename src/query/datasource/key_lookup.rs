//! Point lookups on a plain table: a filter `column = constant` on a column
//! that a unique constraint covers alone is answered by the constraint's
//! keys, which name the one row that can match, so the scan reads one
//! block instead of the table. The filter is still applied after.

use datafusion::arrow::array::ArrayRef;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

use crate::storage::Table;

/// `column = constant` (either way round) on a column with a key of its
/// own, as the column's index and the constant as a one-row array of the
/// column's type. Floats are left to the scan: `-0` and `0` are equal but
/// have different keys.
pub(crate) fn key_equality(table: &Table, expr: &Expr) -> Option<(usize, ArrayRef)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = expr
    else {
        return None;
    };
    let (column, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => (c, v),
        _ => return None,
    };
    let schema = table.schema();
    let index = schema
        .columns()
        .iter()
        .position(|c| c.name == column.name)?;
    if !(schema.constraints().iter()).any(|c| c.columns == [index]) {
        return None;
    }
    let data_type = schema.arrow_schema().field(index).data_type();
    if data_type.is_floating() || value.is_null() {
        return None;
    }
    // Only a constant that the column's type holds exactly.
    let cast = value.cast_to(data_type).ok()?;
    if cast.cast_to(&value.data_type()).ok()? != *value {
        return None;
    }
    ScalarValue::to_array(&cast)
        .ok()
        .map(|array| (index, array))
}

/// The first key equality among `filters`, if any: the scan can read the
/// one row it names ([`Table::snapshot_by_key`]).
pub(crate) fn key_filter(table: &Table, filters: &[Expr]) -> Option<(usize, ArrayRef)> {
    if !table.schema().is_plain() {
        return None;
    }
    filters.iter().find_map(|f| key_equality(table, f))
}
