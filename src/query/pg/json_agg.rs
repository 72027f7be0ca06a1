//! `json_agg(x [ORDER BY ...])` and `jsonb_agg(x ...)`, as DataFusion's
//! `array_agg` of `to_json(x)` (which orders, filters and merges partial
//! states as any aggregate) finished by [`JSON_AGG`]/[`JSONB_AGG`]: the
//! elements joined into one JSON array, a NULL element as `null`, and no
//! row as NULL, as PostgreSQL answers. `json_object_agg(k, v ...)` and
//! `jsonb_object_agg` likewise, as an `array_agg` of the keys and one of
//! `to_json(v)` over the same rows in the same order, zipped into an
//! object (a NULL key is 22023).
//!
//! `DISTINCT` is refused (0A000): PostgreSQL compares the values, not
//! their JSON text (`1.0` and `1.00` are one numeric).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast;

use super::at_time_zone::function_call;
use super::columnar::{arguments, columnar};
use super::json::JsonType;
use crate::pgtype;
use crate::pgtype::json as value;
use crate::query::error::Error;

/// Finishes `json_agg`: a list of JSON texts as one `json` array.
pub(crate) const JSON_AGG: &str = "epochdb_json_agg";
/// Finishes `jsonb_agg`, normalized as `jsonb`.
pub(crate) const JSONB_AGG: &str = "epochdb_jsonb_agg";
/// Finishes `json_object_agg`: lists of keys and of JSON texts as one
/// `json` object.
pub(crate) const JSON_OBJECT_AGG: &str = "epochdb_json_object_agg";
/// Finishes `jsonb_object_agg`, normalized as `jsonb`.
pub(crate) const JSONB_OBJECT_AGG: &str = "epochdb_jsonb_object_agg";

/// `json_agg(x ...)` as `epochdb_json_agg(array_agg(to_json(x) ...))`, and
/// `jsonb_agg` likewise; a window or `WITHIN GROUP` call is left as it is.
pub(crate) fn rewrite(expr: &mut ast::Expr) -> Result<(), Error> {
    let ast::Expr::Function(function) = expr else {
        return Ok(());
    };
    let name = function.name.to_string().to_ascii_lowercase();
    let finish = match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
        "json_agg" => JSON_AGG,
        "jsonb_agg" => JSONB_AGG,
        "json_object_agg" => JSON_OBJECT_AGG,
        "jsonb_object_agg" => JSONB_OBJECT_AGG,
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
    let original = std::mem::replace(
        &mut function.name,
        ast::ObjectName::from(vec![ast::Ident::new("array_agg")]),
    );
    match list.args.as_mut_slice() {
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(value))]
            if matches!(finish, JSON_AGG | JSONB_AGG) =>
        {
            *value = function_call("to_json", vec![std::mem::replace(value, null())]);
            let values = std::mem::replace(expr, null());
            *expr = function_call(finish, vec![values]);
        }
        [
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(_)),
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(value)),
        ] if matches!(finish, JSON_OBJECT_AGG | JSONB_OBJECT_AGG) => {
            // Two aggregates over the same rows, keys and values.
            let value = function_call("to_json", vec![std::mem::replace(value, null())]);
            list.args.pop();
            let mut values = expr.clone();
            if let ast::Expr::Function(values) = &mut values
                && let ast::FunctionArguments::List(list) = &mut values.args
                && let Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(key))) =
                    list.args.first_mut()
            {
                *key = value;
            }
            let keys = std::mem::replace(expr, null());
            *expr = function_call(finish, vec![keys, values]);
        }
        _ => {
            // Left for DataFusion to refuse under its own name.
            function.name = original;
        }
    }
    Ok(())
}

fn null() -> ast::Expr {
    ast::Expr::Value(ast::Value::Null.into())
}

/// The functions, under their names.
pub(crate) fn udfs() -> Vec<ScalarUDF> {
    let mut udfs = Vec::new();
    for json in [JsonType::Json, JsonType::Jsonb] {
        for object in [false, true] {
            udfs.push(ScalarUDF::new_from_impl(Finish::new(json, object)));
        }
    }
    udfs
}

/// [`JSON_AGG`], [`JSONB_AGG`], or with `object`, [`JSON_OBJECT_AGG`] or
/// [`JSONB_OBJECT_AGG`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct Finish {
    signature: Signature,
    json: JsonType,
    object: bool,
}

impl Finish {
    fn new(json: JsonType, object: bool) -> Self {
        Self {
            signature: Signature::any(if object { 2 } else { 1 }, Volatility::Immutable),
            json,
            object,
        }
    }
}

impl ScalarUDFImpl for Finish {
    fn name(&self) -> &str {
        match (self.json, self.object) {
            (JsonType::Json, false) => JSON_AGG,
            (JsonType::Jsonb, false) => JSONB_AGG,
            (JsonType::Json, true) => JSON_OBJECT_AGG,
            (JsonType::Jsonb, true) => JSONB_OBJECT_AGG,
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let shape = if self.object { "_object" } else { "" };
        Ok(self.json.field(&format!("{}{shape}_agg", self.json.name())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let lists = (arrays.iter())
            .map(|a| match a.as_list_opt::<i32>() {
                Some(list) => Ok(list),
                None => exec_err!("{} takes lists, not {}", self.name(), a.data_type()),
            })
            .collect::<Result<Vec<_>>>()?;
        let Some(values) = lists.last() else {
            return exec_err!("{} takes lists", self.name());
        };
        let mut out = Vec::with_capacity(values.len());
        for row in 0..values.len() {
            if values.is_null(row) {
                out.push(None);
                continue;
            }
            let elements = values.value(row);
            let Some(elements) = elements.as_string_opt::<i32>() else {
                return exec_err!("{} takes a list of JSON texts", self.name());
            };
            let mut text = String::new();
            if self.object {
                let keys = keys(&lists[0].value(row))?;
                text.push_str("{ ");
                for (i, (key, element)) in keys.iter().zip(elements.iter()).enumerate() {
                    if i > 0 {
                        text.push_str(", ");
                    }
                    value::write_string(key, &mut text);
                    text.push_str(" : ");
                    text.push_str(element.unwrap_or("null"));
                }
                text.push_str(" }");
            } else {
                text.push('[');
                for (i, element) in elements.iter().enumerate() {
                    if i > 0 {
                        text.push_str(", ");
                    }
                    text.push_str(element.unwrap_or("null"));
                }
                text.push(']');
            }
            if self.json == JsonType::Jsonb {
                text = pgtype::jsonb_in(&text).map_err(Error::from)?;
            }
            out.push(Some(text));
        }
        columnar(Arc::new(StringArray::from(out)), scalar)
    }
}

/// An object's keys as text, as PostgreSQL prints them: text, integers and
/// booleans (other types are refused); a NULL key is an error (22023).
fn keys(keys: &ArrayRef) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(keys.len());
    for row in 0..keys.len() {
        if keys.is_null(row) || keys.data_type().is_null() {
            return Err(Error::InvalidParameterValue {
                message: "field name must not be null".into(),
            }
            .into());
        }
        out.push(match ScalarValue::try_from_array(keys, row)? {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)) => s,
            ScalarValue::Boolean(Some(b)) => b.to_string(),
            other if other.data_type().is_integer() => other.to_string(),
            other => {
                return Err(Error::FeatureNotSupported {
                    message: format!(
                        "json_object_agg with keys of type {} is not supported",
                        pgtype::arrow_type_name(&other.data_type())
                    ),
                }
                .into());
            }
        });
    }
    Ok(out)
}
