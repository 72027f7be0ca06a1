//! The analyzer rule that plans gap filling: an aggregate grouped by
//! `time_bucket_gapfill` becomes one grouped by `time_bucket` under a
//! [`GapFill`] node, with the filling functions' arguments computed as columns
//! under it.

use std::sync::Arc;

use crate::query::timeseries::bookend::Bookend;
use datafusion::arrow::array::timezone::Tz;
use datafusion::common::NullEquality;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result, ScalarValue, internal_err};
use datafusion::functions::core::named_struct;
use datafusion::functions_aggregate::expr_fn::{max, min};
use datafusion::logical_expr::cast;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::expr::{Alias, ScalarFunction};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::utils::{conjunction, disjunction};
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Expr, ExprSchemable, Extension, Filter, LogicalPlan, Operator,
    Projection, ScalarUDF,
};
use datafusion::logical_expr::{AggregateUDF, JoinType, LogicalPlanBuilder, lit};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;

use super::functions::{
    FillKind, GAPFILL, INTERPOLATE, LOCF, NEXT_OBSERVATION, PREV_OBSERVATION, invalid,
    is_zoned_form, missing, unsupported,
};
use super::node::{Fill, GapFill, Seeding, gap_schema};
use crate::query::timeseries::time_bucket::TimeBucket;

/// The analyzer rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct GapFillRule;

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

pub(super) fn is_call(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == name)
}

/// Whether any expression of `plan` calls one of the gap-filling functions.
pub(super) fn mentions_gapfill(plan: &LogicalPlan) -> Result<bool> {
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

pub(super) fn strip_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}

/// Turns an aggregate grouped by `time_bucket_gapfill` into one grouped by
/// `time_bucket`, under a [`GapFill`].
pub(super) fn gap_fill_aggregate(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
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
        return internal_err!("{GAPFILL} is not a function call");
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

pub(super) fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(Alias { expr, .. }) => strip_alias(expr),
        other => other,
    }
}

pub(super) fn is_null(expr: &Expr) -> bool {
    matches!(strip_casts(expr), Expr::Literal(v, _) if v.is_null())
}

/// The time range of an aggregate's input, read from the filters right
/// under it.
pub(super) struct Window {
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
pub(super) fn fill_projection(
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

pub(super) const BEFORE: &str = "__gapfill_before";
pub(super) const AFTER: &str = "__gapfill_after";

/// The aggregates that find the rows before and after the window.
#[derive(Default)]
pub(super) struct Seeds {
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
                return internal_err!("{GAPFILL}: no bound for the seed");
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
pub(super) fn observed_expr(value: &Expr, seeding: &Seeding, kind: FillKind) -> Result<Expr> {
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
