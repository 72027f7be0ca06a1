//! DataFusion's catalog traits over storage: database = catalog, schema = schema.
//!
//! Nothing is registered with DataFusion: every lookup reads storage, so a table
//! created by one session is visible to every other session at once. Each
//! database also answers for `pg_catalog` (from datafusion-pg-catalog, scoped to
//! that database) and for `epochdb` (our system tables); `information_schema`
//! is added by DataFusion itself.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider,
};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use parking_lot::Mutex;

use super::system::{SYSTEM_SCHEMA, SystemSchema};
use super::table::SeriesTableProvider;
use crate::query::pg::relation_oids::RelationOids;
use crate::query::pg::roles_catalog::WithRoles;
use crate::query::pg::views_catalog::WithViews;
use crate::storage::{Database, Namespace, Storage, View};

/// Name of the PostgreSQL system catalog schema.
pub(crate) const PG_CATALOG: &str = "pg_catalog";

/// Name of the SQL standard's catalog schema, which DataFusion provides.
const INFORMATION_SCHEMA: &str = "information_schema";

/// All databases of a [`Storage`], as DataFusion catalogs.
#[derive(Debug)]
pub(crate) struct StorageCatalogList {
    storage: Arc<Storage>,
    pg_static_tables: Arc<PgCatalogStaticTables>,
    /// One `pg_catalog` per database, so that OIDs stay stable across queries.
    pg_catalogs: Mutex<HashMap<String, PgCatalogEntry>>,
}

/// A database's `pg_catalog`, with the database it was built for (a database
/// dropped and created again under the same name gets a new one) and what
/// its `pg_class` oids name.
type PgCatalogEntry = (Arc<Database>, Arc<dyn SchemaProvider>, Arc<RelationOids>);

impl StorageCatalogList {
    pub(crate) fn new(storage: Arc<Storage>, pg_static_tables: Arc<PgCatalogStaticTables>) -> Self {
        Self {
            storage,
            pg_static_tables,
            pg_catalogs: Mutex::new(HashMap::new()),
        }
    }

    /// What the oids of `database`'s `pg_class` name (see `relation_oids`).
    pub(crate) fn relation_oids(&self, database: &Arc<Database>) -> Result<Arc<RelationOids>> {
        self.pg_catalog_entry(database).map(|(_, _, oids)| oids)
    }

    fn pg_catalog(&self, database: &Arc<Database>) -> Result<Arc<dyn SchemaProvider>> {
        self.pg_catalog_entry(database)
            .map(|(_, provider, _)| provider)
    }

    fn pg_catalog_entry(&self, database: &Arc<Database>) -> Result<PgCatalogEntry> {
        let mut cache = self.pg_catalogs.lock();
        if let Some(entry) = cache.get(database.name())
            && Arc::ptr_eq(&entry.0, database)
        {
            return Ok(entry.clone());
        }
        let scope: Arc<dyn CatalogProviderList> = Arc::new(SingleDatabaseList {
            storage: self.storage.clone(),
            database: database.clone(),
        });
        let provider: Arc<dyn SchemaProvider> = Arc::new(PgCatalogSchemaProvider::try_new(
            scope,
            self.pg_static_tables.clone(),
            EmptyContextProvider,
        )?);
        let provider: Arc<dyn SchemaProvider> =
            Arc::new(WithRoles::new(provider, self.storage.clone()));
        let oids = Arc::new(RelationOids::default());
        let provider: Arc<dyn SchemaProvider> =
            Arc::new(WithViews::new(provider, database.clone(), oids.clone()));
        let entry = (database.clone(), provider, oids);
        cache.insert(database.name().to_owned(), entry.clone());
        Ok(entry)
    }
}

impl CatalogProviderList for StorageCatalogList {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // Databases are created through storage (CREATE DATABASE), never here.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.storage.database_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let database = self.storage.database(name)?;
        let pg_catalog = match self.pg_catalog(&database) {
            Ok(provider) => Some(provider),
            Err(e) => {
                tracing::error!(error = %e, "cannot build pg_catalog");
                None
            }
        };
        Some(Arc::new(DatabaseCatalog {
            database,
            pg_catalog,
            system_names: false,
        }))
    }
}

/// One database as a DataFusion catalog.
#[derive(Debug)]
struct DatabaseCatalog {
    database: Arc<Database>,
    pg_catalog: Option<Arc<dyn SchemaProvider>>,
    /// Name `pg_catalog` and `information_schema` without providing them:
    /// what `pg_catalog`'s own view needs (see [`SingleDatabaseList`]).
    system_names: bool,
}

impl CatalogProvider for DatabaseCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.database.schema_names();
        names.push(SYSTEM_SCHEMA.to_owned());
        if self.pg_catalog.is_some() || self.system_names {
            names.push(PG_CATALOG.to_owned());
        }
        if self.system_names {
            names.push(INFORMATION_SCHEMA.to_owned());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == PG_CATALOG {
            return self.pg_catalog.clone();
        }
        if name == SYSTEM_SCHEMA {
            return Some(Arc::new(SystemSchema::new(self.database.clone())));
        }
        let namespace = self.database.schema(name)?;
        Some(Arc::new(NamespaceSchema { namespace }))
    }
}

/// One schema of a database as a DataFusion schema.
#[derive(Debug)]
struct NamespaceSchema {
    namespace: Arc<Namespace>,
}

#[async_trait]
impl SchemaProvider for NamespaceSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.namespace.table_names();
        names.extend(self.namespace.views().iter().map(|v| v.name.clone()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if let Some(view) = self.namespace.view(name) {
            return Ok(Some(Arc::new(ViewProvider::new(view))));
        }
        Ok(self.namespace.table(name).map(|table| {
            Arc::new(SeriesTableProvider::new(table, self.namespace.clone()))
                as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.namespace.table(name).is_some() || self.namespace.view(name).is_some()
    }
}

/// A view as the catalogs see it: its columns and its query. A statement
/// that reads a view never reaches it, since the engine puts the view's
/// query in its place first; only the catalogs (`information_schema`,
/// `pg_class`, `pg_attribute`) look at it.
#[derive(Debug)]
struct ViewProvider {
    view: Arc<View>,
    schema: SchemaRef,
}

impl ViewProvider {
    fn new(view: Arc<View>) -> Self {
        let fields: Vec<Field> = (view.columns.iter())
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect();
        Self {
            view,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl TableProvider for ViewProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.view.query)
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Internal(format!(
            "view \"{}\" was read without being expanded",
            self.view.name
        )))
    }
}

/// The view `pg_catalog` has of the world. As on PostgreSQL, `pg_database` lists
/// every database, while `pg_class` and `pg_namespace` list only the objects of
/// the current one: other databases are named but have no schemas here.
/// `pg_namespace` also lists `pg_catalog` (with PostgreSQL's OID, 11, which
/// pg-catalog fixes, so that `pg_proc` and `pg_type` rows join to it) and
/// `information_schema`; their tables are not in `pg_class`.
#[derive(Debug)]
struct SingleDatabaseList {
    storage: Arc<Storage>,
    database: Arc<Database>,
}

impl CatalogProviderList for SingleDatabaseList {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.storage.database_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == self.database.name()).then(|| {
            Arc::new(DatabaseCatalog {
                database: self.database.clone(),
                pg_catalog: None,
                system_names: true,
            }) as Arc<dyn CatalogProvider>
        })
    }
}
