//! `json` and `jsonb` in statements. Both are text marked with their type
//! (field metadata, [`pgtype::pg_type_metadata`]), so clients are told
//! `json` or `jsonb`;
//! the values are read and normalized by [`pgtype::json`].
//!
//! - `x::json`, `x::jsonb`, `jsonb '...'` call [`JSON_IN`]/[`JSONB_IN`]
//!   (rewritten before planning): text checked, or normalized.
//! - `->`, `->>`, `#>`, `#>>` look values up, `@>`, `<@`, `?`, `?|` and
//!   `?&` test `jsonb` values, `=`/`<>` compare them as PostgreSQL does
//!   (numbers by value), and `||` joins them: planned here, by type, before
//!   DataFusion's planners, which would take `@>` for arrays and `||` for
//!   text.
//! - What PostgreSQL orders or groups by `jsonb`'s own rules (`<`, `ORDER
//!   BY`, `GROUP BY`, `DISTINCT`) is refused (0A000), and what
//!   `json` has no operator for, as PostgreSQL refuses it (42883).
//! - `json_typeof`/`jsonb_typeof` and `json_array_length`/`jsonb_array_length`.
//! - `to_json[b]`, `json[b]_build_object` and `json[b]_build_array` of text,
//!   numbers, booleans and JSON values.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Distinct, Expr, ExprSchemable, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::sql::sqlparser::ast;

use super::at_time_zone::function_call;
use super::columnar::{arguments, columnar};
use super::respell::take;
use crate::pgtype;
use crate::pgtype::json::{self as value, Node, Step};
use crate::query::error::Error;

/// The function `x::json` calls.
pub(crate) const JSON_IN: &str = "epochdb_json_in";
/// The function `x::jsonb` calls.
pub(crate) const JSONB_IN: &str = "epochdb_jsonb_in";

/// Which of the two types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum JsonType {
    Json,
    Jsonb,
}

impl JsonType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            JsonType::Json => "json",
            JsonType::Jsonb => "jsonb",
        }
    }

    fn of_field(field: &Field) -> Option<Self> {
        match pgtype::pg_type_of_metadata(field)? {
            "json" => Some(JsonType::Json),
            "jsonb" => Some(JsonType::Jsonb),
            _ => None,
        }
    }

    pub(crate) fn field(self, name: &str) -> FieldRef {
        let metadata = pgtype::pg_type_metadata(self.name());
        Arc::new(Field::new(name, DataType::Utf8, true).with_metadata(metadata))
    }
}

/// The JSON type of `expr`, if it has one.
fn json_type(expr: &Expr, schema: &DFSchema) -> Option<JsonType> {
    let (_, field) = expr.to_field(schema).ok()?;
    JsonType::of_field(&field)
}

/// The JSON type of a field or of a value inside it (an array's elements,
/// a row's fields).
fn field_json(field: &Field) -> Option<JsonType> {
    JsonType::of_field(field).or_else(|| match field.data_type() {
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::FixedSizeList(element, _) => field_json(element),
        DataType::Struct(fields) => fields.iter().find_map(|f| field_json(f)),
        _ => None,
    })
}

/// The JSON type `expr` has or holds: itself, its elements or fields, or
/// the arguments of the row or array it builds.
fn holds_json(expr: &Expr, schema: &DFSchema) -> Option<JsonType> {
    let (_, field) = expr.to_field(schema).ok()?;
    field_json(&field).or_else(|| match expr {
        Expr::ScalarFunction(call)
            if matches!(call.func.name(), "struct" | "named_struct" | "make_array") =>
        {
            call.args.iter().find_map(|a| holds_json(a, schema))
        }
        _ => None,
    })
}

/// The name PostgreSQL gives the type of `expr` in an error.
fn type_name(expr: &Expr, schema: &DFSchema) -> String {
    match (json_type(expr, schema), expr.get_type(schema)) {
        (Some(json), _) => json.name().to_owned(),
        // A literal PostgreSQL leaves untyped.
        (None, Ok(DataType::Utf8)) if matches!(expr, Expr::Literal(..)) => "unknown".to_owned(),
        (None, Ok(t)) => pgtype::arrow_type_name(&t),
        (None, Err(_)) => "unknown".to_owned(),
    }
}

