//! `pg_typeof(x)`: the name of the type of `x`, as PostgreSQL names it
//! (`integer`, `timestamp with time zone`, `text[]`). PostgreSQL returns a
//! `regtype`, which prints as this name; here it is text.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::pgtype::arrow_type_name;

pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgTypeof {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [field] = args.arg_fields.as_slice() else {
            return exec_err!("pg_typeof takes one argument");
        };
        let name = ScalarValue::Utf8(Some(arrow_type_name(field.data_type())));
        Ok(ColumnarValue::Scalar(name))
    }
}
