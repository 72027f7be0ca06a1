//! Gap filling with TimescaleDB's functions: `time_bucket_gapfill`, `locf`
//! and `interpolate`.
//!
//! ```sql
//! SELECT time_bucket_gapfill('5 minutes', time) AS bucket, host,
//!        avg(cpu), locf(avg(cpu)), interpolate(avg(cpu))
//! FROM metrics
//! WHERE time >= '2024-01-01' AND time < '2024-01-02'
//! GROUP BY bucket, host
//! ```
//!
//! An aggregate grouped by `time_bucket_gapfill(width, ts [, timezone]
//! [, start [, finish]])` returns, for every group of its other keys, a row
//! for every bucket from the one holding `start` up to `finish` (exclusive):
//! the group's own rows, and for the buckets without any, a row whose
//! aggregates are NULL. Without `start` or `finish` they are read from the
//! WHERE clause's bounds on `ts` (`>=`, `>`, `<`, `<=`, `BETWEEN`); a range
//! left open is an error. Bounds may be parameters: they are read when the
//! plan is executed.
//!
//! In gap rows, `locf(value [, prev [, treat_null_as_missing]])` carries the
//! group's last value forward (before the first, `prev`), and
//! `interpolate(value [, prev [, next]])` interpolates linearly between the
//! neighbouring rows (`prev` and `next`, `(time, value)` records, stand in
//! for the rows before the first and after the last).
//!
//! Planning: [`GapFillRule`], an analyzer rule, turns the aggregate's
//! `time_bucket_gapfill` into `time_bucket` and puts a [`GapFill`] node over
//! it. A projection between the two computes the values, `prev` and `next` of
//! each `locf` and `interpolate` as columns, which the node fills in place and
//! the query's projection then reads. [`GapFillExec`](exec::GapFillExec) does
//! the filling over its input sorted by group and bucket.

use std::cmp::Ordering;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::bookend::Bookend;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::NullEquality;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{
    Column, DFSchema, DFSchemaRef, DataFusionError, Result, ScalarValue, plan_err,
};
use datafusion::functions::core::named_struct;
use datafusion::functions_aggregate::expr_fn::{max, min};
use datafusion::logical_expr::cast;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::expr::{Alias, ScalarFunction};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::utils::{conjunction, disjunction};
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, ColumnarValue, Expr, ExprSchemable, Extension, Filter, LogicalPlan,
    Operator, Projection, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    UserDefinedLogicalNodeCore, Volatility,
};
use datafusion::logical_expr::{AggregateUDF, JoinType, LogicalPlanBuilder, lit};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::sql::sqlparser::ast;

use super::Error;
use super::time_bucket::TimeBucket;

mod exec;
#[cfg(test)]
mod tests;

pub(super) use exec::GapFillPlanner;

const GAPFILL: &str = "time_bucket_gapfill";
const LOCF: &str = "locf";
const INTERPOLATE: &str = "interpolate";

fn unsupported(what: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Unsupported { what: what.into() }))
}

fn invalid(reason: impl fmt::Display) -> DataFusionError {
    DataFusionError::External(Box::new(Error::InvalidParameterValue {
        message: format!("invalid {GAPFILL} argument: {reason}"),
    }))
}

fn missing(bound: &str) -> DataFusionError {
    DataFusionError::External(Box::new(Error::InvalidParameterValue {
        message: format!("missing {GAPFILL} argument: could not infer {bound} from WHERE clause"),
    }))
}

/// `time_bucket_gapfill`, which only the planner evaluates (as `time_bucket`
/// plus a [`GapFill`] node).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct TimeBucketGapfill {
    signature: Signature,
}

