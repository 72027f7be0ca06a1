//! The ASOF join executor and its planner.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, RecordBatchOptions, UInt32Array,
};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OnceCell;

use super::functions::{Direction, unsupported};
use super::node::AsofJoin;
use crate::query::timeseries::constant::constant_value;

/// How the two times compare, as `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// Timestamps (and dates beside them), in microseconds.
    Micros,
    /// Dates, in days.
    Days,
    /// Integers.
    Integer,
}

impl TimeKind {
    fn of(left: &DataType, right: &DataType) -> Result<Self> {
        Ok(match (left, right) {
            (DataType::Timestamp(..), DataType::Timestamp(..) | DataType::Date32)
            | (DataType::Date32, DataType::Timestamp(..)) => TimeKind::Micros,
            (DataType::Date32, DataType::Date32) => TimeKind::Days,
            (l, r) if l.is_integer() && r.is_integer() => TimeKind::Integer,
            (l, r) => {
                return Err(unsupported(format!(
                    "an ASOF JOIN match condition comparing {l} with {r}"
                )));
            }
        })
    }

    /// `array` as `i64` times.
    fn values(self, array: &ArrayRef) -> Result<Int64Array> {
        let array = match (self, array.data_type()) {
            (TimeKind::Micros, DataType::Timestamp(_, zone)) => cast(
                array,
                &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
            )?,
            (TimeKind::Micros, _) => {
                cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?
            }
            (TimeKind::Days, _) => cast(array, &DataType::Int32)?,
            (TimeKind::Integer, _) => array.clone(),
        };
        Ok(cast(&array, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone())
    }

    /// A tolerance in these units.
    fn tolerance(self, value: &ScalarValue) -> Result<i64> {
        let invalid = || unsupported(format!("an ASOF JOIN tolerance of {value}"));
        match (self, value) {
            (TimeKind::Integer, v) => match v.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(n)) if n >= 0 => Ok(n),
                _ => Err(invalid()),
            },
            (_, ScalarValue::IntervalMonthDayNano(Some(i))) if i.months == 0 => {
                let micros = i128::from(i.days) * 86_400_000_000 + i128::from(i.nanoseconds) / 1000;
                let value = if self == TimeKind::Days {
                    micros / 86_400_000_000
                } else {
                    micros
                };
                i64::try_from(value)
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(invalid)
            }
            _ => Err(invalid()),
        }
    }
}

/// Plans [`AsofJoin`] nodes as [`AsofJoinExec`].
#[derive(Debug, Default)]
pub(crate) struct AsofPlanner;

#[async_trait]
impl ExtensionPlanner for AsofPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<AsofJoin>() else {
            return Ok(None);
        };
        let ([left_plan, right_plan], [left, right]) = (logical_inputs, physical_inputs) else {
            return internal_err!("AsofJoin takes two inputs");
        };
        let physical = |expr, plan: &LogicalPlan| {
            planner.create_physical_expr(expr, plan.schema(), session, planning_ctx)
        };
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for (l, r) in &node.keys {
            left_keys.push(physical(l, left_plan)?);
            right_keys.push(physical(r, right_plan)?);
        }
        let left_time = physical(&node.left_time, left_plan)?;
        let right_time = physical(&node.right_time, right_plan)?;
        let kind = TimeKind::of(
            &left_time.data_type(&left.schema())?,
            &right_time.data_type(&right.schema())?,
        )?;
        let tolerance = match &node.tolerance {
            None => None,
            Some(expr) => {
                let value = constant_value(physical(expr, left_plan)?.as_ref())?;
                Some(kind.tolerance(&value)?)
            }
        };
        let schema: SchemaRef = Arc::new(node.schema.as_arrow().clone());
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            left.output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Some(Arc::new(AsofJoinExec {
            left: left.clone(),
            right: right.clone(),
            join: Arc::new(Spec {
                left_keys,
                right_keys,
                left_time,
                right_time,
                kind,
                direction: node.direction,
                tolerance,
                schema,
            }),
            right_side: Arc::new(OnceCell::new()),
            properties,
        })))
    }
}

/// What the join evaluates, shared by its partitions.
#[derive(Debug)]
struct Spec {
    left_keys: Vec<Arc<dyn PhysicalExpr>>,
    right_keys: Vec<Arc<dyn PhysicalExpr>>,
    left_time: Arc<dyn PhysicalExpr>,
    right_time: Arc<dyn PhysicalExpr>,
    kind: TimeKind,
    direction: Direction,
    tolerance: Option<i64>,
    schema: SchemaRef,
}

