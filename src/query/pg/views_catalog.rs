//! `pg_views` from the database's views, in place of pg-catalog's (which
//! lists none), `pg_indexes` (which pg-catalog lacks), the catalogs of keys and defaults from the tables'
//! ([`keyed_catalog`]), and `pg_class` read through
//! [`RecordingClass`](super::relation_oids::RecordingClass).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

use super::keys_catalog::{keyed_catalog, pg_indexes, pg_indexes_schema};
use super::relation_oids::{RecordingClass, RelationOids};
use crate::query::datasource::system::ComputedTable;
use crate::storage::Database;

const PG_VIEWS: &str = "pg_views";
const PG_INDEXES: &str = "pg_indexes";

/// The owner every relation shows (`pg_tables` shows the same): EpochDB
/// keeps no owners, and only superusers create relations.
const OWNER: &str = "postgres";

/// A `pg_catalog` whose `pg_views` lists the views of `database`, and whose
/// catalogs list its tables' keys and defaults.
#[derive(Debug)]
pub(crate) struct WithViews {
    inner: Arc<dyn SchemaProvider>,
    database: Arc<Database>,
    oids: Arc<RelationOids>,
}

impl WithViews {
    pub(crate) fn new(
        inner: Arc<dyn SchemaProvider>,
        database: Arc<Database>,
        oids: Arc<RelationOids>,
    ) -> Self {
        Self {
            inner,
            database,
            oids,
        }
    }
}

#[async_trait]
impl SchemaProvider for WithViews {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if name == PG_VIEWS {
            return Ok(Some(Arc::new(ComputedTable::new(
                self.database.clone(),
                schema,
                pg_views,
            ))));
        }
        if name == PG_INDEXES {
            return Ok(Some(Arc::new(ComputedTable::new(
                self.database.clone(),
                pg_indexes_schema,
                pg_indexes,
            ))));
        }
        let table = keyed_catalog(self.inner.as_ref(), name, &self.database, &self.oids).await?;
        if name == "pg_class"
            && let (Some(class), Some(namespaces)) =
                (table.clone(), self.inner.table("pg_namespace").await?)
        {
            return Ok(Some(Arc::new(RecordingClass::new(
                class,
                namespaces,
                self.oids.clone(),
            ))));
        }
        Ok(table)
    }

    fn table_exist(&self, name: &str) -> bool {
        name == PG_VIEWS || name == PG_INDEXES || self.inner.table_exist(name)
    }
}

fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("schemaname"),
        text("viewname"),
        text("viewowner"),
        text("definition"),
    ]))
}

fn pg_views(database: &Database) -> Result<RecordBatch> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for schema in database.schema_names() {
        if let Some(namespace) = database.schema(&schema) {
            for view in namespace.views() {
                rows.push((
                    schema.clone(),
                    view.name.clone(),
                    format!("{};", view.query),
                ));
            }
        }
    }
    let column = |values: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let columns = vec![
        column(rows.iter().map(|r| r.0.as_str()).collect()),
        column(rows.iter().map(|r| r.1.as_str()).collect()),
        column(vec![OWNER; rows.len()]),
        column(rows.iter().map(|r| r.2.as_str()).collect()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
