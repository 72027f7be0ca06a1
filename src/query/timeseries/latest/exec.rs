//! [`LatestGroupsExec`]: a grouping aggregate whose every value is the value
//! at each group's newest row, computed by picking that row.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, interleave};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{LexOrdering, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::sorts::sort::sort_batch_chunked;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

/// What [`LatestGroupsExec`] computes, in terms of its input's columns.
#[derive(Debug, Clone)]
pub(crate) struct LatestGroups {
    /// The grouping expressions.
    pub(crate) groups: Vec<Arc<dyn PhysicalExpr>>,
    /// The time that decides which row of a group is newest; `None` when
    /// there is no aggregate and any row stands for its group.
    pub(crate) time: Option<Arc<dyn PhysicalExpr>>,
    /// Per aggregate, the expression whose value at the newest row it is.
    pub(crate) values: Vec<Arc<dyn PhysicalExpr>>,
    /// The aggregates' names, for EXPLAIN.
    pub(crate) names: Vec<String>,
}

/// Replaces a grouping aggregate (partial and final, or single) over the
/// newest row of each series: one pass keeps, per group, where its newest row
/// is, and the output is gathered from those rows. No accumulator is created
/// per group, which is what makes `DISTINCT ON (tags) *` over thousands of
/// series cheap.
///
/// It reads one input partition and has one output partition; its output is
/// ordered as the aggregate it replaces promised.
#[derive(Debug)]
pub(crate) struct LatestGroupsExec {
    input: Arc<dyn ExecutionPlan>,
    spec: LatestGroups,
    /// The order the replaced aggregate's output had.
    ordering: Option<LexOrdering>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl LatestGroupsExec {
    /// `replaced` is the aggregate this stands for: its schema and the
    /// orderings of its output are this node's.
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        spec: LatestGroups,
        replaced: &PlanProperties,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            replaced.eq_properties.clone(),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            spec,
            ordering: replaced.output_ordering().cloned(),
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    fn schema_ref(&self) -> SchemaRef {
        self.properties.eq_properties.schema().clone()
    }
}

impl DisplayAs for LatestGroupsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self.spec.groups.iter().map(|g| g.to_string()).collect();
        write!(
            f,
            "LatestGroupsExec: group=[{}], newest=[{}]",
            groups.join(", "),
            self.spec.names.join(", ")
        )
    }
}

impl ExecutionPlan for LatestGroupsExec {
    fn name(&self) -> &str {
        "LatestGroupsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let spec = &self.spec;
        for expr in spec.groups.iter().chain(&spec.time).chain(&spec.values) {
            if f(expr)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("LatestGroupsExec has one child".to_owned()))?;
        Ok(Arc::new(Self {
            input,
            spec: self.spec.clone(),
            ordering: self.ordering.clone(),
            properties: self.properties.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context.clone())?;
        let spec = self.spec.clone();
        let schema = self.schema_ref();
        let ordering = self.ordering.clone();
        let output_rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let batch_size = context.session_config().batch_size().max(1);
        let output_schema = schema.clone();
        let batches = futures::stream::once(async move {
            let mut picker = Picker::new(spec, &input.schema())?;
            while let Some(batch) = input.next().await {
                picker.push(&batch?)?;
            }
            let batch = picker.finish(&output_schema)?;
            output_rows.add(batch.num_rows());
            let batches = match &ordering {
                Some(ordering) => sort_batch_chunked(&batch, ordering, batch_size)?,
                None => chunks(&batch, batch_size),
            };
            Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

fn too_few() -> DataFusionError {
    DataFusionError::Internal("LatestGroupsExec: fewer columns than its schema".to_owned())
}

/// `batch` cut into batches of at most `size` rows.
fn chunks(batch: &RecordBatch, size: usize) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(size)
        .map(|start| batch.slice(start, size.min(batch.num_rows() - start)))
        .collect()
}

/// Where a group's newest row is.
#[derive(Debug, Clone, Copy)]
struct Newest {
    time: i64,
    batch: usize,
    row: usize,
}

/// Keeps, per group, the newest row seen so far.
struct Picker {
    spec: LatestGroups,
    converter: RowConverter,
    /// A group's encoded key → its index in `newest`, in order of arrival.
    groups: HashMap<Box<[u8]>, usize>,
    newest: Vec<Newest>,
    /// Per input batch, its group arrays and then its value arrays.
    columns: Vec<Vec<ArrayRef>>,
}

impl Picker {
    fn new(spec: LatestGroups, input: &SchemaRef) -> Result<Self> {
        let fields = spec
            .groups
            .iter()
            .map(|g| Ok(SortField::new(g.data_type(input)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            spec,
            converter: RowConverter::new(fields)?,
            groups: HashMap::new(),
            newest: Vec::new(),
            columns: Vec::new(),
        })
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let evaluate = |e: &Arc<dyn PhysicalExpr>| e.evaluate(batch)?.into_array(rows);
        // Group columns, then value columns. The input holds a row per
        // series, so keeping every batch's columns is cheap.
        let spec = &self.spec;
        let columns = spec
            .groups
            .iter()
            .chain(&spec.values)
            .map(evaluate)
            .collect::<Result<Vec<_>>>()?;
        let times = match &spec.time {
            Some(time) => Some(cast(&evaluate(time)?, &DataType::Int64)?),
            None => None,
        };
        let times = times.as_ref().map(|t| t.as_primitive::<Int64Type>());
        let keys = self
            .converter
            .convert_columns(&columns[..spec.groups.len()])?;
        let batch_index = self.columns.len();
        for row in 0..rows {
            // A NULL time loses to any time.
            let time = times
                .and_then(|t| t.is_valid(row).then(|| t.value(row)))
                .unwrap_or(i64::MIN);
            let candidate = Newest {
                time,
                batch: batch_index,
                row,
            };
            let key = keys.row(row);
            match self.groups.get(key.as_ref()) {
                Some(&slot) => {
                    if time > self.newest[slot].time {
                        self.newest[slot] = candidate;
                    }
                }
                None => {
                    self.groups.insert(key.as_ref().into(), self.newest.len());
                    self.newest.push(candidate);
                }
            }
        }
        self.columns.push(columns);
        Ok(())
    }

    /// The groups' newest rows in `schema`: group columns, then aggregates.
    fn finish(self, schema: &SchemaRef) -> Result<RecordBatch> {
        if self.newest.is_empty() {
            return Ok(RecordBatch::new_empty(schema.clone()));
        }
        let indices: Vec<(usize, usize)> = self.newest.iter().map(|n| (n.batch, n.row)).collect();
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(c, field)| {
                let arrays: Vec<&dyn Array> = self
                    .columns
                    .iter()
                    .map(|batch| Ok(batch.get(c).ok_or_else(too_few)?.as_ref()))
                    .collect::<Result<_>>()?;
                let array = interleave(&arrays, &indices)?;
                Ok(if array.data_type() == field.data_type() {
                    array
                } else {
                    cast(&array, field.data_type())?
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests;