/// Casts to `json` and `jsonb` as calls of [`JSON_IN`] and [`JSONB_IN`].
pub(crate) fn rewrite_cast(expr: &mut ast::Expr) {
    let function = |data_type: &ast::DataType| match data_type {
        ast::DataType::JSON => Some(JSON_IN),
        ast::DataType::JSONB => Some(JSONB_IN),
        _ => None,
    };
    match expr {
        ast::Expr::Cast {
            kind: ast::CastKind::Cast | ast::CastKind::DoubleColon,
            expr: inner,
            data_type,
            format: None,
            ..
        } => {
            if let Some(name) = function(data_type) {
                *expr = function_call(name, vec![take(inner)]);
            }
        }
        ast::Expr::TypedString(typed) => {
            if let Some(name) = function(&typed.data_type) {
                let literal = ast::Expr::Value(typed.value.clone());
                *expr = function_call(name, vec![literal]);
            }
        }
        _ => {}
    }
}

/// The functions, under their names.
pub(crate) fn udfs() -> Vec<ScalarUDF> {
    let mut udfs = vec![
        ScalarUDF::new_from_impl(JsonIn::new(JsonType::Json)),
        ScalarUDF::new_from_impl(JsonIn::new(JsonType::Jsonb)),
    ];
    for json in [JsonType::Json, JsonType::Jsonb] {
        for op in [Op::TypeOf, Op::ArrayLength] {
            udfs.push(ScalarUDF::new_from_impl(JsonOp::new(op, json)));
        }
        for shape in [Build::Value, Build::Array, Build::Object] {
            udfs.push(ScalarUDF::new_from_impl(JsonBuild::new(shape, json)));
        }
    }
    udfs
}

/// `epochdb_json_in(text)` and `epochdb_jsonb_in(text)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonIn {
    signature: Signature,
    json: JsonType,
}

impl JsonIn {
    fn new(json: JsonType) -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
            json,
        }
    }
}

