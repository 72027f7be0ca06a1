//! `SUBSCRIBE` to an aggregate grouped by `time_bucket` (or `date_bin`):
//! the query's rows now, then each bucket's final rows once it closes.
//!
//! A bucket closes when a row of a later bucket arrives, or when no row has
//! touched it for the grace period. Its rows are then computed again by
//! the query itself, restricted to the bucket's time range (so they are
//! exactly what the query answers for it), and sent. A late row for a
//! bucket already closed sends that bucket's corrected rows at once.
//! Which buckets a write touches is decided by the query's own filters and
//! bucket expression, compiled as for plain subscriptions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, TableScan, lit};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::collect;
use tokio::time::Instant;

use super::subscribe_pipeline::{Pipeline, refuse};
use crate::query::error::Result;

/// Functions whose first argument is a bucket's width.
const BUCKET_FUNCTIONS: &[&str] = &["time_bucket", "date_bin"];

/// A subscription to a rollup.
pub(super) struct Rollup {
    state: SessionState,
    /// The query as planned (its parameters bound), which each run
    /// optimizes: the bucket's range is added over its scan.
    plan: LogicalPlan,
    /// The aggregate's input: which rows of a write count.
    input: Pipeline,
    /// The bucket of each of `input`'s rows.
    bucket: Arc<dyn PhysicalExpr>,
    /// The bucket's width, in microseconds.
    width: i64,
    /// The table's time column, and its type.
    time: Column,
    time_type: DataType,
    grace: Duration,
    /// Buckets touched and not yet sent, by start, with when they were
    /// last touched.
    open: BTreeMap<i64, Instant>,
    /// The start of the latest bucket any row touched.
    newest: Option<i64>,
}

