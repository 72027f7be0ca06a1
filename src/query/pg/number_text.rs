//! Integers written as text the way PostgreSQL writes them:
//! `pg_size_pretty(bigint)` (`118 MB`), and `to_hex` of an `integer` as
//! its 32 bits (`to_hex(-1)` is `ffffffff`; DataFusion's widens it to 64).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::{arguments, columnar, no_such_function};

/// `pg_size_pretty` and `to_hex`.
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(NumberText {
            function: Function::SizePretty,
            signature: Signature::user_defined(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(NumberText {
            function: Function::ToHex,
            signature: Signature::user_defined(Volatility::Immutable),
        }),
    ]
}

/// The units of `pg_size_pretty` (PostgreSQL 15's): each used below its
/// limit, with half-rounding or not, and its power of two.
const UNITS: &[(&str, i64, bool, u32)] = &[
    ("bytes", 10 * 1024, false, 0),
    ("kB", 20 * 1024 - 1, true, 10),
    ("MB", 20 * 1024 - 1, true, 20),
    ("GB", 20 * 1024 - 1, true, 30),
    ("TB", 20 * 1024 - 1, true, 40),
    ("PB", 20 * 1024 - 1, true, 50),
];

/// `size` bytes as `pg_size_pretty` writes it.
fn size_pretty(size: i64) -> String {
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = size;
    for (i, &(name, limit, round, bits)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1);
        if next.is_none() || size.unsigned_abs() < limit.unsigned_abs() {
            if round {
                size = half_rounded(size);
            }
            return format!("{size} {name}");
        }
        if let Some(&(_, _, next_round, next_bits)) = next {
            // One bit fewer when the next unit half-rounds, one more when
            // this one did.
            let shift = next_bits - bits - u32::from(next_round) + u32::from(round);
            size /= 1i64 << shift;
        }
    }
    format!("{size} bytes")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Function {
    SizePretty,
    ToHex,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NumberText {
    function: Function,
    signature: Signature,
}

impl ScalarUDFImpl for NumberText {
    fn name(&self) -> &str {
        match self.function {
            Function::SizePretty => "pg_size_pretty",
            Function::ToHex => "to_hex",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Int8 | DataType::Int16 | DataType::Int32]
                if self.function == Function::ToHex =>
            {
                Ok(vec![DataType::Int32])
            }
            [t] if t.is_integer() || t.is_null() => Ok(vec![DataType::Int64]),
            _ => Err(no_such_function(self.name(), arg_types)),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let [values] = arrays.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let thirty_two = values.data_type() == &DataType::Int32;
        let values = cast(values, &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 8);
        for v in values.iter() {
            out.append_option(v.map(|v| match self.function {
                Function::SizePretty => size_pretty(v),
                // An `integer`'s own 32 bits.
                Function::ToHex if thirty_two => format!("{:x}", v as i32 as u32),
                Function::ToHex => format!("{v:x}"),
            }));
        }
        columnar(Arc::new(out.finish()), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_postgres_15_prints_them() {
        // PostgreSQL 15's answers.
        for (size, text) in [
            (10, "10 bytes"),
            (10239, "10239 bytes"),
            (10240, "10 kB"),
            (1024 * 1024, "1024 kB"),
            (123_456_789, "118 MB"),
            (-123_456_789, "-118 MB"),
            (i64::MAX, "8192 PB"),
            (20_971_519, "20 MB"),
            (-10240, "-10 kB"),
        ] {
            assert_eq!(size_pretty(size), text, "{size}");
        }
    }
}
