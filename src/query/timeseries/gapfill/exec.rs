//! The gap-filling executor and its planner.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, RecordBatchOptions,
    UInt32Array, new_null_array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::compute::{SortOptions, cast, concat_batches, interleave, take};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, OrderingRequirements, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::{StreamExt, TryStreamExt};

use super::functions::{FillKind, invalid};
use super::node::{Fill, GapFill};
use crate::query::timeseries::constant::constant_value;
use crate::query::timeseries::time_bucket::BucketSteps;

/// Plans [`GapFill`] nodes as [`GapFillExec`]. Their range and bucket
/// arguments are evaluated here, once the statement's parameters are bound.
#[derive(Debug, Default)]
pub(crate) struct GapFillPlanner;

#[async_trait]
impl ExtensionPlanner for GapFillPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<GapFill>() else {
            return Ok(None);
        };
        let (Some(logical), Some(input)) = (logical_inputs.first(), physical_inputs.first()) else {
            return internal_err!("GapFill has one input");
        };
        let time_type = input.schema().field(node.time).data_type().clone();
        let constant = |expr: &Expr| -> Result<ScalarValue> {
            let physical =
                planner.create_physical_expr(expr, logical.schema(), session, planning_ctx)?;
            constant_value(physical.as_ref())
        };
        let mut start = None;
        for expr in &node.starts {
            let value = time_value(&constant(expr)?, &time_type)?
                .ok_or_else(|| invalid("start cannot be NULL"))?;
            start = Some(start.map_or(value, |s: i64| s.max(value)));
        }
        let mut finish = None;
        for (expr, inclusive) in &node.finishes {
            let value = time_value(&constant(expr)?, &time_type)?
                .ok_or_else(|| invalid("finish cannot be NULL"))?;
            let value = if *inclusive {
                value.saturating_add(1)
            } else {
                value
            };
            finish = Some(finish.map_or(value, |f: i64| f.min(value)));
        }
        let (Some(start), Some(finish)) = (start, finish) else {
            return internal_err!("GapFill without a start or a finish");
        };
        let mut constants = node
            .bucket_args
            .iter()
            .map(constant)
            .collect::<Result<Vec<_>>>()?;
        if constants.iter().any(ScalarValue::is_null) {
            return Err(invalid("bucket_width and timezone cannot be NULL"));
        }
        constants.insert(1, ScalarValue::Null);
        let session_zone = session
            .config_options()
            .execution
            .time_zone
            .as_deref()
            .and_then(|name| name.parse::<Tz>().ok());
        let steps = BucketSteps::new(&constants, &time_type, session_zone)?;
        Ok(Some(Arc::new(GapFillExec::new(
            input.clone(),
            Filler {
                schema: Arc::new(node.schema.as_arrow().clone()),
                time: node.time,
                groups: node.groups.clone(),
                fills: node.fills.clone(),
                steps,
                start,
                finish,
            },
        ))))
    }
}

/// A time as `i64` in its column's representation (units of a timestamp,
/// days of a date, or an integer); `None` for NULL.
fn time_value(value: &ScalarValue, time_type: &DataType) -> Result<Option<i64>> {
    let typed = value.cast_to(time_type)?;
    let raw = match typed {
        ScalarValue::Date32(d) => d.map(i64::from),
        other => match other.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(v) => v,
            other => return internal_err!("{other} is not a time"),
        },
    };
    Ok(raw)
}

