//! The latest point per series: an aggregate grouped by tags whose every
//! value depends only on each group's newest row reads only the newest row of
//! each series.
//!
//! [`LatestPerSeries`] is a physical optimizer rule. It finds a grouping
//! aggregate whose input is, through nodes that only move rows around (and
//! optionally a projection of plain columns), a [`SeriesScanExec`] that
//! applies every filter itself, and turns that scan into its
//! [`latest`](SeriesScanExec::latest) form. Over the newest row of each
//! series the aggregate computes what it would over all rows, because every
//! group is a union of whole series and each of its aggregates is one of
//!
//! - `last(x, time)` and `max(time)`,
//! - `first_value(x ORDER BY tags..., time DESC)` and `last_value(x ORDER BY
//!   tags..., time ASC)`, which is how DataFusion plans `SELECT DISTINCT ON
//!   (tags) ... ORDER BY tags, time DESC`,
//!
//! with the table's time column. Each of those is the value at the group's
//! newest row, so the aggregate itself (partial and final, or single) gives
//! way to a [`LatestGroupsExec`] that picks that row: DataFusion's ordered
//! `first_value` keeps an accumulator per group and column, which over
//! thousands of series costs more than the scan. Rows at the same newest
//! time are represented by one of them.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::internal_datafusion_err;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::udaf::AggregateFunctionExpr;

use super::exec::{LatestGroups, LatestGroupsExec};
use crate::query::datasource::aggregate_exec::{replace_top_down, skip_transparent};
use crate::query::datasource::scan_exec::SeriesScanExec;

/// The optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct LatestPerSeries;

impl PhysicalOptimizerRule for LatestPerSeries {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_top_down(plan, rewrite)
    }

    fn name(&self) -> &str {
        "epochdb_latest_per_series"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What the aggregate's input columns are in the table: the table column
/// index of each, where it is a plain column.
struct Columns<'a> {
    projection: Option<Vec<Option<usize>>>,
    scan: &'a SeriesScanExec,
}

impl Columns<'_> {
    /// The table column `expr` reads, if it is a plain column.
    fn table_column(&self, expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
        let index = expr.downcast_ref::<Column>()?.index();
        let scan_index = match &self.projection {
            Some(columns) => (*columns.get(index)?)?,
            None => index,
        };
        self.scan.view().projection().get(scan_index).copied()
    }

    fn is_time(&self, expr: &Arc<dyn PhysicalExpr>) -> bool {
        let time = self.scan.view().table_schema().time_index();
        self.table_column(expr).is_some_and(|c| Some(c) == time)
    }

    fn is_tag(&self, expr: &Arc<dyn PhysicalExpr>) -> bool {
        self.table_column(expr)
            .is_some_and(|c| self.scan.view().table_schema().tag_indices().contains(&c))
    }
}

/// `node`, if it is an aggregate that allows it, computed from the newest
/// row of each series: by a [`LatestGroupsExec`] in its place when it is a
/// final or single aggregate, else by the same aggregate over the latest scan.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(top) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    // The aggregate that reads rows: `top`, or the partial one under it.
    let raw = match top.mode() {
        AggregateMode::Final | AggregateMode::FinalPartitioned => {
            match skip_transparent(top.input()).downcast_ref::<AggregateExec>() {
                Some(partial) if *partial.mode() == AggregateMode::Partial => partial,
                _ => return Ok(None),
            }
        }
        _ => top,
    };
    let Some((input, time)) = latest_input(raw)? else {
        return Ok(None);
    };
    if *top.mode() == AggregateMode::Partial {
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        return Ok(Some(node.clone().replace_children(vec![input], options)?));
    }
    let groups: Vec<_> = raw
        .group_expr()
        .expr()
        .iter()
        .map(|(e, _)| e.clone())
        .collect();
    if top.schema().fields().len() != groups.len() + raw.aggr_expr().len() {
        return Ok(None);
    }
    let spec = LatestGroups {
        groups,
        time,
        values: raw
            .aggr_expr()
            .iter()
            .map(|a| a.expressions().first().cloned())
            .collect::<Option<_>>()
            .ok_or_else(|| internal_datafusion_err!("an aggregate without arguments"))?,
        names: raw
            .aggr_expr()
            .iter()
            .map(|a| a.name().to_owned())
            .collect(),
    };
    let input = if input.properties().output_partitioning().partition_count() > 1 {
        Arc::new(CoalescePartitionsExec::new(input))
    } else {
        input
    };
    let exec: Arc<dyn ExecutionPlan> =
        Arc::new(LatestGroupsExec::new(input, spec, top.properties()));
    // Hand the parent the partitioning it was planned with.
    let partitioning = top.properties().output_partitioning();
    Ok(Some(if partitioning.partition_count() > 1 {
        Arc::new(RepartitionExec::try_new(exec, partitioning.clone())?)
    } else {
        exec
    }))
}