impl ScalarUDFImpl for JsonIn {
    fn name(&self) -> &str {
        match self.json {
            JsonType::Json => JSON_IN,
            JsonType::Jsonb => JSONB_IN,
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let [arg] = args.arg_fields else {
            return exec_err!("{} takes one argument", self.name());
        };
        if !super::columnar::unknown(arg.data_type()) {
            return Err(Error::CannotCoerce {
                from: pgtype::arrow_type_name(arg.data_type()),
                to: self.json.name().to_owned(),
            }
            .into());
        }
        Ok(self.json.field(self.json.name()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let texts = cast(&arrays[0], &DataType::Utf8)?;
        let out: StringArray = (texts.as_string::<i32>().iter())
            .map(|text| {
                text.map(|t| match self.json {
                    JsonType::Json => pgtype::json_in(t).map(|()| t.to_owned()),
                    JsonType::Jsonb => pgtype::jsonb_in(t),
                })
                .transpose()
                .map_err(Error::from)
            })
            .collect::<Result<_, Error>>()?;
        columnar(Arc::new(out), scalar)
    }
}

/// What a [`JsonBuild`] makes of its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Build {
    /// `to_json(x)`, `to_jsonb(x)`.
    Value,
    /// `json_build_array(...)`, `jsonb_build_array(...)`.
    Array,
    /// `json_build_object(k, v, ...)`, `jsonb_build_object(k, v, ...)`.
    Object,
}

/// JSON built of SQL values: text as strings, numbers, booleans, NULL as
/// null, and JSON as itself. `json` is written as PostgreSQL's `json`
/// builders write it (`{"a" : 1}`), `jsonb` normalized.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuild {
    signature: Signature,
    shape: Build,
    json: JsonType,
    name: String,
}

impl JsonBuild {
    fn new(shape: Build, json: JsonType) -> Self {
        let (name, signature) = match shape {
            Build::Value => (
                format!("to_{}", json.name()),
                Signature::any(1, Volatility::Stable),
            ),
            Build::Array => (format!("{}_build_array", json.name()), any_count()),
            Build::Object => (format!("{}_build_object", json.name()), any_count()),
        };
        Self {
            signature,
            shape,
            json,
            name,
        }
    }
}

impl ScalarUDFImpl for JsonBuild {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        for field in args.arg_fields {
            if JsonType::of_field(field).is_none() && !json_writable(field.data_type()) {
                return Err(Error::FeatureNotSupported {
                    message: format!(
                        "{} of a value of type {} is not supported",
                        self.name,
                        pgtype::arrow_type_name(field.data_type())
                    ),
                }
                .into());
            }
        }
        if self.shape == Build::Object && !args.arg_fields.len().is_multiple_of(2) {
            return Err(Error::InvalidParameterValue {
                message: "argument list must have even number of elements".into(),
            }
            .into());
        }
        Ok(self.json.field(&self.name))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let embedded: Vec<bool> = (args.arg_fields.iter())
            .map(|f| JsonType::of_field(f).is_some())
            .collect();
        let (arrays, scalar) = arguments(&args.args)?;
        let rows = arrays.first().map_or(1, |a| a.len());
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let value = |i: usize| json_value(&arrays[i], row, embedded[i]);
            let mut text = String::new();
            match self.shape {
                Build::Value => match value(0)? {
                    None => {
                        out.push(None);
                        continue;
                    }
                    Some(v) => text = v,
                },
                Build::Array => {
                    text.push('[');
                    for i in 0..arrays.len() {
                        if i > 0 {
                            text.push_str(", ");
                        }
                        text.push_str(value(i)?.as_deref().unwrap_or("null"));
                    }
                    text.push(']');
                }
                Build::Object => {
                    text.push('{');
                    for i in (0..arrays.len()).step_by(2) {
                        if null_at(&arrays[i], row) {
                            return Err(Error::InvalidParameterValue {
                                message: format!("argument {} cannot be null", i + 1),
                            }
                            .into());
                        }
                        let key = cast(&arrays[i].slice(row, 1), &DataType::Utf8)?;
                        if i > 0 {
                            text.push_str(", ");
                        }
                        value::write_string(key.as_string::<i32>().value(0), &mut text);
                        text.push_str(" : ");
                        text.push_str(value(i + 1)?.as_deref().unwrap_or("null"));
                    }
                    text.push('}');
                }
            }
            if self.json == JsonType::Jsonb {
                text = pgtype::jsonb_in(&text).map_err(Error::from)?;
            }
            out.push(Some(text));
        }
        columnar(Arc::new(StringArray::from(out)), scalar)
    }
}

/// Any number of arguments of any types, none too.
fn any_count() -> Signature {
    Signature::one_of(
        vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
        Volatility::Stable,
    )
}

/// Whether row `row` of `array` is NULL (every row of an untyped NULL,
/// which has no validity of its own).
fn null_at(array: &ArrayRef, row: usize) -> bool {
    array.data_type().is_null() || array.is_null(row)
}

/// Whether values of `data_type` have a JSON form here.
fn json_writable(data_type: &DataType) -> bool {
    data_type.is_null()
        || data_type.is_integer()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(..)
                | DataType::Utf8
                | DataType::Utf8View
                | DataType::LargeUtf8
        )
}

