//! Text read as an array, as PostgreSQL reads it: `'{a,"b c",NULL}'::text[]`
//! has three elements. Arrow's cast would make the whole text one element.
//! The [`semantics`](super::semantics) rule sends casts of text to an array
//! type here, and then casts the elements.
//!
//! [`array_of`] reads the array parameter of `x = ANY($1)`, which PostgreSQL
//! types as an array of `x`'s type when the client leaves it untyped
//! (psycopg sends a list of strings so).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::columnar;
use crate::pgtype;
use crate::query::error::Error;

/// The name of [`array_in`]'s function.
pub(crate) const ARRAY_IN: &str = "epochdb_array_in";

/// The name of [`array_of`]'s function, registered for the SQL that
/// `x op ANY ($n)` is rewritten to.
pub(crate) const ARRAY_OF: &str = "epochdb_array_of";

/// `text`, an array literal, as a list of its elements' texts.
pub(crate) fn array_in(text: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(ArrayIn {
            signature: Signature::any(1, Volatility::Immutable),
        })),
        vec![text],
    ))
}

/// `epochdb_array_of(array, like)`: `array`, a text array literal or an
/// array, as an array of `like`'s type.
pub(crate) fn array_of() -> ScalarUDF {
    ScalarUDF::new_from_impl(ArrayOf {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayOf {
    signature: Signature,
}

impl ScalarUDFImpl for ArrayOf {
    fn name(&self) -> &str {
        ARRAY_OF
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let element = arg_types.get(1).cloned().unwrap_or(DataType::Utf8);
        Ok(DataType::List(Arc::new(Field::new_list_field(
            element, true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        let mut values = args.args.into_iter();
        let Some(value) = values.next() else {
            return exec_err!("epochdb_array_of takes two arguments");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.into_array(1)?;
        let lists = match array.data_type() {
            DataType::List(_) => array,
            _ => read_arrays(&cast(&array, &DataType::Utf8)?)?,
        };
        columnar(cast(&lists, &target)?, is_scalar)
    }
}

/// Texts (array literals) as lists of their elements' texts.
fn read_arrays(texts: &ArrayRef) -> Result<ArrayRef> {
    let texts = texts.as_string::<i32>();
    let mut out = ListBuilder::new(StringBuilder::new());
    for text in texts.iter() {
        match text {
            None => out.append_null(),
            Some(text) => {
                let elements = pgtype::array_elements(text).map_err(Error::from)?;
                for element in elements {
                    out.values().append_option(element);
                }
                out.append(true);
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayIn {
    signature: Signature,
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

impl ScalarUDFImpl for ArrayIn {
    fn name(&self) -> &str {
        ARRAY_IN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(text_list())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("{ARRAY_IN} takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let texts = cast(&value.into_array(1)?, &DataType::Utf8)?;
        columnar(read_arrays(&texts)?, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::common::config::ConfigOptions;

    #[test]
    fn texts_become_lists_of_their_elements() {
        let udf = ArrayIn {
            signature: Signature::any(1, Volatility::Immutable),
        };
        let texts: ArrayRef = Arc::new(StringArray::from(vec![Some("{a, \"b c\",NULL}"), None]));
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(texts)],
            arg_fields: vec![Arc::new(Field::new("t", DataType::Utf8, true))],
            number_rows: 2,
            return_field: Arc::new(Field::new("r", text_list(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let Ok(ColumnarValue::Array(out)) = udf.invoke_with_args(args) else {
            panic!("an array");
        };
        let lists = out.as_list::<i32>();
        assert!(lists.is_null(1));
        let first = lists.value(0);
        let first = first.as_string::<i32>();
        assert_eq!(first.value(0), "a");
        assert_eq!(first.value(1), "b c");
        assert!(first.is_null(2));
    }
}