impl TimeBucketGapfill {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Whether `args`, coerced, are the time zone form: `(width, ts timestamptz,
/// timezone [, start [, finish]])`.
fn is_zoned_form(args: &[DataType]) -> bool {
    matches!(args.get(1), Some(DataType::Timestamp(_, Some(_))))
        && match args.get(2) {
            Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => true,
            // Named arguments put NULL in the time zone's place.
            Some(DataType::Null) => args.len() == 5,
            _ => false,
        }
}

impl ScalarUDFImpl for TimeBucketGapfill {
    fn name(&self) -> &str {
        GAPFILL
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=5).contains(&args.len()) {
            return plan_err!("{GAPFILL} takes 2 to 5 arguments, not {}", args.len());
        }
        let zoned = is_zoned_form(args);
        let bucket_args = if zoned { 3 } else { 2 };
        let mut coerced = TimeBucket::new().coerce_types(&args[..bucket_args])?;
        if zoned {
            coerced[2] = DataType::Utf8;
        }
        if args.len() > bucket_args + 2 {
            return plan_err!("{GAPFILL} takes a start and a finish after the time zone");
        }
        let ts = coerced[1].clone();
        coerced.extend(std::iter::repeat_n(ts, args.len() - bucket_args));
        Ok(coerced)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(format!(
            "{GAPFILL} outside the GROUP BY of an aggregate query"
        )))
    }
}

/// `prev_observation()` and `next_observation()`, which stand for the last
/// row before and the first row after the window as `locf`'s and
/// `interpolate`'s `prev` and `next`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Observation {
    name: &'static str,
    signature: Signature,
}

const PREV_OBSERVATION: &str = "prev_observation";
const NEXT_OBSERVATION: &str = "next_observation";

impl Observation {
    pub(super) fn prev() -> Self {
        Self {
            name: PREV_OBSERVATION,
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }

    pub(super) fn next() -> Self {
        Self {
            name: NEXT_OBSERVATION,
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Observation {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Null)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(format!(
            "{}() other than as the prev or next argument of locf or interpolate",
            self.name
        )))
    }
}

/// Which of the two filling functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
enum FillKind {
    Locf,
    Interpolate,
}

impl FillKind {
    fn name(self) -> &'static str {
        match self {
            FillKind::Locf => LOCF,
            FillKind::Interpolate => INTERPOLATE,
        }
    }
}

/// `locf` and `interpolate`, which only a gap-filling query evaluates.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct FillFunction {
    kind: FillKind,
    signature: Signature,
}

