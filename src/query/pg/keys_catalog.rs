//! A table's keys and defaults in `pg_catalog`, where psql's `\d`, pgJDBC's
//! metadata and the ORMs' inspectors look for them. pg-catalog lists tables
//! and columns but no index, constraint or default; [`keyed_catalog`] adds
//! them from each table's schema, as PostgreSQL would list them:
//!
//! - `pg_constraint`: a row per `PRIMARY KEY` (`p`) and `UNIQUE` (`u`);
//! - `pg_index`, and `pg_class` rows of `relkind` `i`: the unique btree
//!   index PostgreSQL builds behind each, named as the constraint;
//!   `relhasindex` of a table that has one;
//! - `pg_attrdef`: a row per column default, printed as PostgreSQL prints
//!   it ([`shown_default`]);
//! - `pg_attribute`: `atthasdef`, `attidentity`, and the types pg-catalog
//!   shows as `text` (`json`, `jsonb`, `uuid`, `varchar(n)`).
//!
//! pg-catalog numbers tables from 16384 and keeps no other objects, so the
//! oids of these rows are derived from their table's ([`object_oid`]), and
//! `pg_get_constraintdef` and `pg_get_indexdef` ([`KeyDefinition`]) find
//! the key an oid names from it ([`object_of`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, StringBuilder,
    new_null_array,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;

use super::columnar::columnar;
use super::quoting::quote_ident;
use super::relation_oids::{RelationOids, Shared, ints, rows, texts};
use super::shown_default::shown_default;
use crate::query::datasource::system::scan_batch;
use crate::storage::{
    ColumnSchema, ColumnType, Database, Identity, Index, Namespace, TableSchema, UniqueConstraint,
};

/// The catalogs [`keyed_catalog`] adds rows to or corrects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Catalog {
    Class,
    Index,
    Constraint,
    Attrdef,
    Attribute,
}

impl Catalog {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "pg_class" => Catalog::Class,
            "pg_index" => Catalog::Index,
            "pg_constraint" => Catalog::Constraint,
            "pg_attrdef" => Catalog::Attrdef,
            "pg_attribute" => Catalog::Attribute,
            _ => return None,
        })
    }
}

/// `inner`'s catalog `name`, with the database's keys and defaults when it
/// is one of the [`Catalog`]s.
pub(crate) async fn keyed_catalog(
    inner: &dyn SchemaProvider,
    name: &str,
    database: &Arc<Database>,
    oids: &Arc<RelationOids>,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let Some(catalog) = Catalog::named(name) else {
        return inner.table(name).await;
    };
    let (Some(table), Some(class), Some(namespaces)) = (
        inner.table(name).await?,
        inner.table("pg_class").await?,
        inner.table("pg_namespace").await?,
    ) else {
        return inner.table(name).await;
    };
    Ok(Some(Arc::new(KeyedCatalog {
        catalog,
        table,
        class,
        namespaces,
        database: database.clone(),
        oids: oids.clone(),
    })))
}

/// One of the [`Catalog`]s: pg-catalog's rows, with the database's keys
/// and defaults.
#[derive(Debug)]
struct KeyedCatalog {
    catalog: Catalog,
    table: Arc<dyn TableProvider>,
    class: Arc<dyn TableProvider>,
    namespaces: Arc<dyn TableProvider>,
    database: Arc<Database>,
    oids: Arc<RelationOids>,
}

#[async_trait]
impl TableProvider for KeyedCatalog {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        self.table.table_type()
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
        let relations = relations(&class, &namespaces, &self.database, &self.oids)?;
        let batch = match self.catalog {
            Catalog::Class => with_indexes(class, &relations)?,
            catalog => {
                let base = rows(self.table.as_ref(), state).await?;
                match catalog {
                    Catalog::Index => appended(base, &index_rows(&relations))?,
                    Catalog::Constraint => appended(base, &constraint_rows(&relations))?,
                    Catalog::Attrdef => appended(base, &default_rows(&relations))?,
                    _ => with_column_facts(base, &relations)?,
                }
            }
        };
        scan_batch(batch, projection)
    }
}

/// A table of the database as `pg_class` lists it, with its indexes made
/// with `CREATE INDEX`, by name.
struct Relation {
    oid: i64,
    namespace: i64,
    table: Arc<TableSchema>,
    indexes: Vec<Arc<Index>>,
}

