//! `SeriesScanExec`: the physical scan of a time-series table.
//!
//! It holds a storage [`ReadView`] (a consistent snapshot, already pruned by
//! the pushed time range, series filter and field bounds) and decodes it
//! lazily, one series piece at a time, spread over partitions by series.
//! EXPLAIN shows the pushed predicates and the pruning; EXPLAIN ANALYZE adds
//! the rows decoded.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use crate::storage::{ReadView, SeriesKey};

/// Scans a snapshot of a time-series table.
#[derive(Debug)]
pub(super) struct SeriesScanExec {
    table: String,
    view: Arc<ReadView>,
    /// The predicates the storage applies, for EXPLAIN.
    pushed: Vec<String>,
    partitions: usize,
    /// Rows each partition may stop after: set when every filter is applied
    /// by the scan itself, so the first rows are final.
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesScanExec {
    pub(super) fn new(
        table: String,
        view: Arc<ReadView>,
        pushed: Vec<String>,
        partitions: usize,
        limit: Option<usize>,
    ) -> Self {
        let partitions = partitions.max(1);
        let mut equivalence = EquivalenceProperties::new(view.schema().clone());
        if let Some(ordering) = output_ordering(&view) {
            equivalence.add_orderings([ordering]);
        }
        let properties = Arc::new(PlanProperties::new(
            equivalence,
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            table,
            view,
            pushed,
            partitions,
            limit,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

/// Orders series keys as `ORDER BY tag1, tag2, ...` does on PostgreSQL:
/// ascending, byte-wise (the C collation), NULLs last.
fn compare_keys(a: Option<&SeriesKey>, b: Option<&SeriesKey>) -> std::cmp::Ordering {
    let (a, b) = (
        a.map_or(&[][..], SeriesKey::values),
        b.map_or(&[][..], SeriesKey::values),
    );
    for (x, y) in a.iter().zip(b) {
        let order = match (x, y) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        };
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// The order each partition produces: by the tag columns (all of them must be
/// projected), then time. With at most one series, time order alone.
fn output_ordering(view: &ReadView) -> Option<LexOrdering> {
    let table = view.table_schema();
    let position = |column: usize| view.projection().iter().position(|&c| c == column);
    let time = position(table.time_index())?;
    let single_series = view.stats.series_matched <= 1;
    let mut exprs = Vec::new();
    if !single_series {
        for &tag in table.tag_indices() {
            let index = position(tag)?;
            exprs.push(sort_expr(view, index));
        }
    }
    exprs.push(sort_expr(view, time));
    LexOrdering::new(exprs)
}

fn sort_expr(view: &ReadView, index: usize) -> PhysicalSortExpr {
    let name = view.schema().field(index).name();
    PhysicalSortExpr::new(
        Arc::new(Column::new(name, index)),
        SortOptions {
            descending: false,
            nulls_first: false,
        },
    )
}

impl DisplayAs for SeriesScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = &self.view.stats;
        write!(
            f,
            "SeriesScanExec: table={}, pushed=[{}], series={}, blocks_scanned={}, blocks_skipped={}, pieces={}{}",
            self.table,
            self.pushed.join(", "),
            stats.series_matched,
            stats.blocks_total - stats.blocks_skipped,
            stats.blocks_skipped,
            self.view.len(),
            self.limit
                .map(|l| format!(", limit={l}"))
                .unwrap_or_default(),
        )
    }
}

impl ExecutionPlan for SeriesScanExec {
    fn name(&self) -> &str {
        "SeriesScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "SeriesScanExec has no children".to_owned(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let rows_decoded = MetricBuilder::new(&self.metrics).counter("rows_decoded", partition);
        let output_rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let view = self.view.clone();
        let count = self.partitions;
        let mut pieces: Vec<usize> = (0..view.len())
            .filter(|&i| {
                view.series(i)
                    .is_some_and(|s| s.0 as usize % count == partition)
            })
            .collect();
        // Series in tag order (NULLs last, as declared), each one's pieces in
        // time order: the sort is stable and pieces come in time order.
        pieces.sort_by(|&a, &b| compare_keys(view.key(a), view.key(b)));
        let decoder = view.clone();
        let mut remaining = self.limit.unwrap_or(usize::MAX);
        let batches = pieces
            .into_iter()
            .map_while(move |i| {
                if remaining == 0 {
                    return None;
                }
                Some(match decoder.decode_counted(i) {
                    Ok((batch, decoded)) => {
                        rows_decoded.add(decoded);
                        batch.map(|batch| {
                            let batch = batch.slice(0, batch.num_rows().min(remaining));
                            remaining -= batch.num_rows();
                            output_rows.add(batch.num_rows());
                            Ok(batch)
                        })
                    }
                    Err(e) => Some(Err(DataFusionError::External(Box::new(e)))),
                })
            })
            .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            view.schema().clone(),
            futures::stream::iter(batches),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