/// The right side in memory: its rows sorted by keys and time, and where
/// each key's rows are.
#[derive(Debug)]
struct RightSide {
    batch: RecordBatch,
    times: Vec<i64>,
    groups: HashMap<Box<[u8]>, Range<usize>>,
    /// Converts keys to comparable bytes; `None` without keys.
    converter: Option<RowConverter>,
    /// The right keys' types, which left keys are cast to.
    key_types: Vec<DataType>,
    _reservation: MemoryReservation,
}

fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

fn key_rows(
    converter: &Option<RowConverter>,
    types: &[DataType],
    keys: &[ArrayRef],
) -> Result<Option<Rows>> {
    match converter {
        None => Ok(None),
        Some(converter) => {
            let keys = keys
                .iter()
                .zip(types)
                .map(|(k, t)| Ok(cast(k, t)?))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(converter.convert_columns(&keys)?))
        }
    }
}

/// Whether row `i` has no NULL key.
fn keys_valid(keys: &[ArrayRef], i: usize) -> bool {
    keys.iter().all(|k| k.is_valid(i))
}

async fn build_right(
    spec: Arc<Spec>,
    right: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
) -> Result<Arc<RightSide>> {
    let schema = right.schema();
    let batches: Vec<RecordBatch> = right.execute(0, context.clone())?.try_collect().await?;
    let batch = concat_batches(&schema, &batches)?;
    let reservation = MemoryConsumer::new("AsofJoinExec").register(context.memory_pool());
    reservation.try_grow(batch.get_array_memory_size())?;
    let keys = evaluate(&spec.right_keys, &batch)?;
    let times = spec.kind.values(
        &spec
            .right_time
            .evaluate(&batch)?
            .into_array(batch.num_rows())?,
    )?;
    let converter = if keys.is_empty() {
        None
    } else {
        Some(RowConverter::new(
            keys.iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect(),
        )?)
    };
    let key_types: Vec<DataType> = keys.iter().map(|k| k.data_type().clone()).collect();
    let rows = key_rows(&converter, &key_types, &keys)?;
    let mut order: Vec<usize> = (0..batch.num_rows())
        .filter(|&i| times.is_valid(i) && keys_valid(&keys, i))
        .collect();
    order.sort_by(|&a, &b| {
        let by_key = match &rows {
            Some(rows) => rows.row(a).cmp(&rows.row(b)),
            None => std::cmp::Ordering::Equal,
        };
        by_key
            .then(times.value(a).cmp(&times.value(b)))
            .then(a.cmp(&b))
    });
    let indices: UInt32Array = order.iter().map(|&i| u32::try_from(i).ok()).collect();
    let sorted = RecordBatch::try_new_with_options(
        schema.clone(),
        batch
            .columns()
            .iter()
            .map(|c| Ok(take(c, &indices, None)?))
            .collect::<Result<Vec<_>>>()?,
        &RecordBatchOptions::new().with_row_count(Some(order.len())),
    )?;
    let mut groups: HashMap<Box<[u8]>, Range<usize>> = HashMap::new();
    let key_of = |i: usize| -> Box<[u8]> {
        rows.as_ref()
            .map_or_else(|| Box::from([]), |r| Box::from(r.row(i).as_ref()))
    };
    let mut start = 0;
    for position in 1..=order.len() {
        let boundary = position == order.len() || key_of(order[position]) != key_of(order[start]);
        if boundary {
            groups.insert(key_of(order[start]), start..position);
            start = position;
        }
    }
    let sorted_times = order.iter().map(|&i| times.value(i)).collect();
    Ok(Arc::new(RightSide {
        batch: sorted,
        times: sorted_times,
        groups,
        converter,
        key_types,
        _reservation: reservation,
    }))
}

/// The index in `times` (sorted) of the time that left time `t` takes: the
/// last of the times equal to the one chosen.
fn nearest(times: &[i64], direction: Direction, tolerance: Option<i64>, t: i64) -> Option<usize> {
    let found = match direction {
        Direction::Backward { strict } => {
            let end = times.partition_point(|&r| if strict { r < t } else { r <= t });
            end.checked_sub(1)?
        }
        Direction::Forward { strict } => {
            let first = times.partition_point(|&r| if strict { r <= t } else { r < t });
            let matched = *times.get(first)?;
            times.partition_point(|&r| r <= matched) - 1
        }
    };
    match tolerance {
        Some(tolerance)
            if (i128::from(t) - i128::from(times[found])).abs() > i128::from(tolerance) =>
        {
            None
        }
        _ => Some(found),
    }
}

