//! A statement the engine has planned, ready to run, possibly many times.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, TryCast, WriteOp};
use datafusion::sql::sqlparser::ast::Statement;
use parking_lot::Mutex;

use super::commands::access::Dcl;
use super::commands::copy::{CopyFrom, CopyOptions};
use super::commands::ddl::Ddl;
use super::commands::subscribe::{self, SubscribeOptions};
use super::commands::upsert::OnConflict;
use super::error::Result;
use super::pg::array_in::ARRAY_OF;

/// A statement ready to run, possibly many times with different parameters.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A query, `INSERT` or `EXPLAIN` planned by DataFusion.
    Plan(Box<PlannedQuery>),
    /// DDL run against storage.
    Ddl(Ddl),
    /// `CREATE TABLE ... AS` and `SELECT ... INTO`: the table, then the
    /// `INSERT` that fills it, planned once the table exists.
    CreateTableAs {
        table: Ddl,
        /// `None` for `WITH NO DATA`.
        insert: Option<Box<Statement>>,
        if_not_exists: bool,
    },
    /// A role statement, GRANT or REVOKE.
    Dcl(Dcl),
    /// `COPY table FROM STDIN`.
    CopyFrom(CopyFrom),
    /// `SUBSCRIBE`: the query's rows now, then as they are written.
    Subscribe {
        query: Box<PlannedQuery>,
        options: SubscribeOptions,
    },
    /// `COPY table TO STDOUT` or `COPY (query) TO STDOUT`: the query's rows.
    CopyTo {
        query: Box<Prepared>,
        options: CopyOptions,
    },
}

/// A query, `INSERT` or `EXPLAIN` as DataFusion planned it, with what it
/// takes to plan it again: a plan names the tables it read when it was
/// made, so after the catalog changed (`DROP TABLE t; CREATE TABLE t`) it
/// is made again, as PostgreSQL re-plans a cached plan.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    pub(crate) plan: LogicalPlan,
    /// The PostgreSQL names of the output columns, where they differ from
    /// DataFusion's (`None` keeps DataFusion's name).
    pub(crate) names: Option<Vec<Option<String>>>,
    /// `INSERT ... RETURNING`: the rows returned, as a query over the
    /// target table.
    pub(crate) returning: Option<Box<PlannedQuery>>,
    /// `INSERT ... ON CONFLICT`: what to do with the rows whose keys are
    /// taken.
    pub(crate) on_conflict: Option<Arc<OnConflict>>,
    /// For `INSERT INTO t (a, b) ...`, the listed columns.
    pub(crate) insert_columns: Vec<String>,
    /// The statement as it came, and the parameter types the client
    /// declared.
    pub(crate) statement: Arc<Statement>,
    pub(crate) declared: Arc<[Option<DataType>]>,
    /// The catalog version the plan was made at.
    pub(crate) catalog_version: u64,
    /// Whether the statement is heavy to plan (see `query::heavy`).
    pub(crate) heavy: bool,
    /// The plan made again at a later version, shared by every clone.
    pub(crate) replanned: Arc<Mutex<Option<PlannedQuery>>>,
}

impl PlannedQuery {
    /// The types of the rows it returns, which a plan made again must keep.
    pub(crate) fn output_types(&self) -> Vec<DataType> {
        let plan = match &self.returning {
            Some(returning) => &returning.plan,
            None => &self.plan,
        };
        plan.schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
    }
}

impl Prepared {
    /// The columns of the rows this statement returns; `None` for statements that
    /// return no rows (DDL, `INSERT`, `UPDATE`, `DELETE`).
    pub fn output_schema(&self) -> Option<SchemaRef> {
        match self {
            Prepared::Plan(planned) if planned.returning.is_some() => {
                let returning = planned.returning.as_deref()?;
                Some(renamed(
                    returning.plan.schema().inner(),
                    returning.names.as_deref(),
                ))
            }
            Prepared::Plan(planned) if dml_tag(&planned.plan).is_none() => Some(renamed(
                planned.plan.schema().inner(),
                planned.names.as_deref(),
            )),
            Prepared::Subscribe { query, options } => Some(subscribe::output_schema(
                &renamed(query.plan.schema().inner(), query.names.as_deref()),
                *options,
            )),
            _ => None,
        }
    }

