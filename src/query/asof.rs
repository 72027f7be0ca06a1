//! ASOF JOIN: each row of the left side with the one row of the right side
//! whose time is nearest on the side the match condition allows, among the
//! rows with equal ON keys.
//!
//! ```sql
//! SELECT t.time, t.sym, t.price, q.bid
//! FROM trades t ASOF JOIN quotes q
//!   MATCH_CONDITION (t.time >= q.time)            -- q's latest at or before t
//!   ON t.sym = q.sym
//! ```
//!
//! - The match condition compares a left time with a right time: `>=` and
//!   `>` take the latest right row at or before (strictly before) the left
//!   row, `<=` and `<` the earliest at or after. A tolerance bounds the
//!   distance: `MATCH_CONDITION (t.time >= q.time AND t.time - q.time <=
//!   INTERVAL '5 seconds')`.
//! - ON holds equalities of a left and a right expression, ANDed; it may be
//!   left out.
//! - Every left row is kept, with NULLs when nothing matches (as Snowflake
//!   and QuestDB do). NULL keys and times never match. Among right rows with
//!   the same time, the last one read is taken.
//!
//! Planning: DataFusion's SQL planner has no ASOF join, so [`rewrite_joins`]
//! turns it into a LEFT JOIN whose ON carries the match condition as a call
//! of the `epochdb_asof` marker; [`AsofRule`], an analyzer rule, turns that
//! join into an [`AsofJoin`] node, which [`AsofJoinExec`](exec::AsofJoinExec)
//! executes: it reads the right side once into memory, sorted by keys and
//! time, and streams the left side, finding each row's match by a hash
//! lookup of its keys and a binary search of the time.

use std::cmp::Ordering;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchemaRef, DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, Extension, Join, JoinType, LogicalPlan, Operator,
    ScalarFunctionArgs, ScalarUDFImpl, Signature, UserDefinedLogicalNodeCore, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast;

use super::Error;

mod exec;
#[cfg(test)]
mod tests;

pub(super) use exec::AsofPlanner;

const MARKER: &str = "epochdb_asof";

fn unsupported(what: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Unsupported { what: what.into() }))
}

/// Which right row a left row takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub(super) enum Direction {
    /// The latest at or before (`>=`), or strictly before (`>`).
    Backward { strict: bool },
    /// The earliest at or after (`<=`), or strictly after (`<`).
    Forward { strict: bool },
}

impl Direction {
    /// For `left op right`.
    fn of(op: Operator) -> Option<Self> {
        Some(match op {
            Operator::GtEq => Direction::Backward { strict: false },
            Operator::Gt => Direction::Backward { strict: true },
            Operator::LtEq => Direction::Forward { strict: false },
            Operator::Lt => Direction::Forward { strict: true },
            _ => return None,
        })
    }

    fn operator(self) -> &'static str {
        match self {
            Direction::Backward { strict: false } => ">=",
            Direction::Backward { strict: true } => ">",
            Direction::Forward { strict: false } => "<=",
            Direction::Forward { strict: true } => "<",
        }
    }
}

// ---------------------------------------------------------------------------
// The SQL rewrite.

fn unsupported_error(what: impl Into<String>) -> Error {
    Error::Unsupported { what: what.into() }
}

/// Rewrites every `ASOF JOIN` in `statement` as a LEFT JOIN carrying its
/// match condition in a marker call, for [`AsofRule`] to find.
pub(super) fn rewrite_joins(statement: &mut ast::Statement) -> Result<(), Error> {
    struct Rewriter(Option<Error>);
    impl ast::VisitorMut for Rewriter {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
            match rewrite_set_expr(&mut query.body) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    self.0 = Some(e);
                    ControlFlow::Break(())
                }
            }
        }
    }
    let mut rewriter = Rewriter(None);
    let _ = ast::VisitMut::visit(statement, &mut rewriter);
    rewriter.0.map_or(Ok(()), Err)
}

fn rewrite_set_expr(body: &mut ast::SetExpr) -> Result<(), Error> {
    match body {
        ast::SetExpr::Select(select) => {
            for from in &mut select.from {
                for join in &mut from.joins {
                    rewrite_join(join)?;
                }
            }
            Ok(())
        }
        ast::SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)
        }
        _ => Ok(()),
    }
}

fn rewrite_join(join: &mut ast::Join) -> Result<(), Error> {
    let ast::JoinOperator::AsOf {
        match_condition,
        constraint,
    } = &join.join_operator
    else {
        return Ok(());
    };
    let marker = marker_call(match_condition)?;
    let on = match constraint {
        ast::JoinConstraint::On(on) => ast::Expr::BinaryOp {
            left: Box::new(ast::Expr::Nested(Box::new(on.clone()))),
            op: ast::BinaryOperator::And,
            right: Box::new(marker),
        },
        ast::JoinConstraint::None => marker,
        _ => {
            return Err(unsupported_error(
                "ASOF JOIN with USING or NATURAL (write ON a.key = b.key)",
            ));
        }
    };
    join.join_operator = ast::JoinOperator::LeftOuter(ast::JoinConstraint::On(on));
    Ok(())
}

