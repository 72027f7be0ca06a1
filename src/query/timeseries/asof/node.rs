//! The logical `AsofJoin` node.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::common::{DFSchemaRef, DataFusionError, Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};

use super::functions::Direction;

// The logical node.

/// An ASOF join of two inputs; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AsofJoin {
    pub(super) left: Arc<LogicalPlan>,
    pub(super) right: Arc<LogicalPlan>,
    /// Equal keys: a left and a right expression.
    pub(super) keys: Vec<(Expr, Expr)>,
    pub(super) left_time: Expr,
    pub(super) right_time: Expr,
    pub(super) direction: Direction,
    pub(super) tolerance: Option<Expr>,
    pub(super) schema: DFSchemaRef,
}

impl PartialOrd for AsofJoin {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for AsofJoin {
    fn name(&self) -> &str {
        "AsofJoin"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.left, &self.right]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        let mut exprs: Vec<Expr> = Vec::new();
        for (l, r) in &self.keys {
            exprs.push(l.clone());
            exprs.push(r.clone());
        }
        exprs.push(self.left_time.clone());
        exprs.push(self.right_time.clone());
        exprs.extend(self.tolerance.clone());
        exprs
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(l, r)| format!("{l} = {r}"))
            .collect();
        write!(
            f,
            "AsofJoin: on=[{}], match={} {} {}",
            keys.join(", "),
            self.left_time,
            self.direction.operator(),
            self.right_time
        )?;
        if let Some(tolerance) = &self.tolerance {
            write!(f, ", tolerance={tolerance}")?;
        }
        Ok(())
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let [left, right]: [LogicalPlan; 2] = inputs
            .try_into()
            .map_err(|_| DataFusionError::Internal("AsofJoin takes two inputs".to_owned()))?;
        let expected = self.keys.len() * 2 + 2 + usize::from(self.tolerance.is_some());
        if exprs.len() != expected {
            return internal_err!("AsofJoin takes {expected} expressions, not {}", exprs.len());
        }
        let mut exprs = exprs.into_iter();
        let mut next = || {
            exprs
                .next()
                .ok_or_else(|| DataFusionError::Internal("AsofJoin".into()))
        };
        let mut keys = Vec::with_capacity(self.keys.len());
        for _ in &self.keys {
            keys.push((next()?, next()?));
        }
        let left_time = next()?;
        let right_time = next()?;
        let tolerance = match self.tolerance {
            Some(_) => Some(next()?),
            None => None,
        };
        Ok(Self {
            left: Arc::new(left),
            right: Arc::new(right),
            keys,
            left_time,
            right_time,
            direction: self.direction,
            tolerance,
            schema: self.schema.clone(),
        })
    }
}
