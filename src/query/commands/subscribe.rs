//! `SUBSCRIBE`: a query's rows as of now, then every matching row written
//! later, as it becomes durable, for as long as the client reads.
//!
//! The session spells `SUBSCRIBE [TO] (query) [WITH (options)]` as
//! `SELECT * FROM (query) AS <marker>` (see [`marker`]), so that it nests in
//! `COPY (...) TO STDOUT` and `DECLARE ... CURSOR FOR` like any query; the
//! engine finds the marker and plans the inner query as usual.
//!
//! What may be subscribed to is a query over one time-series table with a
//! select list and a `WHERE` clause, or an aggregate of one grouped by a
//! time bucket (`subscribe_rollup`). The optimized plan is compiled once
//! into a `Pipeline` of physical expressions (`subscribe_pipeline`), which
//! runs over the snapshot's batches and then over every write's rows: the
//! same code for both, so a row matches live exactly when it would match
//! in a query. The snapshot and the subscription are taken under the
//! table's lock (`Table::subscribe`), so each write is in exactly one of
//! them.
//!
//! Each row leads with `epochdb_lsn`, the position of the write that
//! stored it (the snapshot's rows carry the position it was taken at);
//! with `PROGRESS`, `epochdb_progressed` is true on rows that only say the
//! stream has reached a position: one after the snapshot, and one every
//! second the stream is idle.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, new_null_array,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    Ident, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins,
};
use tokio::time::Instant;

use super::subscribe_pipeline::Pipeline;
use super::subscribe_rollup::Rollup;
use crate::query::datasource::pushdown;
use crate::query::datasource::table::SeriesTableProvider;
use crate::query::error::{Error, Result};
use crate::storage::{Ended, ReadView, ScanRequest, Subscription};

/// What the alias of a subscription's marker starts with.
const MARKER: &str = "__epochdb_subscribe";

/// How long an idle stream with `PROGRESS` waits between progress rows.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// `SUBSCRIBE`'s options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Send the query's current rows first (the default).
    pub snapshot: bool,
    /// Add `epochdb_progressed` and progress rows.
    pub progress: bool,
    /// A rollup's bucket closes once no row has touched it for this long,
    /// in milliseconds (`GRACE`).
    pub grace_ms: u64,
}

/// A rollup's grace period unless `GRACE` gives one.
const DEFAULT_GRACE_MS: u64 = 10_000;

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            snapshot: true,
            progress: false,
            grace_ms: DEFAULT_GRACE_MS,
        }
    }
}

/// The alias that marks `SELECT * FROM (query) AS alias` as a subscription
/// to `query` with `options`.
pub fn marker(options: SubscribeOptions) -> String {
    format!(
        "{MARKER}_{}{}_{}",
        u8::from(options.snapshot),
        u8::from(options.progress),
        options.grace_ms
    )
}

fn options_of(alias: &Ident) -> Option<SubscribeOptions> {
    let rest = alias.value.strip_prefix(MARKER)?.strip_prefix('_')?;
    let (flags, grace) = rest.split_once('_')?;
    let grace_ms = grace.parse().ok()?;
    match flags.as_bytes() {
        [snapshot @ (b'0' | b'1'), progress @ (b'0' | b'1')] => Some(SubscribeOptions {
            snapshot: *snapshot == b'1',
            progress: *progress == b'1',
            grace_ms,
        }),
        _ => None,
    }
}

/// The query a marked statement subscribes to, and the options; `None` for
/// any other statement.
pub(crate) fn take(statement: &Statement) -> Option<(Statement, SubscribeOptions)> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let [TableWithJoins { relation, joins }] = select.from.as_slice() else {
        return None;
    };
    if !joins.is_empty() || !matches!(select.projection.as_slice(), [SelectItem::Wildcard(_)]) {
        return None;
    }
    match relation {
        TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } => {
            let options = options_of(&alias.name)?;
            Some((Statement::Query(subquery.clone()), options))
        }
        TableFactor::Table {
            alias: Some(alias), ..
        } => {
            let options = options_of(&alias.name)?;
            let mut relation = relation.clone();
            if let TableFactor::Table { alias, .. } = &mut relation {
                *alias = None;
            }
            let mut inner = Query::clone(query);
            let mut select = Select::clone(select);
            select.from = vec![TableWithJoins {
                relation,
                joins: Vec::new(),
            }];
            inner.body = Box::new(SetExpr::Select(Box::new(select)));
            Some((Statement::Query(Box::new(inner)), options))
        }
        _ => None,
    }
}

/// The columns a subscription's rows have: `epochdb_lsn`, then
/// `epochdb_progressed` with `PROGRESS`, then the query's.
pub(crate) fn output_schema(query: &SchemaRef, options: SubscribeOptions) -> SchemaRef {
    let mut fields = vec![Field::new("epochdb_lsn", DataType::Int64, false)];
    if options.progress {
        fields.push(Field::new("epochdb_progressed", DataType::Boolean, false));
    }
    fields.extend((query.fields().iter()).map(|f| f.as_ref().clone().with_nullable(true)));
    Arc::new(Schema::new(fields))
}

