//! Aggregates answered by the storage: `count`, `min`, `max` and `sum` with
//! no `GROUP BY`, straight over a time-series scan.
//!
//! [`StorageAggregates`] is a physical optimizer rule. It finds an ungrouped
//! aggregate whose input is, through nodes that only move rows around, a
//! [`SeriesScanExec`] that applies every filter itself, and replaces the
//! aggregate by a [`SeriesAggregateExec`]. That node asks the storage for the
//! values: whole sealed blocks answer from their statistics, and only blocks
//! straddling the time range's edges, and heads, are decoded.
//!
//! Measured (benches/scan.rs): a full-table `sum()` that reads statistics is
//! far cheaper than one that decodes every block, and a one-hour `max()` reads
//! at most the two blocks at the hour's edges.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateInputMode, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::udaf::AggregateFunctionExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use super::scan_exec::SeriesScanExec;
use crate::storage::{AggregateKind, AggregateRequest, AggregateValue, ReadView};

/// The optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct StorageAggregates;

impl PhysicalOptimizerRule for StorageAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_top_down(plan, |node| Ok(rewrite(node)))
    }

    fn name(&self) -> &str {
        "epochdb_storage_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with each node for which `rewrite` has a replacement replaced,
/// from the root down; a replacement's own children are not visited.
pub(crate) fn replace_top_down(
    plan: Arc<dyn ExecutionPlan>,
    rewrite: impl Fn(&Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_down(|node| {
        Ok(match rewrite(&node)? {
            Some(replacement) => Transformed::new(replacement, true, TreeNodeRecursion::Jump),
            None => Transformed::no(node),
        })
    })
    .data()
}

/// Steps over nodes that neither drop nor change rows.
pub(crate) fn skip_transparent(mut plan: &Arc<dyn ExecutionPlan>) -> &Arc<dyn ExecutionPlan> {
    loop {
        let next = if let Some(p) = plan.downcast_ref::<CoalescePartitionsExec>() {
            p.fetch().is_none().then(|| p.input())
        } else if let Some(p) = plan.downcast_ref::<RepartitionExec>() {
            Some(p.input())
        } else {
            plan.downcast_ref::<CooperativeExec>()
                .map(CooperativeExec::input)
        };
        match next {
            Some(next) => plan = next,
            None => return plan,
        }
    }
}

fn ungrouped(aggregate: &AggregateExec) -> bool {
    aggregate.group_expr().is_empty() && aggregate.filter_expr().iter().all(Option::is_none)
}

/// The replacement for `node`, if it is an aggregate the storage can answer.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let top = node.downcast_ref::<AggregateExec>()?;
    if !matches!(
        top.mode(),
        AggregateMode::Final
            | AggregateMode::FinalPartitioned
            | AggregateMode::Single
            | AggregateMode::SinglePartitioned
    ) || !ungrouped(top)
    {
        return None;
    }
    let raw = if top.mode().input_mode() == AggregateInputMode::Raw {
        top
    } else {
        let partial = skip_transparent(top.input()).downcast_ref::<AggregateExec>()?;
        (*partial.mode() == AggregateMode::Partial && ungrouped(partial)).then_some(partial)?
    };
    // Optionally a projection of plain columns, then the scan.
    let mut input = skip_transparent(raw.input());
    let mut columns: Option<Vec<usize>> = None;
    if let Some(projection) = input.downcast_ref::<ProjectionExec>() {
        columns = Some(
            projection
                .expr()
                .iter()
                .map(|e| e.expr.downcast_ref::<Column>().map(Column::index))
                .collect::<Option<Vec<_>>>()?,
        );
        input = skip_transparent(projection.input());
    }
    let scan = input.downcast_ref::<SeriesScanExec>()?;
    // Block statistics count the rows a transaction block has deleted.
    if scan.limit().is_some() || scan.view().excludes_rows() {
        return None;
    }
    let requests = raw
        .aggr_expr()
        .iter()
        .map(|a| request(a, columns.as_deref(), scan.view()))
        .collect::<Option<Vec<_>>>()?;
    let names = raw
        .aggr_expr()
        .iter()
        .map(|a| a.name().to_owned())
        .collect();
    Some(Arc::new(SeriesAggregateExec::new(
        scan,
        requests,
        names,
        top.schema(),
    )))
}

/// The storage request for one aggregate expression, if there is one.
fn request(
    aggregate: &AggregateFunctionExpr,
    columns: Option<&[usize]>,
    view: &ReadView,
) -> Option<AggregateRequest> {
    if aggregate.is_distinct() || aggregate.ignore_nulls() || !aggregate.order_bys().is_empty() {
        return None;
    }
    let kind = match aggregate.fun().name() {
        "count" => AggregateKind::Count,
        "min" => AggregateKind::Min,
        "max" => AggregateKind::Max,
        "sum" => AggregateKind::Sum,
        _ => return None,
    };
    let [argument] = aggregate.expressions().try_into().ok()?;
    let request = match argument_column(&argument, columns) {
        Some(column) => AggregateRequest {
            kind,
            column: Some(column),
        },
        // count(*) arrives as count(1): any non-NULL constant counts rows.
        None if kind == AggregateKind::Count
            && argument
                .downcast_ref::<Literal>()
                .is_some_and(|l| !l.value().is_null()) =>
        {
            AggregateRequest {
                kind: AggregateKind::CountRows,
                column: None,
            }
        }
        None => return None,
    };
    view.can_aggregate(&request).then_some(request)
}

fn argument_column(argument: &Arc<dyn PhysicalExpr>, columns: Option<&[usize]>) -> Option<usize> {
    let index = argument.downcast_ref::<Column>()?.index();
    match columns {
        Some(columns) => columns.get(index).copied(),
        None => Some(index),
    }
}

/// Computes ungrouped aggregates through the storage; one partition, one row.
#[derive(Debug)]
pub(crate) struct SeriesAggregateExec {
    table: String,
    pushed: Vec<String>,
    view: Arc<ReadView>,
    requests: Vec<AggregateRequest>,
    names: Vec<String>,
    /// Threads to spread the pieces over.
    parallelism: usize,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesAggregateExec {
    fn new(
        scan: &SeriesScanExec,
        requests: Vec<AggregateRequest>,
        names: Vec<String>,
        schema: SchemaRef,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            table: scan.table().to_owned(),
            pushed: scan.pushed().to_vec(),
            view: scan.view().clone(),
            requests,
            names,
            parallelism: scan.partitions(),
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SeriesAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = &self.view.stats;
        write!(
            f,
            "SeriesAggregateExec: table={}, aggregates=[{}], pushed=[{}], series={}, blocks_scanned={}, blocks_skipped={}",
            self.table,
            self.names.join(", "),
            self.pushed.join(", "),
            stats.series_matched,
            stats.blocks_total - stats.blocks_skipped,
            stats.blocks_skipped,
        )
    }
}

impl ExecutionPlan for SeriesAggregateExec {
    fn name(&self) -> &str {
        "SeriesAggregateExec"
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
                "SeriesAggregateExec has no children".to_owned(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let from_stats = MetricBuilder::new(&self.metrics).counter("blocks_from_stats", partition);
        let rows_decoded = MetricBuilder::new(&self.metrics).counter("rows_decoded", partition);
        let output_rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let view = self.view.clone();
        let requests = self.requests.clone();
        let parallelism = self.parallelism;
        let schema = self.properties.eq_properties.schema().clone();
        let batch_schema = schema.clone();
        let compute = async move {
            let (values, stats) = tokio::task::spawn_blocking(move || {
                view.aggregate_parallel(&requests, parallelism)
            })
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
            from_stats.add(stats.blocks_from_stats);
            rows_decoded.add(stats.rows_decoded);
            output_rows.add(1);
            let columns = values
                .into_iter()
                .zip(batch_schema.fields())
                .map(|(value, field)| scalar(value, field.data_type())?.to_array())
                .collect::<Result<Vec<_>>>()?;
            Ok(RecordBatch::try_new(batch_schema, columns)?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(compute),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// An aggregate's value in the type DataFusion planned for it.
fn scalar(value: AggregateValue, data_type: &DataType) -> Result<ScalarValue> {
    let natural = match (value, data_type) {
        (AggregateValue::Count(n), _) => {
            ScalarValue::Int64(Some(i64::try_from(n).map_err(|_| {
                DataFusionError::Internal("a count beyond bigint".to_owned())
            })?))
        }
        (AggregateValue::Int(v), DataType::Timestamp(TimeUnit::Microsecond, zone)) => {
            ScalarValue::TimestampMicrosecond(v.map(|v| v as i64), zone.clone())
        }
        (AggregateValue::Int(v), _) => ScalarValue::Int64(
            v.map(|v| {
                i64::try_from(v).map_err(|_| {
                    DataFusionError::ArrowError(
                        Box::new(ArrowError::ArithmeticOverflow(
                            "bigint out of range".to_owned(),
                        )),
                        None,
                    )
                })
            })
            .transpose()?,
        ),
        (AggregateValue::Float(v), _) => ScalarValue::Float64(v),
    };
    natural.cast_to(data_type)
}