/// Row `row` of `array` as JSON text (`None` for NULL); `embedded` for a
/// JSON value, which is written as it is.
fn json_value(array: &ArrayRef, row: usize, embedded: bool) -> Result<Option<String>> {
    if null_at(array, row) {
        return Ok(None);
    }
    let value = ScalarValue::try_from_array(array, row)?;
    let mut text = String::new();
    match value {
        ScalarValue::Boolean(Some(b)) => text.push_str(if b { "true" } else { "false" }),
        ScalarValue::Float32(Some(v)) => float_json(f64::from(v), pgtype::float4_out(v), &mut text),
        ScalarValue::Float64(Some(v)) => float_json(v, pgtype::float8_out(v), &mut text),
        ScalarValue::Decimal128(Some(v), _, scale) => text.push_str(&pgtype::numeric_out(v, scale)),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => {
            if embedded {
                text = s;
            } else {
                value::write_string(&s, &mut text);
            }
        }
        other if other.data_type().is_integer() => text = other.to_string(),
        other => {
            return Err(Error::FeatureNotSupported {
                message: format!(
                    "JSON of a value of type {} is not supported",
                    pgtype::arrow_type_name(&other.data_type())
                ),
            }
            .into());
        }
    }
    Ok(Some(text))
}

/// A float as JSON: a number, or a string for `NaN` and the infinities,
/// as PostgreSQL writes them.
fn float_json(v: f64, printed: String, out: &mut String) {
    if v.is_finite() {
        out.push_str(&printed);
    } else {
        value::write_string(&printed, out);
    }
}

/// What a [`JsonOp`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    /// `->` (`as_text` false) and `->>`: the right operand a key or an
    /// index, by its type.
    Get {
        as_text: bool,
        by_index: bool,
    },
    /// `#>` and `#>>`: the right operand a path, a `text[]`.
    Path {
        as_text: bool,
    },
    /// `@>`, or `<@` with the operands swapped.
    Contains,
    /// `?`.
    HasKey,
    /// `?|` (`all` false) and `?&`.
    HasKeys {
        all: bool,
    },
    /// `=` (`negated` false) and `<>`.
    Equal {
        negated: bool,
    },
    /// `||` of `jsonb` values.
    Concat,
    TypeOf,
    ArrayLength,
}

/// One JSON operator or function of a JSON value.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonOp {
    signature: Signature,
    op: Op,
    json: JsonType,
    name: String,
}

impl JsonOp {
    fn new(op: Op, json: JsonType) -> Self {
        let name = match op {
            Op::TypeOf => format!("{}_typeof", json.name()),
            Op::ArrayLength => format!("{}_array_length", json.name()),
            // PostgreSQL's names for the functions behind the operators.
            other => {
                let function = match other {
                    Op::Get {
                        as_text: false,
                        by_index: false,
                    } => "object_field",
                    Op::Get {
                        as_text: true,
                        by_index: false,
                    } => "object_field_text",
                    Op::Get {
                        as_text: false,
                        by_index: true,
                    } => "array_element",
                    Op::Get {
                        as_text: true,
                        by_index: true,
                    } => "array_element_text",
                    Op::Path { as_text: false } => "extract_path",
                    Op::Path { as_text: true } => "extract_path_text",
                    Op::Contains => "contains",
                    Op::HasKey => "exists",
                    Op::HasKeys { all: false } => "exists_any",
                    Op::HasKeys { all: true } => "exists_all",
                    Op::Equal { negated: false } => "eq",
                    Op::Equal { negated: true } => "ne",
                    Op::Concat => "concat",
                    Op::TypeOf | Op::ArrayLength => "",
                };
                format!("{}_{function}", json.name())
            }
        };
        let arity = match op {
            Op::TypeOf | Op::ArrayLength => 1,
            _ => 2,
        };
        Self {
            signature: Signature::any(arity, Volatility::Immutable),
            op,
            json,
            name,
        }
    }

    fn call(op: Op, json: JsonType, args: Vec<Expr>) -> Expr {
        ScalarUDF::new_from_impl(Self::new(op, json)).call(args)
    }
}