fn shape_error() -> Error {
    unsupported_error(
        "this MATCH_CONDITION: it takes one comparison (>=, >, <=, <) of a left and a right \
         time, optionally ANDed with a tolerance such as `a.time - b.time <= INTERVAL '1 minute'`",
    )
}

fn strip_nested(expr: &ast::Expr) -> &ast::Expr {
    match expr {
        ast::Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// `left op right` with op one of >=, >, <=, <.
fn comparison(e: &ast::Expr) -> Option<(&ast::Expr, &'static str, &ast::Expr)> {
    let ast::Expr::BinaryOp { left, op, right } = e else {
        return None;
    };
    let op = match op {
        ast::BinaryOperator::GtEq => ">=",
        ast::BinaryOperator::Gt => ">",
        ast::BinaryOperator::LtEq => "<=",
        ast::BinaryOperator::Lt => "<",
        _ => return None,
    };
    Some((strip_nested(left), op, strip_nested(right)))
}

/// `epochdb_asof(first, second, 'op' [, tolerance])` from a match condition
/// `first op second [AND tolerance]`.
fn marker_call(condition: &ast::Expr) -> Result<ast::Expr, Error> {
    let mut conjuncts = Vec::new();
    fn split<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Expr>) {
        match strip_nested(e) {
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::And,
                right,
            } => {
                split(left, out);
                split(right, out);
            }
            other => out.push(other),
        }
    }
    split(condition, &mut conjuncts);
    let (main, tolerance) = match conjuncts.as_slice() {
        [one] => (comparison(one).ok_or_else(shape_error)?, None),
        [one, two] => {
            // The tolerance is the one whose side is a difference.
            let is_difference = |e: &ast::Expr| {
                comparison(e).is_some_and(|(l, _, r)| {
                    matches!(
                        l,
                        ast::Expr::BinaryOp {
                            op: ast::BinaryOperator::Minus,
                            ..
                        }
                    ) || matches!(
                        r,
                        ast::Expr::BinaryOp {
                            op: ast::BinaryOperator::Minus,
                            ..
                        }
                    )
                })
            };
            let (main, tolerance) = if is_difference(two) {
                (one, two)
            } else {
                (two, one)
            };
            (
                comparison(main).ok_or_else(shape_error)?,
                Some(comparison(tolerance).ok_or_else(shape_error)?),
            )
        }
        _ => return Err(shape_error()),
    };
    let (first, op, second) = main;
    let tolerance = match tolerance {
        None => None,
        Some((l, op, r)) => {
            // `p - q <= tol` or `tol >= p - q`, p and q the two times.
            let (difference, bound) = match op {
                "<=" | "<" => (l, r),
                _ => (r, l),
            };
            let ast::Expr::BinaryOp {
                left: p,
                op: ast::BinaryOperator::Minus,
                right: q,
            } = strip_nested(difference)
            else {
                return Err(shape_error());
            };
            let (p, q) = (strip_nested(p), strip_nested(q));
            if !((p == first && q == second) || (p == second && q == first)) {
                return Err(shape_error());
            }
            Some(bound.clone())
        }
    };
    let arg = |e: ast::Expr| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e));
    let mut args = vec![
        arg(first.clone()),
        arg(second.clone()),
        arg(ast::Expr::Value(
            ast::Value::SingleQuotedString(op.to_owned()).into(),
        )),
    ];
    if let Some(tolerance) = tolerance {
        args.push(arg(tolerance));
    }
    Ok(ast::Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(MARKER)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

/// The marker, which only the planner reads.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct AsofMarker {
    signature: Signature,
}

impl AsofMarker {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for AsofMarker {
    fn name(&self) -> &str {
        MARKER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        Ok(args.to_vec())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(
            "an ASOF JOIN's match condition outside the join (in a join DataFusion reordered)",
        ))
    }
}

// ---------------------------------------------------------------------------
// The logical node.

/// An ASOF join of two inputs; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct AsofJoin {
    left: Arc<LogicalPlan>,
    right: Arc<LogicalPlan>,
    /// Equal keys: a left and a right expression.
    keys: Vec<(Expr, Expr)>,
    left_time: Expr,
    right_time: Expr,
    direction: Direction,
    tolerance: Option<Expr>,
    schema: DFSchemaRef,
}

