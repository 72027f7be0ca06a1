//! `json_agg(x [ORDER BY ...])` and `jsonb_agg(x ...)`, as DataFusion's
//! `array_agg` of `to_json(x)` (which orders, filters and merges partial
//! states as any aggregate) finished by [`JSON_AGG`]/[`JSONB_AGG`]: the
//! elements joined into one JSON array, a NULL element as `null`, and no
//! row as NULL, as PostgreSQL answers.
//!
//! `DISTINCT` is refused (0A000): PostgreSQL compares the values, not
//! their JSON text (`1.0` and `1.00` are one numeric).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast;

use super::at_time_zone::function_call;
use super::columnar::{arguments, columnar};
use super::json::JsonType;
use crate::pgtype;
use crate::query::error::Error;

/// Finishes `json_agg`: a list of JSON texts as one `json` array.
pub(crate) const JSON_AGG: &str = "epochdb_json_agg";
/// Finishes `jsonb_agg`, normalized as `jsonb`.
pub(crate) const JSONB_AGG: &str = "epochdb_jsonb_agg";

/// `json_agg(x ...)` as `epochdb_json_agg(array_agg(to_json(x) ...))`, and
/// `jsonb_agg` likewise; a window or `WITHIN GROUP` call is left as it is.
pub(crate) fn rewrite(expr: &mut ast::Expr) -> Result<(), Error> {
    let ast::Expr::Function(function) = expr else {
        return Ok(());
    };
    let finish = match function.name.to_string().to_ascii_lowercase().as_str() {
        "json_agg" | "pg_catalog.json_agg" => JSON_AGG,
        "jsonb_agg" | "pg_catalog.jsonb_agg" => JSONB_AGG,
        _ => return Ok(()),
    };
    if function.over.is_some() || !function.within_group.is_empty() {
        return Ok(());
    }
    let ast::FunctionArguments::List(list) = &mut function.args else {
        return Ok(());
    };
    if list.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct) {
        return Err(Error::Unsupported {
            what: format!("{}(DISTINCT ...)", function.name),
        });
    }
    let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(value))] = list.args.as_mut_slice()
    else {
        return Ok(());
    };
    let element = function_call("to_json", vec![std::mem::replace(value, null())]);
    *value = element;
    function.name = ast::ObjectName::from(vec![ast::Ident::new("array_agg")]);
    let aggregate = std::mem::replace(expr, null());
    *expr = function_call(finish, vec![aggregate]);
    Ok(())
}

fn null() -> ast::Expr {
    ast::Expr::Value(ast::Value::Null.into())
}

/// The functions, under their names.
pub(crate) fn udfs() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Finish::new(JsonType::Json)),
        ScalarUDF::new_from_impl(Finish::new(JsonType::Jsonb)),
    ]
}

/// [`JSON_AGG`] or [`JSONB_AGG`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct Finish {
    signature: Signature,
    json: JsonType,
}

impl Finish {
    fn new(json: JsonType) -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
            json,
        }
    }
}

impl ScalarUDFImpl for Finish {
    fn name(&self) -> &str {
        match self.json {
            JsonType::Json => JSON_AGG,
            JsonType::Jsonb => JSONB_AGG,
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        Ok(self.json.field(&format!("{}_agg", self.json.name())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let Some(lists) = arrays.first() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let Some(lists) = lists.as_list_opt::<i32>() else {
            return exec_err!("{} takes a list, not {}", self.name(), lists.data_type());
        };
        let mut out = Vec::with_capacity(lists.len());
        for row in 0..lists.len() {
            if lists.is_null(row) {
                out.push(None);
                continue;
            }
            let elements = lists.value(row);
            let Some(elements) = elements.as_string_opt::<i32>() else {
                return exec_err!("{} takes a list of JSON texts", self.name());
            };
            let mut text = String::from("[");
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(element.unwrap_or("null"));
            }
            text.push(']');
            if self.json == JsonType::Jsonb {
                text = pgtype::jsonb_in(&text).map_err(Error::from)?;
            }
            out.push(Some(text));
        }
        columnar(Arc::new(StringArray::from(out)), scalar)
    }
}
