//! The `TableProvider` over a storage table: scans and `INSERT`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, SendableRecordBatchStream,
};
use futures::TryStreamExt;

use crate::storage::Table;

/// A time-series table as DataFusion sees it.
#[derive(Debug)]
pub(super) struct SeriesTableProvider {
    table: Arc<Table>,
}

impl SeriesTableProvider {
    pub(super) fn new(table: Arc<Table>) -> Self {
        Self { table }
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

    /// Scans a consistent snapshot of the table.
    ///
    /// # Projection
    /// Only the projected columns are materialised.
    ///
    /// # Filters and limit
    /// Neither is pushed down yet: DataFusion applies them above the scan.
    ///
    /// # Partitions
    /// Series are spread round-robin over `target_partitions` partitions. Each
    /// series is in time order within its partition; no global order is declared.
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self
            .table
            .scan(projection.map(Vec::as_slice))
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let schema = match projection {
            Some(p) => Arc::new(self.table.arrow_schema().project(p)?),
            None => self.table.arrow_schema().clone(),
        };
        let partition_count = state.config().target_partitions().max(1);
        let mut partitions = vec![Vec::new(); partition_count.min(batches.len().max(1))];
        let slots = partitions.len();
        for (i, batch) in batches.into_iter().enumerate() {
            partitions[i % slots].push(batch);
        }
        let source = MemorySourceConfig::try_new(&partitions, schema, None)?;
        Ok(DataSourceExec::from_data_source(source))
    }

    /// Appends the rows `input` produces. The insert is atomic: rows are collected
    /// first and then applied together, or not at all.
    async fn insert_into(
        &self,
        _state: &dyn Session,
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
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// Where `INSERT` rows go: the storage write path.
#[derive(Debug)]
struct TableSink {
    table: Arc<Table>,
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
        let written = self
            .table
            .write(&batches)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(written as u64)
    }
}