/// The database's tables among `class`'s rows. Every row's oid is noted
/// in `oids`, for the functions that take one.
fn relations(
    class: &RecordBatch,
    namespaces: &RecordBatch,
    database: &Database,
    oids: &RelationOids,
) -> Result<Vec<Relation>> {
    let schemas: HashMap<i64, String> = (ints(namespaces, "oid")?.into_iter())
        .zip(texts(namespaces, "nspname")?)
        .filter_map(|(oid, name)| Some((oid?, name?)))
        .collect();
    let mut found = Vec::new();
    let mut noted = Vec::new();
    let rows = (ints(class, "oid")?.into_iter())
        .zip(ints(class, "relnamespace")?)
        .zip(texts(class, "relname")?)
        .zip(texts(class, "relkind")?);
    for (((oid, namespace), name), kind) in rows {
        let (Some(oid), Some(namespace), Some(name)) = (oid, namespace, name) else {
            continue;
        };
        let Some(schema) = schemas.get(&namespace) else {
            continue;
        };
        noted.push((oid, (schema.clone(), name.clone())));
        if kind.as_deref() != Some("r") {
            continue;
        }
        let Some((namespace_of, table)) =
            (database.schema(schema)).and_then(|n| Some((n.clone(), n.table(&name)?)))
        else {
            continue;
        };
        found.push(Relation {
            oid,
            namespace,
            table: table.schema().clone(),
            indexes: indexes_of(&namespace_of, &name),
        });
    }
    oids.note(noted);
    Ok(found)
}

/// The first oid pg-catalog gives a table (PostgreSQL's first user oid).
const FIRST_TABLE_OID: i64 = 16384;
/// Where the oids of keys, indexes and defaults start: far past any table's.
const OBJECT_OID_BASE: i64 = 1 << 30;
/// Oids set aside per table: keys' indexes and the keys take the even and
/// odd ones below [`DEFAULT_SLOTS`], defaults one per column from there,
/// and indexes made with `CREATE INDEX` one each from [`NAMED_SLOTS`].
const SLOTS_PER_TABLE: i64 = 8192;
const DEFAULT_SLOTS: i64 = 2048;
const NAMED_SLOTS: i64 = 4096;

/// An object of a table that has an oid of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    /// The index behind the table's `i`th key.
    Index(usize),
    /// The table's `i`th key.
    Constraint(usize),
    /// The default of column number (`attnum`) `n`.
    Default(usize),
    /// The table's `i`th index made with `CREATE INDEX`, by name.
    Named(usize),
}

/// The oid of `object` of the table with oid `table`; `None` past the
/// range set aside (a table with more than 1024 keys, or an oid beyond
/// what `oid` columns hold).
fn object_oid(table: i64, object: Object) -> Option<i64> {
    let (slot, limit) = match object {
        Object::Index(i) => (2 * i64::try_from(i).ok()?, DEFAULT_SLOTS),
        Object::Constraint(i) => (2 * i64::try_from(i).ok()? + 1, DEFAULT_SLOTS),
        Object::Default(n) => (DEFAULT_SLOTS + i64::try_from(n).ok()?, NAMED_SLOTS),
        Object::Named(i) => (NAMED_SLOTS + i64::try_from(i).ok()?, SLOTS_PER_TABLE),
    };
    let ordinal = table.checked_sub(FIRST_TABLE_OID)?;
    let oid = OBJECT_OID_BASE
        .checked_add(ordinal.checked_mul(SLOTS_PER_TABLE)?)?
        .checked_add(slot)?;
    (ordinal >= 0 && slot < limit && oid <= i64::from(i32::MAX)).then_some(oid)
}

/// The table oid and object an [`object_oid`] names.
fn object_of(oid: i64) -> Option<(i64, Object)> {
    let offset = oid.checked_sub(OBJECT_OID_BASE)?;
    if offset < 0 {
        return None;
    }
    let table = FIRST_TABLE_OID + offset / SLOTS_PER_TABLE;
    let slot = offset % SLOTS_PER_TABLE;
    let object = if slot >= NAMED_SLOTS {
        Object::Named(usize::try_from(slot - NAMED_SLOTS).ok()?)
    } else if slot >= DEFAULT_SLOTS {
        Object::Default(usize::try_from(slot - DEFAULT_SLOTS).ok()?)
    } else if slot % 2 == 0 {
        Object::Index(usize::try_from(slot / 2).ok()?)
    } else {
        Object::Constraint(usize::try_from(slot / 2).ok()?)
    };
    Some((table, object))
}