impl FillFunction {
    pub(super) fn locf() -> Self {
        Self {
            kind: FillKind::Locf,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(super) fn interpolate() -> Self {
        Self {
            kind: FillKind::Interpolate,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FillFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.kind.name();
        if !(1..=3).contains(&args.len()) {
            return plan_err!("{name} takes 1 to 3 arguments, not {}", args.len());
        }
        let value = args[0].clone();
        match self.kind {
            FillKind::Locf => {
                let mut coerced = vec![value.clone()];
                if args.len() > 1 {
                    coerced.push(value);
                }
                if let Some(flag) = args.get(2) {
                    if !matches!(flag, DataType::Boolean | DataType::Null) {
                        return plan_err!("locf's treat_null_as_missing must be a boolean");
                    }
                    coerced.push(DataType::Boolean);
                }
                Ok(coerced)
            }
            FillKind::Interpolate => {
                if !(value.is_numeric() || value == DataType::Null) {
                    return plan_err!("interpolate needs a number, not {value}");
                }
                for record in &args[1..] {
                    match record {
                        DataType::Null => {}
                        DataType::Struct(fields) if fields.len() == 2 => {}
                        other => {
                            return plan_err!(
                                "interpolate's prev and next must be (time, value) records, \
                                 not {other}"
                            );
                        }
                    }
                }
                Ok(args.to_vec())
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(format!(
            "{} outside an aggregate query grouped by {GAPFILL}",
            self.kind.name()
        )))
    }
}

/// How one column of a [`GapFill`] is filled: the columns (of its input) of
/// the value and of the `prev` and `next` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(super) struct Fill {
    kind: FillKind,
    value: usize,
    prev: Option<usize>,
    next: Option<usize>,
    treat_null_as_missing: bool,
}

/// The logical gap-filling node; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct GapFill {
    input: Arc<LogicalPlan>,
    /// Column of `input` with the bucket.
    time: usize,
    /// Columns of `input` that group rows, besides the bucket.
    groups: Vec<usize>,
    /// `time_bucket`'s arguments but the time: width, then a time zone.
    bucket_args: Vec<Expr>,
    /// Lower bounds of the range; the greatest applies.
    starts: Vec<Expr>,
    /// Upper bounds of the range, and whether each is inclusive; the least
    /// applies.
    finishes: Vec<(Expr, bool)>,
    fills: Vec<Fill>,
    /// The input's, with every column but the keys nullable: gaps have no
    /// values.
    schema: DFSchemaRef,
    /// What seeding `locf` and `interpolate` from outside the window needs;
    /// only until the analyzer rule has read it.
    seeding: Option<Arc<Seeding>>,
}

/// The aggregate under a [`GapFill`], taken apart, to find the last row
/// before (or the first after) the window with the same filters.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Seeding {
    /// The plan under the aggregate's filters.
    source: LogicalPlan,
    /// The filters' conditions that do not bound the time.
    others: Vec<Expr>,
    /// Conditions, any of which puts a row before the window.
    before: Vec<Expr>,
    /// Conditions, any of which puts a row after the window.
    after: Vec<Expr>,
    ts: Expr,
    /// The group keys but the bucket.
    keys: Vec<Expr>,
    /// The aggregate's aggregates.
    aggregates: Vec<Expr>,
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
            return plan_err!("GapFill takes one input");
        };
        let expected = self.bucket_args.len() + self.starts.len() + self.finishes.len();
        if exprs.len() != expected {
            return plan_err!("GapFill takes {expected} expressions, not {}", exprs.len());
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

/// The analyzer rule; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct GapFillRule;

impl AnalyzerRule for GapFillRule {
    fn name(&self) -> &str {
        "epochdb_gap_fill"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        if !mentions_gapfill(&plan)? {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Aggregate(aggregate) => gap_fill_aggregate(aggregate),
            LogicalPlan::Projection(projection) => fill_projection(projection, config),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }
}

fn is_call(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == name)
}

/// Whether any expression of `plan` calls one of the gap-filling functions.
fn mentions_gapfill(plan: &LogicalPlan) -> Result<bool> {
    let functions = [
        GAPFILL,
        LOCF,
        INTERPOLATE,
        PREV_OBSERVATION,
        NEXT_OBSERVATION,
    ];
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            found = expr.exists(|e| Ok(functions.iter().any(|n| is_call(e, n))))?;
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })
    })?;
    Ok(found)
}

fn strip_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}

