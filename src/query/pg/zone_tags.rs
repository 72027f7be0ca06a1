//! Every `timestamptz` in a plan tagged UTC. DataFusion tags a
//! `timestamptz` cast or literal and `now()` with the session's time zone,
//! while table columns are tagged UTC; arithmetic between differently
//! tagged timestamps (`now() - time`, `'2024-01-01'::timestamptz - time`)
//! then fails to plan. The tag changes only how Arrow would print the
//! instant, and EpochDB prints in the session's zone itself, so:
//!
//! - [`UtcTimestampTypes`] plans the SQL types `timestamp` and
//!   `timestamptz` in PostgreSQL's microseconds (DataFusion's are
//!   nanoseconds, whose range ends in 2262), a `timestamptz` tagged UTC;
//!   [`MicrosecondSeries`] hands DataFusion's `generate_series` the
//!   nanoseconds it reads;
//! - [`UtcNow`] is `now()` and `current_timestamp`, tagged UTC;
//! - [`UnifyZoneTags`] retags, before type coercion, both sides of a
//!   difference of timestamps that still differ in tag.
//!
//! The session's zone is applied where PostgreSQL applies it by
//! [`session_zone`](super::session_zone).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::functions::datetime::now::NowFunc;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast::{DataType as SqlType, TimezoneInfo};
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use super::plan_exprs::rewrite_expressions;
use crate::query::error::Error;

const UTC: &str = "UTC";

fn utc_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// The SQL planner's types: `timestamptz` tagged UTC, the rest as
/// datafusion-pg-catalog's planner has them.
#[derive(Debug, Default)]
pub(crate) struct UtcTimestampTypes {
    pg: PgOidTypePlanner,
}

impl TypePlanner for UtcTimestampTypes {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        match sql_type {
            SqlType::Timestamp(None | Some(6), TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => {
                Ok(Some(Arc::new(Field::new(
                    "",
                    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
                    true,
                ))))
            }
            SqlType::Timestamp(
                None | Some(6),
                TimezoneInfo::None | TimezoneInfo::WithoutTimeZone,
            ) => Ok(Some(Arc::new(Field::new(
                "",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            )))),
            other => self.pg.plan_type_field(other),
        }
    }
}

/// `now()` (and `current_timestamp`): DataFusion's, tagged UTC whatever the
/// session's zone, which DataFusion would otherwise give it anew at each
/// `SET TIME ZONE`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct UtcNow {
    inner: NowFunc,
}

impl UtcNow {
    pub(crate) fn new() -> Self {
        let mut config = ConfigOptions::default();
        config.execution.time_zone = Some(UTC.to_owned());
        Self {
            inner: NowFunc::new_with_config(&config),
        }
    }
}

impl ScalarUDFImpl for UtcNow {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }
}

/// Before type coercion: the difference of two `timestamptz` values tagged
/// with different zones (a column's UTC and a literal's or `now()`'s
/// session zone), which DataFusion cannot coerce, is taken between the
/// two instants, both tagged UTC (a change of tag keeps the instant).
#[derive(Debug, Default)]
pub(crate) struct UnifyZoneTags;

impl AnalyzerRule for UnifyZoneTags {
    fn name(&self) -> &str {
        "epochdb_unify_zone_tags"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, Ok, |e, schema, _| unify(e, schema))
    }
}

fn unify(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Minus,
        right,
    }) = expr
    else {
        return Ok(Transformed::no(expr));
    };
    // Typing an arithmetic operand types its operands in turn: over a long
    // chain (`1 - 1 - ...`) that would be quadratic. A timestamp minus a
    // timestamp has plainer operands.
    let arithmetic = |e: &Expr| {
        matches!(e, Expr::BinaryExpr(BinaryExpr { op, .. })
            if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo))
    };
    if arithmetic(&left) || arithmetic(&right) {
        return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Minus,
            right,
        })));
    }
    let tags = (left.get_type(schema), right.get_type(schema));
    if let (Ok(DataType::Timestamp(_, Some(a))), Ok(DataType::Timestamp(_, Some(b)))) = &tags
        && a != b
    {
        return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
            left: Box::new(Expr::Cast(Cast::new(left, utc_timestamp()))),
            op: Operator::Minus,
            right: Box::new(Expr::Cast(Cast::new(right, utc_timestamp()))),
        })));
    }
    Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Minus,
        right,
    })))
}

/// DataFusion's `generate_series` and `range` in FROM, wrapped to take
/// timestamps of PostgreSQL's microseconds: DataFusion's read only
/// nanosecond literals. A bound beyond nanoseconds' range (after 2262) is
/// refused with PostgreSQL's `timestamp out of range`.
#[derive(Debug)]
pub(crate) struct MicrosecondSeries {
    inner: Arc<dyn TableFunctionImpl>,
}

impl MicrosecondSeries {
    /// Wraps the session's `generate_series` and `range`.
    pub(crate) fn wrap(ctx: &SessionContext) {
        for name in ["generate_series", "range"] {
            let Some(inner) = ctx
                .state()
                .table_functions()
                .get(name)
                .map(|f| Arc::clone(f.function()))
            else {
                continue;
            };
            ctx.register_udtf(name, Arc::new(Self { inner }));
        }
    }
}

impl TableFunctionImpl for MicrosecondSeries {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> Result<Arc<dyn TableProvider>> {
        let exprs = args
            .exprs()
            .iter()
            .map(|e| match e {
                Expr::Literal(ScalarValue::TimestampMicrosecond(v, tz), meta) => {
                    let nanos = v
                        .map(|v| v.checked_mul(1_000).ok_or(Error::DatetimeOutOfRange))
                        .transpose()?;
                    Ok(Expr::Literal(
                        ScalarValue::TimestampNanosecond(nanos, tz.clone()),
                        meta.clone(),
                    ))
                }
                other => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.inner
            .call_with_args(TableFunctionArgs::new(&exprs, args.session()))
    }
}