impl ScalarUDFImpl for JsonOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.op {
            Op::Get { .. } | Op::Path { .. } | Op::TypeOf | Op::Concat => DataType::Utf8,
            Op::ArrayLength => DataType::Int32,
            Op::Contains | Op::HasKey | Op::HasKeys { .. } | Op::Equal { .. } => DataType::Boolean,
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        if matches!(self.op, Op::TypeOf | Op::ArrayLength)
            && let [arg] = args.arg_fields
            && !super::columnar::unknown(arg.data_type())
        {
            return Err(super::columnar::no_such_function(
                &self.name,
                &[arg.data_type().clone()],
            ));
        }
        Ok(match self.op {
            Op::Get { as_text: false, .. } | Op::Path { as_text: false } | Op::Concat => {
                self.json.field(&self.name)
            }
            _ => Arc::new(Field::new(&self.name, self.return_type(&[])?, true)),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let texts = cast(&arrays[0], &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let for_jsonb = self.json == JsonType::Jsonb;
        let parse = |row: usize| -> Result<Option<Node>> {
            if texts.is_null(row) {
                return Ok(None);
            }
            value::parse(texts.value(row), for_jsonb)
                .map(Some)
                .map_err(|e| Error::from(e).into())
        };
        let out: ArrayRef = match self.op {
            Op::TypeOf => {
                let types = (0..rows)
                    .map(|row| Ok(parse(row)?.as_ref().map(value::type_of)))
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(StringArray::from(types))
            }
            Op::ArrayLength => {
                let mut lengths = Vec::with_capacity(rows);
                for row in 0..rows {
                    lengths.push(match parse(row)?.map(|n| n.kind) {
                        None => None,
                        Some(value::Kind::Array(elements)) => i32::try_from(elements.len()).ok(),
                        Some(value::Kind::Object(_)) => {
                            return Err(self.not_an_array("a non-array"));
                        }
                        Some(_) => return Err(self.not_an_array("a scalar")),
                    });
                }
                Arc::new(Int32Array::from(lengths))
            }
            Op::Get { as_text, by_index } => {
                let found = per_row(texts, &arrays[1], for_jsonb, |node, text, key| {
                    let step = if by_index {
                        let index = key.parse().map_err(|_| {
                            DataFusionError::Internal(format!(
                                "array index {key} is not an integer"
                            ))
                        })?;
                        Step::Index(index)
                    } else {
                        Step::Key(key)
                    };
                    Ok(lookup(value::child(node, step), text, as_text))
                })?;
                Arc::new(StringArray::from_iter(
                    found.into_iter().map(Option::flatten),
                ))
            }
            Op::Path { as_text } => {
                let found = per_row(texts, &arrays[1], for_jsonb, |node, text, path| {
                    let steps = path_steps(path)?;
                    let steps: Option<Vec<&str>> = steps.iter().map(Option::as_deref).collect();
                    // A NULL step finds nothing.
                    Ok(steps
                        .and_then(|steps| lookup(value::path_child(node, &steps), text, as_text)))
                })?;
                Arc::new(StringArray::from_iter(
                    found.into_iter().map(Option::flatten),
                ))
            }
            Op::Concat => {
                let joined = per_row(texts, &arrays[1], for_jsonb, |node, text, other_text| {
                    let other = value::parse(other_text, true).map_err(Error::from)?;
                    Ok(value::concat(node, text, &other, other_text).map_err(Error::from)?)
                })?;
                Arc::new(StringArray::from(joined))
            }
            Op::Contains | Op::Equal { .. } | Op::HasKey | Op::HasKeys { .. } => {
                let tests = per_row(texts, &arrays[1], for_jsonb, |node, text, other_text| {
                    Ok(match self.op {
                        Op::HasKey => value::has_key(node, other_text),
                        Op::HasKeys { all } => {
                            // NULL elements of the array are skipped.
                            let wanted = path_steps(other_text)?;
                            let mut wanted = wanted.iter().flatten();
                            if all {
                                wanted.all(|k| value::has_key(node, k))
                            } else {
                                wanted.any(|k| value::has_key(node, k))
                            }
                        }
                        op => {
                            let other = value::parse(other_text, true).map_err(Error::from)?;
                            match op {
                                Op::Equal { negated } => {
                                    value::equal(node, text, &other, other_text) != negated
                                }
                                _ => value::contains(node, text, &other, other_text),
                            }
                        }
                    })
                })?;
                Arc::new(BooleanArray::from(tests))
            }
        };
        columnar(out, scalar)
    }
}

impl JsonOp {
    fn not_an_array(&self, what: &str) -> DataFusionError {
        Error::InvalidParameterValue {
            message: format!("cannot get array length of {what}"),
        }
        .into()
    }
}

/// `f` of each row's JSON value (parsed, and its text) and the text of the
/// other operand; NULL where either is.
fn per_row<T>(
    texts: &StringArray,
    others: &ArrayRef,
    for_jsonb: bool,
    mut f: impl FnMut(&Node, &str, &str) -> Result<T>,
) -> Result<Vec<Option<T>>> {
    let others = cast(others, &DataType::Utf8)?;
    let others = others.as_string::<i32>();
    (0..texts.len())
        .map(|row| {
            if texts.is_null(row) || others.is_null(row) {
                return Ok(None);
            }
            let text = texts.value(row);
            let node = value::parse(text, for_jsonb).map_err(Error::from)?;
            f(&node, text, others.value(row)).map(Some)
        })
        .collect()
}

/// A looked-up value as `->` (its text) or `->>` (a string's value, NULL
/// for null) gives it.
fn lookup(found: Option<&Node>, text: &str, as_text: bool) -> Option<String> {
    let found = found?;
    if as_text {
        value::as_text(found, text)
    } else {
        Some(text[found.span.clone()].to_owned())
    }
}

/// The elements of a `text[]` operand, written as an array literal (the
/// planner hands a list as its text form).
fn path_steps(literal: &str) -> Result<Vec<Option<String>>> {
    pgtype::array_elements(literal).map_err(|e| Error::from(e).into())
}

/// Plans PostgreSQL's JSON operators by the types of their operands.
#[derive(Debug)]
pub(crate) struct JsonOperators;

impl ExprPlanner for JsonOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        use ast::BinaryOperator as B;
        let RawBinaryExpr { op, left, right } = expr;
        let (left_json, right_json) = (json_type(&left, schema), json_type(&right, schema));
        let Some(json) = left_json.or(right_json) else {
            return Ok(PlannerResult::Original(RawBinaryExpr { op, left, right }));
        };
        let message = format!(
            "operator does not exist: {} {op} {}",
            type_name(&left, schema),
            type_name(&right, schema)
        );
        let undefined = || -> Result<PlannerResult<RawBinaryExpr>> {
            Err(Error::UndefinedFunction {
                message: message.clone(),
            }
            .into())
        };
        let jsonb_only = |planned: Expr| -> Result<PlannerResult<RawBinaryExpr>> {
            if left_json == Some(JsonType::Jsonb) {
                Ok(PlannerResult::Planned(planned))
            } else {
                undefined()
            }
        };
        let integer = right.get_type(schema).is_ok_and(|t| t.is_integer());
        let text_operand = |e: &Expr| {
            json_type(e, schema).is_some()
                || e.get_type(schema)
                    .is_ok_and(|t| super::columnar::unknown(&t))
        };
        // Both operands `jsonb`, or one `jsonb` and the other an untyped
        // literal, which PostgreSQL reads as `jsonb`.
        let both_jsonb = left_json.is_none_or(|j| j == JsonType::Jsonb)
            && right_json.is_none_or(|j| j == JsonType::Jsonb)
            && text_operand(&left)
            && text_operand(&right);
        match op {
            B::Arrow | B::LongArrow if left_json.is_some() => {
                if !integer && !text_operand(&right) {
                    return undefined();
                }
                let op = Op::Get {
                    as_text: op == B::LongArrow,
                    by_index: integer,
                };
                Ok(PlannerResult::Planned(JsonOp::call(
                    op,
                    json,
                    vec![left, right],
                )))
            }
            B::HashArrow | B::HashLongArrow if left_json.is_some() => {
                let right = as_text_array(right, schema)?;
                let op = Op::Path {
                    as_text: op == B::HashLongArrow,
                };
                Ok(PlannerResult::Planned(JsonOp::call(
                    op,
                    json,
                    vec![left, right],
                )))
            }
            B::AtArrow if text_operand(&right) => {
                jsonb_only(JsonOp::call(Op::Contains, json, vec![left, right]))
            }
            B::ArrowAt if both_jsonb => Ok(PlannerResult::Planned(JsonOp::call(
                Op::Contains,
                json,
                vec![right, left],
            ))),
            B::Question if text_operand(&right) => {
                jsonb_only(JsonOp::call(Op::HasKey, json, vec![left, right]))
            }
            B::QuestionPipe | B::QuestionAnd => {
                let all = op == B::QuestionAnd;
                let right = as_text_array(right, schema)?;
                jsonb_only(JsonOp::call(Op::HasKeys { all }, json, vec![left, right]))
            }
            B::Eq | B::NotEq if both_jsonb => {
                let (jsonb, other) = if left_json.is_some() {
                    (left, right)
                } else {
                    (right, left)
                };
                let negated = op == B::NotEq;
                Ok(PlannerResult::Planned(JsonOp::call(
                    Op::Equal { negated },
                    JsonType::Jsonb,
                    vec![jsonb, other],
                )))
            }
            B::StringConcat if both_jsonb => Ok(PlannerResult::Planned(JsonOp::call(
                Op::Concat,
                json,
                vec![left, right],
            ))),
            B::Lt | B::LtEq | B::Gt | B::GtEq | B::StringConcat if json == JsonType::Jsonb => {
                Err(Error::FeatureNotSupported {
                    message: format!("the operator {op} on jsonb values is not supported"),
                }
                .into())
            }
            // `json || text` is text concatenation in PostgreSQL too.
            B::StringConcat => Ok(PlannerResult::Original(RawBinaryExpr { op, left, right })),
            _ => undefined(),
        }
    }
}

