//! Deep statements, made safe before anything walks them.
//!
//! Everything after parsing (our rewrites, DataFusion's planner and
//! optimizer, evaluation, even dropping the syntax tree) recurses over a
//! statement's expressions, so a deep enough one would overflow the stack
//! and abort the server with every session in it. Three measures keep that
//! from happening, as PostgreSQL's `max_stack_depth` does:
//!
//! - The parser's own recursion (parentheses, subqueries, unary operators,
//!   calls) is capped at [`MAX_NESTING`].
//! - Long runs of `AND` or of `OR` (Grafana's multi-value variables make
//!   thousands) become balanced trees: they are associative, so the answer
//!   is the same, and their depth grows with the logarithm of their length.
//! - A scalar subquery that only computes an expression without functions,
//!   `(SELECT 1 + x)`, is that expression: DataFusion's plan checks visit a
//!   subquery nested in an expression twice per level, so nested subqueries
//!   cost time exponential in their depth.
//! - A statement whose expressions still nest deeper than [`MAX_DEPTH`]
//!   (a long sum, which the parser builds in a loop), whose subqueries
//!   nest in expressions deeper than [`MAX_SUBQUERY_NESTING`], or whose
//!   `WITH`s nest deeper than [`MAX_WITH_NESTING`], fails with 54001, and its syntax tree is taken apart without recursion.
//!   DataFusion's analysis costs time quadratic to cubic in an expression's
//!   depth (each node's type and name is worked out from its whole
//!   subtree), so the limit keeps the worst statement's planning to well
//!   under a second.
//! - DataFusion rewrites some forms into ones that repeat an operand:
//!   `COALESCE(a, b)` becomes `CASE WHEN a IS NOT NULL THEN a ELSE b END`,
//!   `x BETWEEN a AND b` becomes `x >= a AND x <= b`. Nested, each doubles
//!   the expression, so a statement of a few hundred bytes could plan for
//!   hours. A statement whose expressions would so grow beyond
//!   [`MAX_EXPANDED_NODES`] fails with 54001 too, as does one with so many
//!   deep expressions that their summed cost passes [`MAX_DEEP_WORK`].

use std::ops::ControlFlow;

use crate::query::PostgresDialect;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Query, SelectItem, SetExpr, Statement, Value, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// The stack a thread needs to parse, plan and run a statement at these
/// limits; the server's runtime gives its threads this much (it is
/// reserved, and only touched as deep statements need it).
pub const STATEMENT_STACK_BYTES: usize = 1 << 30;

/// The deepest the parser recurses: parenthesised expressions, subqueries,
/// `NOT`s and calls inside one another.
pub(super) const MAX_NESTING: usize = 10_000;

/// The deepest an expression may nest once parsed.
pub(super) const MAX_DEPTH: usize = 256;

/// The most expression nodes a statement may have once the forms that
/// repeat an operand are expanded.
pub(super) const MAX_EXPANDED_NODES: u64 = 1 << 20;

/// Expression nodes no deeper than this cost the planner little.
const SHALLOW: usize = 32;

/// The most a statement's nodes may sum their depths beyond [`SHALLOW`]:
/// what about eight expressions of the deepest kind cost to plan. Long flat
/// lists (`IN (...)` with a million values) cost nothing here.
pub(super) const MAX_DEEP_WORK: usize = 1 << 18;

/// The deepest queries may nest inside one another (each is planned as a
/// plan of its own).
pub(super) const MAX_QUERY_DEPTH: usize = 2_000;

/// The most `UNION`, `INTERSECT` and `EXCEPT` operations one query may
/// chain: DataFusion plans a chain in time quadratic in its length.
pub(super) const MAX_SET_OPERATIONS: usize = 1024;

/// The deepest subqueries may nest inside expressions of one another.
pub(super) const MAX_SUBQUERY_NESTING: usize = 12;

/// How deep a `WITH` may nest in the queries of another `WITH` (in a CTE's
/// body, a derived table, ...). DataFusion's search for the tables a
/// statement reads visits each CTE's body twice, once per level, so its
/// time doubles with each level: 16 levels took a second, 20 levels ten.
pub(super) const MAX_WITH_NESTING: usize = 12;