fn probe(spec: &Spec, right: &RightSide, batch: RecordBatch) -> Result<RecordBatch> {
    let keys = evaluate(&spec.left_keys, &batch)?;
    let times = spec.kind.values(
        &spec
            .left_time
            .evaluate(&batch)?
            .into_array(batch.num_rows())?,
    )?;
    let rows = key_rows(&right.converter, &right.key_types, &keys)?;
    let matches: UInt32Array = (0..batch.num_rows())
        .map(|i| {
            if times.is_null(i) || !keys_valid(&keys, i) {
                return None;
            }
            let range = match &rows {
                Some(rows) => right.groups.get(rows.row(i).as_ref())?,
                None => right.groups.get(&[][..])?,
            };
            let found = nearest(
                &right.times[range.clone()],
                spec.direction,
                spec.tolerance,
                times.value(i),
            )?;
            u32::try_from(range.start + found).ok()
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    for column in right.batch.columns() {
        columns.push(take(column, &matches, None)?);
    }
    Ok(RecordBatch::try_new_with_options(
        spec.schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// Executes an ASOF join: reads the right side once (for all partitions of
/// the left), then streams the left.
#[derive(Debug)]
pub(crate) struct AsofJoinExec {
    left: Arc<dyn ExecutionPlan>,
    right: Arc<dyn ExecutionPlan>,
    join: Arc<Spec>,
    right_side: Arc<OnceCell<Arc<RightSide>>>,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for AsofJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = &self.join;
        write!(
            f,
            "AsofJoinExec: keys={}, match={} {} {}",
            spec.left_keys.len(),
            spec.left_time,
            spec.direction.operator(),
            spec.right_time
        )?;
        if let Some(tolerance) = spec.tolerance {
            write!(f, ", tolerance={tolerance}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for AsofJoinExec {
    fn name(&self) -> &str {
        "AsofJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.left, &self.right]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![
            Distribution::UnspecifiedDistribution,
            Distribution::SinglePartition,
        ]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [left, right]: [Arc<dyn ExecutionPlan>; 2] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("AsofJoinExec takes two children".into()))?;
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(self.join.schema.clone()),
            left.output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Arc::new(Self {
            left,
            right,
            join: self.join.clone(),
            right_side: Arc::new(OnceCell::new()),
            properties,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let left = self.left.execute(partition, context.clone())?;
        let spec = self.join.clone();
        let right_plan = self.right.clone();
        let cell = self.right_side.clone();
        let batches = futures::stream::once(async move {
            let right = cell
                .get_or_try_init(|| build_right(spec.clone(), right_plan, context))
                .await?
                .clone();
            Ok::<_, DataFusionError>(left.map(move |batch| probe(&spec, &right, batch?)))
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.join.schema.clone(),
            batches,
        )))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The chosen time by a plain scan: the best time allowed, then the last
    /// position holding it.
    fn model(times: &[i64], direction: Direction, tolerance: Option<i64>, t: i64) -> Option<usize> {
        let allowed = |r: i64| match direction {
            Direction::Backward { strict } => r < t || (!strict && r == t),
            Direction::Forward { strict } => r > t || (!strict && r == t),
        };
        let best =
            times
                .iter()
                .copied()
                .filter(|&r| allowed(r))
                .reduce(|a, b| match direction {
                    Direction::Backward { .. } => a.max(b),
                    Direction::Forward { .. } => a.min(b),
                })?;
        if tolerance.is_some_and(|tol| (t - best).abs() > tol) {
            return None;
        }
        times.iter().rposition(|&r| r == best)
    }

    proptest! {
        #[test]
        fn nearest_matches_a_scan(
            mut times in prop::collection::vec(-20i64..20, 0..30),
            t in -25i64..25,
            backward in any::<bool>(),
            strict in any::<bool>(),
            tolerance in prop::option::of(0i64..10),
        ) {
            times.sort_unstable();
            let direction = if backward {
                Direction::Backward { strict }
            } else {
                Direction::Forward { strict }
            };
            prop_assert_eq!(
                nearest(&times, direction, tolerance, t),
                model(&times, direction, tolerance, t)
            );
        }
    }
}