/// A `text[]` operand as its array-literal text: a list is printed as
/// `array_out` prints it, a text literal is taken as written.
fn as_text_array(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    match expr.get_type(schema)? {
        DataType::List(_) | DataType::LargeList(_) => {
            Ok(ScalarUDF::new_from_impl(super::text_out::PgText::new()).call(vec![expr]))
        }
        t if super::columnar::unknown(&t) => Ok(expr),
        t => Err(Error::UndefinedFunction {
            message: format!(
                "operator does not exist: jsonb #> {}",
                pgtype::arrow_type_name(&t)
            ),
        }
        .into()),
    }
}

/// Comparisons of JSON values that reach the plan other than through the
/// operators planned here: `x IN (...)` of a `jsonb` is a disjunction of
/// its `=`; the rest (`IS DISTINCT FROM`, `CASE x WHEN`, `nullif`, `<`
/// after coercion) would compare text, and are refused.
pub(crate) fn rewrite_comparisons(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let refuse = |json: JsonType, what: &str| -> Result<Transformed<Expr>> {
        Err(match json {
            JsonType::Json => Error::UndefinedFunction {
                message: format!("operator does not exist: json {what} json"),
            },
            JsonType::Jsonb => Error::FeatureNotSupported {
                message: format!("{what} of jsonb values is not supported"),
            },
        }
        .into())
    };
    match &expr {
        Expr::InList(in_list) => match json_type(&in_list.expr, schema) {
            None => match holds_json(&in_list.expr, schema) {
                Some(json) => refuse(json, "IN"),
                None => Ok(Transformed::no(expr)),
            },
            Some(JsonType::Json) => refuse(JsonType::Json, "="),
            Some(JsonType::Jsonb) => {
                let equals = in_list.list.iter().map(|item| {
                    JsonOp::call(
                        Op::Equal { negated: false },
                        JsonType::Jsonb,
                        vec![(*in_list.expr).clone(), item.clone()],
                    )
                });
                let any = equals
                    .reduce(Expr::or)
                    .unwrap_or(Expr::Literal(ScalarValue::Boolean(Some(false)), None));
                Ok(Transformed::yes(if in_list.negated { !any } else { any }))
            }
        },
        Expr::BinaryExpr(binary) if super::plan_exprs::is_comparison(binary.op) => {
            match holds_json(&binary.left, schema).or(holds_json(&binary.right, schema)) {
                Some(json) => refuse(json, &binary.op.to_string()),
                None => Ok(Transformed::no(expr)),
            }
        }
        Expr::Case(case) => match case.expr.as_deref().and_then(|e| json_type(e, schema)) {
            Some(json) => refuse(json, "CASE ... WHEN"),
            None => Ok(Transformed::no(expr)),
        },
        Expr::AggregateFunction(aggregate) if aggregate.params.distinct => {
            match (aggregate.params.args.iter()).find_map(|a| holds_json(a, schema)) {
                Some(json) => refuse(json, "DISTINCT"),
                None => Ok(Transformed::no(expr)),
            }
        }
        // Functions that compare their arguments' values.
        Expr::ScalarFunction(call)
            if matches!(
                call.func.name(),
                "nullif"
                    | "array_has"
                    | "array_has_any"
                    | "array_has_all"
                    | "array_position"
                    | "array_positions"
                    | "array_remove"
                    | "array_remove_all"
                    | "array_replace"
                    | "array_replace_all"
                    | "array_distinct"
                    | "array_union"
                    | "array_intersect"
                    | "array_except"
                    | "array_sort"
            ) =>
        {
            match call.args.iter().find_map(|a| holds_json(a, schema)) {
                Some(json) => refuse(json, call.func.name()),
                None => Ok(Transformed::no(expr)),
            }
        }
        _ => Ok(Transformed::no(expr)),
    }
}

