//! The latest point per series: an aggregate grouped by tags whose every
//! value depends only on each group's newest row reads only the newest row of
//! each series.
//!
//! [`LatestPerSeries`] is a physical optimizer rule. It finds a grouping
//! aggregate (partial or single) whose input is, through nodes that only move
//! rows around (and optionally a projection of plain columns), a
//! [`SeriesScanExec`] that applies every filter itself, and turns that scan
//! into its [`latest`](SeriesScanExec::latest) form. The aggregate stays: over
//! the newest row of each series it computes what it would over all rows,
//! because every group is a union of whole series and each of its aggregates
//! is one of
//!
//! - `last(x, time)` and `max(time)`,
//! - `first_value(x ORDER BY tags..., time DESC)` and `last_value(x ORDER BY
//!   tags..., time ASC)`, which is how DataFusion plans `SELECT DISTINCT ON
//!   (tags) ... ORDER BY tags, time DESC`,
//!
//! with the table's time column. Rows at the same newest time in one series
//! are then represented by one of them.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::udaf::AggregateFunctionExpr;

use super::aggregate_exec::{replace_top_down, skip_transparent};
use super::scan_exec::SeriesScanExec;

/// The optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct LatestPerSeries;

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
        self.table_column(expr) == Some(self.scan.view().table_schema().time_index())
    }

    fn is_tag(&self, expr: &Arc<dyn PhysicalExpr>) -> bool {
        self.table_column(expr)
            .is_some_and(|c| self.scan.view().table_schema().tag_indices().contains(&c))
    }
}

/// `node` with its scan reading only each series' newest row, if it is an
/// aggregate that allows it.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
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
    if scan.limit().is_some() {
        return Ok(None);
    }
    let columns = Columns { projection, scan };
    let grouped_by_tags = aggregate
        .group_expr()
        .expr()
        .iter()
        .all(|(expr, _)| columns.is_tag(expr));
    if !grouped_by_tags
        || !aggregate
            .aggr_expr()
            .iter()
            .all(|a| depends_on_newest_row(a, &columns))
    {
        return Ok(None);
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
    let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
    Ok(Some(
        node.clone().replace_children(vec![input.data], options)?,
    ))
}

/// Whether `aggregate`'s value over a group is its value over the newest row
/// of each of the group's series.
fn depends_on_newest_row(aggregate: &AggregateFunctionExpr, columns: &Columns<'_>) -> bool {
    if aggregate.is_distinct() || aggregate.ignore_nulls() {
        return false;
    }
    let arguments = aggregate.expressions();
    let order = aggregate.order_bys();
    // The ordering, after any tags (constant within a series), is by time,
    // newest first for `first_value` and last for `last_value`.
    let newest_by_order = |descending: bool| {
        order.split_last().is_some_and(|(last, tags)| {
            columns.is_time(&last.expr)
                && last.options.descending == descending
                && tags.iter().all(|t| columns.is_tag(&t.expr))
        })
    };
    match aggregate.fun().name() {
        "last" => arguments.len() == 2 && columns.is_time(&arguments[1]) && order.is_empty(),
        "max" => arguments.len() == 1 && columns.is_time(&arguments[0]) && order.is_empty(),
        "first_value" => newest_by_order(true),
        "last_value" => newest_by_order(false),
        _ => false,
    }
}
