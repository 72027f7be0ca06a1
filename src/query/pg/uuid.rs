//! `uuid` in statements: canonical text marked with its type (field
//! metadata, [`pgtype::pg_type_metadata`]), so clients are told `uuid`.
//! Canonical text compares and sorts as PostgreSQL compares the bytes, so
//! keys, joins, `ORDER BY` and `GROUP BY` of `uuid` values need nothing
//! more; text compared with a `uuid` is read as one first, as PostgreSQL
//! reads an untyped literal (`id = 'A0EEBC99...'`).
//!
//! - `x::uuid` and `uuid '...'` call [`UUID_IN`] (rewritten before
//!   planning); `gen_random_uuid()` returns a `uuid`.
//! - A comparison, `IN` list, `CASE x WHEN` or `nullif` of a `uuid` with
//!   text reads the text as a `uuid`; array functions that compare a
//!   `uuid` with text are refused (0A000).

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, ListArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, exec_err};
use datafusion::logical_expr::expr::{Case, InList};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast;

use super::at_time_zone::function_call;
use super::columnar::{arguments, columnar, unknown};
use super::plan_exprs::is_comparison;
use super::respell::take;
use crate::pgtype;
use crate::query::error::Error;

/// The function `x::uuid` calls.
pub(crate) const UUID_IN: &str = "epochdb_uuid_in";

fn uuid_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::Utf8, true).with_metadata(pgtype::pg_type_metadata("uuid")))
}

/// Whether `expr` is a `uuid`.
fn is_uuid(expr: &Expr, schema: &DFSchema) -> bool {
    expr.to_field(schema)
        .is_ok_and(|(_, field)| pgtype::pg_type_of_metadata(&field) == Some("uuid"))
}

/// Whether `expr` is text that is not marked with a type of its own.
fn plain_text(expr: &Expr, schema: &DFSchema) -> bool {
    expr.to_field(schema).is_ok_and(|(_, field)| {
        unknown(field.data_type()) && pgtype::pg_type_of_metadata(&field).is_none()
    })
}

/// `expr` read as a `uuid`.
fn uuid_in(expr: Expr) -> Expr {
    ScalarUDF::new_from_impl(UuidIn::new()).call(vec![expr])
}

/// Casts to `uuid` as calls of [`UUID_IN`].
pub(crate) fn rewrite_cast(expr: &mut ast::Expr) {
    match expr {
        ast::Expr::Cast {
            kind: ast::CastKind::Cast | ast::CastKind::DoubleColon,
            expr: inner,
            data_type: ast::DataType::Uuid,
            format: None,
            ..
        } => *expr = function_call(UUID_IN, vec![take(inner)]),
        ast::Expr::TypedString(typed) if typed.data_type == ast::DataType::Uuid => {
            *expr = function_call(UUID_IN, vec![ast::Expr::Value(typed.value.clone())]);
        }
        _ => {}
    }
}

/// The functions, under their names.
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(UuidIn::new()),
        ScalarUDF::new_from_impl(GenRandomUuid {
            signature: Signature::nullary(Volatility::Volatile),
        }),
    ]
}

/// Comparisons of a `uuid` with text read the text as a `uuid`.
pub(crate) fn rewrite_comparisons(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    // The operand to read as a `uuid`, when compared with `uuid_side`.
    let reread = |uuid_side: &Expr, other: Expr| -> (Expr, bool) {
        if is_uuid(uuid_side, schema) && plain_text(&other, schema) {
            (uuid_in(other), true)
        } else {
            (other, false)
        }
    };
    Ok(match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            let (right, right_read) = reread(&left, *right);
            let (left, left_read) = reread(&right, *left);
            let expr = Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)));
            Transformed::new_transformed(expr, left_read || right_read)
        }
        Expr::InList(InList {
            expr: value,
            list,
            negated,
        }) if is_uuid(&value, schema) => {
            let mut changed = false;
            let list = (list.into_iter())
                .map(|item| {
                    let (item, read) = reread(&value, item);
                    changed |= read;
                    item
                })
                .collect();
            Transformed::new_transformed(Expr::InList(InList::new(value, list, negated)), changed)
        }
        // Text sought among `uuid`s (`'A0EE...' = ANY(ARRAY[id, ref])`).
        Expr::InList(InList {
            expr: value,
            list,
            negated,
        }) if plain_text(&value, schema) && list.iter().any(|item| is_uuid(item, schema)) => {
            Transformed::yes(Expr::InList(InList::new(
                Box::new(uuid_in(*value)),
                list,
                negated,
            )))
        }
        Expr::Case(Case {
            expr: Some(value),
            when_then_expr,
            else_expr,
        }) if is_uuid(&value, schema) => {
            let mut changed = false;
            let when_then_expr = (when_then_expr.into_iter())
                .map(|(when, then)| {
                    let (when, read) = reread(&value, *when);
                    changed |= read;
                    (Box::new(when), then)
                })
                .collect();
            let case = Expr::Case(Case::new(Some(value), when_then_expr, else_expr));
            Transformed::new_transformed(case, changed)
        }
        Expr::ScalarFunction(mut call) if call.func.name() == "nullif" => {
            let mut changed = false;
            if let [first, second] = call.args.as_mut_slice() {
                let (new_second, second_read) = reread(first, take_expr(second));
                *second = new_second;
                let (new_first, first_read) = reread(second, take_expr(first));
                *first = new_first;
                changed = first_read || second_read;
            }
            Transformed::new_transformed(Expr::ScalarFunction(call), changed)
        }
        // `= ANY(array)`, `@>`, `&&`, `array_position`, ...: text and
        // arrays of text among `uuid`s are read as `uuid`s.
        Expr::ScalarFunction(mut call)
            if call.func.name().starts_with("array_")
                && call.args.iter().any(|a| holds_uuid(a, schema))
                && call.args.iter().any(|a| holds_plain_text(a, schema)) =>
        {
            for arg in &mut call.args {
                if holds_plain_text(arg, schema) {
                    let text = take_expr(arg);
                    *arg = match text.get_type(schema)? {
                        DataType::List(_) | DataType::LargeList(_) => {
                            ScalarUDF::new_from_impl(UuidIn::array()).call(vec![text])
                        }
                        _ => uuid_in(text),
                    };
                }
            }
            Transformed::yes(Expr::ScalarFunction(call))
        }
        other => Transformed::no(other),
    })
}