/// Turns an aggregate grouped by `time_bucket_gapfill` into one grouped by
/// `time_bucket`, under a [`GapFill`].
fn gap_fill_aggregate(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let mut found = None;
    for (i, expr) in aggregate.group_expr.iter().enumerate() {
        let top = strip_alias(expr);
        if expr.exists(|e| Ok(is_call(e, GAPFILL) && !std::ptr::eq(e, top)))? {
            return Err(unsupported(format!(
                "{GAPFILL} inside another expression or a grouping set"
            )));
        }
        if is_call(strip_alias(expr), GAPFILL) {
            if found.is_some() {
                return Err(unsupported(format!("more than one {GAPFILL} in GROUP BY")));
            }
            found = Some(i);
        }
    }
    let Some(time) = found else {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    };
    let gapfill = &aggregate.group_expr[time];
    let name = gapfill.schema_name().to_string();
    let Expr::ScalarFunction(call) = strip_alias(gapfill) else {
        return plan_err!("{GAPFILL} is not a function call");
    };
    let schema = aggregate.input.schema();
    let types = call
        .args
        .iter()
        .map(|a| a.get_type(schema))
        .collect::<Result<Vec<_>>>()?;
    // A string that is no time zone is the start, given as text.
    let zone_is_text_start = matches!(
        strip_casts(&call.args[2.min(call.args.len() - 1)]),
        Expr::Literal(ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)), _)
            if text.parse::<Tz>().is_err()
    );
    let bucket_arity = if is_zoned_form(&types) && !zone_is_text_start {
        3
    } else {
        2
    };
    let mut args = call.args.clone();
    if bucket_arity == 2 && args.len() > 2 {
        args[2] = cast(args[2].clone(), types[1].clone());
    }
    let call = ScalarFunction::new_udf(call.func.clone(), args);
    let ts = call.args[1].clone();
    let mut bucket_args = vec![call.args[0].clone()];
    // A NULL time zone (left out of named arguments) means none.
    if bucket_arity == 3 && !is_null(&call.args[2]) {
        bucket_args.push(call.args[2].clone());
    }
    let explicit = |i: usize| call.args.get(bucket_arity + i).filter(|e| !is_null(e));
    let (start, finish) = (explicit(0).cloned(), explicit(1).cloned());

    if (start.is_none() || finish.is_none()) && !matches!(strip_casts(&ts), Expr::Column(_)) {
        return Err(invalid(
            "ts needs to refer to a single column if no start or finish is supplied",
        ));
    }
    let window = Window::of(&aggregate.input, &ts);
    let (starts, before) = match start {
        Some(s) => (vec![s.clone()], vec![ts.clone().lt(s)]),
        None if window.starts.is_empty() => return Err(missing("start")),
        None => (window.starts, window.before),
    };
    let (finishes, after) = match finish {
        Some(f) => (vec![(f.clone(), false)], vec![ts.clone().gt_eq(f)]),
        None if window.finishes.is_empty() => return Err(missing("finish")),
        None => (window.finishes, window.after),
    };
    let seeding = Seeding {
        source: window.source,
        others: window.others,
        before,
        after,
        ts: ts.clone(),
        keys: aggregate
            .group_expr
            .iter()
            .enumerate()
            .filter(|&(g, _)| g != time)
            .map(|(_, e)| e.clone())
            .collect(),
        aggregates: aggregate.aggr_expr.clone(),
    };

    let time_bucket = Arc::new(ScalarUDF::new_from_impl(TimeBucket::new()));
    let mut args = bucket_args.clone();
    args.insert(1, ts);
    let bucket = Expr::ScalarFunction(ScalarFunction::new_udf(time_bucket, args)).alias(name);
    let mut group_expr = aggregate.group_expr.clone();
    group_expr[time] = bucket;
    let groups: Vec<usize> = (0..group_expr.len()).filter(|&g| g != time).collect();
    let input = Aggregate::try_new(aggregate.input, group_expr, aggregate.aggr_expr)?;
    let node = GapFill {
        schema: gap_schema(&input.schema, time, &groups)?,
        input: Arc::new(LogicalPlan::Aggregate(input)),
        time,
        groups,
        bucket_args,
        starts,
        finishes,
        fills: Vec::new(),
        seeding: Some(Arc::new(seeding)),
    };
    Ok(Transformed::yes(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    })))
}

/// `input` with every column but the bucket and the group keys nullable.
fn gap_schema(input: &DFSchemaRef, time: usize, groups: &[usize]) -> Result<DFSchemaRef> {
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

fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(Alias { expr, .. }) => strip_alias(expr),
        other => other,
    }
}

fn is_null(expr: &Expr) -> bool {
    matches!(strip_casts(expr), Expr::Literal(v, _) if v.is_null())
}

/// The time range of an aggregate's input, read from the filters right
/// under it.
struct Window {
    /// Lower bounds on `ts`.
    starts: Vec<Expr>,
    /// Upper bounds, and whether each is inclusive.
    finishes: Vec<(Expr, bool)>,
    /// Conditions that hold before some lower bound (their disjunction is
    /// "before the window").
    before: Vec<Expr>,
    /// Conditions that hold after some upper bound.
    after: Vec<Expr>,
    /// The filters' other conditions.
    others: Vec<Expr>,
    /// The plan under the filters.
    source: LogicalPlan,
}

impl Window {
    fn of(input: &LogicalPlan, ts: &Expr) -> Self {
        let ts = strip_casts(ts);
        let mut window = Window {
            starts: Vec::new(),
            finishes: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
            others: Vec::new(),
            source: input.clone(),
        };
        let mut node = input;
        while let LogicalPlan::Filter(Filter {
            predicate, input, ..
        }) = node
        {
            for conjunct in split_conjunction(predicate) {
                if !window.bound(conjunct, ts) {
                    window.others.push(conjunct.clone());
                }
            }
            node = input;
        }
        window.source = node.clone();
        window
    }

