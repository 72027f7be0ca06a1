//! `DELETE` and `UPDATE` of plain and time-series tables, planned from the
//! statement's optimized plan and run by [`DmlExec`].
//!
//! A plain table's rows are chosen by number. A time-series table's are
//! chosen by region: the time range and the series that the pushed-down
//! time and tag filters pick ([`Table::delete`]), so whole shards and
//! blocks go without being decoded; any other filter is evaluated on the
//! region's rows, under the table's lock.
//!
//! The plan's shape is checked, not trusted: the rows to change are those
//! the target's scan returns and every filter above it accepts, so a plan
//! this module does not understand whole (a join, a subquery) is refused.
//! A filter the optimizer found always false leaves an empty relation:
//! nothing changes. DataFusion's own `delete_from`/`update` would instead
//! see such a plan as one without filters, and change every row.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use datafusion::arrow::compute::and;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::Session;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, WriteOp};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, create_physical_expr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use super::key_lookup;
use super::pushdown;
use super::table::{ReturnedRows, SeriesTableProvider};
use crate::query::commands::transaction::PendingWrites;
use crate::query::error::Error;
use crate::storage::{self, Region, RowPredicate, ScanRequest, Table};

/// The physical plan of a `DELETE` or `UPDATE`, or `None` for any other plan.
pub(crate) fn plan(
    plan: &LogicalPlan,
    session: &dyn Session,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let LogicalPlan::Dml(dml) = plan else {
        return Ok(None);
    };
    let update = match dml.op {
        WriteOp::Delete => false,
        WriteOp::Update => true,
        _ => return Ok(None),
    };
    let provider = source_as_provider(&dml.target)?;
    let Some(target) = provider.downcast_ref::<SeriesTableProvider>() else {
        return Err(unsupported("UPDATE and DELETE of this relation"));
    };
    let table = target.table().clone();
    let schema = DFSchema::try_from(table.arrow_schema().as_ref().clone())?;
    let shape = Shape::of(dml, update)?;
    let physical = |expr: &Expr| {
        create_physical_expr(
            &unqualified(expr.clone())?,
            &schema,
            session.execution_props(),
            &PhysicalPlanningContext::default(),
        )
    };
    let predicates = shape
        .predicates
        .iter()
        .map(physical)
        .collect::<Result<_>>()?;
    let unqualified_predicates = (shape.predicates.iter())
        .map(|p| unqualified(p.clone()))
        .collect::<Result<Vec<_>>>()?;
    let key = key_lookup::key_filter(&table, &unqualified_predicates);
    let region = (!table.schema().is_plain()).then(|| {
        let mut request = ScanRequest::default();
        pushdown::apply(table.schema(), &unqualified_predicates, &mut request);
        let exact = (unqualified_predicates.iter()).all(|p| pushdown::is_region(table.schema(), p));
        SeriesRegion {
            region: Region {
                // `time IN (...)`: no row outside the points' hull matches.
                time_range: request.time_hull(),
                series: request.series,
            },
            exact,
        }
    });
    // A sequence function would take the log's lock that a region's change
    // already holds while it evaluates the statement's expressions.
    let calls_sequence = |expr: &Expr| {
        expr.exists(|e| {
            Ok(matches!(e, Expr::ScalarFunction(f)
                if SEQUENCE_FUNCTIONS.contains(&f.func.name())))
        })
    };
    if region.is_some() {
        for expr in (shape.predicates.iter()).chain(shape.assignments.iter().flatten()) {
            if calls_sequence(expr)? {
                return Err(unsupported(
                    "nextval and setval in UPDATE or DELETE of a table with a time column",
                ));
            }
        }
    }
    let assignments = shape
        .assignments
        .iter()
        .map(|expr| expr.as_ref().map(physical).transpose())
        .collect::<Result<_>>()?;
    Ok(Some(Arc::new(
        DmlExec::new(
            table,
            shape.empty,
            key,
            region,
            predicates,
            update.then_some(assignments),
            session.config().get_extension::<PendingWrites>(),
        )
        .returning(session.config().get_extension::<ReturnedRows>()),
    )))
}

