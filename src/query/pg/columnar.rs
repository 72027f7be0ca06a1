//! What a scalar function is given and returns: literals of unknown type,
//! the error for arguments no form takes, and one value when it was given
//! only single values, a column otherwise.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

use crate::pgtype;
use crate::query::error::Error;

/// A function's arguments as arrays, and whether every one was a single
/// value (so that the result is one too).
pub(crate) fn arguments(args: &[ColumnarValue]) -> Result<(Vec<ArrayRef>, bool)> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    Ok((ColumnarValue::values_to_arrays(args)?, scalar))
}

/// `array` as a function's result: its one value if `scalar`.
pub(crate) fn columnar(array: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

/// Whether an argument of type `t` is a literal PostgreSQL leaves untyped
/// (text or NULL), which it reads as the parameter's type.
pub(crate) fn unknown(t: &DataType) -> bool {
    t.is_null() || matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// PostgreSQL's 42883 for a call of `name` with arguments of `arg_types`,
/// which no form of the function takes.
pub(crate) fn no_such_function(name: &str, arg_types: &[DataType]) -> DataFusionError {
    let names: Vec<String> = arg_types.iter().map(pgtype::arrow_type_name).collect();
    Error::UndefinedFunction {
        message: format!("function {name}({}) does not exist", names.join(", ")),
    }
    .into()
}
