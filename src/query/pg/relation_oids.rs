//! What a `pg_class` oid names, for the functions that take one:
//! `pg_get_viewdef(oid)` and `pg_table_is_visible(oid)`.
//!
//! pg-catalog gives each relation an oid of its own choosing, kept for the
//! life of the database's `pg_catalog`, and does not say which. So the
//! `pg_class` of each database is read through [`RecordingClass`], which
//! notes every row's oid, schema and name as a query scans it; the
//! functions then look the oid up. A client asks for these in the query
//! that reads `pg_class` (SQLAlchemy's inspector, psql's `\d`), or after
//! one; an oid never seen reads as unknown.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringBuilder};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, exec_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::{ExecutionPlan, collect};
use parking_lot::RwLock;

use super::columnar::columnar;
use crate::query::commands::names::qualified_text;
use crate::query::datasource::system::scan_batch;
use crate::storage::Database;

/// Relation oids → (schema, name), as the database's `pg_class` lists them.
#[derive(Debug, Default)]
pub(crate) struct RelationOids {
    names: RwLock<HashMap<i64, (String, String)>>,
}

impl RelationOids {
    pub(super) fn get(&self, oid: i64) -> Option<(String, String)> {
        self.names.read().get(&oid).cloned()
    }

    /// Notes what each of `relations`' oids names.
    pub(super) fn note(&self, relations: impl IntoIterator<Item = (i64, (String, String))>) {
        self.names.write().extend(relations);
    }
}

/// `pg_class`, noting each row's oid, schema and name as it is scanned.
#[derive(Debug)]
pub(crate) struct RecordingClass {
    class: Arc<dyn TableProvider>,
    namespaces: Arc<dyn TableProvider>,
    oids: Arc<RelationOids>,
}

impl RecordingClass {
    pub(crate) fn new(
        class: Arc<dyn TableProvider>,
        namespaces: Arc<dyn TableProvider>,
        oids: Arc<RelationOids>,
    ) -> Self {
        Self {
            class,
            namespaces,
            oids,
        }
    }
}

/// All rows of `table`.
pub(super) async fn rows(table: &dyn TableProvider, state: &dyn Session) -> Result<RecordBatch> {
    let plan = table.scan(state, None, &[], None).await?;
    let batches = collect(plan, state.task_ctx()).await?;
    Ok(concat_batches(&table.schema(), &batches)?)
}

/// Column `name` of `batch` as 64-bit integers (oids) or text.
pub(super) fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let Some(column) = batch.column_by_name(name) else {
        return exec_err!("the catalog has no column {name}");
    };
    let column = cast(column, &DataType::Int64)?;
    Ok(column.as_primitive::<Int64Type>().iter().collect())
}

pub(super) fn texts(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let Some(column) = batch.column_by_name(name) else {
        return exec_err!("the catalog has no column {name}");
    };
    let column = cast(column, &DataType::Utf8)?;
    Ok(column
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect())
}

#[async_trait]
impl TableProvider for RecordingClass {
    fn schema(&self) -> SchemaRef {
        self.class.schema()
    }

    fn table_type(&self) -> TableType {
        self.class.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let class = rows(self.class.as_ref(), state).await?;
        let namespaces = rows(self.namespaces.as_ref(), state).await?;
        let schemas: HashMap<i64, String> = (ints(&namespaces, "oid")?.into_iter())
            .zip(texts(&namespaces, "nspname")?)
            .filter_map(|(oid, name)| Some((oid?, name?)))
            .collect();
        let relations = (ints(&class, "oid")?.into_iter())
            .zip(ints(&class, "relnamespace")?)
            .zip(texts(&class, "relname")?)
            .filter_map(|((oid, schema), name)| {
                Some((oid?, (schemas.get(&schema?)?.clone(), name?)))
            });
        self.oids.note(relations);
        scan_batch(class, projection)
    }
}

/// A shared value that two functions hold alike when they hold the same
/// one (what a UDF's equality asks).
#[derive(Debug)]
pub(super) struct Shared<T>(pub(super) Arc<T>);

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for Shared<T> {}

impl<T> std::hash::Hash for Shared<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

/// `pg_get_viewdef(view [, pretty])`, the view named by oid or by name:
/// its query, as EpochDB keeps it, with PostgreSQL's closing semicolon.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ViewDefinition {
    database: Shared<Database>,
    oids: Shared<RelationOids>,
    signature: Signature,
}

impl ViewDefinition {
    pub(crate) fn udf(database: Arc<Database>, oids: Arc<RelationOids>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            database: Shared(database),
            oids: Shared(oids),
            signature: Signature::variadic_any(Volatility::Stable),
        })
    }

    fn definition(&self, relation: Option<(String, String)>) -> Option<String> {
        let (schema, name) = relation?;
        let view = self.database.0.schema(&schema)?.view(&name)?;
        Some(format!("{};", view.query))
    }
}

impl ScalarUDFImpl for ViewDefinition {
    fn name(&self) -> &str {
        "pg_get_viewdef"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(view) = args.args.first() else {
            return exec_err!("pg_get_viewdef takes a view");
        };
        let is_scalar = matches!(view, ColumnarValue::Scalar(_));
        let array = view.to_array(args.number_rows.max(1))?;
        let schema = args.config_options.catalog.default_schema.clone();
        let mut out = StringBuilder::with_capacity(array.len(), 64);
        if matches!(
            array.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            let names = cast(&array, &DataType::Utf8)?;
            for name in names.as_string::<i32>() {
                let relation =
                    name.and_then(|n| qualified_text(n, self.database.0.name(), &schema).ok());
                out.append_option(self.definition(relation));
            }
        } else {
            let oids = cast(&array, &DataType::Int64)?;
            for oid in oids.as_primitive::<Int64Type>() {
                out.append_option(self.definition(oid.and_then(|o| self.oids.0.get(o))));
            }
        }
        columnar(Arc::new(out.finish()), is_scalar)
    }
}

/// `pg_table_is_visible(oid)`: whether the relation's schema is on the
/// search path (`pg_catalog` and the session's schema, `public` by
/// default), so that `\d` and the inspectors list a schema's own tables,
/// not `epochdb`'s. An oid never seen is taken as visible.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TableIsVisible {
    oids: Shared<RelationOids>,
    signature: Signature,
}

impl TableIsVisible {
    pub(crate) fn udf(oids: Arc<RelationOids>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            oids: Shared(oids),
            signature: Signature::any(1, Volatility::Stable),
        })
    }
}

impl ScalarUDFImpl for TableIsVisible {
    fn name(&self) -> &str {
        "pg_table_is_visible"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(oid) = args.args.first() else {
            return exec_err!("pg_table_is_visible takes an oid");
        };
        let is_scalar = matches!(oid, ColumnarValue::Scalar(_));
        let oids = cast(&oid.to_array(args.number_rows.max(1))?, &DataType::Int64)?;
        let current = &args.config_options.catalog.default_schema;
        let visible: BooleanArray = (oids.as_primitive::<Int64Type>().iter())
            .map(|oid| {
                oid.map(|oid| match self.oids.0.get(oid) {
                    Some((schema, _)) => schema == "pg_catalog" || schema == *current,
                    None => true,
                })
            })
            .collect();
        columnar(Arc::new(visible), is_scalar)
    }
}
