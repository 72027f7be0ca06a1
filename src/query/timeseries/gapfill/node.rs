//! The logical `GapFill` node: what it fills and how it is seeded.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::common::{DFSchema, DFSchemaRef, Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};

use super::functions::FillKind;

/// How one column of a [`GapFill`] is filled: the columns (of its input) of
/// the value and of the `prev` and `next` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct Fill {
    pub(super) kind: FillKind,
    pub(super) value: usize,
    pub(super) prev: Option<usize>,
    pub(super) next: Option<usize>,
    pub(super) treat_null_as_missing: bool,
}

/// The logical gap-filling node; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GapFill {
    pub(super) input: Arc<LogicalPlan>,
    /// Column of `input` with the bucket.
    pub(super) time: usize,
    /// Columns of `input` that group rows, besides the bucket.
    pub(super) groups: Vec<usize>,
    /// `time_bucket`'s arguments but the time: width, then a time zone.
    pub(super) bucket_args: Vec<Expr>,
    /// Lower bounds of the range; the greatest applies.
    pub(super) starts: Vec<Expr>,
    /// Upper bounds of the range, and whether each is inclusive; the least
    /// applies.
    pub(super) finishes: Vec<(Expr, bool)>,
    pub(super) fills: Vec<Fill>,
    /// The input's, with every column but the keys nullable: gaps have no
    /// values.
    pub(super) schema: DFSchemaRef,
    /// What seeding `locf` and `interpolate` from outside the window needs;
    /// only until the analyzer rule has read it.
    pub(super) seeding: Option<Arc<Seeding>>,
}

/// The aggregate under a [`GapFill`], taken apart, to find the last row
/// before (or the first after) the window with the same filters.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Seeding {
    /// The plan under the aggregate's filters.
    pub(super) source: LogicalPlan,
    /// The filters' conditions that do not bound the time.
    pub(super) others: Vec<Expr>,
    /// Conditions, any of which puts a row before the window.
    pub(super) before: Vec<Expr>,
    /// Conditions, any of which puts a row after the window.
    pub(super) after: Vec<Expr>,
    pub(super) ts: Expr,
    /// The group keys but the bucket.
    pub(super) keys: Vec<Expr>,
    /// The aggregate's aggregates.
    pub(super) aggregates: Vec<Expr>,
}

impl PartialOrd for GapFill {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for GapFill {
    fn name(&self) -> &str {
        "GapFill"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        self.bucket_args
            .iter()
            .chain(&self.starts)
            .chain(self.finishes.iter().map(|(e, _)| e))
            .cloned()
            .collect()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = self.input.schema();
        let name = |i: usize| schema.field(i).name().clone();
        let list = |exprs: &mut dyn Iterator<Item = String>| exprs.collect::<Vec<_>>().join(", ");
        write!(
            f,
            "GapFill: time={}, groups=[{}], width=[{}], start=[{}], finish=[{}]",
            name(self.time),
            list(&mut self.groups.iter().map(|&g| name(g))),
            list(&mut self.bucket_args.iter().map(|e| e.to_string())),
            list(&mut self.starts.iter().map(|e| e.to_string())),
            list(
                &mut self.finishes.iter().map(|(e, inclusive)| if *inclusive {
                    format!("{e} inclusive")
                } else {
                    e.to_string()
                })
            ),
        )?;
        if !self.fills.is_empty() {
            let fills = self.fills.iter().map(|fill| name(fill.value));
            write!(f, ", fill=[{}]", list(&mut fills.into_iter()))?;
        }
        Ok(())
    }

    fn with_exprs_and_inputs(
        &self,
        exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let (Some(input), true) = (inputs.pop(), inputs.is_empty()) else {
            return internal_err!("GapFill takes one input");
        };
        let expected = self.bucket_args.len() + self.starts.len() + self.finishes.len();
        if exprs.len() != expected {
            return internal_err!("GapFill takes {expected} expressions, not {}", exprs.len());
        }
        let mut exprs = exprs.into_iter();
        let bucket_args = exprs.by_ref().take(self.bucket_args.len()).collect();
        let starts = exprs.by_ref().take(self.starts.len()).collect();
        let finishes = exprs
            .zip(self.finishes.iter().map(|(_, inclusive)| *inclusive))
            .collect();
        Ok(Self {
            schema: gap_schema(input.schema(), self.time, &self.groups)?,
            input: Arc::new(input),
            bucket_args,
            starts,
            finishes,
            ..self.clone()
        })
    }
}

/// `input` with every column but the bucket and the group keys nullable.
pub(super) fn gap_schema(
    input: &DFSchemaRef,
    time: usize,
    groups: &[usize],
) -> Result<DFSchemaRef> {
    let fields = input
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let field = if i == time || groups.contains(&i) {
                field.clone()
            } else {
                Arc::new(field.as_ref().clone().with_nullable(true))
            };
            (qualifier.cloned(), field)
        })
        .collect::<Vec<_>>();
    Ok(Arc::new(DFSchema::new_with_metadata(
        fields,
        input.metadata().clone(),
    )?))
}