/// Refuses ordering, grouping and `DISTINCT` by JSON values: PostgreSQL
/// orders `jsonb` by rules of its own, and `json` not at all.
pub(crate) fn refuse_orderings(plan: &LogicalPlan) -> Result<()> {
    let refuse = |json: JsonType, what: &str| -> DataFusionError {
        match json {
            JsonType::Json => Error::UndefinedFunction {
                message: format!("could not identify an {what} operator for type json"),
            }
            .into(),
            JsonType::Jsonb => Error::FeatureNotSupported {
                message: format!("{what} by jsonb values is not supported"),
            }
            .into(),
        }
    };
    plan.apply_with_subqueries(|node| {
        let schema = super::plan_exprs::input_schema(node);
        let check = |exprs: &mut dyn Iterator<Item = &Expr>, what: &str| -> Result<()> {
            for e in exprs {
                if let Some(json) = json_type(e, &schema) {
                    return Err(refuse(json, what));
                }
            }
            Ok(())
        };
        match node {
            LogicalPlan::Sort(sort) => check(&mut sort.expr.iter().map(|s| &s.expr), "ordering")?,
            LogicalPlan::Aggregate(aggregate) => {
                check(&mut aggregate.group_expr.iter(), "equality")?
            }
            LogicalPlan::Distinct(Distinct::All(input)) => {
                for field in input.schema().fields() {
                    if let Some(json) = JsonType::of_field(field) {
                        return Err(refuse(json, "equality"));
                    }
                }
            }
            LogicalPlan::Distinct(Distinct::On(on)) => {
                check(&mut on.on_expr.iter(), "equality")?;
            }
            LogicalPlan::Window(window) => {
                for e in &window.window_expr {
                    if let Expr::WindowFunction(f) = e.clone().unalias() {
                        check(&mut f.params.partition_by.iter(), "equality")?;
                        check(&mut f.params.order_by.iter().map(|s| &s.expr), "ordering")?;
                    }
                }
            }
            LogicalPlan::Join(join) => {
                for (left, right) in &join.on {
                    let held = holds_json(left, join.left.schema())
                        .or_else(|| holds_json(right, join.right.schema()));
                    if let Some(json) = held {
                        return Err(refuse(json, "equality"));
                    }
                }
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}