/// PostgreSQL's oid of the btree access method.
const BTREE: i64 = 403;
/// PostgreSQL's oid of the default collation, which text columns carry.
const DEFAULT_COLLATION: i64 = 100;

/// The default btree operator class of a column's type, by PostgreSQL 15's
/// oid; 0 for a type without one (`json`).
fn operator_class(column: &ColumnSchema) -> i64 {
    match column.column_type {
        ColumnType::Int16 => 1979,
        ColumnType::Int32 => 1978,
        ColumnType::Int64 => 3124,
        ColumnType::Float32 => 10012,
        ColumnType::Float64 => 3123,
        ColumnType::Utf8 => 3126,
        ColumnType::Boolean => 10003,
        ColumnType::Date => 3122,
        ColumnType::Timestamp {
            with_time_zone: true,
        } => 3127,
        ColumnType::Timestamp {
            with_time_zone: false,
        } => 3128,
        ColumnType::Uuid => 10065,
        ColumnType::Bytea => 10006,
        ColumnType::Jsonb => 10088,
        ColumnType::Json => 0,
    }
}

/// A value of a catalog row, cast to its column's type.
enum Cell {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A catalog row: its values by column name. Columns it leaves out are
/// NULL, or zero, empty or false where the column takes no NULL.
type Row = Vec<(&'static str, Cell)>;

fn int(n: usize) -> Cell {
    Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// `rows` as a batch of `schema`.
fn batch_of(schema: &SchemaRef, rows: &[Row]) -> Result<RecordBatch> {
    let columns = (schema.fields().iter())
        .map(|field| {
            let cells: Vec<Option<&Cell>> = (rows.iter())
                .map(|row| {
                    (row.iter())
                        .find(|(name, _)| name == field.name())
                        .map(|(_, cell)| cell)
                })
                .collect();
            column_of(field, &cells)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn column_of(field: &Field, cells: &[Option<&Cell>]) -> Result<ArrayRef> {
    let required = !field.is_nullable();
    Ok(match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let values: StringArray = (cells.iter())
                .map(|cell| match cell {
                    Some(Cell::Text(s)) => Some(s.clone()),
                    Some(Cell::Int(n)) => Some(n.to_string()),
                    Some(Cell::Bool(b)) => Some(if *b { "t" } else { "f" }.to_owned()),
                    None => required.then(String::new),
                })
                .collect();
            cast(&(Arc::new(values) as ArrayRef), field.data_type())?
        }
        DataType::Boolean => Arc::new(
            (cells.iter())
                .map(|cell| match cell {
                    Some(Cell::Bool(b)) => Some(*b),
                    _ => required.then_some(false),
                })
                .collect::<BooleanArray>(),
        ),
        numeric if numeric.is_numeric() => {
            let values: Int64Array = (cells.iter())
                .map(|cell| match cell {
                    Some(Cell::Int(n)) => Some(*n),
                    _ => required.then_some(0),
                })
                .collect();
            cast(&(Arc::new(values) as ArrayRef), numeric)?
        }
        other => new_null_array(other, cells.len()),
    })
}

/// `base` with `rows` after its own.
fn appended(base: RecordBatch, rows: &[Row]) -> Result<RecordBatch> {
    if rows.is_empty() {
        return Ok(base);
    }
    let schema = base.schema();
    let ours = batch_of(&schema, rows)?;
    Ok(concat_batches(&schema, [&base, &ours])?)
}

/// `batch` with its column `name` replaced by `column` (cast to its type).
fn with_column(batch: RecordBatch, name: &str, column: ArrayRef) -> Result<RecordBatch> {
    let schema = batch.schema();
    let Ok(at) = schema.index_of(name) else {
        return Ok(batch);
    };
    let mut columns = batch.columns().to_vec();
    columns[at] = cast(&column, schema.field(at).data_type())?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Each key of each table, with its index's and its own oid.
fn keys(relations: &[Relation]) -> impl Iterator<Item = (&Relation, &UniqueConstraint, i64, i64)> {
    relations.iter().flat_map(|relation| {
        let keys = relation.table.constraints().iter().enumerate();
        keys.filter_map(move |(i, key)| {
            Some((
                relation,
                key,
                object_oid(relation.oid, Object::Index(i))?,
                object_oid(relation.oid, Object::Constraint(i))?,
            ))
        })
    })
}

/// The indexes of table `table` made with `CREATE INDEX`, by name.
fn indexes_of(namespace: &Namespace, table: &str) -> Vec<Arc<Index>> {
    let mut indexes = namespace.indexes();
    indexes.retain(|index| index.table == table);
    indexes
}

/// An index as the catalogs list it: the unique one behind a key, or one
/// made with `CREATE INDEX`.
struct Listed {
    oid: i64,
    name: String,
    /// The table's columns, by position, in the index's order.
    columns: Vec<usize>,
    /// `indoption` of each column: 1 for `DESC`, 2 for `NULLS FIRST`.
    options: Vec<i64>,
    /// For the index behind a key: whether it is the primary key.
    primary: Option<bool>,
}

/// The indexes of the table with oid `oid`, schema `table` and indexes
/// made with `CREATE INDEX` `indexes`: its keys' first, in order.
fn listed(oid: i64, table: &TableSchema, indexes: &[Arc<Index>]) -> Vec<Listed> {
    let mut listed = Vec::new();
    for (i, key) in table.constraints().iter().enumerate() {
        if let Some(oid) = object_oid(oid, Object::Index(i)) {
            listed.push(Listed {
                oid,
                name: key.name.clone(),
                columns: key.columns.clone(),
                options: vec![0; key.columns.len()],
                primary: Some(key.primary),
            });
        }
    }
    for (i, index) in indexes.iter().enumerate() {
        let positions: Option<Vec<usize>> = (index.columns.iter())
            .map(|c| table.columns().iter().position(|t| t.name == c.name))
            .collect();
        if let (Some(oid), Some(columns)) = (object_oid(oid, Object::Named(i)), positions) {
            listed.push(Listed {
                oid,
                name: index.name.clone(),
                columns,
                options: (index.columns.iter())
                    .map(|c| i64::from(c.descending) | i64::from(c.nulls_first) << 1)
                    .collect(),
                primary: None,
            });
        }
    }
    listed
}

/// Each index of each table.
fn all_listed(relations: &[Relation]) -> impl Iterator<Item = (&Relation, Listed)> {
    relations.iter().flat_map(|relation| {
        let indexes = listed(relation.oid, &relation.table, &relation.indexes);
        indexes.into_iter().map(move |index| (relation, index))
    })
}

/// `values`, space-separated as an `int2vector` or `oidvector` prints.
fn vector(values: impl Iterator<Item = i64>) -> String {
    let values: Vec<String> = values.map(|v| v.to_string()).collect();
    values.join(" ")
}

/// How `pg_get_indexdef` prints `index` of table `table` of schema
/// `schema` (`columns` its columns): the table qualified unless
/// `visible_in` names its schema.
fn index_definition(
    index: &Listed,
    columns: &[ColumnSchema],
    (schema, table): (&str, &str),
    visible_in: Option<&str>,
) -> String {
    let parts: Vec<String> = (index.columns.iter().zip(&index.options))
        .map(|(&c, &option)| {
            let mut part = quote_ident(&columns[c].name);
            match (option & 1 != 0, option & 2 != 0) {
                (true, true) => part.push_str(" DESC"),
                (true, false) => part.push_str(" DESC NULLS LAST"),
                (false, true) => part.push_str(" NULLS FIRST"),
                (false, false) => {}
            }
            part
        })
        .collect();
    let table = match visible_in {
        Some(current) if current == schema => quote_ident(table),
        _ => format!("{}.{}", quote_ident(schema), quote_ident(table)),
    };
    format!(
        "CREATE {}INDEX {} ON {table} USING btree ({})",
        if index.primary.is_some() {
            "UNIQUE "
        } else {
            ""
        },
        quote_ident(&index.name),
        parts.join(", ")
    )
}

/// `pg_class` with `relhasindex` set for tables with indexes, and a row per
/// index.
fn with_indexes(class: RecordBatch, relations: &[Relation]) -> Result<RecordBatch> {
    let indexed: HashSet<i64> = all_listed(relations).map(|(r, _)| r.oid).collect();
    let had = class
        .column_by_name("relhasindex")
        .and_then(|c| c.as_boolean_opt().cloned());
    let has_index: BooleanArray = (ints(&class, "oid")?.iter().enumerate())
        .map(|(row, oid)| {
            let had = had
                .as_ref()
                .is_some_and(|h| h.is_valid(row) && h.value(row));
            Some(had || oid.is_some_and(|o| indexed.contains(&o)))
        })
        .collect();
    let class = with_column(class, "relhasindex", Arc::new(has_index))?;
    let rows: Vec<Row> = all_listed(relations)
        .map(|(relation, index)| {
            vec![
                ("oid", Cell::Int(index.oid)),
                ("relname", text(&index.name)),
                ("relnamespace", Cell::Int(relation.namespace)),
                ("relam", Cell::Int(BTREE)),
                ("relfilenode", Cell::Int(index.oid)),
                ("relpages", Cell::Int(1)),
                ("relpersistence", text("p")),
                ("relkind", text("i")),
                ("relnatts", int(index.columns.len())),
                ("relispopulated", Cell::Bool(true)),
                ("relreplident", text("n")),
            ]
        })
        .collect();
    appended(class, &rows)
}

fn index_rows(relations: &[Relation]) -> Vec<Row> {
    all_listed(relations)
        .map(|(relation, index)| {
            let columns = relation.table.columns();
            let collation = |&c: &usize| match columns[c].column_type {
                ColumnType::Utf8 => DEFAULT_COLLATION,
                _ => 0,
            };
            vec![
                ("indexrelid", Cell::Int(index.oid)),
                ("indrelid", Cell::Int(relation.oid)),
                ("indnatts", int(index.columns.len())),
                ("indnkeyatts", int(index.columns.len())),
                ("indisunique", Cell::Bool(index.primary.is_some())),
                ("indnullsnotdistinct", Cell::Bool(false)),
                ("indisprimary", Cell::Bool(index.primary == Some(true))),
                ("indisexclusion", Cell::Bool(false)),
                ("indimmediate", Cell::Bool(true)),
                ("indisclustered", Cell::Bool(false)),
                ("indisvalid", Cell::Bool(true)),
                ("indcheckxmin", Cell::Bool(false)),
                ("indisready", Cell::Bool(true)),
                ("indislive", Cell::Bool(true)),
                ("indisreplident", Cell::Bool(false)),
                (
                    "indkey",
                    text(vector(index.columns.iter().map(|&c| c as i64 + 1))),
                ),
                (
                    "indcollation",
                    text(vector(index.columns.iter().map(collation))),
                ),
                (
                    "indclass",
                    text(vector(
                        index.columns.iter().map(|&c| operator_class(&columns[c])),
                    )),
                ),
                ("indoption", text(vector(index.options.iter().copied()))),
            ]
        })
        .collect()
}

fn constraint_rows(relations: &[Relation]) -> Vec<Row> {
    keys(relations)
        .map(|(relation, key, index, constraint)| {
            let numbers: Vec<String> = (key.columns.iter()).map(|c| (c + 1).to_string()).collect();
            vec![
                ("oid", Cell::Int(constraint)),
                ("conname", text(&key.name)),
                ("connamespace", Cell::Int(relation.namespace)),
                ("contype", text(if key.primary { "p" } else { "u" })),
                ("condeferrable", Cell::Bool(false)),
                ("condeferred", Cell::Bool(false)),
                ("convalidated", Cell::Bool(true)),
                ("conrelid", Cell::Int(relation.oid)),
                ("contypid", Cell::Int(0)),
                ("conindid", Cell::Int(index)),
                ("conparentid", Cell::Int(0)),
                ("confrelid", Cell::Int(0)),
                ("confupdtype", text(" ")),
                ("confdeltype", text(" ")),
                ("confmatchtype", text(" ")),
                ("conislocal", Cell::Bool(true)),
                ("coninhcount", Cell::Int(0)),
                ("connoinherit", Cell::Bool(true)),
                ("conkey", text(format!("{{{}}}", numbers.join(",")))),
            ]
        })
        .collect()
}

/// Each column of each table with a default, with its number and the
/// default as PostgreSQL prints it.
fn defaults(relations: &[Relation]) -> impl Iterator<Item = (&Relation, usize, String)> {
    relations.iter().flat_map(|relation| {
        let columns = relation.table.columns().iter().enumerate();
        columns.filter_map(move |(i, column)| Some((relation, i + 1, shown_default(column)?)))
    })
}

fn default_rows(relations: &[Relation]) -> Vec<Row> {
    defaults(relations)
        .filter_map(|(relation, number, shown)| {
            Some(vec![
                (
                    "oid",
                    Cell::Int(object_oid(relation.oid, Object::Default(number))?),
                ),
                ("adrelid", Cell::Int(relation.oid)),
                ("adnum", int(number)),
                ("adbin", Cell::Text(shown)),
            ])
        })
        .collect()
}

/// `pg_attribute` with `atthasdef`, `attidentity` and the types of the
/// tables' columns.
fn with_column_facts(attributes: RecordBatch, relations: &[Relation]) -> Result<RecordBatch> {
    let by_oid: HashMap<i64, &Relation> = relations.iter().map(|r| (r.oid, r)).collect();
    let column = |relation: Option<i64>, number: Option<i64>| -> Option<&ColumnSchema> {
        let relation = by_oid.get(&relation?)?;
        let index = usize::try_from(number?.checked_sub(1)?).ok()?;
        relation.table.columns().get(index)
    };
    let numbers = ints(&attributes, "attnum")?;
    let owners = ints(&attributes, "attrelid")?;
    let columns: Vec<Option<&ColumnSchema>> = (owners.iter().zip(&numbers))
        .map(|(relation, number)| column(*relation, *number))
        .collect();
    let has_default: BooleanArray = (columns.iter())
        .map(|c| Some(c.is_some_and(|c| shown_default(c).is_some())))
        .collect();
    let identity: StringArray = (columns.iter())
        .map(|c| {
            Some(match c.and_then(|c| c.identity) {
                Some(Identity::Always) => "a",
                Some(Identity::ByDefault) => "d",
                None => "",
            })
        })
        .collect();
    let attributes = with_column(attributes, "atthasdef", Arc::new(has_default))?;
    let mut attributes = with_column(attributes, "attidentity", Arc::new(identity))?;
    // The types pg-catalog can tell only as text, from the Arrow type.
    for (name, fact) in [("atttypid", 0), ("atttypmod", 1), ("attlen", 2)] {
        let values: Int64Array = (ints(&attributes, name)?.into_iter().zip(&columns))
            .map(|(value, column)| match column.and_then(type_facts) {
                Some(facts) => Some(facts[fact]),
                None => value,
            })
            .collect();
        attributes = with_column(attributes, name, Arc::new(values))?;
    }
    Ok(attributes)
}

/// `atttypid`, `atttypmod` and `attlen` of a column whose type pg-catalog
/// lists as `text`: `json`, `jsonb`, `uuid` and `varchar(n)`.
fn type_facts(column: &ColumnSchema) -> Option<[i64; 3]> {
    Some(match (column.column_type, column.max_chars) {
        (ColumnType::Json, _) => [114, -1, -1],
        (ColumnType::Jsonb, _) => [3802, -1, -1],
        (ColumnType::Uuid, _) => [2950, -1, 16],
        // A varchar's type modifier is its length plus the 4 bytes of header.
        (ColumnType::Utf8, Some(n)) => [1043, i64::from(n) + 4, -1],
        _ => return None,
    })
}

/// `pg_get_constraintdef(constraint [, pretty])` and
/// `pg_get_indexdef(index [, column, pretty])` of the keys
/// [`keyed_catalog`] lists: `PRIMARY KEY (id)`, `CREATE UNIQUE INDEX devices_pkey ON
/// public.devices USING btree (id)`, or with a column number, that column's
/// name. NULL for an oid that names no such key.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyDefinition {
    database: Shared<Database>,
    oids: Shared<RelationOids>,
    index: bool,
    signature: Signature,
}

impl KeyDefinition {
    pub(crate) fn udfs(database: Arc<Database>, oids: Arc<RelationOids>) -> [ScalarUDF; 2] {
        [false, true].map(|index| {
            ScalarUDF::new_from_impl(Self {
                database: Shared(database.clone()),
                oids: Shared(oids.clone()),
                index,
                signature: Signature::variadic_any(Volatility::Stable),
            })
        })
    }

    /// The definition of the key or index `oid` names; for an index with
    /// `column` > 0, that column's name. The table is named with its schema
    /// unless `visible_in` names that schema (pretty printing, as psql
    /// asks, leaves out a schema on the search path).
    fn definition(&self, oid: i64, column: i64, visible_in: Option<&str>) -> Option<String> {
        let (table_oid, object) = object_of(oid)?;
        let (schema, table) = self.oids.0.get(table_oid)?;
        let namespace = self.database.0.schema(&schema)?;
        let table_schema = namespace.table(&table)?.schema().clone();
        let columns = table_schema.columns();
        match object {
            Object::Constraint(i) if !self.index => {
                let key = table_schema.constraints().get(i)?;
                let names: Vec<String> = (key.columns.iter())
                    .map(|&c| quote_ident(&columns[c].name))
                    .collect();
                let kind = if key.primary { "PRIMARY KEY" } else { "UNIQUE" };
                Some(format!("{kind} ({})", names.join(", ")))
            }
            Object::Index(_) | Object::Named(_) if self.index => {
                let indexes = indexes_of(&namespace, &table);
                let listed = listed(table_oid, &table_schema, &indexes);
                let index = listed.into_iter().find(|index| index.oid == oid)?;
                if column > 0 {
                    let at = *index.columns.get(usize::try_from(column - 1).ok()?)?;
                    return Some(quote_ident(&columns[at].name));
                }
                let names = (schema.as_str(), table.as_str());
                Some(index_definition(&index, columns, names, visible_in))
            }
            _ => None,
        }
    }
}

/// `pg_indexes`: each index of each table, with its definition.
pub(crate) fn pg_indexes_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("schemaname"),
        text("tablename"),
        text("indexname"),
        text("tablespace"),
        text("indexdef"),
    ]))
}

