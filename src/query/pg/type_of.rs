//! `pg_typeof(x)`: the name of the type of `x`, as PostgreSQL names it
//! (`integer`, `timestamp with time zone`, `text[]`). PostgreSQL returns a
//! `regtype`, which prints as this name: here it is text marked as one
//! ([`REGTYPE_TEXT_KEY`]), so that clients are told `regtype` and a binary
//! result carries the type's oid.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::pgtype::{REGTYPE_TEXT_KEY, arrow_type_name, pg_type_of_metadata};

/// The function the statement's `pg_typeof(x)::text` calls instead: the
/// same name as plain text.
pub(crate) const PG_TYPEOF_TEXT: &str = "epochdb_pg_typeof_text";

/// `pg_typeof`, and its plain-text form [`PG_TYPEOF_TEXT`].
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [false, true].map(|as_text| {
        ScalarUDF::new_from_impl(PgTypeof {
            signature: Signature::any(1, Volatility::Immutable),
            as_text,
        })
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
    as_text: bool,
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        if self.as_text {
            PG_TYPEOF_TEXT
        } else {
            "pg_typeof"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        if self.as_text {
            return Ok(Arc::new(Field::new(self.name(), DataType::Utf8, false)));
        }
        let metadata = HashMap::from([(REGTYPE_TEXT_KEY.to_owned(), "true".to_owned())]);
        Ok(Arc::new(
            Field::new(self.name(), DataType::Utf8, false).with_metadata(metadata),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [field] = args.arg_fields.as_slice() else {
            return exec_err!("pg_typeof takes one argument");
        };
        let name = match pg_type_of_metadata(field) {
            Some(pg_type) => pg_type.to_owned(),
            None => arrow_type_name(field.data_type()),
        };
        let name = ScalarValue::Utf8(Some(name));
        Ok(ColumnarValue::Scalar(name))
    }
}