/// Runs of one of these operators shorter than this stay as written.
const BALANCE_FROM: usize = 16;

/// Why a statement is beyond the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TooComplex {
    /// Its expressions or queries nest too deep.
    Deep,
    /// Its expressions would expand to too many nodes.
    Large,
}

/// Parses `sql` as plain PostgreSQL, with the parser's recursion capped.
pub(super) fn parse(sql: &str) -> Result<Vec<Statement>, ParserError> {
    Parser::new(&PostgresDialect::default())
        .with_recursion_limit(MAX_NESTING)
        .try_with_sql(sql)?
        .parse_statements()
}

/// Balances the `AND` and `OR` runs of `statement`, then checks its depth.
/// A statement that is too deep is emptied (without recursion) before the
/// error returns, so dropping it cannot overflow the stack either.
pub(super) fn make_shallow(statement: &mut Statement) -> Result<(), TooComplex> {
    let mut walker = Walker {
        // A column default refuses subqueries, as PostgreSQL does: it must
        // see them as written. (`CREATE TABLE ... AS` plans its query as
        // any query.)
        keep_subqueries: match statement {
            Statement::CreateTable(create) => create.query.is_none(),
            Statement::AlterTable(_) => true,
            _ => false,
        },
        ..Walker::default()
    };
    if statement.visit(&mut walker).is_continue() {
        let mut nesting = SubqueryNesting::default();
        return match statement.visit(&mut nesting) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(TooComplex::Deep),
        };
    }
    if walker.too_large {
        return Err(TooComplex::Large);
    }
    for expr in walker.cut {
        dismantle(expr);
    }
    Err(TooComplex::Deep)
}

/// Balances runs and measures depth in one pass, pre-order, so that it
/// never descends further than the limits.
#[derive(Default)]
struct Walker {
    depth: usize,
    queries: usize,
    /// Function calls met so far, and their count when each scalar
    /// subquery being visited began.
    functions: usize,
    subqueries: Vec<usize>,
    /// The subtrees found too deep, taken out of the statement.
    cut: Vec<Expr>,
    /// The expanded sizes of the expressions being visited, innermost last.
    sizes: Vec<Size>,
    /// The expanded size of the statement's expressions measured so far.
    total: u64,
    /// The depths beyond [`SHALLOW`] of the nodes visited so far, summed.
    deep_work: usize,
    /// Whether the expressions were found to expand beyond the limit.
    too_large: bool,
    /// Subqueries stay as written (DDL), not replaced by their expression.
    keep_subqueries: bool,
}

/// What an expression's children expand to, as they are visited in order.
#[derive(Default)]
struct Size {
    sum: u64,
    first: Option<u64>,
    last: u64,
}

impl Size {
    /// The size of `expr`, whose children are measured in `self`.
    fn of(&self, expr: &Expr) -> u64 {
        let first = self.first.unwrap_or(0);
        let repeated = match expr {
            // COALESCE(a, b, c): CASE WHEN a IS NOT NULL THEN a WHEN b ...
            Expr::Function(function) if repeats_its_arguments(function) => self.sum - self.last,
            // x BETWEEN a AND b: x >= a AND x <= b.
            Expr::Between { .. } => first,
            // x IN (a, b): x = a OR x = b, for short lists.
            Expr::InList { list, .. } => first.saturating_mul(list.len() as u64),
            // CASE x WHEN a THEN .. WHEN b THEN ..: x = a, x = b.
            Expr::Case {
                operand: Some(_),
                conditions,
                ..
            } => first.saturating_mul(conditions.len() as u64),
            _ => 0,
        };
        self.sum.saturating_add(repeated).saturating_add(1)
    }

    fn add(&mut self, child: u64) {
        self.sum = self.sum.saturating_add(child);
        self.first.get_or_insert(child);
        self.last = child;
    }
}

/// Whether DataFusion rewrites a call to `function` into a CASE that
/// repeats each argument but the last.
fn repeats_its_arguments(function: &datafusion::sql::sqlparser::ast::Function) -> bool {
    function.name.0.len() == 1
        && function.name.0[0].as_ident().is_some_and(|name| {
            ["coalesce", "ifnull", "nvl"]
                .iter()
                .any(|f| name.value.eq_ignore_ascii_case(f))
        })
}

