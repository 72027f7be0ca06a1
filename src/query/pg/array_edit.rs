//! `array_remove(array, x)` and `array_replace(array, x, y)` as PostgreSQL
//! has them: every element equal to `x` is removed or replaced, and `x` may
//! be NULL, which matches the NULL elements (elements are compared as `IS
//! NOT DISTINCT FROM` compares). DataFusion's functions of those names
//! touch only the first match, and answer NULL for a NULL `x`. They replace
//! DataFusion's under its aliases too (`list_remove`, `list_replace`): a
//! function left under an alias would come back under its name when the
//! session state is rebuilt.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, UInt32Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::kernels::cmp::{distinct, not_distinct};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{filter, take};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::{arguments, columnar, no_such_function};

/// The two functions.
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(ArrayEdit {
            name: "array_remove",
            aliases: vec!["list_remove".into()],
            signature: Signature::user_defined(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(ArrayEdit {
            name: "array_replace",
            aliases: vec!["list_replace".into()],
            signature: Signature::user_defined(Volatility::Immutable),
        }),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayEdit {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

impl ArrayEdit {
    fn arity(&self) -> usize {
        if self.name == "array_remove" { 2 } else { 3 }
    }
}

/// The elements of `lists` (only those its rows hold, when it is a slice),
/// the row each belongs to, and each row's length.
fn elements(lists: &ListArray) -> (ArrayRef, UInt32Array, Vec<usize>) {
    let offsets = lists.value_offsets();
    let first = offsets.first().copied().unwrap_or(0) as usize;
    let last = offsets.last().copied().unwrap_or(0) as usize;
    let mut rows = Vec::with_capacity(last - first);
    let mut lengths = Vec::with_capacity(lists.len());
    for (row, w) in offsets.windows(2).enumerate() {
        let length = (w[1] - w[0]) as usize;
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        rows.extend(std::iter::repeat_n(row, length));
        lengths.push(length);
    }
    let values = lists.values().slice(first, last - first);
    (values, UInt32Array::from(rows), lengths)
}

impl ScalarUDFImpl for ArrayEdit {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let element = match arg_types.first() {
            Some(DataType::List(field) | DataType::LargeList(field)) => field.data_type().clone(),
            _ => return Err(no_such_function(self.name, arg_types)),
        };
        if arg_types.len() != self.arity() {
            return Err(no_such_function(self.name, arg_types));
        }
        let list = DataType::List(Arc::new(Field::new_list_field(element.clone(), true)));
        let mut types = vec![list];
        types.resize(self.arity(), element);
        Ok(types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(list) => Ok(list.clone()),
            None => exec_err!("{} takes arguments", self.name),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let (Some(lists), Some(targets)) = (arrays.first(), arrays.get(1)) else {
            return exec_err!("{} takes {} arguments", self.name, self.arity());
        };
        let lists = lists.as_list::<i32>();
        let DataType::List(field) = lists.data_type() else {
            return exec_err!("{} of a {}", self.name, lists.data_type());
        };
        let (values, rows, lengths) = elements(lists);
        let targets = take(targets.as_ref(), &rows, None)?;
        let edited: ArrayRef = if let Some(replacements) = arrays.get(2) {
            let replacements = take(replacements.as_ref(), &rows, None)?;
            let matches = not_distinct(&values, &targets)?;
            let values = zip(&matches, &replacements, &values)?;
            Arc::new(ListArray::try_new(
                Arc::clone(field),
                OffsetBuffer::from_lengths(lengths),
                values,
                lists.nulls().cloned(),
            )?)
        } else {
            let keep = distinct(&values, &targets)?;
            let mut start = 0;
            let lengths = lengths.into_iter().map(|length| {
                let kept = (start..start + length).filter(|&i| keep.value(i)).count();
                start += length;
                kept
            });
            Arc::new(ListArray::try_new(
                Arc::clone(field),
                OffsetBuffer::from_lengths(lengths),
                filter(&values, &keep)?,
                lists.nulls().cloned(),
            )?)
        };
        columnar(edited, scalar)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    async fn answer(sql: &str) -> String {
        let ctx = SessionContext::new();
        for udf in super::udfs() {
            ctx.register_udf(udf);
        }
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn every_match_is_removed_or_replaced() {
        let text = answer(
            "SELECT array_remove(make_array(1, 2, 1), 1) AS a, \
             array_replace(make_array(1, 2, 2), 2, 3) AS b",
        )
        .await;
        assert!(text.contains("[2]"), "{text}");
        assert!(text.contains("[1, 3, 3]"), "{text}");
    }
}
