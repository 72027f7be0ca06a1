//! `SeriesScanExec`: the physical scan of a time-series table.
//!
//! It holds a storage [`ReadView`] (a consistent snapshot, already pruned by
//! the pushed time range, series filter and field bounds) and decodes it
//! lazily, one series piece at a time, spread over partitions by series.
//! EXPLAIN shows the pushed predicates and the pruning; EXPLAIN ANALYZE adds
//! the rows decoded.
//!
//! Each partition returns its series in tag order, each series in time order,
//! and declares it. Sort pushdown can turn the scan around ([`SeriesScanExec::
//! try_pushdown_sort`]): each series then comes newest first, read from its
//! newest block backwards, so `ORDER BY time DESC LIMIT n` decodes only the
//! blocks it returns rows from.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::{SortOptions, take_record_batch};
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SortOrderPushdownResult,
};

use crate::storage::{ReadView, SeriesKey};

/// Scans a snapshot of a time-series table.
#[derive(Debug)]
pub(crate) struct SeriesScanExec {
    table: String,
    view: Arc<ReadView>,
    /// The predicates the storage applies, for EXPLAIN.
    pushed: Vec<String>,
    partitions: usize,
    /// Rows each partition may stop after: set when every filter is applied
    /// by the scan itself, so the first rows are final.
    limit: Option<usize>,
    /// Each series newest first.
    reverse: bool,
    /// Only each series' newest row (see [`SeriesScanExec::latest`]).
    latest: bool,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesScanExec {
    pub(crate) fn new(
        table: String,
        view: Arc<ReadView>,
        pushed: Vec<String>,
        partitions: usize,
        limit: Option<usize>,
    ) -> Self {
        let partitions = partitions.max(1);
        Self {
            properties: properties(&view, partitions, false),
            table,
            view,
            pushed,
            partitions,
            limit,
            reverse: false,
            latest: false,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The same scan returning only the newest row of each series: what an
    /// aggregate that depends only on each group's newest row (`last(v,
    /// time)`, `DISTINCT ON (tags) ... ORDER BY tags, time DESC`) needs. It
    /// decodes one block per series where the series was written in order.
    pub(crate) fn latest(&self) -> Self {
        Self {
            latest: true,
            ..self.with(self.limit, false)
        }
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn pushed(&self) -> &[String] {
        &self.pushed
    }

    pub(crate) fn view(&self) -> &Arc<ReadView> {
        &self.view
    }

    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit
    }

    pub(crate) fn partitions(&self) -> usize {
        self.partitions
    }

    /// At most how many rows `partition` (all of them: `None`) returns,
    /// from the view's block and head sizes: nothing is decoded.
    fn rows_at_most(&self, partition: Option<usize>) -> usize {
        let view = &self.view;
        let count = self.partitions;
        let rows = view.rows_at_most(|i| match partition {
            Some(p) => (view.series(i)).is_some_and(|s| s.0 as usize % count == p),
            None => true,
        });
        let parts = if partition.is_some() { 1 } else { count };
        let rows = match self.limit {
            Some(limit) => rows.min(limit.saturating_mul(parts)),
            None => rows,
        };
        if self.latest {
            rows.min(view.stats.series_matched)
        } else {
            rows
        }
    }

    fn with(&self, limit: Option<usize>, reverse: bool) -> Self {
        Self {
            table: self.table.clone(),
            view: self.view.clone(),
            pushed: self.pushed.clone(),
            partitions: self.partitions,
            limit,
            reverse,
            latest: self.latest,
            properties: properties(&self.view, self.partitions, reverse),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

fn properties(view: &ReadView, partitions: usize, reverse: bool) -> Arc<PlanProperties> {
    let mut equivalence = EquivalenceProperties::new(view.schema().clone());
    if let Some(ordering) = output_ordering(view, reverse) {
        equivalence.add_orderings([ordering]);
    }
    Arc::new(PlanProperties::new(
        equivalence,
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
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
/// projected), then time (descending when `reverse`). With at most one
/// series, time order alone.
fn output_ordering(view: &ReadView, reverse: bool) -> Option<LexOrdering> {
    let table = view.table_schema();
    let position = |column: usize| view.projection().iter().position(|&c| c == column);
    // A plain table's rows come in arrival order, which no column shows.
    let time = position(table.time_index()?)?;
    let single_series = view.stats.series_matched <= 1;
    let mut exprs = Vec::new();
    if !single_series {
        for &tag in table.tag_indices() {
            let index = position(tag)?;
            exprs.push(sort_expr(view, index, false));
        }
    }
    exprs.push(sort_expr(view, time, reverse));
    LexOrdering::new(exprs)
}

/// PostgreSQL's defaults: ASC NULLS LAST, DESC NULLS FIRST.
fn sort_expr(view: &ReadView, index: usize, descending: bool) -> PhysicalSortExpr {
    let name = view.schema().field(index).name();
    PhysicalSortExpr::new(
        Arc::new(Column::new(name, index)),
        SortOptions {
            descending,
            nulls_first: descending,
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
        )?;
        if self.reverse {
            write!(f, ", order=time_desc")?;
        }
        if self.latest {
            write!(f, ", latest_per_series")?;
        }
        Ok(())
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

    /// The row count is an upper bound (`Inexact`): blocks are counted whole,
    /// before the time range and the filters cut them. It lets DataFusion
    /// leave a small scan in one partition, with no repartition or merge
    /// above it.
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let mut statistics = Statistics::new_unknown(&self.schema());
        statistics.num_rows = Precision::Inexact(self.rows_at_most(args.partition()));
        Ok(Arc::new(statistics))
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
        context: Arc<TaskContext>,
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
        // time order (reversed, newest first): the sort is stable. The latest
        // form reads each series newest first by itself.
        if self.reverse && !self.latest {
            pieces.reverse();
        }
        // The view lists a series' pieces together: sort whole series.
        let mut series: Vec<Vec<usize>> = Vec::new();
        for i in pieces {
            match series.last_mut() {
                Some(run) if view.series(run[0]) == view.series(i) => run.push(i),
                _ => series.push(vec![i]),
            }
        }
        series.sort_by(|a, b| compare_keys(view.key(a[0]), view.key(b[0])));
        if self.latest {
            let batch_size = context.session_config().batch_size();
            let batches = latest_rows(view.clone(), series, batch_size, rows_decoded, output_rows);
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                view.schema().clone(),
                futures::stream::iter(batches),
            )));
        }
        let reverse = self.reverse;
        // What each batch decodes: one piece at a time when a limit may stop
        // the scan early or the scan runs backwards, else runs of one series'
        // pieces up to a batch.
        let batch_size = context.session_config().batch_size();
        let mut runs: Vec<Vec<usize>> = Vec::new();
        let mut run_rows = 0;
        for i in series.into_iter().flatten() {
            let rows = view.piece_rows(i);
            match runs.last_mut() {
                Some(run)
                    if self.limit.is_none()
                        && !reverse
                        && run_rows + rows <= batch_size
                        && view.series(run[0]) == view.series(i) =>
                {
                    run.push(i);
                    run_rows += rows;
                }
                _ => {
                    runs.push(vec![i]);
                    run_rows = rows;
                }
            }
        }
        let decoder = view.clone();
        let mut remaining = self.limit.unwrap_or(usize::MAX);
        let batches = runs
            .into_iter()
            .map_while(move |run| {
                if remaining == 0 {
                    return None;
                }
                Some(match decoder.decode_run(&run) {
                    Ok((batch, decoded)) => {
                        rows_decoded.add(decoded);
                        batch.map(|batch| {
                            let batch = if reverse { reversed(&batch)? } else { batch };
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

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        Some(Arc::new(self.with(limit, self.reverse)))
    }

    fn fetch(&self) -> Option<usize> {
        self.limit
    }

    /// Runs the scan backwards when that yields the requested order: each
    /// series newest first (after its tags, when there are several).
    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
    ) -> Result<SortOrderPushdownResult<Arc<dyn ExecutionPlan>>> {
        let turned = self.with(self.limit, !self.reverse);
        if turned
            .properties
            .eq_properties
            .ordering_satisfy(order.iter().cloned())?
        {
            Ok(SortOrderPushdownResult::Exact {
                inner: Arc::new(turned),
            })
        } else {
            Ok(SortOrderPushdownResult::Unsupported)
        }
    }
}

/// The newest row of each of `series` (each one's pieces in time order),
/// gathered into batches of up to `batch_size` rows.
fn latest_rows(
    view: Arc<ReadView>,
    series: Vec<Vec<usize>>,
    batch_size: usize,
    rows_decoded: Count,
    output_rows: Count,
) -> impl Iterator<Item = Result<RecordBatch>> {
    let mut series = series.into_iter();
    std::iter::from_fn(move || {
        loop {
            let runs: Vec<Vec<usize>> = series.by_ref().take(batch_size.max(1)).collect();
            if runs.is_empty() {
                return None;
            }
            let runs: Vec<&[usize]> = runs.iter().map(Vec::as_slice).collect();
            match view.decode_latest_runs(&runs) {
                Ok((batch, decoded)) => {
                    rows_decoded.add(decoded);
                    if let Some(batch) = batch {
                        output_rows.add(batch.num_rows());
                        return Some(Ok(batch));
                    }
                }
                Err(e) => return Some(Err(DataFusionError::External(Box::new(e)))),
            }
        }
    })
}

/// `batch` with its rows in reverse order.
fn reversed(batch: &RecordBatch) -> Result<RecordBatch> {
    let rows = batch.num_rows() as u32;
    let indices = UInt32Array::from_iter_values((0..rows).rev());
    Ok(take_record_batch(batch, &indices)?)
}
