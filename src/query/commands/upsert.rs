//! `INSERT ... ON CONFLICT [(columns) | ON CONSTRAINT name] DO NOTHING |
//! DO UPDATE SET ... [WHERE ...]` on tables with keys.
//!
//! The insert's rows are computed first, as any insert's. Their keys are
//! then looked up in the arbiter constraints' key maps: `DO NOTHING` drops
//! the rows that conflict (with a row of the table or an earlier row of
//! the statement) and writes the rest; `DO UPDATE` computes the new version
//! of each conflicting row from it and its `excluded` row, and replaces
//! those rows and adds the others as one logged change
//! ([`Table::replace_rows`]). A row that a concurrent statement changed
//! between the lookup and the change fails the change (40001 or 23505);
//! the lookup is then made again, a few times, before the error is
//! reported.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, ConflictTarget, OnConflict as SqlOnConflict, OnConflictAction,
};

use super::names::normalize;
use super::transaction::PendingWrites;
use crate::query::error::{Error, Result};
use crate::storage::{self, KeyMatch, Table};

/// How often a change that a concurrent statement got in the way of is
/// tried again.
const ATTEMPTS: usize = 3;

/// A planned `ON CONFLICT` clause.
#[derive(Debug)]
pub(crate) struct OnConflict {
    table: Arc<Table>,
    /// The constraints whose conflicts it handles (their indices); empty
    /// when the table has none (`DO NOTHING` without a target).
    arbiters: Vec<usize>,
    action: Action,
}

#[derive(Debug)]
enum Action {
    Nothing,
    Update {
        /// The table's columns, then `excluded`'s.
        schema: DFSchemaRef,
        /// Per column its new value (`None`: unchanged).
        assignments: Vec<Option<Expr>>,
        selection: Option<Expr>,
    },
}

/// What an upsert did: how many rows it inserted or updated, and those
/// rows as they are now (for `RETURNING`).
pub(crate) struct Upserted {
    pub(crate) count: usize,
    pub(crate) rows: Vec<RecordBatch>,
}

impl OnConflict {
    /// Plans `clause` for an insert into `table`, which the statement calls
    /// `alias` (its name, or `INSERT INTO t AS alias`).
    pub(crate) fn plan(
        state: &SessionState,
        table: Arc<Table>,
        alias: &str,
        clause: &SqlOnConflict,
    ) -> Result<Self> {
        let schema = table.schema();
        let constraints = schema.constraints();
        let no_match = || Error::InvalidColumnReference {
            message: "there is no unique or exclusion constraint matching the ON CONFLICT \
                      specification"
                .into(),
        };
        let arbiters = match &clause.conflict_target {
            Some(ConflictTarget::Columns(columns)) => {
                let mut wanted: Vec<usize> = Vec::with_capacity(columns.len());
                for column in columns {
                    let name = normalize(column);
                    let index = (schema.columns().iter())
                        .position(|c| c.name == name)
                        .ok_or(Error::UndefinedColumn { name })?;
                    wanted.push(index);
                }
                wanted.sort_unstable();
                wanted.dedup();
                let found = constraints.iter().position(|c| {
                    let mut columns = c.columns.clone();
                    columns.sort_unstable();
                    columns == wanted
                });
                vec![found.ok_or_else(no_match)?]
            }
            Some(ConflictTarget::OnConstraint(name)) => {
                let name = name.to_string();
                let found = constraints.iter().position(|c| c.name == name);
                vec![found.ok_or_else(|| Error::UndefinedObject {
                    message: format!(
                        "constraint \"{name}\" for table \"{}\" does not exist",
                        table.name()
                    ),
                })?]
            }
            None => (0..constraints.len()).collect(),
        };
        let action = match &clause.action {
            OnConflictAction::DoNothing => Action::Nothing,
            OnConflictAction::DoUpdate(update) => {
                if clause.conflict_target.is_none() {
                    return Err(Error::SyntaxError {
                        message: "ON CONFLICT DO UPDATE requires inference specification or \
                                  constraint name"
                            .into(),
                    });
                }
                let fields = schema.arrow_schema().fields();
                let loose = |f: &Arc<Field>| Arc::new(f.as_ref().clone().with_nullable(true));
                let qualified = (fields.iter().map(|f| (Some(alias.into()), loose(f))))
                    .chain(fields.iter().map(|f| (Some("excluded".into()), loose(f))))
                    .collect::<Vec<_>>();
                let combined =
                    Arc::new(DFSchema::new_with_metadata(qualified, Default::default())?);
                let mut assignments = vec![None; fields.len()];
                for assignment in &update.assignments {
                    let AssignmentTarget::ColumnName(name) = &assignment.target else {
                        return Err(Error::Unsupported {
                            what: "ON CONFLICT DO UPDATE SET (a, b) = ...".into(),
                        });
                    };
                    let Some(column) = name.0.last().and_then(|p| p.as_ident()).map(normalize)
                    else {
                        return Err(Error::Unsupported {
                            what: format!("the assignment target {name}"),
                        });
                    };
                    let index = (schema.columns().iter())
                        .position(|c| c.name == column)
                        .ok_or_else(|| Error::UndefinedColumn {
                            name: format!("{column}\" of relation \"{}", table.name()),
                        })?;
                    if assignments[index].is_some() {
                        return Err(Error::MultipleAssignments { column });
                    }
                    let value = expression(state, &assignment.value.to_string(), &combined)?;
                    let data_type = fields[index].data_type();
                    assignments[index] = Some(value.cast_to(data_type, combined.as_ref())?);
                }
                let selection = (update.selection.as_ref())
                    .map(|e| expression(state, &e.to_string(), &combined))
                    .transpose()?;
                Action::Update {
                    schema: combined,
                    assignments,
                    selection,
                }
            }
        };
        Ok(Self {
            table,
            arbiters,
            action,
        })
    }