impl PartialOrd for AsofJoin {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for AsofJoin {
    fn name(&self) -> &str {
        "AsofJoin"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.left, &self.right]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        let mut exprs: Vec<Expr> = Vec::new();
        for (l, r) in &self.keys {
            exprs.push(l.clone());
            exprs.push(r.clone());
        }
        exprs.push(self.left_time.clone());
        exprs.push(self.right_time.clone());
        exprs.extend(self.tolerance.clone());
        exprs
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(l, r)| format!("{l} = {r}"))
            .collect();
        write!(
            f,
            "AsofJoin: on=[{}], match={} {} {}",
            keys.join(", "),
            self.left_time,
            self.direction.operator(),
            self.right_time
        )?;
        if let Some(tolerance) = &self.tolerance {
            write!(f, ", tolerance={tolerance}")?;
        }
        Ok(())
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let [left, right]: [LogicalPlan; 2] = inputs
            .try_into()
            .map_err(|_| DataFusionError::Plan("AsofJoin takes two inputs".to_owned()))?;
        let expected = self.keys.len() * 2 + 2 + usize::from(self.tolerance.is_some());
        if exprs.len() != expected {
            return plan_err!("AsofJoin takes {expected} expressions, not {}", exprs.len());
        }
        let mut exprs = exprs.into_iter();
        let mut next = || {
            exprs
                .next()
                .ok_or_else(|| DataFusionError::Plan("AsofJoin".into()))
        };
        let mut keys = Vec::with_capacity(self.keys.len());
        for _ in &self.keys {
            keys.push((next()?, next()?));
        }
        let left_time = next()?;
        let right_time = next()?;
        let tolerance = match self.tolerance {
            Some(_) => Some(next()?),
            None => None,
        };
        Ok(Self {
            left: Arc::new(left),
            right: Arc::new(right),
            keys,
            left_time,
            right_time,
            direction: self.direction,
            tolerance,
            schema: self.schema.clone(),
        })
    }
}

// ---------------------------------------------------------------------------
// The analyzer rule.

/// Turns the LEFT JOINs that [`rewrite_joins`] made into [`AsofJoin`]s.
#[derive(Debug, Default)]
pub(super) struct AsofRule;

impl AnalyzerRule for AsofRule {
    fn name(&self) -> &str {
        "epochdb_asof_join"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Join(join) if has_marker(&join) => asof_join(join).map(Transformed::yes),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }
}

fn is_marker(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == MARKER)
}

fn has_marker(join: &Join) -> bool {
    join.filter
        .as_ref()
        .is_some_and(|f| split_conjunction(f).into_iter().any(is_marker))
}

fn asof_join(join: Join) -> Result<LogicalPlan> {
    if join.join_type != JoinType::Left {
        return plan_err!("an ASOF join must be a left join");
    }
    let (left_schema, right_schema) = (join.left.schema(), join.right.schema());
    // Which side an expression reads: Some(true) left, Some(false) right.
    let side = |e: &Expr| -> Option<bool> {
        let columns = e.column_refs();
        if columns.is_empty() {
            return None;
        }
        if columns.iter().all(|c| left_schema.has_column(c)) {
            Some(true)
        } else if columns.iter().all(|c| right_schema.has_column(c)) {
            Some(false)
        } else {
            None
        }
    };
    let mut keys: Vec<(Expr, Expr)> = join
        .on
        .iter()
        .map(|(l, r)| (l.clone(), r.clone()))
        .collect();
    let mut matched = None;
    let filter = join
        .filter
        .clone()
        .unwrap_or_else(|| Expr::Literal(ScalarValue::Boolean(Some(true)), None));
    for conjunct in split_conjunction(&filter) {
        match conjunct {
            Expr::ScalarFunction(f) if is_marker(conjunct) => {
                let (first, second) = (&f.args[0], &f.args[1]);
                let op = match f.args.get(2) {
                    Some(Expr::Literal(ScalarValue::Utf8(Some(op)), _)) => match op.as_str() {
                        ">=" => Operator::GtEq,
                        ">" => Operator::Gt,
                        "<=" => Operator::LtEq,
                        _ => Operator::Lt,
                    },
                    _ => return plan_err!("{MARKER} without its operator"),
                };
                let (left_time, right_time, op) = match (side(first), side(second)) {
                    (Some(true), Some(false)) => (first, second, op),
                    (Some(false), Some(true)) => match op.swap() {
                        Some(op) => (second, first, op),
                        None => return plan_err!("{MARKER}: {op} has no mirror"),
                    },
                    _ => {
                        return Err(unsupported(
                            "an ASOF JOIN MATCH_CONDITION that does not compare a left time \
                             with a right time",
                        ));
                    }
                };
                let direction = Direction::of(op)
                    .ok_or_else(|| unsupported("that MATCH_CONDITION operator"))?;
                matched = Some((
                    left_time.clone(),
                    right_time.clone(),
                    direction,
                    f.args.get(3).cloned(),
                ));
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => match (side(left), side(right)) {
                (Some(true), Some(false)) => {
                    keys.push((left.as_ref().clone(), right.as_ref().clone()))
                }
                (Some(false), Some(true)) => {
                    keys.push((right.as_ref().clone(), left.as_ref().clone()))
                }
                _ => {
                    return Err(unsupported(format!(
                        "`{conjunct}` in an ASOF JOIN's ON, which takes equalities of a left and \
                         a right expression"
                    )));
                }
            },
            Expr::Literal(ScalarValue::Boolean(Some(true)), _) => {}
            other => {
                return Err(unsupported(format!(
                    "`{other}` in an ASOF JOIN's ON, which takes equalities of a left and a \
                     right expression"
                )));
            }
        }
    }
    let Some((left_time, right_time, direction, tolerance)) = matched else {
        return plan_err!("an ASOF join without its match condition");
    };
    let node = AsofJoin {
        left: join.left,
        right: join.right,
        keys,
        left_time,
        right_time,
        direction,
        tolerance,
        schema: join.schema,
    };
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    }))
}
