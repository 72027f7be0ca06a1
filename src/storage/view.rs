//! Views: a stored query with the columns it had when it was created.
//!
//! Storage keeps a view's SQL as text and never plans it; the query layer
//! reads it back wherever the view is named. What storage does own is the
//! bookkeeping PostgreSQL's catalogs keep for a view: its columns, named
//! and typed, and the relations it reads, each with the columns that
//! relation had then, so that a `SELECT *` keeps its width when a table
//! grows.

use arrow::datatypes::DataType;

use super::bytes::{Reader, Writer};
use super::error::{Result, corrupt};

/// A view of a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub name: String,
    /// The query, as SQL that the parser reads back to the same statement.
    pub query: String,
    /// Its output columns, as they were when it was created.
    pub columns: Vec<ViewColumn>,
    /// The relations its query names (tables and views, of any schema of
    /// the database), each once.
    pub depends_on: Vec<ViewDependency>,
}

/// One output column of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewColumn {
    pub name: String,
    pub data_type: DataType,
}

/// A relation a view reads, with the columns it had when the view was
/// made (what a `*` in the view's query stands for).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewDependency {
    pub schema: String,
    pub name: String,
    pub columns: Vec<String>,
}

impl View {
    /// Whether the view reads relation `name` of schema `schema`.
    pub fn reads(&self, schema: &str, name: &str) -> bool {
        (self.depends_on.iter()).any(|d| d.schema == schema && d.name == name)
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        w.str(&self.name);
        w.str(&self.query);
        w.len(self.columns.len());
        for column in &self.columns {
            w.str(&column.name);
            // Arrow's own spelling, which it parses back.
            w.str(&column.data_type.to_string());
        }
        w.len(self.depends_on.len());
        for dependency in &self.depends_on {
            w.str(&dependency.schema);
            w.str(&dependency.name);
            w.len(dependency.columns.len());
            for column in &dependency.columns {
                w.str(column);
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.str()?.to_owned();
        let query = r.str()?.to_owned();
        let count = r.len()?;
        let mut columns = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.str()?.to_owned();
            let spelled = r.str()?;
            let data_type = spelled
                .parse::<DataType>()
                .map_err(|e| corrupt(format!("view column type {spelled}: {e}")))?;
            columns.push(ViewColumn { name, data_type });
        }
        let count = r.len()?;
        let mut depends_on = Vec::with_capacity(count);
        for _ in 0..count {
            let schema = r.str()?.to_owned();
            let name = r.str()?.to_owned();
            let width = r.len()?;
            let mut columns = Vec::with_capacity(width);
            for _ in 0..width {
                columns.push(r.str()?.to_owned());
            }
            depends_on.push(ViewDependency {
                schema,
                name,
                columns,
            });
        }
        Ok(Self {
            name,
            query,
            columns,
            depends_on,
        })
    }
}

/// Whether `data_type` reads back from the spelling a view is logged with.
pub fn storable(data_type: &DataType) -> bool {
    data_type
        .to_string()
        .parse::<DataType>()
        .is_ok_and(|back| back == *data_type)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, IntervalUnit, TimeUnit};

    use super::*;

    #[test]
    fn the_types_views_hold_read_back() {
        for data_type in [
            DataType::Int32,
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Boolean,
            DataType::Decimal128(38, 10),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            DataType::Date32,
            DataType::Interval(IntervalUnit::MonthDayNano),
            DataType::Null,
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
        ] {
            assert!(storable(&data_type), "{data_type}");
        }
    }

    #[test]
    fn views_read_back_as_written() {
        let view = View {
            name: "v".into(),
            query: "SELECT a, \"B\" FROM s.t WHERE a > 1".into(),
            columns: vec![
                ViewColumn {
                    name: "a".into(),
                    data_type: DataType::Int64,
                },
                ViewColumn {
                    name: "B".into(),
                    data_type: DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                },
            ],
            depends_on: vec![ViewDependency {
                schema: "s".into(),
                name: "t".into(),
                columns: vec!["a".into(), "B".into()],
            }],
        };
        let mut w = Writer::default();
        view.encode(&mut w);
        let back = View::decode(&mut Reader::new(&w.bytes)).unwrap();
        assert_eq!(back, view);
    }
}