    /// Takes `conjunct` as a bound on `ts` if it is one.
    fn bound(&mut self, conjunct: &Expr, ts: &Expr) -> bool {
        let constant = |e: &Expr| {
            e.column_refs().is_empty()
                && !e
                    .exists(|e| Ok(matches!(e, Expr::ScalarSubquery(_))))
                    .unwrap_or(true)
        };
        match conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                // `column op bound`, in the coerced types of the comparison.
                let (column, op, bound) = if strip_casts(left) == ts && constant(right) {
                    (left.as_ref(), *op, right.as_ref())
                } else if strip_casts(right) == ts && constant(left) {
                    match op.swap() {
                        Some(op) => (right.as_ref(), op, left.as_ref()),
                        None => return false,
                    }
                } else {
                    return false;
                };
                let (column, bound) = (column.clone(), bound.clone());
                match op {
                    Operator::GtEq => {
                        self.before.push(column.lt(bound.clone()));
                        self.starts.push(bound);
                    }
                    Operator::Gt => {
                        self.before.push(column.lt_eq(bound.clone()));
                        self.starts.push(bound);
                    }
                    Operator::Lt => {
                        self.after.push(column.gt_eq(bound.clone()));
                        self.finishes.push((bound, false));
                    }
                    Operator::LtEq => {
                        self.after.push(column.gt(bound.clone()));
                        self.finishes.push((bound, true));
                    }
                    Operator::Eq => {
                        self.before.push(column.clone().lt(bound.clone()));
                        self.after.push(column.gt(bound.clone()));
                        self.starts.push(bound.clone());
                        self.finishes.push((bound, true));
                    }
                    _ => return false,
                }
                true
            }
            Expr::Between(between)
                if !between.negated
                    && strip_casts(&between.expr) == ts
                    && constant(&between.low)
                    && constant(&between.high) =>
            {
                let column = between.expr.as_ref().clone();
                self.before
                    .push(column.clone().lt(between.low.as_ref().clone()));
                self.after.push(column.gt(between.high.as_ref().clone()));
                self.starts.push(between.low.as_ref().clone());
                self.finishes.push((between.high.as_ref().clone(), true));
                true
            }
            _ => false,
        }
    }
}