/// Starts a subscription to `plan` (a query as planned, its parameters
/// bound): takes the snapshot and subscribes now, and returns the rows as
/// a stream that ends only with an error. `schema` is the stream's schema
/// ([`output_schema`]); `limit` how many rows may wait for the client
/// before it is cut off.
pub(crate) fn start(
    state: &SessionState,
    plan: &LogicalPlan,
    schema: SchemaRef,
    options: SubscribeOptions,
    limit: usize,
) -> Result<SendableRecordBatchStream> {
    let optimized = state.optimize(plan)?;
    let time_column = |scan: &TableScan| {
        let provider = datafusion::datasource::source_as_provider(&scan.source).ok()?;
        let provider = provider.downcast_ref::<SeriesTableProvider>()?;
        Some(provider.table().schema().time_column()?.name.clone())
    };
    let grace = Duration::from_millis(options.grace_ms);
    let (mode, scan) = match Rollup::find(state, plan, &optimized, grace, time_column)? {
        Some((rollup, scan)) => (Mode::Rollup(Box::new(rollup)), scan),
        None => {
            let (pipeline, scan) = Pipeline::compile(state, &optimized)?;
            (Mode::Rows(pipeline), scan)
        }
    };
    let provider = datafusion::datasource::source_as_provider(&scan.source)?;
    let Some(provider) = provider.downcast_ref::<SeriesTableProvider>() else {
        return Err(Error::Unsupported {
            what: format!("SUBSCRIBE to \"{}\", which is not a table", scan.table_name),
        });
    };
    let table = provider.table().clone();
    let table_schema = table.schema();
    if table_schema.is_plain() || !table_schema.constraints().is_empty() {
        return Err(Error::Unsupported {
            what: format!(
                "SUBSCRIBE to \"{}\", whose rows can change in place (a plain table or one with \
                 keys); only time-series tables without keys can be subscribed to",
                table.name()
            ),
        });
    }
    let mut request = ScanRequest::default();
    pushdown::apply(table_schema, &scan.filters, &mut request);
    // A rollup's snapshot is the query's answer, run by DataFusion.
    let rows_snapshot = options.snapshot && matches!(mode, Mode::Rows(_));
    // The columns it reads: decoded for it from each write, the rest not.
    let source = scan.source.schema();
    let mut columns =
        (scan.projection.clone()).unwrap_or_else(|| (0..source.fields().len()).collect());
    for filter in &scan.filters {
        for column in filter.column_refs() {
            columns.extend(source.index_of(&column.name).ok());
        }
    }
    columns.sort_unstable();
    columns.dedup();
    let (view, subscription) = table.subscribe(&request, columns, rows_snapshot, limit)?;
    let lsn = subscription.start_lsn;
    let live = Live {
        schema: schema.clone(),
        options,
        mode,
        snapshot: options.snapshot.then_some((view, 0)),
        progressed: !options.progress,
        subscription,
        table: table.name().to_owned(),
        lsn,
        pending: VecDeque::new(),
        ended: None,
    };
    let rows = futures::stream::unfold(live, |mut live| async move {
        let next = match &live.ended {
            Some(ending) => Err(ending.error()),
            None => live.next().await,
        };
        match next {
            Ok(batch) => Some((Ok(batch), live)),
            Err(e) => {
                live.ended = Some(Ending::of(&e));
                Some((Err(DataFusionError::External(Box::new(e))), live))
            }
        }
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
}

/// What a subscription sends.
enum Mode {
    /// The query's rows among each write's.
    Rows(Pipeline),
    /// A rollup's rows, bucket by bucket.
    Rollup(Box<Rollup>),
}

/// A running subscription.
struct Live {
    schema: SchemaRef,
    options: SubscribeOptions,
    mode: Mode,
    /// The snapshot still to send, and the next of its pieces (a rollup
    /// runs its query instead).
    snapshot: Option<(ReadView, usize)>,
    /// Whether the progress row after the snapshot was sent (or is not due).
    progressed: bool,
    subscription: Subscription,
    table: String,
    /// The position reached.
    lsn: u64,
    /// Rows ready to send (a rollup's buckets), at their positions.
    pending: VecDeque<(RecordBatch, u64)>,
    /// Why it ended: every later read fails the same way.
    ended: Option<Ending>,
}

/// Why a subscription's stream ended.
#[derive(Debug, Clone)]
enum Ending {
    FellBehind(usize),
    Dropped(String),
    Failed(String),
}

impl Ending {
    fn of(error: &Error) -> Self {
        match error {
            Error::SubscriptionFellBehind { limit } => Ending::FellBehind(*limit),
            Error::SubscribedTableDropped { name } => Ending::Dropped(name.clone()),
            other => Ending::Failed(other.to_string()),
        }
    }

    fn error(&self) -> Error {
        match self {
            Ending::FellBehind(limit) => Error::SubscriptionFellBehind { limit: *limit },
            Ending::Dropped(name) => Error::SubscribedTableDropped { name: name.clone() },
            Ending::Failed(message) => Error::NotInPrerequisiteState {
                message: format!("the subscription ended: {message}"),
            },
        }
    }
}

impl Live {
    /// The next batch of rows (the stream never ends but in an error).
    async fn next(&mut self) -> Result<RecordBatch> {
        loop {
            if let Some((rows, lsn)) = self.pending.pop_front() {
                return self.output(&rows, lsn);
            }
            if let Some((view, next)) = &mut self.snapshot {
                if *next == 0 {
                    self.subscription.snapshot_durable().await?;
                }
                match &self.mode {
                    Mode::Rows(pipeline) if *next < view.len() => {
                        let piece = *next;
                        *next += 1;
                        if let Some(batch) = view.decode(piece)? {
                            let rows = pipeline.run(&batch)?;
                            if rows.num_rows() > 0 {
                                return self.output(&rows, self.lsn);
                            }
                        }
                        continue;
                    }
                    Mode::Rows(_) => {}
                    Mode::Rollup(rollup) => {
                        let lsn = self.lsn;
                        let rows = rollup.all().await?;
                        self.pending
                            .extend(rows.into_iter().map(|rows| (rows, lsn)));
                    }
                }
                self.snapshot = None;
                continue;
            }
            if !self.progressed {
                self.progressed = true;
                return self.progress();
            }
            // Wake for a progress row, or for a rollup's bucket whose grace
            // period ends.
            let progress_at = (self.options.progress).then(|| Instant::now() + PROGRESS_EVERY);
            let grace_at = match &self.mode {
                Mode::Rollup(rollup) => rollup.next_deadline(),
                Mode::Rows(_) => None,
            };
            let wake = match (progress_at, grace_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let delivery = match wake {
                Some(at) => match tokio::time::timeout_at(at, self.subscription.next()).await {
                    Ok(delivery) => delivery,
                    Err(_woken) => {
                        if let Mode::Rollup(rollup) = &mut self.mode {
                            let lsn = self.lsn;
                            for start in rollup.idle(Instant::now()) {
                                let rows = rollup.bucket(start).await?;
                                self.pending
                                    .extend(rows.into_iter().map(|rows| (rows, lsn)));
                            }
                        }
                        if !self.pending.is_empty() {
                            continue;
                        }
                        if progress_at.is_some_and(|at| Instant::now() >= at) {
                            // Only positions already sent: a later write may
                            // still be on its way, or not yet durable.
                            return self.progress();
                        }
                        continue;
                    }
                },
                None => self.subscription.next().await,
            };
            let delivery = delivery.map_err(|why| match why {
                Ended::Dropped => Error::SubscribedTableDropped {
                    name: self.table.clone(),
                },
                Ended::Altered => Error::Storage(crate::storage::Error::TableAltered {
                    name: self.table.clone(),
                }),
                Ended::FellBehind { limit } => Error::SubscriptionFellBehind { limit },
            })?;
            let (lsn, rows) = delivery.durable().await?;
            self.lsn = lsn;
            match &mut self.mode {
                Mode::Rows(pipeline) => {
                    let mut matched = Vec::new();
                    for batch in &rows {
                        let out = pipeline.run(batch)?;
                        if out.num_rows() > 0 {
                            matched.push(out);
                        }
                    }
                    if let Some(first) = matched.first() {
                        let rows = concat_batches(&first.schema(), &matched)
                            .map_err(DataFusionError::from)?;
                        return self.output(&rows, lsn);
                    }
                }
                Mode::Rollup(rollup) => {
                    let mut due = Vec::new();
                    for batch in &rows {
                        due.extend(rollup.touch(batch)?);
                    }
                    due.sort_unstable();
                    due.dedup();
                    for start in due {
                        let rows = rollup.bucket(start).await?;
                        self.pending
                            .extend(rows.into_iter().map(|rows| (rows, lsn)));
                    }
                }
            }
        }
    }

    /// `rows` of the query, as the stream's rows at position `lsn`.
    fn output(&self, rows: &RecordBatch, lsn: u64) -> Result<RecordBatch> {
        let count = rows.num_rows();
        let lsn = i64::try_from(lsn).unwrap_or(i64::MAX);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![lsn; count]))];
        if self.options.progress {
            columns.push(Arc::new(BooleanArray::from(vec![false; count])));
        }
        columns.extend(rows.columns().iter().cloned());
        let options = RecordBatchOptions::new().with_row_count(Some(count));
        Ok(
            RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
                .map_err(DataFusionError::from)?,
        )
    }

    /// A row that says the stream has reached its position.
    fn progress(&self) -> Result<RecordBatch> {
        let lsn = i64::try_from(self.lsn).unwrap_or(i64::MAX);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![lsn])),
            Arc::new(BooleanArray::from(vec![true])),
        ];
        columns.extend(
            (self.schema.fields().iter().skip(2)).map(|f| new_null_array(f.data_type(), 1)),
        );
        Ok(RecordBatch::try_new(self.schema.clone(), columns).map_err(DataFusionError::from)?)
    }
}