impl VisitorMut for Walker {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.queries += 1;
        if self.queries > MAX_QUERY_DEPTH || set_operations(&query.body) > MAX_SET_OPERATIONS {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.queries -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Parentheses cost nothing once parsed (ORMs write them around
        // every operation), and the parser caps how deep they go.
        self.depth += usize::from(!matches!(expr, Expr::Nested(_)));
        if self.depth > MAX_DEPTH {
            self.cut
                .push(std::mem::replace(expr, Expr::Value(Value::Null.into())));
            return ControlFlow::Break(());
        }
        self.deep_work += self.depth.saturating_sub(SHALLOW);
        if self.deep_work > MAX_DEEP_WORK {
            self.too_large = true;
            return ControlFlow::Break(());
        }
        balance(expr);
        self.sizes.push(Size::default());
        match expr {
            Expr::Function(_) => self.functions += 1,
            Expr::Subquery(_) => self.subqueries.push(self.functions),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth -= usize::from(!matches!(expr, Expr::Nested(_)));
        let size = self.sizes.pop().unwrap_or_default().of(expr);
        match self.sizes.last_mut() {
            Some(parent) => parent.add(size),
            None => self.total = self.total.saturating_add(size),
        }
        if size.max(self.total) > MAX_EXPANDED_NODES {
            self.too_large = true;
            return ControlFlow::Break(());
        }
        if let Expr::Subquery(query) = expr {
            let without_functions = self.subqueries.pop() == Some(self.functions);
            let inline = without_functions && !self.keep_subqueries;
            if let Some(inner) = inline.then(|| only_expression(query)).flatten() {
                *expr = Expr::Nested(Box::new(inner));
            }
        }
        ControlFlow::Continue(())
    }
}

/// How many set operations `body` chains, without recursion. A query in
/// parentheses is counted as a query of its own.
fn set_operations(body: &SetExpr) -> usize {
    let mut count = 0;
    let mut pending = vec![body];
    while let Some(node) = pending.pop() {
        if let SetExpr::SetOperation { left, right, .. } = node {
            count += 1;
            pending.push(left);
            pending.push(right);
        }
    }
    count
}

/// The expression a subquery computes, when it is nothing but that: one
/// unnamed column, without FROM, WHERE, grouping, DISTINCT, ordering or
/// limits, so it yields exactly one row holding the expression's value.
fn only_expression(query: &mut Query) -> Option<Expr> {
    let plain_query = query.with.is_none()
        && query.order_by.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && query.locks.is_empty()
        && query.for_clause.is_none()
        && query.settings.is_none()
        && query.format_clause.is_none()
        && query.pipe_operators.is_empty();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let plain_select = select.distinct.is_none()
        && select.top.is_none()
        && select.into.is_none()
        && select.from.is_empty()
        && select.lateral_views.is_empty()
        && select.prewhere.is_none()
        && select.selection.is_none()
        && select.connect_by.is_empty()
        && matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
        && select.cluster_by.is_empty()
        && select.distribute_by.is_empty()
        && select.sort_by.is_empty()
        && select.having.is_none()
        && select.named_window.is_empty()
        && select.qualify.is_none()
        && select.value_table_mode.is_none()
        && select.projection.len() == 1;
    if !(plain_query && plain_select) {
        return None;
    }
    match select.projection.pop() {
        Some(SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) => Some(expr),
        other => {
            select.projection.extend(other);
            None
        }
    }
}

/// Stops at a subquery nested in expressions deeper than
/// [`MAX_SUBQUERY_NESTING`], or a `WITH` nested in queries deeper than
/// [`MAX_WITH_NESTING`].
#[derive(Default)]
struct SubqueryNesting {
    depth: usize,
    with_depth: usize,
}

impl VisitorMut for SubqueryNesting {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if query.with.is_some() {
            self.with_depth += 1;
            if self.with_depth > MAX_WITH_NESTING {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if query.with.is_some() {
            self.with_depth -= 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(
            expr,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            self.depth += 1;
            if self.depth > MAX_SUBQUERY_NESTING {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(
            expr,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            self.depth -= 1;
        }
        ControlFlow::Continue(())
    }
}

/// Rebuilds a long run of one associative operator as a balanced tree.
fn balance(expr: &mut Expr) {
    let op = match expr {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => op.clone(),
        _ => return,
    };
    // The operands in order, found without recursion: the run's nodes are
    // taken apart left to right.
    let mut operands = Vec::new();
    let mut pending = vec![std::mem::replace(expr, Expr::Value(Value::Null.into()))];
    while let Some(node) = pending.pop() {
        match node {
            Expr::BinaryOp {
                left,
                op: node_op,
                right,
            } if node_op == op => {
                pending.push(*right);
                pending.push(*left);
            }
            operand => operands.push(operand),
        }
    }
    *expr = if operands.len() < BALANCE_FROM {
        chain(operands, &op)
    } else {
        balanced(operands, &op)
    };
}

/// `a op b op c ...`, left-deep, as the parser builds it.
fn chain(operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    let mut operands = operands.into_iter();
    let first = operands.next().unwrap_or(Expr::Value(Value::Null.into()));
    operands.fold(first, |left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    })
}

/// The operands under a balanced tree of `op`, keeping their order.
fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if operands.len() <= 2 {
        return chain(operands, op);
    }
    let right = operands.split_off(operands.len() / 2);
    Expr::BinaryOp {
        left: Box::new(balanced(operands, op)),
        op: op.clone(),
        right: Box::new(balanced(right, op)),
    }
}

/// Drops an expression of any depth without recursion: the shapes the
/// parser builds in a loop (operator chains, casts) are taken apart one
/// node at a time; anything else is no deeper than the parser's cap.
fn dismantle(expr: Expr) {
    let mut pending = vec![expr];
    while let Some(node) = pending.pop() {
        match node {
            Expr::BinaryOp { left, right, .. } => {
                pending.push(*left);
                pending.push(*right);
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::Cast { expr, .. }
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr) => pending.push(*expr),
            Expr::CompoundFieldAccess { root, .. } => pending.push(*root),
            other => drop(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with the stack the server's runtime gives its workers.
    fn on_server_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(STATEMENT_STACK_BYTES)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    fn shallow(sql: &str) -> Result<String, TooComplex> {
        let sql = sql.to_owned();
        on_server_stack(move || {
            let mut statements = parse(&sql).expect("parses");
            make_shallow(&mut statements[0])?;
            Ok(statements[0].to_string())
        })
    }

    #[test]
    fn long_runs_of_and_and_or_become_balanced() {
        let terms: Vec<String> = (0..40_000).map(|i| format!("k = 'h{i}'")).collect();
        let sql = format!("SELECT count(*) FROM t WHERE {}", terms.join(" OR "));
        let text = shallow(&sql).expect("a flat run is not too deep");
        // Every operand is still there, in order.
        assert!(text.contains("k = 'h0'") && text.contains("k = 'h39999'"));
        assert!(text.find("'h0'") < text.find("'h39999'"));
        // Short runs stay as written.
        assert_eq!(
            shallow("SELECT a AND b AND c").unwrap(),
            "SELECT a AND b AND c"
        );
    }

    #[test]
    fn parentheses_do_not_count_toward_the_depth() {
        let n = MAX_DEPTH - 1;
        let sql = format!("SELECT {}1{}", "(1 + ".repeat(n), ")".repeat(n));
        assert!(shallow(&sql).is_ok());
    }

    #[test]
    fn too_deep_statements_fail_and_drop_without_recursion() {
        let sum = vec!["1"; 200_000].join(" + ");
        assert_eq!(shallow(&format!("SELECT {sum}")), Err(TooComplex::Deep));
        let casts = "::int".repeat(50_000);
        assert_eq!(shallow(&format!("SELECT 1{casts}")), Err(TooComplex::Deep));
        let fine = vec!["1"; MAX_DEPTH - 1].join(" + ");
        assert!(shallow(&format!("SELECT {fine}")).is_ok());
        let over = vec!["1"; MAX_DEPTH + 1].join(" + ");
        assert_eq!(shallow(&format!("SELECT {over}")), Err(TooComplex::Deep));
    }

    #[test]
    fn subqueries_of_a_bare_expression_become_the_expression() {
        let nested = format!("SELECT {}1{}", "(SELECT ".repeat(200), ")".repeat(200));
        let text = shallow(&nested).expect("flattened, then shallow enough");
        assert_eq!(text.matches("SELECT").count(), 1, "{}", &text[..60]);
        // A subquery with FROM, with a function (which may be an aggregate
        // of the subquery's own level), or with two columns stays.
        for kept in [
            "SELECT (SELECT x FROM t)",
            "SELECT (SELECT count(*))",
            "SELECT (SELECT 1, 2)",
            "SELECT (SELECT 1 LIMIT 0)",
        ] {
            assert_eq!(shallow(kept).unwrap(), kept);
        }
        assert_eq!(shallow("SELECT (SELECT 1 + x)").unwrap(), "SELECT (1 + x)");
        let deep_real = format!(
            "SELECT {}1{}",
            "(SELECT x FROM t WHERE x = ".repeat(MAX_SUBQUERY_NESTING + 1),
            ")".repeat(MAX_SUBQUERY_NESTING + 1)
        );
        assert_eq!(shallow(&deep_real), Err(TooComplex::Deep));
    }

    #[test]
    fn forms_that_repeat_an_operand_may_not_nest_without_bound() {
        let nested = |open: &str, close: &str, n: usize| {
            format!("SELECT {}x{}", open.repeat(n), close.repeat(n))
        };
        // Each level doubles what DataFusion plans: 2^30 nodes.
        for (open, close) in [
            ("coalesce(", ", 1)"),
            ("IFNULL(", ", 1)"),
            ("(", " BETWEEN 1 AND 2)"),
            ("(", " IN (1, 2))"),
            ("CASE ", " WHEN 1 THEN 1 WHEN 2 THEN 2 END"),
        ] {
            let sql = nested(open, close, 30);
            assert_eq!(shallow(&sql), Err(TooComplex::Large), "{sql}");
            // A few levels are fine.
            assert!(shallow(&nested(open, close, 5)).is_ok(), "{open}");
        }
        // The last argument of COALESCE is not repeated; nor is a plain call.
        assert!(shallow(&nested("coalesce(1, ", ")", 200)).is_ok());
        assert!(shallow(&nested("abs(", ")", 200)).is_ok());
        // The whole statement counts, not each expression alone.
        let item = nested("coalesce(", ", 1)", 12);
        let items = vec![item.trim_start_matches("SELECT "); 300].join(", ");
        assert_eq!(shallow(&format!("SELECT {items}")), Err(TooComplex::Large));
    }

    #[test]
    fn long_chains_of_set_operations_are_too_deep() {
        let chain = |n: usize| vec!["SELECT 1"; n].join(" UNION ALL ");
        assert!(shallow(&chain(MAX_SET_OPERATIONS + 1)).is_ok());
        assert_eq!(
            shallow(&chain(MAX_SET_OPERATIONS + 2)),
            Err(TooComplex::Deep)
        );
    }

    #[test]
    fn many_deep_expressions_are_too_much_work() {
        let deep = vec!["1"; MAX_DEPTH - 1].join(" + ");
        let items = |n: usize| format!("SELECT {}", vec![deep.as_str(); n].join(", "));
        assert!(shallow(&items(4)).is_ok());
        assert_eq!(shallow(&items(100)), Err(TooComplex::Large));
        // Flat lists, however long, are not deep work.
        let values: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
        let list = format!("SELECT x IN ({}) FROM t", values.join(", "));
        assert!(shallow(&list).is_ok());
    }

    #[test]
    fn the_parser_caps_its_recursion() {
        let nots = |n: usize| format!("SELECT {}true", "NOT ".repeat(n));
        let (deep, deeper) = (nots(MAX_NESTING / 2), nots(MAX_NESTING * 2));
        let parsed = on_server_stack(move || (parse(&deep).is_ok(), parse(&deeper).is_err()));
        assert_eq!(parsed, (true, true));
    }
}