/// Rewrites a projection over a [`GapFill`] (possibly through HAVING
/// filters) that calls `locf` or `interpolate`: the calls' arguments become
/// columns under the node, which fills them, and the calls read them.
fn fill_projection(
    projection: Projection,
    config: &ConfigOptions,
) -> Result<Transformed<LogicalPlan>> {
    let mut calls: Vec<Expr> = Vec::new();
    for expr in &projection.expr {
        expr.apply(|e| {
            if (is_call(e, LOCF) || is_call(e, INTERPOLATE)) && !calls.contains(e) {
                calls.push(e.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    if calls.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Projection(projection)));
    }
    // Down through HAVING to the node.
    let mut filters = Vec::new();
    let mut below = projection.input.as_ref();
    while let LogicalPlan::Filter(filter) = below {
        filters.push(filter.predicate.clone());
        below = filter.input.as_ref();
    }
    let node = match below {
        LogicalPlan::Extension(ext) => ext.node.as_any().downcast_ref::<GapFill>(),
        _ => None,
    };
    let Some(node) = node else {
        let name = calls
            .first()
            .and_then(|c| match c {
                Expr::ScalarFunction(f) => Some(f.func.name().to_owned()),
                _ => None,
            })
            .unwrap_or_default();
        return Err(unsupported(format!(
            "{name} outside an aggregate query grouped by {GAPFILL}"
        )));
    };

    // The node's input, plus a column for each call's value, prev and next.
    let input_schema = node.input.schema();
    let mut columns: Vec<Expr> = input_schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let mut fills = node.fills.clone();
    let seeding = node.seeding.clone();
    let mut seeds = Seeds::default();
    let mut replacements = Vec::with_capacity(calls.len());
    for call in &calls {
        let Expr::ScalarFunction(f) = call else {
            continue;
        };
        let kind = if f.func.name() == LOCF {
            FillKind::Locf
        } else {
            FillKind::Interpolate
        };
        let name = call.schema_name().to_string();
        let mut add = |expr: &Expr, suffix: &str| {
            columns.push(expr.clone().alias(format!("{name}{suffix}")));
            columns.len() - 1
        };
        let value = add(&f.args[0], "");
        let arg = |i: usize| f.args.get(i).filter(|e| !is_null(e));
        // A `prev` or `next`: an expression, or the row before or after
        // the window.
        let mut extra = |i: usize, suffix: &str, seeds: &mut Seeds| -> Result<Option<usize>> {
            let Some(expr) = arg(i) else {
                return Ok(None);
            };
            let marker = [PREV_OBSERVATION, NEXT_OBSERVATION]
                .into_iter()
                .find(|m| is_call(strip_casts(expr), m));
            let expr = match (marker, seeding.as_deref()) {
                (None, _) => expr.clone(),
                (Some(marker), Some(seeding)) => {
                    let after = marker == NEXT_OBSERVATION;
                    if after != (suffix == " next") {
                        return Err(unsupported(format!(
                            "{marker}() as {}'s{suffix} argument",
                            kind.name()
                        )));
                    }
                    let observed = observed_expr(&f.args[0], seeding, kind)?;
                    let (value, time) = seeds.add(after, observed, seeding);
                    match kind {
                        FillKind::Locf => value,
                        FillKind::Interpolate => {
                            named_struct().call(vec![lit("time"), time, lit("value"), value])
                        }
                    }
                }
                (Some(marker), None) => {
                    return Err(unsupported(format!("{marker}() twice over one {GAPFILL}")));
                }
            };
            Ok(Some(add(&expr, suffix)))
        };
        let (prev, next, treat_null_as_missing) = match kind {
            FillKind::Locf => {
                let flag = match arg(2).map(strip_casts) {
                    None => false,
                    Some(Expr::Literal(ScalarValue::Boolean(Some(b)), _)) => *b,
                    Some(_) => {
                        return Err(unsupported(
                            "locf with a treat_null_as_missing that is not a constant",
                        ));
                    }
                };
                (extra(1, " prev", &mut seeds)?, None, flag)
            }
            FillKind::Interpolate => (
                extra(1, " prev", &mut seeds)?,
                extra(2, " next", &mut seeds)?,
                false,
            ),
        };
        fills.push(Fill {
            kind,
            value,
            prev,
            next,
            treat_null_as_missing,
        });
        replacements.push((call.clone(), Column::from_name(name)));
    }
    let mut with_seeds = node.input.as_ref().clone();
    if let Some(seeding) = &seeding {
        with_seeds = seeds.join(with_seeds, &node.groups, seeding, config)?;
    }
    let values = LogicalPlan::Projection(Projection::try_new(columns, Arc::new(with_seeds))?);
    let mut plan = LogicalPlan::Extension(Extension {
        node: Arc::new(GapFill {
            schema: gap_schema(values.schema(), node.time, &node.groups)?,
            input: Arc::new(values),
            fills,
            seeding: None,
            ..node.clone()
        }),
    });
    for predicate in filters.into_iter().rev() {
        plan = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan))?);
    }
    let exprs = projection
        .expr
        .into_iter()
        .map(|expr| {
            let name = expr.schema_name().to_string();
            let rewritten =
                expr.transform_down(|e| match replacements.iter().find(|(call, _)| call == &e) {
                    Some((_, column)) => Ok(Transformed::yes(Expr::Column(column.clone()))),
                    None => Ok(Transformed::no(e)),
                })?;
            Ok(
                if rewritten.transformed && !matches!(rewritten.data, Expr::Alias(_)) {
                    rewritten.data.alias(name)
                } else {
                    rewritten.data
                },
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new(exprs, Arc::new(plan))?,
    )))
}