pub(crate) fn pg_indexes(database: &Database) -> Result<RecordBatch> {
    let mut rows: Vec<[Option<String>; 5]> = Vec::new();
    for schema in database.schema_names() {
        let Some(namespace) = database.schema(&schema) else {
            continue;
        };
        for table in namespace.table_names() {
            let Some(found) = namespace.table(&table) else {
                continue;
            };
            let table_schema = found.schema();
            let indexes = indexes_of(&namespace, &table);
            for index in listed(FIRST_TABLE_OID, table_schema, &indexes) {
                let names = (schema.as_str(), table.as_str());
                let definition = index_definition(&index, table_schema.columns(), names, None);
                rows.push([
                    Some(schema.clone()),
                    Some(table.clone()),
                    Some(index.name),
                    None,
                    Some(definition),
                ]);
            }
        }
    }
    let columns = (0..5)
        .map(|i| Arc::new(rows.iter().map(|r| r[i].clone()).collect::<StringArray>()) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(pg_indexes_schema(), columns)?)
}

impl ScalarUDFImpl for KeyDefinition {
    fn name(&self) -> &str {
        if self.index {
            "pg_get_indexdef"
        } else {
            "pg_get_constraintdef"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(oid) = args.args.first() else {
            return exec_err!("{} takes an oid", self.name());
        };
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = args.number_rows.max(1);
        let oids = cast(&oid.to_array(rows)?, &DataType::Int64)?;
        // pg_get_indexdef's column number; 0 (the whole definition) without one.
        let columns: Vec<Option<i64>> = match (self.index, args.args.get(1)) {
            (true, Some(column)) => {
                let column = cast(&column.to_array(rows)?, &DataType::Int64)?;
                column.as_primitive::<Int64Type>().iter().collect()
            }
            _ => vec![Some(0); oids.len()],
        };
        // pg_get_indexdef's third argument, pretty printing; only a constant
        // is taken (psql and the inspectors pass one).
        let pretty = match args.args.get(2) {
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(pretty)))) => *pretty,
            _ => false,
        };
        let current = &args.config_options.catalog.default_schema;
        let visible_in = (self.index && pretty).then_some(current.as_str());
        let mut out = StringBuilder::with_capacity(oids.len(), 64);
        for (oid, column) in oids.as_primitive::<Int64Type>().iter().zip(columns) {
            let definition = oid
                .zip(column)
                .and_then(|(o, c)| self.definition(o, c, visible_in));
            out.append_option(definition);
        }
        columnar(Arc::new(out.finish()), is_scalar)
    }
}

