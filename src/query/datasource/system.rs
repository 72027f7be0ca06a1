//! The `epochdb` schema of every database: EpochDB's own system tables.
//!
//! - `epochdb.storage`: per table column, the rows, sealed blocks, head rows and
//!   bytes of memory the engine holds for it.
//! - `epochdb.tables`: per table, its time column, shard interval, block size
//!   and retention.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int64Builder, IntervalMonthDayNanoBuilder, RecordBatch, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalUnit, Schema, SchemaRef,
};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::storage::{ColumnRole, Database, Table};

/// Name of the schema that holds EpochDB's system tables.
pub(crate) const SYSTEM_SCHEMA: &str = "epochdb";
const STORAGE_TABLE: &str = "storage";
const TABLES_TABLE: &str = "tables";

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
        vec![STORAGE_TABLE.to_owned(), TABLES_TABLE.to_owned()]
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let database = self.database.clone();
        let (schema, compute): (fn() -> SchemaRef, Compute) = match name {
            STORAGE_TABLE => (storage_schema, storage_batch),
            TABLES_TABLE => (tables_schema, tables_batch),
            _ => return Ok(None),
        };
        Ok(Some(Arc::new(ComputedTable {
            database,
            schema,
            compute,
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == STORAGE_TABLE || name == TABLES_TABLE
    }
}

/// How a system table's rows are computed from the database.
pub(crate) type Compute = fn(&Database) -> Result<RecordBatch>;

/// A system table, computed whole from the database when it is scanned.
#[derive(Debug)]
pub(crate) struct ComputedTable {
    database: Arc<Database>,
    schema: fn() -> SchemaRef,
    compute: Compute,
}

impl ComputedTable {
    pub(crate) fn new(
        database: Arc<Database>,
        schema: fn() -> SchemaRef,
        compute: Compute,
    ) -> Self {
        Self {
            database,
            schema,
            compute,
        }
    }
}

#[async_trait]
impl TableProvider for ComputedTable {
    fn schema(&self) -> SchemaRef {
        (self.schema)()
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
        scan_batch((self.compute)(&self.database)?, projection)
    }
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

/// Every table of `database`, with its schema's name and its own, in
/// name order.
fn tables_of(database: &Database) -> Vec<(String, String, Arc<Table>)> {
    let mut tables = Vec::new();
    for schema_name in database.schema_names() {
        let Some(namespace) = database.schema(&schema_name) else {
            continue;
        };
        for table_name in namespace.table_names() {
            if let Some(table) = namespace.table(&table_name) {
                tables.push((schema_name.clone(), table_name, table));
            }
        }
    }
    tables
}

/// `epochdb.storage`: per table column, its rows, blocks and bytes.
fn storage_batch(database: &Database) -> Result<RecordBatch> {
    let mut schemas = StringBuilder::new();
    let mut tables = StringBuilder::new();
    let mut columns = StringBuilder::new();
    let mut counts: [UInt64Builder; 4] = Default::default();
    for (schema_name, table_name, table) in tables_of(database) {
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
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(schemas.finish()),
        Arc::new(tables.finish()),
        Arc::new(columns.finish()),
    ];
    arrays.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(RecordBatch::try_new(storage_schema(), arrays)?)
}

fn tables_schema() -> SchemaRef {
    let interval = |name| Field::new(name, DataType::Interval(IntervalUnit::MonthDayNano), true);
    Arc::new(Schema::new(vec![
        Field::new("table_schema", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("time_column", DataType::Utf8, true),
        interval("shard_interval"),
        Field::new("block_size", DataType::Int64, false),
        interval("retention"),
    ]))
}

/// `epochdb.tables`: per table, its time column, shard interval, block
/// size and retention.
fn tables_batch(database: &Database) -> Result<RecordBatch> {
    let mut schemas = StringBuilder::new();
    let mut tables = StringBuilder::new();
    let mut time_columns = StringBuilder::new();
    let mut shard_intervals = IntervalMonthDayNanoBuilder::new();
    let mut block_sizes = Int64Builder::new();
    let mut retentions = IntervalMonthDayNanoBuilder::new();
    // Whole days as days, as PostgreSQL writes `interval '7 days'`.
    let interval = |micros: i64| {
        const DAY: i64 = 86_400_000_000;
        match i32::try_from(micros / DAY) {
            Ok(days) if micros % DAY == 0 => IntervalMonthDayNano::new(0, days, 0),
            _ => IntervalMonthDayNano::new(0, 0, micros.saturating_mul(1000)),
        }
    };
    for (schema_name, table_name, table) in tables_of(database) {
        let table_schema = table.schema();
        let time_column = (table_schema.columns().iter())
            .find(|c| c.role == ColumnRole::Time)
            .map(|c| c.name.as_str());
        schemas.append_value(&schema_name);
        tables.append_value(&table_name);
        time_columns.append_option(time_column);
        let options = table.options();
        shard_intervals.append_option(time_column.map(|_| interval(options.shard_interval)));
        block_sizes.append_value(i64::try_from(options.block_size).unwrap_or(i64::MAX));
        retentions.append_option(table.retention().map(interval));
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(schemas.finish()),
        Arc::new(tables.finish()),
        Arc::new(time_columns.finish()),
        Arc::new(shard_intervals.finish()),
        Arc::new(block_sizes.finish()),
        Arc::new(retentions.finish()),
    ];
    Ok(RecordBatch::try_new(tables_schema(), arrays)?)
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
