//! Functions whose result PostgreSQL types `integer` where DataFusion's
//! are 64-bit: `ntile`, `array_length`, `cardinality`, `array_position`,
//! `array_ndims` and `regexp_count` always, `gcd` and `lcm` of integers (or smallints).
//! Drivers hand an application a `bigint` otherwise (node-postgres as a
//! string). Each is DataFusion's function, wrapped: the wrapper computes
//! with it and casts its result, an overflow being PostgreSQL's
//! `integer out of range`. The wrappers also give PostgreSQL's answers
//! where DataFusion's differ: an empty array has no dimensions, so its
//! `array_length` and `array_ndims` are NULL (DataFusion's: 0 and 1), and
//! `ntile` of no buckets is 22014.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::kernels::boolean::not;
use datafusion::arrow::compute::nullif;
use datafusion::arrow::compute::{CastOptions, SortOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::window_state::WindowAggState;
use datafusion::logical_expr::{
    ColumnarValue, PartitionEvaluator, ReversedUDWF, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;

use super::columnar::no_such_function;
use crate::query::error::Error;

/// Registers the wrappers over DataFusion's functions of `ctx`.
pub(crate) fn register(ctx: &SessionContext) {
    let state = ctx.state();
    for (name, empty_is_null) in [
        ("array_length", true),
        ("cardinality", false),
        ("array_position", false),
        ("array_ndims", true),
        ("regexp_count", false),
    ] {
        if let Some(inner) = state.scalar_functions().get(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Int4Scalar {
                inner: inner.as_ref().clone(),
                signature: inner.signature().clone(),
                narrow_args: false,
                empty_is_null,
            }));
        }
    }
    for name in ["gcd", "lcm"] {
        if let Some(inner) = state.scalar_functions().get(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Int4Scalar {
                inner: inner.as_ref().clone(),
                signature: Signature::user_defined(Volatility::Immutable),
                narrow_args: true,
                empty_is_null: false,
            }));
        }
    }
    if let Some(inner) = state.window_functions().get("ntile") {
        ctx.register_udwf(WindowUDF::new_from_impl(Int4Window {
            inner: inner.as_ref().clone(),
        }));
    }
}

/// `values` as `integer`s, or PostgreSQL's `integer out of range`.
fn to_int4(values: &ArrayRef) -> Result<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(values, &DataType::Int32, &options).map_err(|_| {
        Error::NumericOutOfRange {
            message: "integer out of range".into(),
        }
        .into()
    })
}

fn small_int(t: &DataType) -> bool {
    matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32)
}

/// A scalar function of DataFusion's whose result is PostgreSQL's
/// `integer`: always, or (`narrow_args`, for functions of integers of
/// either width) when its arguments are no wider. With `empty_is_null`,
/// the result is NULL where the first argument is an empty array.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Int4Scalar {
    inner: ScalarUDF,
    signature: Signature,
    narrow_args: bool,
    empty_is_null: bool,
}

/// `values` with NULL where `arrays` holds an empty array.
fn null_where_empty(values: ArrayRef, arrays: &ColumnarValue) -> Result<ArrayRef> {
    let arrays = arrays.to_array(values.len())?;
    let non_empty: Vec<bool> = match arrays.data_type() {
        DataType::List(_) => (arrays.as_list::<i32>().offsets().windows(2))
            .map(|w| w[1] > w[0])
            .collect(),
        DataType::LargeList(_) => (arrays.as_list::<i64>().offsets().windows(2))
            .map(|w| w[1] > w[0])
            .collect(),
        _ => return Ok(values),
    };
    let keep = BooleanArray::from(non_empty);
    Ok(nullif(&values, &not(&keep)?)?)
}