/// What `information_schema.columns` shows of a column that DataFusion's
/// view cannot tell: its default ([`shown_default`]), and the declared type
/// of a column held as text (`json`, `jsonb`, `uuid`, `varchar(n)`).
/// `epochdb_column_<fact>(schema, table, column)`; NULL for a column of a
/// view or without the fact, so the view's own value stands.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ColumnFact {
    database: Shared<Database>,
    fact: Fact,
    signature: Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fact {
    Default,
    DataType,
    UdtName,
    MaxChars,
}

impl ColumnFact {
    pub(crate) fn udfs(database: Arc<Database>) -> [ScalarUDF; 4] {
        [Fact::Default, Fact::DataType, Fact::UdtName, Fact::MaxChars].map(|fact| {
            ScalarUDF::new_from_impl(Self {
                database: Shared(database.clone()),
                fact,
                signature: Signature::exact(vec![DataType::Utf8; 3], Volatility::Stable),
            })
        })
    }

    fn fact(&self, schema: &str, table: &str, column: &str) -> Option<String> {
        let table = self.database.0.schema(schema)?.table(table)?;
        let table_schema = table.schema();
        let column = table_schema.columns().iter().find(|c| c.name == column)?;
        let declared = match (column.column_type, column.max_chars) {
            (ColumnType::Json, _) => Some(("json", "json")),
            (ColumnType::Jsonb, _) => Some(("jsonb", "jsonb")),
            (ColumnType::Uuid, _) => Some(("uuid", "uuid")),
            (ColumnType::Utf8, Some(_)) => Some(("character varying", "varchar")),
            _ => None,
        };
        match self.fact {
            Fact::Default => shown_default(column),
            Fact::DataType => declared.map(|(name, _)| name.to_owned()),
            Fact::UdtName => declared.map(|(_, udt)| udt.to_owned()),
            Fact::MaxChars => column.max_chars.map(|n| n.to_string()),
        }
    }
}

