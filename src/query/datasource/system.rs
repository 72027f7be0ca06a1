//! The `epochdb` schema of every database: EpochDB's own system tables.
//!
//! - `epochdb.storage`: per table column, the rows, sealed blocks, head rows and
//!   bytes of memory the engine holds for it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::storage::Database;

/// Name of the schema that holds EpochDB's system tables.
pub(crate) const SYSTEM_SCHEMA: &str = "epochdb";
const STORAGE_TABLE: &str = "storage";

/// The `epochdb` schema of one database.
#[derive(Debug)]
pub(crate) struct SystemSchema {
    database: Arc<Database>,
}

impl SystemSchema {
    pub(crate) fn new(database: Arc<Database>) -> Self {
        Self { database }
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        vec![STORAGE_TABLE.to_owned()]
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok((name == STORAGE_TABLE).then(|| {
            Arc::new(StorageUsageTable {
                database: self.database.clone(),
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == STORAGE_TABLE
    }
}

/// `epochdb.storage`, computed when scanned.
#[derive(Debug)]
struct StorageUsageTable {
    database: Arc<Database>,
}

fn storage_schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8, false);
    let count = |name| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        text("table_schema"),
        text("table_name"),
        text("column_name"),
        count("rows"),
        count("sealed_blocks"),
        count("head_rows"),
        count("bytes"),
    ]))
}

impl StorageUsageTable {
    fn batch(&self) -> Result<RecordBatch> {
        let mut schemas = StringBuilder::new();
        let mut tables = StringBuilder::new();
        let mut columns = StringBuilder::new();
        let mut counts: [UInt64Builder; 4] = Default::default();
        for schema_name in self.database.schema_names() {
            let Some(namespace) = self.database.schema(&schema_name) else {
                continue;
            };
            for table_name in namespace.table_names() {
                let Some(table) = namespace.table(&table_name) else {
                    continue;
                };
                for usage in table.usage() {
                    schemas.append_value(&schema_name);
                    tables.append_value(&table_name);
                    columns.append_value(&usage.column);
                    let values = [
                        usage.rows,
                        usage.sealed_blocks,
                        usage.head_rows,
                        usage.bytes,
                    ];
                    for (builder, value) in counts.iter_mut().zip(values) {
                        builder.append_value(value);
                    }
                }
            }
        }
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(schemas.finish()),
            Arc::new(tables.finish()),
            Arc::new(columns.finish()),
        ];
        arrays.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(storage_schema(), arrays)?)
    }
}

#[async_trait]
impl TableProvider for StorageUsageTable {
    fn schema(&self) -> SchemaRef {
        storage_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        scan_batch(self.batch()?, projection)
    }
}

/// A plan that returns `batch` (projected): the scan of a table computed
/// whole when it is read.
pub(crate) fn scan_batch(
    batch: RecordBatch,
    projection: Option<&Vec<usize>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = batch.schema();
    let source = MemorySourceConfig::try_new(&[vec![batch]], schema, projection.cloned())?;
    Ok(DataSourceExec::from_data_source(source))
}