/// A time column as `i64` values.
fn time_values(array: &ArrayRef) -> Result<Int64Array> {
    let array = match array.data_type() {
        DataType::Date32 => cast(array, &DataType::Int32)?,
        _ => array.clone(),
    };
    Ok(cast(&array, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

/// `i64` values back as a time column of `data_type`.
fn from_time_values(values: Int64Array, data_type: &DataType) -> Result<ArrayRef> {
    let values: ArrayRef = Arc::new(values);
    Ok(match data_type {
        DataType::Date32 => cast(&cast(&values, &DataType::Int32)?, data_type)?,
        _ => cast(&values, data_type)?,
    })
}

/// What the filling needs to know, evaluated for one execution.
#[derive(Debug)]
struct Filler {
    /// The output's: the input's, with values nullable.
    schema: SchemaRef,
    time: usize,
    groups: Vec<usize>,
    fills: Vec<Fill>,
    steps: BucketSteps,
    start: i64,
    /// Exclusive.
    finish: i64,
}

/// Where one output value of a filled column comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The value column at a row.
    Value(usize),
    /// The `prev` column at a row.
    Prev(usize),
    /// Interpolated.
    Number(f64),
    Null,
}

/// The rows of the output, before their columns are built.
#[derive(Debug, Default)]
struct Rows {
    /// The input row of each output row; `None` for a gap.
    real: Vec<Option<usize>>,
    /// The bucket of each gap (unused for rows from the input).
    time: Vec<i64>,
    /// An input row of each row's group, for its keys.
    group_row: Vec<Option<usize>>,
    /// For each fill, the source of each row's value.
    fills: Vec<Vec<Source>>,
}

/// A neighbouring point for interpolation: time, and value if not NULL.
type Point = (i64, Option<f64>);

/// The state of one fill within a group.
enum State {
    Locf {
        /// The last value to carry.
        last: Option<Source>,
        /// Before the first value, `prev`.
        prev: Source,
    },
    Interpolate {
        /// The last row from the input, or `prev`.
        before: Option<Point>,
        /// After the last row from the input, `next`.
        after: Option<Point>,
    },
}

/// The input's columns that filling reads, as plain values.
struct Inputs<'a> {
    batch: &'a RecordBatch,
    times: Int64Array,
    /// Per fill, the value column as numbers (interpolation only).
    numbers: Vec<Option<Float64Array>>,
    /// Per fill, `prev` and `next` records as points (interpolation only).
    prev_points: Vec<Option<(Int64Array, Float64Array)>>,
    next_points: Vec<Option<(Int64Array, Float64Array)>>,
}

fn points(
    batch: &RecordBatch,
    column: Option<usize>,
    time_type: &DataType,
) -> Result<Option<(Int64Array, Float64Array)>> {
    let Some(column) = column else {
        return Ok(None);
    };
    let array = batch.column(column);
    let Some(record) = array.as_struct_opt() else {
        return Ok(None);
    };
    if record.num_columns() != 2 {
        return internal_err!("interpolate's records have two fields");
    }
    let times = time_values(&cast(record.column(0), time_type)?)?;
    let values = cast(record.column(1), &DataType::Float64)?;
    // A NULL record is no point.
    let times = if let Some(nulls) = record.nulls() {
        let merged = NullBuffer::union(times.nulls(), Some(nulls));
        Int64Array::new(times.values().clone(), merged)
    } else {
        times
    };
    Ok(Some((times, values.as_primitive::<Float64Type>().clone())))
}

fn point_at(points: &Option<(Int64Array, Float64Array)>, row: Option<usize>) -> Option<Point> {
    let (times, values) = points.as_ref()?;
    let row = row?;
    if times.is_null(row) {
        return None;
    }
    Some((
        times.value(row),
        values.is_valid(row).then(|| values.value(row)),
    ))
}

/// Linear interpolation at `t` between two points; NULL when either is.
fn interpolate(t: i64, before: Option<Point>, after: Option<Point>) -> Option<f64> {
    let ((t0, v0), (t1, v1)) = (before?, after?);
    let (v0, v1) = (v0?, v1?);
    if t1 == t0 {
        return Some(v0);
    }
    let fraction = (t as f64 - t0 as f64) / (t1 as f64 - t0 as f64);
    Some(v0 + (v1 - v0) * fraction)
}

impl Filler {
    /// The output rows of all of `batch`, which is sorted by group and time.
    fn plan(&self, inputs: &Inputs<'_>) -> Result<Rows> {
        let batch = inputs.batch;
        let ranges: Vec<Range<usize>> = if self.groups.is_empty() {
            // One group, which gets its buckets even without rows.
            std::iter::once(0..batch.num_rows()).collect()
        } else {
            let keys: Vec<ArrayRef> = self
                .groups
                .iter()
                .map(|&g| batch.column(g).clone())
                .collect();
            partition(&keys)?.ranges()
        };
        let mut rows = Rows {
            fills: vec![Vec::new(); self.fills.len()],
            ..Rows::default()
        };
        let first_bucket = self.steps.bucket(self.start)?;
        for range in ranges {
            self.plan_group(inputs, range, first_bucket, &mut rows)?;
        }
        Ok(rows)
    }

    fn plan_group(
        &self,
        inputs: &Inputs<'_>,
        range: Range<usize>,
        first_bucket: i64,
        rows: &mut Rows,
    ) -> Result<()> {
        let first = (!range.is_empty()).then_some(range.start);
        let mut states: Vec<State> = self
            .fills
            .iter()
            .enumerate()
            .map(|(i, fill)| match fill.kind {
                FillKind::Locf => State::Locf {
                    last: None,
                    prev: match (fill.prev, first) {
                        (Some(_), Some(row)) => Source::Prev(row),
                        _ => Source::Null,
                    },
                },
                FillKind::Interpolate => State::Interpolate {
                    before: point_at(&inputs.prev_points[i], first),
                    after: point_at(&inputs.next_points[i], first),
                },
            })
            .collect();
        let gap = |rows: &mut Rows, states: &mut [State], bucket: i64, next: Option<usize>| {
            rows.real.push(None);
            rows.time.push(bucket);
            rows.group_row.push(first);
            for (i, state) in states.iter_mut().enumerate() {
                let source = match state {
                    State::Locf { last, prev } => last.unwrap_or(*prev),
                    State::Interpolate { before, after } => {
                        let after = match next {
                            Some(row) => Some(self.point(inputs, i, row)),
                            None => *after,
                        };
                        interpolate(bucket, *before, after).map_or(Source::Null, Source::Number)
                    }
                };
                rows.fills[i].push(source);
            }
        };
        let real = |rows: &mut Rows, states: &mut [State], row: usize| {
            rows.real.push(Some(row));
            rows.time.push(0);
            rows.group_row.push(Some(row));
            for (i, state) in states.iter_mut().enumerate() {
                let fill = &self.fills[i];
                let source = match state {
                    State::Locf { last, prev } => {
                        let value = inputs.batch.column(fill.value);
                        if value.is_null(row) && fill.treat_null_as_missing {
                            last.unwrap_or(*prev)
                        } else {
                            *last = Some(Source::Value(row));
                            Source::Value(row)
                        }
                    }
                    State::Interpolate { before, .. } => {
                        if inputs.times.is_valid(row) {
                            *before = Some(self.point(inputs, i, row));
                        }
                        Source::Value(row)
                    }
                };
                rows.fills[i].push(source);
            }
        };
        let mut bucket = first_bucket;
        for row in range {
            // Rows without a time come last, after the group's buckets.
            let t = if inputs.times.is_valid(row) {
                inputs.times.value(row)
            } else {
                i64::MAX
            };
            while bucket < self.finish && bucket < t {
                let next = (t != i64::MAX).then_some(row);
                gap(rows, &mut states, bucket, next);
                bucket = self.steps.next(bucket)?;
            }
            if bucket == t {
                bucket = self.steps.next(bucket)?;
            }
            real(rows, &mut states, row);
        }
        while bucket < self.finish {
            gap(rows, &mut states, bucket, None);
            bucket = self.steps.next(bucket)?;
        }
        Ok(())
    }

    /// The point of input row `row` for fill `i`.
    fn point(&self, inputs: &Inputs<'_>, i: usize, row: usize) -> Point {
        let value = inputs.numbers[i]
            .as_ref()
            .and_then(|n| n.is_valid(row).then(|| n.value(row)));
        (inputs.times.value(row), value)
    }

    /// Output rows `range` of `rows` as a batch.
    fn build(&self, inputs: &Inputs<'_>, rows: &Rows, range: Range<usize>) -> Result<RecordBatch> {
        let batch = inputs.batch;
        let schema = self.schema.clone();
        let indices = |of: &[Option<usize>]| -> UInt32Array {
            of[range.clone()]
                .iter()
                .map(|r| r.and_then(|r| u32::try_from(r).ok()))
                .collect()
        };
        let real = indices(&rows.real);
        let group_rows = indices(&rows.group_row);
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (c, column) in batch.columns().iter().enumerate() {
            let array = if c == self.time {
                let times: Int64Array = range
                    .clone()
                    .map(|i| match rows.real[i] {
                        Some(r) => inputs.times.is_valid(r).then(|| inputs.times.value(r)),
                        None => Some(rows.time[i]),
                    })
                    .collect();
                from_time_values(times, column.data_type())?
            } else if self.groups.contains(&c) {
                take(column, &group_rows, None)?
            } else if let Some(f) = self.fills.iter().position(|fill| fill.value == c) {
                self.build_fill(batch, f, &rows.fills[f][range.clone()])?
            } else {
                take(column, &real, None)?
            };
            columns.push(array);
        }
        Ok(RecordBatch::try_new_with_options(
            schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(range.len())),
        )?)
    }

    fn build_fill(&self, batch: &RecordBatch, f: usize, sources: &[Source]) -> Result<ArrayRef> {
        let fill = &self.fills[f];
        let value = batch.column(fill.value);
        let data_type = value.data_type();
        let null = new_null_array(data_type, 1);
        let prev = match (fill.kind, fill.prev) {
            (FillKind::Locf, Some(prev)) => cast(batch.column(prev), data_type)?,
            _ => null.clone(),
        };
        let numbers: Float64Array = sources
            .iter()
            .map(|s| match s {
                Source::Number(n) if data_type.is_integer() => Some(n.round()),
                Source::Number(n) => Some(*n),
                _ => None,
            })
            .collect();
        let numbers = cast(&(Arc::new(numbers) as ArrayRef), data_type)?;
        let indices: Vec<(usize, usize)> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Source::Value(r) => (0, *r),
                Source::Prev(r) => (1, *r),
                Source::Number(_) => (2, i),
                Source::Null => (3, 0),
            })
            .collect();
        Ok(interleave(
            &[
                value.as_ref(),
                prev.as_ref(),
                numbers.as_ref(),
                null.as_ref(),
            ],
            &indices,
        )?)
    }

    /// Fills `batch`, the whole input, into batches of `batch_size` rows.
    fn fill(&self, batch: &RecordBatch, batch_size: usize) -> Result<Vec<RecordBatch>> {
        let time_type = batch.schema().field(self.time).data_type().clone();
        let mut numbers = Vec::with_capacity(self.fills.len());
        let mut prev_points = Vec::with_capacity(self.fills.len());
        let mut next_points = Vec::with_capacity(self.fills.len());
        for fill in &self.fills {
            if fill.kind == FillKind::Interpolate {
                let value = cast(batch.column(fill.value), &DataType::Float64)?;
                numbers.push(Some(value.as_primitive::<Float64Type>().clone()));
                prev_points.push(points(batch, fill.prev, &time_type)?);
                next_points.push(points(batch, fill.next, &time_type)?);
            } else {
                numbers.push(None);
                prev_points.push(None);
                next_points.push(None);
            }
        }
        let inputs = Inputs {
            batch,
            times: time_values(batch.column(self.time))?,
            numbers,
            prev_points,
            next_points,
        };
        let rows = self.plan(&inputs)?;
        let total = rows.real.len();
        let batch_size = batch_size.max(1);
        (0..total)
            .step_by(batch_size)
            .map(|start| self.build(&inputs, &rows, start..(start + batch_size).min(total)))
            .collect()
    }
}