impl ScalarUDFImpl for Int4Scalar {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !self.narrow_args {
            return self.inner.coerce_types(arg_types);
        }
        let integer = |t: &DataType| t.is_integer() || t.is_null();
        if arg_types.len() != 2 || !arg_types.iter().all(integer) {
            return Err(no_such_function(self.name(), arg_types));
        }
        let common = if arg_types.iter().all(|t| small_int(t) || t.is_null()) {
            DataType::Int32
        } else {
            DataType::Int64
        };
        Ok(vec![common; arg_types.len()])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if self.narrow_args && !arg_types.iter().all(small_int) {
            return self.inner.return_type(arg_types);
        }
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let narrowed = args.return_field.data_type() == &DataType::Int32;
        let mut args = args;
        if self.narrow_args && narrowed {
            // DataFusion's computes in bigints.
            args.args = (args.args.into_iter())
                .map(|a| a.cast_to(&DataType::Int64, None))
                .collect::<Result<_>>()?;
            args.arg_fields = (args.arg_fields.iter())
                .map(|f| Arc::new(f.as_ref().clone().with_data_type(DataType::Int64)))
                .collect();
        }
        let first = args.args.first().cloned();
        let arg_types: Vec<DataType> = (args.arg_fields.iter())
            .map(|f| f.data_type().clone())
            .collect();
        let inner_type = self.inner.return_type(&arg_types)?;
        args.return_field = Arc::new(Field::new(self.name(), inner_type, true));
        let result = self.inner.invoke_with_args(args)?;
        if !narrowed {
            return Ok(result);
        }
        let scalar = matches!(result, ColumnarValue::Scalar(_));
        let mut values = to_int4(&result.to_array(args_rows(&first))?)?;
        if self.empty_is_null
            && let Some(first) = &first
        {
            values = null_where_empty(values, first)?;
        }
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?)
        } else {
            ColumnarValue::Array(values)
        })
    }
}

/// The rows of a function's result whose first argument is `first`.
fn args_rows(first: &Option<ColumnarValue>) -> usize {
    match first {
        Some(ColumnarValue::Array(values)) => values.len(),
        _ => 1,
    }
}

/// A window function of DataFusion's whose result is PostgreSQL's
/// `integer`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Int4Window {
    inner: WindowUDF,
}

impl WindowUDFImpl for Int4Window {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn expressions(&self, expr_args: ExpressionArgs<'_>) -> Vec<Arc<dyn PhysicalExpr>> {
        self.inner.expressions(expr_args)
    }

    fn partition_evaluator(
        &self,
        partition_evaluator_args: PartitionEvaluatorArgs<'_>,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        if self.inner.name() == "ntile"
            && let Some(buckets) = partition_evaluator_args.input_exprs().first()
            && let Some(buckets) = buckets.downcast_ref::<Literal>()
            && let Some(buckets) = buckets.value().cast_to(&DataType::Int64).ok()
            && matches!(buckets, ScalarValue::Int64(Some(n)) if n <= 0)
        {
            return Err(Error::InvalidNtileArgument.into());
        }
        Ok(Box::new(Int4Evaluator {
            inner: self
                .inner
                .partition_evaluator_factory(partition_evaluator_args)?,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs<'_>) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int32,
            true,
        )))
    }

    fn sort_options(&self) -> Option<SortOptions> {
        self.inner.sort_options()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        match self.inner.reverse_expr() {
            ReversedUDWF::Identical => ReversedUDWF::Identical,
            _ => ReversedUDWF::NotSupported,
        }
    }
}

/// The evaluator of [`Int4Window`]: DataFusion's, its results cast.
#[derive(Debug)]
struct Int4Evaluator {
    inner: Box<dyn PartitionEvaluator>,
}

impl PartitionEvaluator for Int4Evaluator {
    fn memoize(&mut self, state: &mut WindowAggState) -> Result<()> {
        self.inner.memoize(state)
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        self.inner.get_range(idx, n_rows)
    }

    fn is_causal(&self) -> bool {
        self.inner.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        to_int4(&self.inner.evaluate_all(values, num_rows)?)
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let value = self.inner.evaluate(values, range)?;
        ScalarValue::try_from_array(&to_int4(&value.to_array()?)?, 0)
    }

    fn evaluate_all_with_rank(
        &self,
        num_rows: usize,
        ranks_in_partition: &[Range<usize>],
    ) -> Result<ArrayRef> {
        to_int4(
            &self
                .inner
                .evaluate_all_with_rank(num_rows, ranks_in_partition)?,
        )
    }

    fn supports_bounded_execution(&self) -> bool {
        self.inner.supports_bounded_execution()
    }

    fn uses_window_frame(&self) -> bool {
        self.inner.uses_window_frame()
    }

    fn include_rank(&self) -> bool {
        self.inner.include_rank()
    }
}
