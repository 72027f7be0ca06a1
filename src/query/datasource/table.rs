//! The `TableProvider` over a storage table: scans and `INSERT`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::{MemTable, TableType, provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, SendableRecordBatchStream,
};
use futures::TryStreamExt;
use parking_lot::Mutex;

use super::scan_exec::SeriesScanExec;
use super::{key_lookup, pushdown};
use crate::query::commands::transaction::PendingWrites;
use crate::storage::{self, ScanRequest, Table};

/// A time-series table as DataFusion sees it.
#[derive(Debug)]
pub(crate) struct SeriesTableProvider {
    table: Arc<Table>,
    /// The schema it is in, whose USAGE privilege a reader needs.
    namespace: Arc<storage::Namespace>,
}

impl SeriesTableProvider {
    pub(crate) fn new(table: Arc<Table>, namespace: Arc<storage::Namespace>) -> Self {
        Self { table, namespace }
    }

    pub(crate) fn table(&self) -> &Arc<Table> {
        &self.table
    }

    pub(crate) fn namespace(&self) -> &Arc<storage::Namespace> {
        &self.namespace
    }
}

#[async_trait]
impl TableProvider for SeriesTableProvider {
    fn schema(&self) -> SchemaRef {
        self.table.arrow_schema().clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Which filters the storage applies; see [`super::pushdown`].
    ///
    /// Time ranges and tag predicates are `Exact` (the storage returns only
    /// matching rows); numeric field bounds are `Inexact` (they only skip
    /// blocks, DataFusion filters again); everything else is `Unsupported`.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match pushdown::support(self.table.schema(), f) {
                // A key's equality picks the row; DataFusion filters again.
                TableProviderFilterPushDown::Unsupported
                    if key_lookup::key_equality(&self.table, f).is_some() =>
                {
                    TableProviderFilterPushDown::Inexact
                }
                support => support,
            })
            .collect())
    }

    /// Scans a consistent snapshot of the table.
    ///
    /// # Projection
    /// Only the projected columns are decoded.
    ///
    /// # Filters
    /// Pushed filters prune series (tag index) and blocks (time and value
    /// statistics); time ranges are applied exactly at block edges.
    ///
    /// # Limit
    /// DataFusion passes a limit only when every filter is `Exact`; each
    /// partition then stops after that many rows.
    ///
    /// # Partitions
    /// Series are spread over `target_partitions` partitions by series id (no
    /// more partitions than series); each partition streams its series one at a
    /// time, each in time order, decoding blocks as it goes.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut request = ScanRequest {
            projection: projection.cloned(),
            ..ScanRequest::default()
        };
        pushdown::apply(self.table.schema(), filters, &mut request);
        let pending = state.config().get_extension::<PendingWrites>();
        // Inside a transaction block, rows the block deleted are gone.
        request.excluded_rows = pending.as_ref().and_then(|p| p.removed_rows(&self.table));
        let pushed = filters
            .iter()
            .filter(|f| {
                pushdown::support(self.table.schema(), f)
                    != TableProviderFilterPushDown::Unsupported
            })
            .map(ToString::to_string)
            .collect();
        // A key's equality picks the one row that can match; only among
        // the table's rows: staged rows have numbers of their own.
        let keyed = match key_lookup::key_filter(&self.table, filters) {
            Some((column, value)) => (self.table)
                .snapshot_by_key(&request, column, &value)
                .map_err(external)?,
            None => None,
        };
        let view = match keyed {
            Some(view) => Arc::new(view),
            None => Arc::new(self.table.snapshot(&request).map_err(external)?),
        };
        // A scan of no more rows than one batch holds stays in one
        // partition: spreading it costs more than it saves.
        let partitions = if view.rows_at_most(|_| true) <= state.config().batch_size() {
            1
        } else {
            (state.config().target_partitions()).clamp(1, view.stats.series_matched.max(1))
        };
        let scan: Arc<dyn ExecutionPlan> = Arc::new(SeriesScanExec::new(
            self.table.name().to_owned(),
            view,
            pushed,
            partitions,
            limit,
        ));
        // Inside a transaction block, the session reads its own staged rows
        // too. A limit is only a hint here: DataFusion keeps its own above.
        let staged = match pending {
            Some(pending) => pending
                .staged_views(&self.table, &request)
                .map_err(external)?,
            None => Vec::new(),
        };
        if staged.is_empty() {
            return Ok(scan);
        }
        let mut inputs = vec![scan];
        for view in staged {
            let series = view.stats.series_matched.max(1);
            inputs.push(Arc::new(SeriesScanExec::new(
                format!("{} (staged)", self.table.name()),
                Arc::new(view),
                Vec::new(),
                series.min(2),
                limit,
            )));
        }
        UnionExec::try_new(inputs)
    }

    /// Appends the rows `input` produces. The insert is atomic: rows are collected
    /// first and then applied together, or not at all.
    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!(
                "{insert_op} is not supported on time-series tables"
            )));
        }
        let sink = TableSink {
            table: self.table.clone(),
            pending: state.config().get_extension::<PendingWrites>(),
            inserted: state.config().get_extension::<ReturnedRows>(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

fn external(error: storage::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// Where `INSERT` rows go: the storage write path, or the session's open
/// transaction block.
#[derive(Debug)]
struct TableSink {
    table: Arc<Table>,
    pending: Option<Arc<PendingWrites>>,
    inserted: Option<Arc<ReturnedRows>>,
}

/// The rows a session's `INSERT`, `UPDATE` or `DELETE ... RETURNING`
/// wrote or removed, kept by the sink (or the DML operator) while the
/// engine asks for them.
#[derive(Debug, Default)]
pub(crate) struct ReturnedRows(Mutex<Option<Vec<RecordBatch>>>);

impl ReturnedRows {
    /// Keeps the rows of the next insert.
    pub(crate) fn capture(&self) {
        *self.0.lock() = Some(Vec::new());
    }

    /// Whether rows are being kept.
    pub(crate) fn capturing(&self) -> bool {
        self.0.lock().is_some()
    }

    /// The rows kept, and no more keeping.
    pub(crate) fn take(&self) -> Vec<RecordBatch> {
        self.0.lock().take().unwrap_or_default()
    }

    pub(crate) fn keep(&self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
        let mut kept = self.0.lock();
        if let Some(kept) = kept.as_mut() {
            for batch in batches {
                kept.push(RecordBatch::try_new(
                    schema.clone(),
                    batch.columns().to_vec(),
                )?);
            }
        }
        Ok(())
    }

    /// `plan`, a query over one table, over `batches` instead: the scan of
    /// the table (not of its subqueries) reads them.
    pub(crate) fn scan_of(plan: LogicalPlan, batches: Vec<RecordBatch>) -> Result<LogicalPlan> {
        plan.transform_up(|node| {
            let LogicalPlan::TableScan(mut scan) = node else {
                return Ok(Transformed::no(node));
            };
            let provider = source_as_provider(&scan.source)?;
            if provider.downcast_ref::<SeriesTableProvider>().is_none() {
                return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
            }
            let schema = provider.schema();
            let batches = (batches.iter())
                .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let rows = MemTable::try_new(schema, vec![batches])?;
            scan.source = provider_as_source(Arc::new(rows));
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        })
        .map(|t| t.data)
    }
}

impl DisplayAs for TableSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableSink: table={}", self.table.name())
    }
}

#[async_trait]
impl DataSink for TableSink {
    fn schema(&self) -> &SchemaRef {
        self.table.arrow_schema()
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let batches: Vec<_> = data.try_collect().await?;
        if let Some(inserted) = &self.inserted {
            inserted.keep(self.table.arrow_schema(), &batches)?;
        }
        if let Some(staged) = self
            .pending
            .as_ref()
            .and_then(|p| p.stage_batches(&self.table, &batches))
        {
            return staged.map(|rows| rows as u64).map_err(external);
        }
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let written = self.table.write(&batches).map_err(external)?;
        let written = written.durable().await.map_err(external)?;
        if let Some(pending) = &self.pending {
            pending.note_expired(rows.saturating_sub(written) as u64);
        }
        Ok(written as u64)
    }
}