const BEFORE: &str = "__gapfill_before";
const AFTER: &str = "__gapfill_after";

/// The aggregates that find the rows before and after the window.
#[derive(Default)]
struct Seeds {
    before: Vec<Expr>,
    after: Vec<Expr>,
}

impl Seeds {
    /// Adds the value of `observed` (and the time) at the last row before
    /// the window, or the first after it; returns the columns to read them.
    fn add(&mut self, after: bool, observed: Expr, seeding: &Seeding) -> (Expr, Expr) {
        let (aggregates, relation) = if after {
            (&mut self.after, AFTER)
        } else {
            (&mut self.before, BEFORE)
        };
        let n = aggregates.len() / 2;
        let (value, time) = (format!("value {n}"), format!("time {n}"));
        let ts = seeding.ts.clone();
        let (bookend, extreme) = if after {
            (Bookend::first(), min(ts.clone()))
        } else {
            (Bookend::last(), max(ts.clone()))
        };
        let bookend = Arc::new(AggregateUDF::new_from_impl(bookend));
        aggregates.push(
            Expr::AggregateFunction(AggregateFunction::new_udf(
                bookend,
                vec![observed, ts],
                false,
                None,
                vec![],
                None,
            ))
            .alias(value.clone()),
        );
        aggregates.push(extreme.alias(time.clone()));
        let column = |name: String| Expr::Column(Column::new(Some(relation), name));
        (column(value), column(time))
    }

    /// `input` (the aggregate) joined with the seed rows of its groups.
    fn join(
        self,
        input: LogicalPlan,
        groups: &[usize],
        seeding: &Seeding,
        config: &ConfigOptions,
    ) -> Result<LogicalPlan> {
        let mut plan = input;
        for (aggregates, sides, relation) in [
            (self.before, &seeding.before, BEFORE),
            (self.after, &seeding.after, AFTER),
        ] {
            if aggregates.is_empty() {
                continue;
            }
            let (Some(side), Some(others)) = (
                disjunction(sides.iter().cloned()),
                Some(conjunction(seeding.others.iter().cloned())),
            ) else {
                return plan_err!("{GAPFILL}: no bound for the seed");
            };
            let predicate = match others {
                Some(others) => others.and(side),
                None => side,
            };
            let seed = LogicalPlanBuilder::from(seeding.source.clone())
                .filter(predicate)?
                .aggregate(seeding.keys.clone(), aggregates)?
                .alias(relation)?
                .build()?;
            let seed = TypeCoercion::new().analyze(seed, config)?;
            let left_keys: Vec<Column> = groups
                .iter()
                .map(|&g| Column::from(plan.schema().qualified_field(g)))
                .collect();
            let right_keys: Vec<Column> = (0..groups.len())
                .map(|k| Column::from(seed.schema().qualified_field(k)))
                .collect();
            let builder = LogicalPlanBuilder::from(plan);
            plan = if groups.is_empty() {
                builder.cross_join(seed)?.build()?
            } else {
                builder
                    .join_detailed(
                        seed,
                        JoinType::Left,
                        (left_keys, right_keys),
                        None,
                        NullEquality::NullEqualsNull,
                    )?
                    .build()?
            };
        }
        Ok(plan)
    }
}

/// What `prev_observation()` reads for a `locf` or `interpolate` over `value`:
/// the argument of the aggregate `value` names.
fn observed_expr(value: &Expr, seeding: &Seeding, kind: FillKind) -> Result<Expr> {
    let needs = || {
        unsupported(format!(
            "prev_observation() and next_observation() unless {}'s argument is an aggregate \
             of one column, such as avg(v)",
            kind.name()
        ))
    };
    let Expr::Column(column) = strip_casts(value) else {
        return Err(needs());
    };
    let aggregate = seeding
        .aggregates
        .iter()
        .find(|a| a.schema_name().to_string() == column.name)
        .ok_or_else(needs)?;
    match strip_alias(aggregate) {
        Expr::AggregateFunction(f)
            if (f.params.args.len() == 1 || matches!(f.func.name(), "first" | "last"))
                && f.params
                    .args
                    .first()
                    .is_some_and(|a| !a.column_refs().is_empty()) =>
        {
            Ok(f.params.args[0].clone())
        }
        _ => Err(needs()),
    }
}

