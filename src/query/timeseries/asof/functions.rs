//! The `epochdb_asof` marker that carries an ASOF join's match condition
//! from the SQL rewrite to the analyzer rule, which direction a match takes,
//! and the errors of ASOF planning.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Operator, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::query::error::Error;

pub(super) const MARKER: &str = "epochdb_asof";

pub(super) fn unsupported(what: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Unsupported { what: what.into() }))
}

/// Which right row a left row takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) enum Direction {
    /// The latest at or before (`>=`), or strictly before (`>`).
    Backward { strict: bool },
    /// The earliest at or after (`<=`), or strictly after (`<`).
    Forward { strict: bool },
}

impl Direction {
    /// For `left op right`.
    pub(super) fn of(op: Operator) -> Option<Self> {
        Some(match op {
            Operator::GtEq => Direction::Backward { strict: false },
            Operator::Gt => Direction::Backward { strict: true },
            Operator::LtEq => Direction::Forward { strict: false },
            Operator::Lt => Direction::Forward { strict: true },
            _ => return None,
        })
    }

    pub(super) fn operator(self) -> &'static str {
        match self {
            Direction::Backward { strict: false } => ">=",
            Direction::Backward { strict: true } => ">",
            Direction::Forward { strict: false } => "<=",
            Direction::Forward { strict: true } => "<",
        }
    }
}

/// The marker, which only the planner reads.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct AsofMarker {
    pub(super) signature: Signature,
}

impl AsofMarker {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for AsofMarker {
    fn name(&self) -> &str {
        MARKER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        Ok(args.to_vec())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(
            "an ASOF JOIN's match condition outside the join (in a join DataFusion reordered)",
        ))
    }
}