impl ScalarUDFImpl for ColumnFact {
    fn name(&self) -> &str {
        match self.fact {
            Fact::Default => "epochdb_column_default",
            Fact::DataType => "epochdb_column_data_type",
            Fact::UdtName => "epochdb_column_udt_name",
            Fact::MaxChars => "epochdb_column_max_chars",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.fact {
            Fact::MaxChars => DataType::Int32,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let texts = (args.args.iter())
            .map(|a| cast(&a.to_array(rows)?, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        let [schemas, tables, columns] = texts.as_slice() else {
            return exec_err!("{} takes a schema, a table and a column", self.name());
        };
        let (schemas, tables, columns) = (
            schemas.as_string::<i32>(),
            tables.as_string::<i32>(),
            columns.as_string::<i32>(),
        );
        let mut out = StringBuilder::with_capacity(rows, 16);
        for row in 0..schemas.len() {
            let fact = match (
                schemas.is_valid(row),
                tables.is_valid(row),
                columns.is_valid(row),
            ) {
                (true, true, true) => {
                    self.fact(schemas.value(row), tables.value(row), columns.value(row))
                }
                _ => None,
            };
            out.append_option(fact);
        }
        let values: ArrayRef = Arc::new(out.finish());
        let values = cast(&values, &self.return_type(&[])?)?;
        columnar(values, is_scalar)
    }
}

/// `pg_get_expr(expression, relation [, pretty])`: the expression as the
/// catalogs hold it, which is already its text (a default's, from
/// [`shown_default`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ExpressionText {
    signature: Signature,
}

impl ExpressionText {
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Stable),
        })
    }
}

