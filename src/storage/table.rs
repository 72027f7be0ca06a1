//! A time-series table: its series, keyed by tag set, and their points.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use parking_lot::RwLock;

use super::head::HeadBlock;
use super::schema::{ColumnRole, ColumnType, TableSchema};
use super::series::{SeriesId, SeriesKey};
use super::{Error, Result};

/// A table of series. Cloning the `Arc<Table>` is how the query layer holds it.
///
/// Writers and readers share one lock per table. A write holds it for the append
/// of its batch; a scan holds it for the copy of the points it returns, so a
/// reader sees every write either entirely or not at all.
#[derive(Debug)]
pub struct Table {
    name: String,
    schema: Arc<TableSchema>,
    data: RwLock<TableData>,
}

#[derive(Debug, Default)]
struct TableData {
    ids: HashMap<SeriesKey, SeriesId>,
    series: Vec<Series>,
}

impl TableData {
    fn append(
        &mut self,
        schema: &TableSchema,
        field_types: &[ColumnType],
        batch: &RecordBatch,
    ) -> Result<()> {
        let columns = batch.columns();
        let times = columns[schema.time_index()].as_primitive::<TimestampMicrosecondType>();
        let tags: Vec<&StringArray> = schema
            .tag_indices()
            .iter()
            .map(|&i| columns[i].as_string::<i32>())
            .collect();
        let fields: Vec<&dyn Array> = schema
            .field_indices()
            .iter()
            .map(|&i| columns[i].as_ref())
            .collect();
        for row in 0..batch.num_rows() {
            let key = SeriesKey::from_row(&tags, row);
            let id = match self.ids.get(&key) {
                Some(&id) => id,
                None => {
                    let id = SeriesId(self.series.len() as u64);
                    self.series.push(Series {
                        key: key.clone(),
                        head: HeadBlock::new(field_types),
                    });
                    self.ids.insert(key, id);
                    id
                }
            };
            self.series[id.0 as usize]
                .head
                .push(times.value(row), &fields, row)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Series {
    key: SeriesKey,
    head: HeadBlock,
}

/// Row counts and memory of a table, for accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub series: usize,
    pub rows: usize,
    pub bytes: usize,
}

impl Table {
    pub(crate) fn new(name: String, schema: TableSchema) -> Self {
        Self {
            name,
            schema: Arc::new(schema),
            data: RwLock::new(TableData::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    pub fn arrow_schema(&self) -> &SchemaRef {
        self.schema.arrow_schema()
    }

    /// Appends every row of `batches`, whose columns are the table's columns in
    /// order. All batches are checked before any row is applied, so a write
    /// either applies entirely or, on error, not at all.
    ///
    /// Visible to scans that start after this returns. Nothing is durable yet:
    /// the write-ahead log arrives with the durability issue.
    pub fn write(&self, batches: &[RecordBatch]) -> Result<usize> {
        for batch in batches {
            self.check_batch(batch)?;
        }
        let field_types = self.field_types();
        let mut data = self.data.write();
        let mut written = 0;
        for batch in batches {
            data.append(&self.schema, &field_types, batch)?;
            written += batch.num_rows();
        }
        Ok(written)
    }

    fn field_types(&self) -> Vec<ColumnType> {
        self.schema
            .field_indices()
            .iter()
            .map(|&i| self.schema.columns()[i].column_type)
            .collect()
    }

    /// Checks types and NOT NULL constraints before anything is applied.
    fn check_batch(&self, batch: &RecordBatch) -> Result<()> {
        let expected = self.schema.arrow_schema();
        if batch.num_columns() != expected.fields().len() {
            return Err(Error::Internal {
                reason: format!(
                    "write has {} columns, table \"{}\" has {}",
                    batch.num_columns(),
                    self.name,
                    expected.fields().len()
                ),
            });
        }
        for ((column, field), schema) in batch
            .columns()
            .iter()
            .zip(expected.fields())
            .zip(self.schema.columns())
        {
            if column.data_type() != field.data_type() {
                return Err(Error::Internal {
                    reason: format!(
                        "column \"{}\" written as {}, expected {}",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    ),
                });
            }
            if !schema.nullable && column.null_count() > 0 {
                return Err(Error::NotNullViolation {
                    table: self.name.clone(),
                    column: schema.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Returns one batch per series, each sorted by time, with the columns in
    /// `projection` (all columns when `None`).
    pub fn scan(&self, projection: Option<&[usize]>) -> Result<Vec<RecordBatch>> {
        let all: Vec<usize>;
        let projection = match projection {
            Some(p) => p,
            None => {
                all = (0..self.schema.columns().len()).collect();
                &all
            }
        };
        let schema = Arc::new(self.arrow_schema().project(projection)?);
        // Map each projected column to its place among the tags or fields.
        let field_positions: Vec<usize> = projection
            .iter()
            .filter_map(|&c| self.schema.field_indices().iter().position(|&f| f == c))
            .collect();
        let time_zone = match self.schema.time_column().column_type {
            ColumnType::Timestamp {
                with_time_zone: true,
            } => Some(super::schema::UTC),
            _ => None,
        };

        let data = self.data.read();
        let mut batches = Vec::with_capacity(data.series.len());
        for series in &data.series {
            let rows = series.head.len();
            if rows == 0 {
                continue;
            }
            let (times, fields) = series.head.to_arrays(time_zone, &field_positions);
            let mut fields = fields.into_iter();
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(projection.len());
            for &c in projection {
                let column = &self.schema.columns()[c];
                columns.push(match column.role {
                    ColumnRole::Time => times.clone(),
                    ColumnRole::Tag => {
                        let tag = self.schema.tag_indices().iter().position(|&t| t == c);
                        let value = tag.and_then(|t| series.key.value(t));
                        Arc::new(StringArray::from(vec![value; rows]))
                    }
                    ColumnRole::Field => fields.next().ok_or_else(|| Error::Internal {
                        reason: "projection and field columns disagree".into(),
                    })?,
                });
            }
            batches.push(RecordBatch::try_new_with_options(
                schema.clone(),
                columns,
                &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
            )?);
        }
        Ok(batches)
    }

    pub fn stats(&self) -> TableStats {
        let data = self.data.read();
        TableStats {
            series: data.series.len(),
            rows: data.series.iter().map(|s| s.head.len()).sum(),
            bytes: data
                .series
                .iter()
                .map(|s| s.head.approximate_bytes() + s.key.approximate_bytes())
                .sum(),
        }
    }
}