/// The input of `aggregate` (partial or single) with its scan reading only
/// each series' newest row, if its every value allows it, and the expression
/// of the time column that decides which row is newest (`None` when there
/// is no aggregate).
#[allow(clippy::type_complexity)]
fn latest_input(
    aggregate: &AggregateExec,
) -> Result<Option<(Arc<dyn ExecutionPlan>, Option<Arc<dyn PhysicalExpr>>)>> {
    if !matches!(
        aggregate.mode(),
        AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
    ) || aggregate.group_expr().is_empty()
        || aggregate.group_expr().has_grouping_set()
        || aggregate.filter_expr().iter().any(Option::is_some)
    {
        return Ok(None);
    }
    // Optionally a projection of plain columns, then the scan.
    let mut input = skip_transparent(aggregate.input());
    let mut projection = None;
    if let Some(p) = input.downcast_ref::<ProjectionExec>() {
        projection = Some(
            p.expr()
                .iter()
                .map(|e| e.expr.downcast_ref::<Column>().map(Column::index))
                .collect(),
        );
        input = skip_transparent(p.input());
    }
    let Some(scan) = input.downcast_ref::<SeriesScanExec>() else {
        return Ok(None);
    };
    if scan.limit().is_some() || scan.view().excludes_rows() {
        return Ok(None);
    }
    let columns = Columns { projection, scan };
    let grouped_by_tags = aggregate
        .group_expr()
        .expr()
        .iter()
        .all(|(expr, _)| columns.is_tag(expr));
    if !grouped_by_tags {
        return Ok(None);
    }
    let mut time = None;
    for a in aggregate.aggr_expr() {
        match newest_row_time(a, &columns) {
            Some(t) => time = Some(t),
            None => return Ok(None),
        }
    }
    let latest: Arc<dyn ExecutionPlan> = Arc::new(scan.latest());
    // Put the new scan where the old one was, under the same nodes.
    let input = aggregate.input().clone().transform_down(|plan| {
        Ok(if plan.downcast_ref::<SeriesScanExec>().is_some() {
            Transformed::new(latest.clone(), true, TreeNodeRecursion::Stop)
        } else {
            Transformed::no(plan)
        })
    })?;
    Ok(Some((input.data, time)))
}

/// If `aggregate`'s value over a group is its value at the newest row of
/// each of the group's series (and so at the group's newest row), the time
/// expression that orders the rows.
fn newest_row_time(
    aggregate: &AggregateFunctionExpr,
    columns: &Columns<'_>,
) -> Option<Arc<dyn PhysicalExpr>> {
    if aggregate.is_distinct() || aggregate.ignore_nulls() {
        return None;
    }
    let arguments = aggregate.expressions();
    let order = aggregate.order_bys();
    // The ordering, after any tags (constant within a series), is by time,
    // newest first for `first_value` and last for `last_value`.
    let newest_by_order = |descending: bool| {
        let (last, tags) = order.split_last()?;
        (columns.is_time(&last.expr)
            && last.options.descending == descending
            && tags.iter().all(|t| columns.is_tag(&t.expr)))
        .then(|| last.expr.clone())
    };
    let time_argument = |i: usize, count: usize| {
        (arguments.len() == count && order.is_empty())
            .then(|| arguments.get(i).cloned())
            .flatten()
            .filter(|a| columns.is_time(a))
    };
    match aggregate.fun().name() {
        "last" => time_argument(1, 2),
        "max" => time_argument(0, 1),
        "first_value" => newest_by_order(true),
        "last_value" => newest_by_order(false),
        _ => None,
    }
}