/// The functions that change a sequence, and log it.
const SEQUENCE_FUNCTIONS: [&str; 2] = ["nextval", "setval"];

/// The rows of a time-series table a `DELETE` may take, and whether its
/// filters say no more than that (so no row needs to be looked at).
#[derive(Debug, Clone)]
struct SeriesRegion {
    region: Region,
    exact: bool,
}

/// What a checked plan says: the filters the rows must pass, the new value
/// of each column for an `UPDATE` (`None`: unchanged), and whether the
/// optimizer found that no row can pass.
struct Shape {
    predicates: Vec<Expr>,
    assignments: Vec<Option<Expr>>,
    empty: bool,
}

impl Shape {
    fn of(dml: &DmlStatement, update: bool) -> Result<Self> {
        let target_columns: Vec<String> = dml
            .target
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut shape = Shape {
            predicates: Vec::new(),
            assignments: vec![None; target_columns.len()],
            empty: false,
        };
        let mut node = dml.input.as_ref();
        if let LogicalPlan::EmptyRelation(empty) = node
            && !empty.produce_one_row
        {
            shape.empty = true;
            return Ok(shape);
        }
        if update {
            // The new row: one expression per column of the target, named
            // after it; a column unchanged is the column itself.
            let LogicalPlan::Projection(projection) = node else {
                return Err(unsupported("this form of UPDATE"));
            };
            let names = projection.schema.fields().iter().map(|f| f.name());
            if !names.clone().eq(target_columns.iter()) {
                return Err(unsupported("this form of UPDATE"));
            }
            for ((expr, name), slot) in projection
                .expr
                .iter()
                .zip(&target_columns)
                .zip(&mut shape.assignments)
            {
                let expr = match expr {
                    Expr::Alias(alias) => alias.expr.as_ref(),
                    other => other,
                };
                let unchanged = matches!(expr, Expr::Column(c) if &c.name == name);
                if !unchanged {
                    *slot = Some(expr.clone());
                }
            }
            node = projection.input.as_ref();
        }
        loop {
            node = match node {
                LogicalPlan::Filter(filter) => {
                    shape.predicates.push(filter.predicate.clone());
                    filter.input.as_ref()
                }
                LogicalPlan::SubqueryAlias(alias) => alias.input.as_ref(),
                LogicalPlan::Projection(projection)
                    if projection.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
                {
                    projection.input.as_ref()
                }
                LogicalPlan::TableScan(scan)
                    if scan.table_name.resolved_eq(&dml.table_name) && scan.fetch.is_none() =>
                {
                    shape.predicates.extend(scan.filters.iter().cloned());
                    break;
                }
                LogicalPlan::EmptyRelation(empty) if !empty.produce_one_row => {
                    shape.empty = true;
                    break;
                }
                _ => return Err(unsupported("UPDATE and DELETE that read other relations")),
            };
        }
        let subquery = shape
            .predicates
            .iter()
            .chain(shape.assignments.iter().flatten())
            .any(|e| {
                let mut found = false;
                let _ = e.apply(|e| {
                    found = matches!(
                        e,
                        Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                    );
                    Ok(if found {
                        TreeNodeRecursion::Stop
                    } else {
                        TreeNodeRecursion::Continue
                    })
                });
                found
            });
        if subquery {
            return Err(unsupported("subqueries in UPDATE and DELETE"));
        }
        Ok(shape)
    }
}