    pub(crate) fn updates(&self) -> bool {
        matches!(self.action, Action::Update { .. })
    }

    /// Inserts `rows` (of the table's columns), handling their conflicts:
    /// now, or in the session's transaction block (`pending`).
    pub(crate) async fn run(
        &self,
        state: &SessionState,
        pending: Option<Arc<PendingWrites>>,
        rows: Vec<RecordBatch>,
    ) -> Result<Upserted> {
        let table = &self.table;
        let schema = table.arrow_schema().clone();
        let input = concat_batches(&loose(&schema), &rows).map_err(DataFusionError::from)?;
        let block = pending.filter(|p| p.in_block());
        if self.arbiters.is_empty() {
            let count = match block
                .as_ref()
                .and_then(|p| p.stage_batches(table, std::slice::from_ref(&input)))
            {
                Some(staged) => staged?,
                None => table.write(std::slice::from_ref(&input))?.durable().await?,
            };
            return Ok(Upserted {
                count,
                rows: vec![input],
            });
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let changed = self.change(state, block.as_deref(), &input);
            let retry = |e: &storage::Error| {
                block.is_none()
                    && attempt < ATTEMPTS
                    && matches!(
                        e,
                        storage::Error::ConcurrentUpdate | storage::Error::UniqueViolation { .. }
                    )
            };
            match changed {
                Ok((applied, rows)) => {
                    let count = match applied {
                        Applied::Now(ticket) => ticket.durable().await?,
                        Applied::Staged(count) => count,
                    };
                    return Ok(Upserted { count, rows });
                }
                Err(Error::Storage(e)) if retry(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Each row's conflict over the arbiters: the row it conflicts with
    /// (of the table, less those the block removed, or staged by the
    /// block), and whether an earlier row of the input has its key.
    fn conflicts(
        &self,
        block: Option<&PendingWrites>,
        input: &RecordBatch,
    ) -> Result<(Vec<Option<Found>>, Vec<bool>)> {
        let rows = input.num_rows();
        let removed = block.and_then(|b| b.removed_rows(&self.table));
        let mut found = vec![None; rows];
        let mut earlier = vec![false; rows];
        let input = std::slice::from_ref(input);
        for &c in &self.arbiters {
            let matches: Vec<KeyMatch> = self.table.key_matches(c, input)?;
            let staged = match block {
                Some(block) => block.staged_key_matches(&self.table, c, input)?,
                None => vec![None; rows],
            };
            for (row, (matched, staged)) in matches.into_iter().zip(staged).enumerate() {
                earlier[row] |= matched.earlier.is_some();
                if found[row].is_some() {
                    continue;
                }
                let committed = (matched.existing)
                    .filter(|n| removed.as_ref().is_none_or(|r| r.binary_search(n).is_err()));
                found[row] = match (committed, staged) {
                    (Some(number), _) => Some(Found::Committed(number)),
                    (None, Some((index, number))) => Some(Found::Staged(index, number)),
                    (None, None) => None,
                };
            }
        }
        Ok((found, earlier))
    }

    /// The change, applied now or staged in the block, with the rows it
    /// inserted or updated, in the input's order.
    fn change(
        &self,
        state: &SessionState,
        block: Option<&PendingWrites>,
        input: &RecordBatch,
    ) -> Result<(Applied, Vec<RecordBatch>)> {
        let table = &self.table;
        let (found, earlier) = self.conflicts(block, input)?;
        let Action::Update {
            schema,
            assignments,
            selection,
        } = &self.action
        else {
            // DO NOTHING: the rows that conflict with nothing.
            let keep: BooleanArray = (found.iter().zip(&earlier))
                .map(|(f, &e)| Some(f.is_none() && !e))
                .collect();
            let kept = filter_record_batch(input, &keep).map_err(DataFusionError::from)?;
            let applied =
                match block.and_then(|b| b.stage_batches(table, std::slice::from_ref(&kept))) {
                    Some(staged) => Applied::Staged(staged?),
                    None => Applied::Now(table.write(std::slice::from_ref(&kept))?),
                };
            return Ok((applied, vec![kept]));
        };
        if earlier.iter().any(|&e| e) {
            return Err(Error::CardinalityViolation {
                message: "ON CONFLICT DO UPDATE command cannot affect row a second time".into(),
                hint: "Ensure that no rows proposed for insertion within the same command have \
                       duplicate constrained values.",
            });
        }
        let conflicting: Vec<u32> = (found.iter().enumerate())
            .filter(|(_, f)| f.is_some())
            .map(|(i, _)| i as u32)
            .collect();
        let inserted: Vec<u32> = (found.iter().enumerate())
            .filter(|(_, f)| f.is_none())
            .map(|(i, _)| i as u32)
            .collect();
        let targets: Vec<Found> = found.iter().flatten().copied().collect();
        let loose_schema = loose(table.arrow_schema());
        let old = self.rows_of(block, &targets, &loose_schema)?;
        let excluded = take_rows(input, &conflicting)?;
        let both = RecordBatch::try_new(
            Arc::new(schema.as_arrow().clone()),
            old.columns()
                .iter()
                .chain(excluded.columns())
                .cloned()
                .collect(),
        )
        .map_err(DataFusionError::from)?;
        let chosen: BooleanArray = match selection {
            Some(selection) => {
                let value = physical(state, selection, schema)?
                    .evaluate(&both)?
                    .into_array(both.num_rows())?;
                value
                    .as_boolean()
                    .iter()
                    .map(|v| Some(v == Some(true)))
                    .collect()
            }
            None => BooleanArray::from(vec![true; both.num_rows()]),
        };
        let columns = (assignments.iter().enumerate())
            .map(|(i, value)| match value {
                None => Ok(old.column(i).clone()),
                Some(expr) => physical(state, expr, schema)?
                    .evaluate(&both)?
                    .into_array(both.num_rows())
                    .map_err(Error::from),
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let updated =
            RecordBatch::try_new(loose_schema.clone(), columns).map_err(DataFusionError::from)?;
        let updated = filter_record_batch(&updated, &chosen).map_err(DataFusionError::from)?;
        let old = filter_record_batch(&old, &chosen).map_err(DataFusionError::from)?;
        let replaced: Vec<Found> = (targets.iter().zip(chosen.values().iter()))
            .filter(|(_, chosen)| *chosen)
            .map(|(f, _)| *f)
            .collect();
        let kept_updates: Vec<u32> = (conflicting.iter().zip(chosen.values().iter()))
            .filter(|(_, chosen)| *chosen)
            .map(|(row, _)| *row)
            .collect();
        // As PostgreSQL goes through the rows: in the input's order, for
        // the table and for RETURNING.
        let all = concat_batches(&loose_schema, &[updated, take_rows(input, &inserted)?])
            .map_err(DataFusionError::from)?;
        let mut order: Vec<(u32, u32)> = (kept_updates.iter().chain(&inserted))
            .enumerate()
            .map(|(at, &row)| (row, at as u32))
            .collect();
        order.sort_unstable();
        let order: Vec<u32> = order.into_iter().map(|(_, at)| at).collect();
        let new_rows = vec![take_rows(&all, &order)?];
        let count = new_rows[0].num_rows();
        let committed: Vec<i64> = (replaced.iter())
            .filter_map(|f| match f {
                Found::Committed(n) => Some(*n),
                Found::Staged(..) => None,
            })
            .collect();
        let Some(block) = block else {
            let staged = table.staging();
            let _ = staged.write(&new_rows)?.without_waiting();
            let ticket = table.replace_rows(committed, staged, false)?;
            return Ok((Applied::Now(ticket.map(|_| count)), new_rows));
        };
        // In a block: checked now against the table's keys (less the rows
        // the block removed) and the block's own, recorded, and applied at
        // COMMIT, as a block's UPDATE is.
        let mut staged: Vec<(usize, Vec<i64>)> = Vec::new();
        for found in &replaced {
            if let Found::Staged(index, number) = found {
                match staged.iter_mut().find(|(i, _)| i == index) {
                    Some((_, numbers)) => numbers.push(*number),
                    None => staged.push((*index, vec![*number])),
                }
            }
        }
        let freed = match block.removed_rows(table) {
            Some(rows) => table.rows_at(&rows)?,
            None => Vec::new(),
        };
        let paired = [old];
        (table.check_unique_replacing(&freed, &paired, &new_rows))
            .and_then(|()| block.check_staged_unique(table, &paired, &new_rows))?;
        block.remove(table, committed, staged)?;
        if let Some(staged) = block.stage(table, &new_rows) {
            staged?;
        }
        Ok((Applied::Staged(count), new_rows))
    }

    /// The rows `targets` name, in their order.
    fn rows_of(
        &self,
        block: Option<&PendingWrites>,
        targets: &[Found],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let mut batches = Vec::new();
        let mut at = std::collections::HashMap::new();
        let mut offset = 0u32;
        let mut add = |source: Option<usize>, found: Vec<(RecordBatch, Vec<i64>)>| {
            for (batch, numbers) in found {
                for (i, number) in numbers.iter().enumerate() {
                    at.insert((source, *number), offset + i as u32);
                }
                offset += batch.num_rows() as u32;
                batches.push(batch);
            }
        };
        let committed: Vec<i64> = (targets.iter())
            .filter_map(|f| match f {
                Found::Committed(n) => Some(*n),
                Found::Staged(..) => None,
            })
            .collect();
        add(None, self.table.numbered_rows_at(&committed)?);
        let mut indices: Vec<usize> = (targets.iter())
            .filter_map(|f| match f {
                Found::Staged(index, _) => Some(*index),
                Found::Committed(_) => None,
            })
            .collect();
        indices.sort_unstable();
        indices.dedup();
        for index in indices {
            let numbers: Vec<i64> = (targets.iter())
                .filter_map(|f| match f {
                    Found::Staged(i, n) if *i == index => Some(*n),
                    _ => None,
                })
                .collect();
            if let Some(block) = block {
                add(Some(index), block.staged_rows_at(index, &numbers)?);
            }
        }
        let all = concat_batches(schema, &batches).map_err(DataFusionError::from)?;
        let order = (targets.iter())
            .map(|f| {
                let key = match f {
                    Found::Committed(n) => (None, *n),
                    Found::Staged(i, n) => (Some(*i), *n),
                };
                at.get(&key)
                    .copied()
                    .ok_or(storage::Error::ConcurrentUpdate)
            })
            .collect::<std::result::Result<Vec<u32>, _>>()?;
        take_rows(&all, &order)
    }
}

/// The row a row of the input conflicts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A row of the table, by number.
    Committed(i64),
    /// A row the block staged: which staged write, which number.
    Staged(usize, i64),
}

/// A change applied now (durable when its ticket says) or staged in the
/// session's transaction block.
enum Applied {
    Now(storage::Durable<usize>),
    Staged(usize),
}

/// `schema` with every column nullable: rows before the write checks them.
fn loose(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        (schema.fields().iter())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

fn take_rows(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
    let indices = UInt32Array::from(rows.to_vec());
    let columns = (batch.columns().iter())
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)?;
    Ok(RecordBatch::try_new(batch.schema(), columns).map_err(DataFusionError::from)?)
}

/// An expression of the `DO UPDATE` clause over the table's row and its
/// `excluded` row. Parameters are refused: the clause is not part of the
/// plan whose parameters a client binds.
fn expression(state: &SessionState, sql: &str, schema: &DFSchemaRef) -> Result<Expr> {
    let expr = state.create_logical_expr(sql, schema.as_ref())?;
    let mut placeholder = false;
    expr.apply(|e| {
        placeholder |= matches!(e, Expr::Placeholder(_));
        Ok(TreeNodeRecursion::Continue)
    })?;
    if placeholder {
        return Err(Error::Unsupported {
            what: "parameters in ON CONFLICT DO UPDATE".into(),
        });
    }
    Ok(expr)
}

fn physical(
    state: &SessionState,
    expr: &Expr,
    schema: &DFSchemaRef,
) -> Result<Arc<dyn PhysicalExpr>> {
    Ok(state.create_physical_expr(expr.clone(), schema.as_ref())?)
}