impl ScalarUDFImpl for ExpressionText {
    fn name(&self) -> &str {
        "pg_get_expr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(expression) = args.args.first() else {
            return exec_err!("pg_get_expr takes an expression and a relation");
        };
        Ok(match expression {
            ColumnarValue::Scalar(value) => ColumnarValue::Scalar(value.cast_to(&DataType::Utf8)?),
            ColumnarValue::Array(array) => ColumnarValue::Array(cast(array, &DataType::Utf8)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_oids_name_their_table_and_object() {
        for table in [FIRST_TABLE_OID, FIRST_TABLE_OID + 1, FIRST_TABLE_OID + 5000] {
            for object in [
                Object::Index(0),
                Object::Constraint(0),
                Object::Index(1023),
                Object::Constraint(1023),
                Object::Default(1),
                Object::Default(1600),
            ] {
                let oid = object_oid(table, object).expect("in range");
                assert!(oid > i64::from(u16::MAX) && oid <= i64::from(i32::MAX));
                assert_eq!(object_of(oid), Some((table, object)));
            }
        }
        assert_eq!(object_oid(FIRST_TABLE_OID, Object::Index(1024)), None);
        assert_eq!(object_oid(FIRST_TABLE_OID - 1, Object::Index(0)), None);
        assert_eq!(object_oid(i64::MAX, Object::Index(0)), None);
        assert_eq!(object_of(FIRST_TABLE_OID), None);
    }
}