impl Rollup {
    /// The rollup `query` subscribes to (`plan` is it optimized), and the
    /// scan under it; `None` when it has no aggregate.
    pub(super) fn find(
        state: &SessionState,
        query: &LogicalPlan,
        plan: &LogicalPlan,
        grace: Duration,
        time_column: impl FnOnce(&TableScan) -> Option<String>,
    ) -> Result<Option<(Self, TableScan)>> {
        let mut node = plan;
        let aggregate = loop {
            match node {
                LogicalPlan::Projection(p) => node = &p.input,
                LogicalPlan::Sort(s) if s.fetch.is_none() => node = &s.input,
                LogicalPlan::Filter(f) => node = &f.input,
                LogicalPlan::SubqueryAlias(a) => node = &a.input,
                LogicalPlan::Aggregate(aggregate) => break aggregate,
                _ => return Ok(None),
            }
        };
        let (input, scan) = Pipeline::compile(state, &aggregate.input)?;
        // The group expression that is a time bucket (or a column the
        // input computed as one), and its width.
        let resolve = |expr: &Expr| -> Option<Expr> {
            match expr.clone().unalias() {
                Expr::Column(column) => match aggregate.input.as_ref() {
                    LogicalPlan::Projection(p) => (p.expr.iter())
                        .find(|e| e.schema_name().to_string() == column.name)
                        .map(|e| e.clone().unalias()),
                    _ => None,
                },
                other => Some(other),
            }
        };
        let bucket = aggregate.group_expr.iter().find_map(|group| {
            let Expr::ScalarFunction(function) = resolve(group)? else {
                return None;
            };
            if !BUCKET_FUNCTIONS.contains(&function.name()) {
                return None;
            }
            let width = match function.args.first()? {
                Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
                    i64::from(v.days) * 86_400_000_000 + v.nanoseconds / 1_000
                }
                Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
                    i64::from(v.days) * 86_400_000_000 + i64::from(v.milliseconds) * 1_000
                }
                _ => return None,
            };
            Some((group.clone().unalias(), width))
        });
        let Some((group, width)) = bucket.filter(|(_, width)| *width > 0) else {
            return Err(refuse(
                "an aggregate not grouped by a time_bucket of a constant width in days or less",
            ));
        };
        let bucket = state.create_physical_expr(group, aggregate.input.schema())?;
        let Some(time) = time_column(&scan) else {
            return Err(refuse("an aggregate of a table without a time column"));
        };
        let source = scan.source.schema();
        let time_type = match source.field_with_name(&time) {
            Ok(field) => field.data_type().clone(),
            Err(_) => return Err(refuse("an aggregate of a table without a time column")),
        };
        if !matches!(time_type, DataType::Timestamp(TimeUnit::Microsecond, _)) {
            return Err(refuse("an aggregate over a time column of this type"));
        }
        let rollup = Rollup {
            state: state.clone(),
            plan: query.clone(),
            input,
            bucket,
            width,
            time: Column::new(Some(scan.table_name.clone()), time),
            time_type,
            grace,
            open: BTreeMap::new(),
            newest: None,
        };
        Ok(Some((rollup, scan)))
    }

    /// The query's rows now.
    pub(super) async fn all(&self) -> Result<Vec<RecordBatch>> {
        self.run(self.plan.clone()).await
    }

    /// Notes the rows of a write (a batch of the table's rows) and returns
    /// the buckets whose rows are due now: those a later bucket closed, and
    /// those closed before that a late row changed.
    pub(super) fn touch(&mut self, batch: &RecordBatch) -> Result<Vec<i64>> {
        let rows = self.input.run(batch)?;
        let starts = self.bucket.evaluate(&rows)?.into_array(rows.num_rows())?;
        let mut due = Vec::new();
        let now = Instant::now();
        if let Some(starts) = starts.as_primitive_opt::<TimestampMicrosecondType>() {
            for start in starts.iter().flatten() {
                match self.newest {
                    // A bucket already sent: its rows again, corrected.
                    Some(newest) if start < newest && !self.open.contains_key(&start) => {
                        due.push(start);
                    }
                    _ => {
                        self.open.insert(start, now);
                    }
                }
                self.newest = Some(self.newest.map_or(start, |n| n.max(start)));
            }
        }
        if let Some(newest) = self.newest {
            let closed: Vec<i64> = self.open.range(..newest).map(|(&s, _)| s).collect();
            for start in closed {
                self.open.remove(&start);
                due.push(start);
            }
        }
        due.sort_unstable();
        due.dedup();
        Ok(due)
    }

    /// The buckets no row has touched for the grace period, closed now.
    pub(super) fn idle(&mut self, now: Instant) -> Vec<i64> {
        let idle: Vec<i64> = (self.open.iter())
            .filter(|(_, touched)| now.duration_since(**touched) >= self.grace)
            .map(|(&start, _)| start)
            .collect();
        for start in &idle {
            self.open.remove(start);
        }
        idle
    }

    /// When the next open bucket's grace period ends.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .min()
            .map(|touched| *touched + self.grace)
    }

    /// The query's rows for the bucket that starts at `start`.
    pub(super) async fn bucket(&self, start: i64) -> Result<Vec<RecordBatch>> {
        let zone = match &self.time_type {
            DataType::Timestamp(_, zone) => zone.clone(),
            _ => None,
        };
        let at = |micros: i64| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(micros),
                zone.clone(),
            ))
        };
        let time = Expr::Column(self.time.clone());
        let range = time
            .clone()
            .gt_eq(at(start))
            .and(time.lt(at(start.saturating_add(self.width))));
        let plan = (self.plan.clone())
            .transform_up(|node| match node {
                LogicalPlan::TableScan(_) => {
                    let filter = Filter::try_new(range.clone(), Arc::new(node))?;
                    Ok(Transformed::yes(LogicalPlan::Filter(filter)))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        self.run(plan).await
    }

    async fn run(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
        let physical = self.state.create_physical_plan(&plan).await?;
        let batches = collect(physical, self.state.task_ctx()).await?;
        Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
    }
}