    /// Whether it is a `SUBSCRIBE`, whose rows never end.
    pub fn is_subscription(&self) -> bool {
        matches!(self, Prepared::Subscribe { .. })
    }

    /// The types DataFusion inferred for `$1..$n`, in order; `None` where unknown.
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>> {
        let (Prepared::Plan(planned) | Prepared::Subscribe { query: planned, .. }) = self else {
            return Ok(Vec::new());
        };
        let plan = &planned.plan;
        let mut types = plan.get_parameter_types()?;
        // DataFusion leaves LIMIT/OFFSET parameters untyped; PostgreSQL makes
        // them bigint.
        plan.apply_with_subqueries(|node| {
            // As PostgreSQL: an otherwise untyped `$n::T` is a T, the
            // operand of NOT a boolean, and the array of `x = ANY ($n)` an
            // array of x's type.
            let schema = node.inputs().first().map_or(node.schema(), |i| i.schema());
            for expr in node.expressions() {
                expr.apply(|e| {
                    let typed = match e {
                        Expr::Cast(Cast { expr, field })
                        | Expr::TryCast(TryCast { expr, field }) => {
                            Some((expr.as_ref(), field.data_type().clone()))
                        }
                        Expr::Not(expr) => Some((expr.as_ref(), DataType::Boolean)),
                        // The element keeps the other operand's metadata: an
                        // array of a catalog's oids is an `oid[]`.
                        Expr::ScalarFunction(f) if f.func.name() == ARRAY_OF => {
                            match (f.args.first(), f.args.get(1).map(|a| a.to_field(schema))) {
                                (Some(array), Some(Ok((_, like)))) => {
                                    let element =
                                        Field::new_list_field(like.data_type().clone(), true)
                                            .with_metadata(like.metadata().clone());
                                    Some((array, DataType::List(Arc::new(element))))
                                }
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    let typed = typed.map(|(e, t)| (strip_casts(e), t));
                    // Untyped, or typed alike but without the element's metadata.
                    let refines = |known: &Option<DataType>, data_type: &DataType| match known {
                        None => true,
                        Some(DataType::List(known)) => matches!(
                            data_type,
                            DataType::List(e) if e.data_type() == known.data_type()
                                && known.metadata().is_empty()
                                && !e.metadata().is_empty()
                        ),
                        Some(_) => false,
                    };
                    if let Some((Expr::Placeholder(p), data_type)) = typed
                        && types
                            .get(&p.id)
                            .is_some_and(|known| refines(known, &data_type))
                    {
                        types.insert(p.id.clone(), Some(data_type));
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            if let LogicalPlan::Limit(limit) = node {
                for expr in limit.skip.iter().chain(limit.fetch.iter()) {
                    if let Expr::Placeholder(p) = expr.as_ref()
                        && types.get(&p.id).is_some_and(Option::is_none)
                    {
                        types.insert(p.id.clone(), Some(DataType::Int64));
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let count = types
            .keys()
            .filter_map(|k| k.strip_prefix('$')?.parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        Ok((1..=count)
            .map(|i| types.get(&format!("${i}")).cloned().flatten())
            .collect())
    }
}

/// `expr` without the casts around it.
fn strip_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(Cast { expr, .. }) | Expr::TryCast(TryCast { expr, .. }) => strip_casts(expr),
        other => other,
    }
}

/// `schema` with the given column names; `None` entries keep theirs.
pub(super) fn renamed(schema: &SchemaRef, names: Option<&[Option<String>]>) -> SchemaRef {
    let Some(names) = names else {
        return schema.clone();
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| match name {
            Some(name) => field.as_ref().clone().with_name(name),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The command tag of a plan that writes: `INSERT`, `UPDATE` or `DELETE`.
pub(super) fn dml_tag(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Dml(dml) => match dml.op {
            WriteOp::Insert(_) => Some("INSERT"),
            WriteOp::Update => Some("UPDATE"),
            WriteOp::Delete => Some("DELETE"),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn is_insert(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)))
}