/// `expr` with its columns named as the table's schema names them.
/// `table`'s schema with every column nullable: new rows may hold a NULL
/// where the column allows none, which the write refuses in PostgreSQL's
/// words, not the batch in Arrow's.
fn loose_schema(table: &Table) -> Arc<Schema> {
    Arc::new(Schema::new(
        (table.arrow_schema().fields().iter())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

/// The new versions of `old` rows: each column's new value (`None`:
/// unchanged).
fn new_versions(
    old: &RecordBatch,
    assignments: &[Option<Arc<dyn PhysicalExpr>>],
    loose: &Arc<Schema>,
) -> Result<RecordBatch> {
    let columns = assignments
        .iter()
        .enumerate()
        .map(|(i, value)| match value {
            None => Ok(old.column(i).clone()),
            Some(expr) => expr.evaluate(old)?.into_array(old.num_rows()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(loose.clone(), columns)?)
}

fn unqualified(expr: Expr) -> Result<Expr> {
    expr.transform(|e| match &e {
        Expr::Column(c) if c.relation.is_some() => Ok(Transformed::yes(Expr::Column(
            Column::new_unqualified(c.name.clone()),
        ))),
        _ => Ok(Transformed::no(e)),
    })
    .map(|t| t.data)
}

fn unsupported(what: &str) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Unsupported { what: what.into() }))
}

fn external(error: storage::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// The rows a statement chooses: their numbers, the rows, and for an
/// UPDATE their new versions, in the same order.
#[derive(Default)]
struct Chosen {
    numbers: Vec<i64>,
    old_rows: Vec<RecordBatch>,
    new_rows: Vec<RecordBatch>,
}

/// A change applied now, durable when its ticket says, or one with
/// nothing to wait for: staged in a transaction block, or no change.
enum Applied {
    Now(storage::Durable<usize>),
    Ready(usize),
}

/// Deletes or updates the rows of a plain table that pass every predicate,
/// as one change, and returns how many (a `count` column, as DataFusion's
/// DML plans do).
#[derive(Debug, Clone)]
pub(crate) struct DmlExec {
    table: Arc<Table>,
    /// The optimizer showed that no row passes.
    empty: bool,
    /// A predicate `column = constant` on a column with its own key: only
    /// the row it names can pass.
    key: Option<(usize, ArrayRef)>,
    /// A time-series table's: the region its filters pick.
    region: Option<SeriesRegion>,
    predicates: Vec<Arc<dyn PhysicalExpr>>,
    /// Per column its new value (`None`: unchanged); `None` for a DELETE.
    assignments: Option<Vec<Option<Arc<dyn PhysicalExpr>>>>,
    pending: Option<Arc<PendingWrites>>,
    /// Where the rows changed go for `RETURNING`, when the session keeps
    /// them: the new versions of updated rows, the deleted rows.
    returned: Option<Arc<ReturnedRows>>,
    properties: Arc<PlanProperties>,
}

impl DmlExec {
    fn new(
        table: Arc<Table>,
        empty: bool,
        key: Option<(usize, ArrayRef)>,
        region: Option<SeriesRegion>,
        predicates: Vec<Arc<dyn PhysicalExpr>>,
        assignments: Option<Vec<Option<Arc<dyn PhysicalExpr>>>>,
        pending: Option<Arc<PendingWrites>>,
    ) -> Self {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            table,
            empty,
            key,
            region,
            predicates,
            assignments,
            pending,
            returned: None,
            properties,
        }
    }

    /// The same, keeping the rows it changes in `returned` when the
    /// session keeps them there (`RETURNING`).
    fn returning(mut self, returned: Option<Arc<ReturnedRows>>) -> Self {
        self.returned = returned.filter(|r| r.capturing());
        self
    }

    fn key(&self) -> Option<(usize, &ArrayRef)> {
        self.key.as_ref().map(|(column, value)| (*column, value))
    }

    /// Which rows of `batch` pass every predicate (NULL passes none).
    fn passing(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let mut mask: Option<BooleanArray> = None;
        for predicate in &self.predicates {
            let value = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
            let Some(passed) = value.as_any().downcast_ref::<BooleanArray>() else {
                return Err(DataFusionError::Internal(
                    "a filter that is not boolean".into(),
                ));
            };
            let passed: BooleanArray = passed.iter().map(|v| Some(v == Some(true))).collect();
            mask = Some(match mask {
                None => passed,
                Some(m) => and(&m, &passed)?,
            });
        }
        Ok(mask.unwrap_or_else(|| BooleanArray::from(vec![true; batch.num_rows()])))
    }

    /// Deletes the rows of a time-series table's region that pass every
    /// predicate, now: a transaction block cannot hold such a delete back.
    fn delete_region(&self, region: &SeriesRegion) -> Result<Applied> {
        if self.pending.as_ref().is_some_and(|p| p.in_block()) {
            return Err(unsupported(
                "DELETE of a table with a time column inside a transaction block",
            ));
        }
        if self.empty {
            return Ok(Applied::Ready(0));
        }
        // `RETURNING` needs the rows: the region is decoded, even when its
        // filters take all of it.
        let predicate = |batch: &RecordBatch| -> std::result::Result<BooleanArray, Error> {
            let mask = self.passing(batch)?;
            if let Some(returned) = &self.returned {
                let deleted = filter_record_batch(batch, &mask).map_err(DataFusionError::from)?;
                returned.keep(self.table.arrow_schema(), &[deleted])?;
            }
            Ok(mask)
        };
        let predicate: Option<&RowPredicate<'_, Error>> = if region.exact && self.returned.is_none()
        {
            None
        } else {
            Some(&predicate)
        };
        let ticket = (self.table.delete(&region.region, predicate)).map_err(|e| match e {
            Error::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        })?;
        Ok(Applied::Now(ticket))
    }

    /// Of `rows` (batches with their row numbers), the ones every predicate
    /// passes: their numbers, the rows themselves and, for an UPDATE, their
    /// new versions, in the same order.
    fn choose(&self, rows: Vec<(RecordBatch, Vec<i64>)>) -> Result<Chosen> {
        let mut chosen = Chosen::default();
        if self.empty {
            return Ok(chosen);
        }
        let loose = loose_schema(&self.table);
        for (batch, times) in rows {
            let mask = self.passing(&batch)?;
            chosen.numbers.extend(
                times
                    .iter()
                    .zip(mask.values().iter())
                    .filter(|(_, chosen)| *chosen)
                    .map(|(t, _)| *t),
            );
            let Some(assignments) = &self.assignments else {
                // `DELETE ... RETURNING` returns the rows deleted.
                if self.returned.is_some() {
                    chosen.old_rows.push(filter_record_batch(&batch, &mask)?);
                }
                continue;
            };
            let old = filter_record_batch(&batch, &mask)?;
            if old.num_rows() == 0 {
                continue;
            }
            chosen
                .new_rows
                .push(new_versions(&old, assignments, &loose)?);
            chosen.old_rows.push(old);
        }
        Ok(chosen)
    }

    /// Updates the rows of a time-series table's region that pass every
    /// predicate, now, as [`delete_region`](Self::delete_region) deletes
    /// them: the region's rows go and come back, the chosen ones as their
    /// new versions.
    fn update_region(
        &self,
        region: &SeriesRegion,
        assignments: &[Option<Arc<dyn PhysicalExpr>>],
    ) -> Result<Applied> {
        if self.pending.as_ref().is_some_and(|p| p.in_block()) {
            return Err(unsupported(
                "UPDATE of a table with a time column inside a transaction block",
            ));
        }
        if self.empty {
            return Ok(Applied::Ready(0));
        }
        let loose = loose_schema(&self.table);
        let predicate = |batch: &RecordBatch| -> std::result::Result<BooleanArray, Error> {
            Ok(self.passing(batch)?)
        };
        // Kept for `RETURNING` once the write has checked them.
        let new_rows = std::cell::RefCell::new(Vec::new());
        let rewrite = |old: &RecordBatch| -> std::result::Result<RecordBatch, Error> {
            let new = new_versions(old, assignments, &loose)?;
            if self.returned.is_some() {
                new_rows.borrow_mut().push(new.clone());
            }
            Ok(new)
        };
        let ticket =
            (self.table.update(&region.region, &predicate, &rewrite)).map_err(|e| match e {
                Error::DataFusion(e) => e,
                other => DataFusionError::External(Box::new(other)),
            })?;
        self.keep_returned(&[], &new_rows.into_inner())?;
        Ok(Applied::Now(ticket))
    }

    /// Applies the change now (outside a transaction block), or records it
    /// in the block; returns how many rows it changes.
    fn apply(&self) -> Result<Applied> {
        match (&self.region, &self.assignments) {
            (Some(region), None) => return self.delete_region(region),
            (Some(region), Some(assignments)) => return self.update_region(region, assignments),
            (None, _) => {}
        }
        let Some(pending) = self.pending.as_ref().filter(|p| p.in_block()) else {
            let rows = (self.table.numbered_rows_by_key(None, self.key())).map_err(external)?;
            let chosen = self.choose(rows)?;
            let staged = self.table.staging();
            // A staging table has no log: nothing to wait for.
            let _ = staged
                .write(&chosen.new_rows)
                .map_err(external)?
                .without_waiting();
            let ticket =
                (self.table.replace_rows(chosen.numbers, staged, true)).map_err(external)?;
            self.keep_returned(&chosen.old_rows, &chosen.new_rows)?;
            return Ok(Applied::Now(ticket));
        };
        // The table's rows the block has not removed, then its staged rows.
        let removed = pending.removed_rows(&self.table);
        let rows =
            (self.table.numbered_rows_by_key(removed.clone(), self.key())).map_err(external)?;
        let committed = self.choose(rows)?;
        let mut count = committed.numbers.len();
        let mut old_rows = committed.old_rows;
        let mut new_rows = committed.new_rows;
        let mut staged_numbers = Vec::new();
        for (index, rows) in pending.staged_numbered(&self.table).map_err(external)? {
            let staged = self.choose(rows)?;
            count += staged.numbers.len();
            staged_numbers.push((index, staged.numbers));
            old_rows.extend(staged.old_rows);
            new_rows.extend(staged.new_rows);
        }
        if !new_rows.is_empty() {
            let freed = match &removed {
                Some(rows) => self.table.rows_at(rows).map_err(external)?,
                None => Vec::new(),
            };
            (self
                .table
                .check_unique_replacing(&freed, &old_rows, &new_rows))
            .and_then(|()| pending.check_staged_unique(&self.table, &old_rows, &new_rows))
            .map_err(external)?;
        }
        (pending.remove(&self.table, committed.numbers, staged_numbers)).map_err(external)?;
        if !new_rows.is_empty()
            && let Some(staged) = pending.stage(&self.table, &new_rows)
        {
            staged.map_err(external)?;
        }
        self.keep_returned(&old_rows, &new_rows)?;
        Ok(Applied::Ready(count))
    }

    /// What `RETURNING` reads: the new rows of an `UPDATE`, the old rows
    /// of a `DELETE`.
    fn keep_returned(&self, old_rows: &[RecordBatch], new_rows: &[RecordBatch]) -> Result<()> {
        let Some(returned) = &self.returned else {
            return Ok(());
        };
        let rows = if self.assignments.is_some() {
            new_rows
        } else {
            old_rows
        };
        returned.keep(self.table.arrow_schema(), rows)
    }

    async fn run(self: Arc<Self>) -> Result<RecordBatch> {
        let this = self.clone();
        let applied = tokio::task::spawn_blocking(move || this.apply())
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        let count = match applied {
            Applied::Now(ticket) => ticket.durable().await.map_err(external)?,
            Applied::Ready(count) => count,
        };
        let schema = self.properties.eq_properties.schema().clone();
        Ok(RecordBatch::try_new(
            schema,
            vec![Arc::new(UInt64Array::from(vec![count as u64]))],
        )?)
    }
}

impl DisplayAs for DmlExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.assignments.is_some() {
            "UPDATE"
        } else {
            "DELETE"
        };
        write!(f, "DmlExec: {verb} {}", self.table.name())
    }
}

impl ExecutionPlan for DmlExec {
    fn name(&self) -> &str {
        "DmlExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let assigned = self.assignments.iter().flatten().flatten();
        for expr in self.predicates.iter().chain(assigned) {
            if f(expr)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
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
                "DmlExec has no children".to_owned(),
            ))
        }
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = self.properties.eq_properties.schema().clone();
        let this = Arc::new(self.clone());
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(this.run()),
        )))
    }
}