/// The parameters of the gap-filling functions, in order, as TimescaleDB
/// names them.
fn parameter_names(function: &str) -> Option<&'static [&'static str]> {
    match function {
        GAPFILL => Some(&["bucket_width", "ts", "timezone", "start", "finish"]),
        LOCF => Some(&["value", "prev", "treat_null_as_missing"]),
        INTERPOLATE => Some(&["value", "prev", "next"]),
        _ => None,
    }
}

/// Rewrites named arguments of the gap-filling functions (`start => ...`)
/// as positional ones, with NULL for those left out, which DataFusion's
/// named arguments cannot skip.
pub(super) fn positional_arguments(statement: &mut ast::Statement) -> Result<(), Error> {
    let mut error = None;
    let _ = ast::visit_expressions_mut(statement, |expr| {
        if let ast::Expr::Function(function) = expr
            && let Err(e) = name_to_position(function)
        {
            error = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    error.map_or(Ok(()), Err)
}

fn is_zone_name(arg: &ast::FunctionArgExpr) -> bool {
    matches!(
        arg,
        ast::FunctionArgExpr::Expr(ast::Expr::Value(value))
            if matches!(&value.value, ast::Value::SingleQuotedString(name) if name.parse::<Tz>().is_ok())
    )
}

fn name_to_position(function: &mut ast::Function) -> Result<(), Error> {
    let Some(name) = function.name.0.last().and_then(|p| p.as_ident()) else {
        return Ok(());
    };
    let function_name = name.value.to_ascii_lowercase();
    let Some(names) = parameter_names(&function_name) else {
        return Ok(());
    };
    let ast::FunctionArguments::List(list) = &mut function.args else {
        return Ok(());
    };
    let named = |arg: &ast::FunctionArg| match arg {
        ast::FunctionArg::Named { name, .. } => Some(name.value.clone()),
        ast::FunctionArg::ExprNamed {
            name: ast::Expr::Identifier(name),
            ..
        } => Some(name.value.clone()),
        _ => None,
    };
    if !list.args.iter().any(|a| named(a).is_some()) {
        return Ok(());
    }
    let mut slots: Vec<Option<ast::FunctionArgExpr>> = vec![None; names.len()];
    let mut next = 0;
    for arg in list.args.drain(..) {
        let (slot, value) = match named(&arg) {
            Some(given) => {
                let slot = names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(&given))
                    .ok_or_else(|| Error::InvalidParameterValue {
                        message: format!("{function_name} has no parameter named \"{given}\""),
                    })?;
                let (ast::FunctionArg::Named { arg, .. } | ast::FunctionArg::ExprNamed { arg, .. }) =
                    arg
                else {
                    continue;
                };
                (slot, arg)
            }
            None => {
                let ast::FunctionArg::Unnamed(arg) = arg else {
                    continue;
                };
                // Positional arguments after the time are the time zone
                // (a zone's name), then the start and the finish.
                if function_name == GAPFILL && next == 2 && !is_zone_name(&arg) {
                    next = 3;
                }
                next += 1;
                (next - 1, arg)
            }
        };
        let Some(place) = slots.get_mut(slot) else {
            return Err(Error::InvalidParameterValue {
                message: format!("{function_name} takes at most {} arguments", names.len()),
            });
        };
        if place.replace(value).is_some() {
            return Err(Error::InvalidParameterValue {
                message: format!("{function_name}: argument \"{}\" given twice", names[slot]),
            });
        }
    }
    let last = slots.iter().rposition(Option::is_some).unwrap_or(0);
    list.args = slots
        .into_iter()
        .take(last + 1)
        .map(|slot| {
            ast::FunctionArg::Unnamed(slot.unwrap_or(ast::FunctionArgExpr::Expr(ast::Expr::Value(
                ast::Value::Null.into(),
            ))))
        })
        .collect();
    Ok(())
}