/// Fills gaps in its input, which it reads whole: an aggregate's output,
/// sorted by group and bucket. Its output has the same order.
#[derive(Debug)]
pub(crate) struct GapFillExec {
    input: Arc<dyn ExecutionPlan>,
    filler: Arc<Filler>,
    properties: Arc<PlanProperties>,
}

impl GapFillExec {
    fn new(input: Arc<dyn ExecutionPlan>, filler: Filler) -> Self {
        let schema = filler.schema.clone();
        let mut equivalence = EquivalenceProperties::new(schema.clone());
        if let Some(ordering) = LexOrdering::new(sort_exprs(&schema, &filler)) {
            equivalence.add_orderings([ordering]);
        }
        let properties = Arc::new(PlanProperties::new(
            equivalence,
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            filler: Arc::new(filler),
            properties,
        }
    }
}

/// Groups, then the bucket, ascending with NULLs last.
fn sort_exprs(schema: &SchemaRef, filler: &Filler) -> Vec<PhysicalSortExpr> {
    let column = |i: usize, nulls_first: bool| {
        PhysicalSortExpr::new(
            Arc::new(Column::new(schema.field(i).name(), i)),
            SortOptions {
                descending: false,
                nulls_first,
            },
        )
    };
    filler
        .groups
        .iter()
        .map(|&g| column(g, false))
        .chain(std::iter::once(column(filler.time, false)))
        .collect()
}

impl DisplayAs for GapFillExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = self.input.schema();
        let filler = &self.filler;
        let groups: Vec<&str> = filler
            .groups
            .iter()
            .map(|&g| schema.field(g).name().as_str())
            .collect();
        write!(
            f,
            "GapFillExec: time={}, groups=[{}], range=[{}, {})",
            schema.field(filler.time).name(),
            groups.join(", "),
            filler.start,
            filler.finish,
        )
    }
}

impl ExecutionPlan for GapFillExec {
    fn name(&self) -> &str {
        "GapFillExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let schema = self.input.schema();
        let ordering = LexOrdering::new(sort_exprs(&schema, &self.filler));
        vec![ordering.map(|o| OrderingRequirements::new(o.into()))]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self {
                input,
                filler: self.filler.clone(),
                properties: self.properties.clone(),
            })),
            _ => Err(DataFusionError::Internal(
                "GapFillExec takes one child".to_owned(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("GapFillExec has one partition, not {partition}");
        }
        let input = self.input.execute(0, context.clone())?;
        let schema = self.input.schema();
        let filler = self.filler.clone();
        let batch_size = context.session_config().batch_size();
        let output_schema = filler.schema.clone();
        let batches = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let whole = concat_batches(&schema, &batches)?;
            let filled = filler.fill(&whole, batch_size)?;
            Ok::<_, DataFusionError>(futures::stream::iter(filled.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            output_schema,
            batches,
        )))
    }
}

#[cfg(test)]
mod tests;