/// `expr`, moved out, a NULL left in its place.
fn take_expr(expr: &mut Expr) -> Expr {
    std::mem::replace(
        expr,
        Expr::Literal(datafusion::common::ScalarValue::Null, None),
    )
}

/// Whether `expr` is a `uuid` or an array of them (an array built of
/// them too: `make_array` does not keep its elements' type).
fn holds_uuid(expr: &Expr, schema: &DFSchema) -> bool {
    let marked = expr.to_field(schema).is_ok_and(|(_, field)| {
        let element = match field.data_type() {
            DataType::List(element) | DataType::LargeList(element) => element.clone(),
            _ => field,
        };
        pgtype::pg_type_of_metadata(&element) == Some("uuid")
    });
    marked
        || matches!(expr, Expr::ScalarFunction(call)
            if call.func.name() == "make_array" && call.args.iter().any(|a| is_uuid(a, schema)))
}

/// Whether `expr` is plain text or an array of it (not one built of
/// `uuid`s).
fn holds_plain_text(expr: &Expr, schema: &DFSchema) -> bool {
    if holds_uuid(expr, schema) {
        return false;
    }
    expr.to_field(schema).is_ok_and(|(_, field)| {
        let element = match field.data_type() {
            DataType::List(element) | DataType::LargeList(element) => element.clone(),
            _ => field,
        };
        unknown(element.data_type())
            && !element.data_type().is_null()
            && pgtype::pg_type_of_metadata(&element).is_none()
    })
}

/// `epochdb_uuid_in(text)`, and `epochdb_uuid_array_in(text[])`, which
/// reads each element.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UuidIn {
    signature: Signature,
    array: bool,
}

impl UuidIn {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
            array: false,
        }
    }

    fn array() -> Self {
        Self {
            array: true,
            ..Self::new()
        }
    }
}

impl ScalarUDFImpl for UuidIn {
    fn name(&self) -> &str {
        if self.array {
            "epochdb_uuid_array_in"
        } else {
            UUID_IN
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match (self.array, arg_types) {
            (true, [list]) => list.clone(),
            _ => DataType::Utf8,
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let [arg] = args.arg_fields else {
            return exec_err!("{UUID_IN} takes one argument");
        };
        if self.array {
            return Ok(Arc::new(Field::new(
                self.name(),
                arg.data_type().clone(),
                true,
            )));
        }
        if !unknown(arg.data_type()) {
            return Err(Error::CannotCoerce {
                from: pgtype::arrow_type_name(arg.data_type()),
                to: "uuid".to_owned(),
            }
            .into());
        }
        Ok(uuid_field(UUID_IN))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        if self.array {
            let Some(list) = arrays[0].as_list_opt::<i32>() else {
                return exec_err!("{} takes a list", self.name());
            };
            let texts = cast(list.values(), &DataType::Utf8)?;
            let read: StringArray = (texts.as_string::<i32>().iter())
                .map(|text| text.map(pgtype::uuid_in).transpose().map_err(Error::from))
                .collect::<Result<_, Error>>()?;
            let (field, offsets, _, nulls) = list.clone().into_parts();
            let field = Arc::new(Field::new(
                field.name(),
                DataType::Utf8,
                field.is_nullable(),
            ));
            let out = ListArray::try_new(field, offsets, Arc::new(read), nulls)?;
            return columnar(Arc::new(out), scalar);
        }
        let texts = cast(&arrays[0], &DataType::Utf8)?;
        let out: StringArray = (texts.as_string::<i32>().iter())
            .map(|text| text.map(pgtype::uuid_in).transpose().map_err(Error::from))
            .collect::<Result<_, Error>>()?;
        columnar(Arc::new(out), scalar)
    }
}

/// `gen_random_uuid()`: DataFusion's version 4 UUIDs, as `uuid`s.
#[derive(Debug, PartialEq, Eq, Hash)]
struct GenRandomUuid {
    signature: Signature,
}

impl ScalarUDFImpl for GenRandomUuid {
    fn name(&self) -> &str {
        "gen_random_uuid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        Ok(uuid_field(self.name()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        datafusion::functions::string::uuid().invoke_with_args(args)
    }
}
