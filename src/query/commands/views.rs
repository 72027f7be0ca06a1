//! Views: `CREATE [OR REPLACE] VIEW`, `DROP VIEW`, and views read as the
//! queries they stand for.
//!
//! A view is kept as its query's SQL ([`storage::View`]). Wherever a
//! statement names one, [`expand`] puts the query in its place, as a
//! derived table named after the view with the view's column names, before
//! anything else is planned: the statement is then planned as if the query
//! had been written there, so predicates reach the scan as they would
//! written directly, and the session's settings and functions apply.
//!
//! As in PostgreSQL, a view's columns are fixed when it is made. A `*` in
//! its query keeps standing for the columns its tables had then: a table
//! that has grown since (`ALTER TABLE ... ADD COLUMN`, a line protocol
//! write) is read through a projection of those columns alone. Nothing can
//! drop a table or view another view reads, other than `CASCADE`, which
//! drops the readers too.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast::{
    CreateTableOptions, CreateView, Ident, ObjectName, ObjectNamePart, Query, Statement,
    TableAlias, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use datafusion::sql::sqlparser::parser::Parser;

use super::names::{normalize, qualified};
use crate::pgtype::arrow_type_name;
use crate::query::error::{Error, Result};
use crate::query::pg::dialect::PostgresDialect;
use crate::storage::{self, Database, Namespace, View, ViewColumn, ViewDependency};

/// The most views one statement may expand, nested or side by side.
const MAX_EXPANSIONS: usize = 1000;

/// The deepest queries may nest once views are expanded (as deep as the
/// session lets a statement's own queries nest).
const MAX_QUERY_DEPTH: usize = 2_000;

/// A relation of the database: `(schema, name)`.
pub(crate) type Relation = (String, String);

/// `CREATE VIEW`'s statement, checked for what EpochDB refuses, with its
/// name resolved: the schema, the view's name, the query, the explicit
/// column names.
pub(crate) struct ViewStatement {
    pub schema: String,
    pub name: String,
    pub query: Query,
    pub column_names: Vec<String>,
    pub or_replace: bool,
}

impl ViewStatement {
    pub(crate) fn from_create(
        create: CreateView,
        database: &str,
        current_schema: &str,
    ) -> Result<Self> {
        let refused = |what: &str| {
            Err(Error::Unsupported {
                what: what.to_owned(),
            })
        };
        if create.materialized {
            return refused("CREATE MATERIALIZED VIEW");
        }
        if create.temporary {
            return refused("CREATE TEMPORARY VIEW");
        }
        if create.or_alter || create.secure || create.to.is_some() || create.params.is_some() {
            return refused("this form of CREATE VIEW");
        }
        if create.if_not_exists {
            return refused("CREATE VIEW IF NOT EXISTS");
        }
        if !matches!(create.options, CreateTableOptions::None) {
            return refused("CREATE VIEW ... WITH (options)");
        }
        if create
            .columns
            .iter()
            .any(|c| c.data_type.is_some() || c.options.is_some())
        {
            return refused("types or options in CREATE VIEW's column list");
        }
        let (schema, name) = qualified(&create.name, database, current_schema)?;
        Ok(Self {
            schema,
            name,
            query: *create.query,
            column_names: create.columns.iter().map(|c| normalize(&c.name)).collect(),
            or_replace: create.or_replace,
        })
    }

    /// The query as the view keeps it: SQL the parser reads back to the
    /// same query, or a refusal when it would not.
    pub(crate) fn stored_query(&self) -> Result<String> {
        let text = self.query.to_string();
        match parse_query(&text) {
            Ok(back) if back == self.query => Ok(text),
            _ => Err(Error::Unsupported {
                what: "this view's query (it does not read back as written)".into(),
            }),
        }
    }
}

/// Refuses a view made in a session whose `TimeZone` is not UTC when its
/// query holds a literal that reads as a date or time: PostgreSQL reads such
/// a literal once, in the creating session's zone, where EpochDB, which
/// plans the view's text wherever it is read, would read it in the
/// reader's.
pub(crate) fn refuse_zoned_literals(query: &Query, zone: Option<&str>) -> Result<()> {
    let utc = zone.is_none_or(|zone| {
        [
            "UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "UCT", "Zulu",
        ]
        .iter()
        .any(|z| z.eq_ignore_ascii_case(zone.trim()))
    });
    if utc {
        return Ok(());
    }
    let mut found = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(query, |expr| {
        if let datafusion::sql::sqlparser::ast::Expr::Value(value) = expr
            && let datafusion::sql::sqlparser::ast::Value::SingleQuotedString(text) = &value.value
            && crate::pgtype::timestamp_in(text, false).is_ok()
            && !names_its_zone(text)
        {
            found = Some(text.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    match found {
        Some(text) => Err(Error::Unsupported {
            what: format!(
                "a view with the time literal '{text}' made with TimeZone set other than UTC \
                 (EpochDB would read it in each reader's zone; SET TIME ZONE 'UTC' or write \
                 the literal with its offset)"
            ),
        }),
        None => Ok(()),
    }
}

/// Whether a time literal says its own offset or zone (`...+05`, `...Z`,
/// `... UTC`, `... America/New_York`), so no session's zone changes it.
fn names_its_zone(text: &str) -> bool {
    let text = text.trim();
    let Some(time) = text.find(':') else {
        return false;
    };
    let after = &text[time..];
    if after.ends_with(['Z', 'z']) {
        return true;
    }
    if let Some(sign) = after.rfind(['+', '-'])
        && after[sign + 1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == ':')
        && after.len() > sign + 1
    {
        return true;
    }
    after
        .split_whitespace()
        .last()
        .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// Makes the view that `statement` describes, from its query's output:
/// the names PostgreSQL gives the columns and their types. Checks what
/// PostgreSQL checks of them, and that the view would not read itself.
pub(crate) fn define(
    database: &Database,
    statement: &ViewStatement,
    query: String,
    outputs: Vec<(String, DataType)>,
) -> Result<View> {
    if statement.column_names.len() > outputs.len() {
        return Err(Error::SyntaxError {
            message: "CREATE VIEW specifies more column names than columns".into(),
        });
    }
    let mut columns = Vec::with_capacity(outputs.len());
    for (i, (name, data_type)) in outputs.into_iter().enumerate() {
        let name = statement.column_names.get(i).cloned().unwrap_or(name);
        if columns.iter().any(|c: &ViewColumn| c.name == name) {
            return Err(storage::Error::DuplicateColumn { column: name }.into());
        }
        if data_type == DataType::Null {
            return Err(Error::Unsupported {
                what: format!("view column \"{name}\" without a type (cast its NULL to one)"),
            });
        }
        if !storage::view_column_storable(&data_type) {
            return Err(Error::Unsupported {
                what: format!("view column \"{name}\" of type {data_type}"),
            });
        }
        columns.push(ViewColumn { name, data_type });
    }
    let mut depends_on: Vec<ViewDependency> = Vec::new();
    for (schema, name) in references(database, &statement.schema, &statement.query)? {
        if depends_on
            .iter()
            .any(|d| d.schema == schema && d.name == name)
        {
            continue;
        }
        let Some(namespace) = database.schema(&schema) else {
            continue;
        };
        let columns = if let Some(table) = namespace.table(&name) {
            (table.schema().columns().iter())
                .map(|c| c.name.clone())
                .collect()
        } else if let Some(view) = namespace.view(&name) {
            view.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            continue;
        };
        depends_on.push(ViewDependency {
            schema,
            name,
            columns,
        });
    }
    let view = View {
        name: statement.name.clone(),
        query,
        columns,
        depends_on,
    };
    refuse_recursion(database, &statement.schema, &view)?;
    Ok(view)
}

/// PostgreSQL's checks of `CREATE OR REPLACE VIEW`: the new view keeps the
/// old one's columns, in order, named and typed alike, and may add more.
pub(crate) fn check_replacement(old: &View, new: &View) -> Result<()> {
    if new.columns.len() < old.columns.len() {
        return Err(Error::InvalidTableDefinition {
            message: "cannot drop columns from view".into(),
        });
    }
    for (old, new) in old.columns.iter().zip(&new.columns) {
        if old.name != new.name {
            return Err(Error::ViewColumnRenamed {
                from: old.name.clone(),
                to: new.name.clone(),
            });
        }
        if old.data_type != new.data_type {
            return Err(Error::InvalidTableDefinition {
                message: format!(
                    "cannot change data type of view column \"{}\" from {} to {}",
                    old.name,
                    arrow_type_name(&old.data_type),
                    arrow_type_name(&new.data_type)
                ),
            });
        }
    }
    Ok(())
}

/// Refuses a view that would read itself, through any chain of views
/// (PostgreSQL finds that only when the view is read).
fn refuse_recursion(database: &Database, schema: &str, view: &View) -> Result<()> {
    let itself = (schema.to_owned(), view.name.clone());
    let mut seen: HashSet<Relation> = HashSet::new();
    let mut next: Vec<Relation> = (view.depends_on.iter())
        .map(|d| (d.schema.clone(), d.name.clone()))
        .collect();
    while let Some(relation) = next.pop() {
        if relation == itself {
            return Err(Error::ViewRecursion {
                name: view.name.clone(),
            });
        }
        if !seen.insert(relation.clone()) {
            continue;
        }
        if let Some(read) = database
            .schema(&relation.0)
            .and_then(|ns| ns.view(&relation.1))
        {
            next.extend((read.depends_on.iter()).map(|d| (d.schema.clone(), d.name.clone())));
        }
    }
    Ok(())
}

/// The views that read `relation`, directly or through other views, each
/// with what it reads, in the order PostgreSQL reports them: each reader
/// followed by its own readers.
pub(crate) fn readers(database: &Database, relation: &Relation) -> Vec<(Relation, Relation)> {
    let mut all: Vec<(Relation, Arc<View>)> = Vec::new();
    for schema in database.schema_names() {
        if let Some(namespace) = database.schema(&schema) {
            all.extend(
                (namespace.views().into_iter()).map(|v| ((schema.clone(), v.name.clone()), v)),
            );
        }
    }
    let mut found: Vec<(Relation, Relation)> = Vec::new();
    let mut stack: Vec<Relation> = vec![relation.clone()];
    // Depth first, each relation's readers in name order.
    fn visit(
        read: &Relation,
        all: &[(Relation, Arc<View>)],
        found: &mut Vec<(Relation, Relation)>,
        stack: &mut Vec<Relation>,
    ) {
        for (reader, view) in all {
            if view.reads(&read.0, &read.1)
                && !stack.contains(reader)
                && !found.iter().any(|(r, _)| r == reader)
            {
                found.push((reader.clone(), read.clone()));
                stack.push(reader.clone());
                visit(reader, all, found, stack);
                stack.pop();
            }
        }
    }
    visit(relation, &all, &mut found, &mut stack);
    found
}

/// How PostgreSQL names a relation in a dependency's detail: qualified
/// outside the session's schema.
pub(crate) fn display_name(relation: &Relation, current_schema: &str) -> String {
    if relation.0 == current_schema {
        relation.1.clone()
    } else {
        format!("{}.{}", relation.0, relation.1)
    }
}

/// The refusal to drop `relation` (a `kind`: table, view, schema) that
/// views read, as PostgreSQL words it.
pub(crate) fn dependents_error(
    kind: &str,
    relation: &str,
    readers: &[(Relation, Relation)],
    database: &Database,
    current_schema: &str,
) -> Error {
    let detail = readers
        .iter()
        .map(|(reader, read)| {
            let read_kind = match database.schema(&read.0) {
                Some(ns) if ns.view(&read.1).is_some() => "view",
                _ => "table",
            };
            format!(
                "view {} depends on {read_kind} {}",
                display_name(reader, current_schema),
                display_name(read, current_schema)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Error::DependentObjects {
        message: format!("cannot drop {kind} {relation} because other objects depend on it"),
        detail,
    }
}

/// Drops the views `readers` lists, readers of readers first.
pub(crate) fn drop_readers(
    database: &Database,
    readers: &[(Relation, Relation)],
) -> Result<Vec<storage::Durable<bool>>> {
    let mut dropped = Vec::with_capacity(readers.len());
    for ((schema, name), _) in readers.iter().rev() {
        if let Some(namespace) = database.schema(schema)
            && namespace.view(name).is_some()
        {
            dropped.push(namespace.drop_view(name)?);
        }
    }
    Ok(dropped)
}

fn parse_query(text: &str) -> Result<Query> {
    let dialect = PostgresDialect::default();
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| Error::SyntaxError {
            message: e.to_string(),
        })?;
    let query = parser.parse_query().map_err(|e| Error::SyntaxError {
        message: e.to_string(),
    })?;
    Ok(*query)
}

/// Where a statement is planned: its database and the session's schema.
pub(crate) struct Scope<'a> {
    pub database: &'a Database,
    pub current_schema: &'a str,
}

impl Scope<'_> {
    /// The relation `name` names, if it is a view or a table of this
    /// database (another database's is for the planner to refuse).
    fn resolve(&self, name: &ObjectName) -> Option<(Arc<Namespace>, String)> {
        let database = self.database.name();
        let (schema, relation) = qualified(name, database, self.current_schema).ok()?;
        let namespace = self.database.schema(&schema)?;
        Some((namespace, relation))
    }
}

/// Whether the statement writes to a view: refused, since views here are
/// read-only (PostgreSQL writes through simple ones).
pub(crate) fn refuse_writes(scope: &Scope<'_>, statement: &Statement) -> Result<()> {
    let (target, verb) = match statement {
        Statement::Insert(insert) => match &insert.table {
            datafusion::sql::sqlparser::ast::TableObject::TableName(name) => {
                (name.clone(), "insert into")
            }
            _ => return Ok(()),
        },
        Statement::Update(update) => match &update.table.relation {
            TableFactor::Table { name, .. } => (name.clone(), "update"),
            _ => return Ok(()),
        },
        Statement::Delete(delete) => {
            let tables = match &delete.from {
                datafusion::sql::sqlparser::ast::FromTable::WithFromKeyword(t)
                | datafusion::sql::sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            match tables.first().map(|t| &t.relation) {
                Some(TableFactor::Table { name, .. }) => (name.clone(), "delete from"),
                _ => return Ok(()),
            }
        }
        _ => return Ok(()),
    };
    if let Some((namespace, name)) = scope.resolve(&target)
        && namespace.view(&name).is_some()
    {
        return Err(Error::ReadOnlyView {
            message: format!("cannot {verb} view \"{name}\""),
        });
    }
    Ok(())
}

/// Puts each view `statement` names in its place (see the module's doc).
pub(crate) fn expand(scope: &Scope<'_>, statement: &mut Statement) -> Result<()> {
    let expander = Expander {
        scope,
        expansions: 0,
    };
    walk(statement, expander).map(|_| ())
}

/// Names every relation `query` reads with its schema, as the view keeps
/// it: a view reads what its names meant when it was made, whatever the
/// schema of the session that reads it.
pub(crate) fn qualify(scope: &Scope<'_>, query: &mut Query) -> Result<()> {
    walk(query, Qualifier { scope }).map(|_| ())
}

/// The relations a view's query names directly (not through other views),
/// tables and views alike, in the order it names them.
fn references(database: &Database, current_schema: &str, query: &Query) -> Result<Vec<Relation>> {
    let scope = Scope {
        database,
        current_schema,
    };
    let collector = Collector {
        scope: &scope,
        found: Vec::new(),
    };
    Ok(walk(&mut query.clone(), collector)?.found)
}

/// What a walk over a statement does with the relations it names plainly
/// (see [`plain_relation`]).
trait OnRelation {
    /// Before the factor's parts are visited: a query put in its place is
    /// visited in turn.
    fn before(&mut self, _factor: &mut TableFactor, _name: &ObjectName) -> Result<()> {
        Ok(())
    }

    /// After the factor's parts: a query put in its place is not visited.
    fn after(&mut self, _factor: &mut TableFactor, _name: &ObjectName) -> Result<()> {
        Ok(())
    }
}

/// Walks `node` with `on`, keeping the names each `WITH` defines in scope,
/// and how deep queries nest.
fn walk<T: OnRelation>(node: &mut impl VisitMut, mut on: T) -> Result<T> {
    walk_in(node, &mut on, Vec::new())?;
    Ok(on)
}

/// [`walk`] with the `WITH` names `ctes` in scope.
fn walk_in<T: OnRelation>(
    node: &mut impl VisitMut,
    on: &mut T,
    ctes: Vec<Vec<String>>,
) -> Result<()> {
    let mut walker = Walker {
        ctes,
        on,
        parked: Vec::new(),
        failure: None,
    };
    // A walk broken off may leave bodies parked: the statement fails whole.
    let _ = node.visit(&mut walker);
    match walker.failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

struct Walker<'a, T> {
    /// The names of each `WITH` in scope, innermost last; one entry per
    /// query being visited.
    ctes: Vec<Vec<String>>,
    on: &'a mut T,
    /// For each query being visited, the bodies of its `WITH`, taken out
    /// once walked (see `pre_visit_query`).
    parked: Vec<Option<Vec<Query>>>,
    failure: Option<Error>,
}

impl<T> Walker<'_, T> {
    fn done(&mut self, result: Result<()>) -> ControlFlow<()> {
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.failure = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

impl<T: OnRelation> VisitorMut for Walker<'_, T> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if self.ctes.len() >= MAX_QUERY_DEPTH {
            return self.done(Err(Error::TooComplex {
                message: "statement too complex once its views are expanded".into(),
            }));
        }
        // In a `WITH` that is not `RECURSIVE`, a query's body sees only
        // the names defined before it: its own name there is a relation's.
        // Each body is walked so first; the walk of the whole query that
        // follows, with every name in scope, finds nothing more in them.
        let mut parked = None;
        if let Some(with) = query.with.as_mut()
            && !with.recursive
        {
            let mut before = Vec::new();
            let mut bodies = Vec::with_capacity(with.cte_tables.len());
            for cte in &mut with.cte_tables {
                let mut scope = self.ctes.clone();
                scope.push(before.clone());
                let result = walk_in(cte.query.as_mut(), &mut *self.on, scope);
                if result.is_err() {
                    return self.done(result);
                }
                before.push(normalize(&cte.alias.name));
                // Parked while the rest of the query is walked, so each
                // body is walked once.
                match parse_query("SELECT 1") {
                    Ok(stand_in) => bodies.push(std::mem::replace(cte.query.as_mut(), stand_in)),
                    Err(error) => return self.done(Err(error)),
                }
            }
            parked = Some(bodies);
        }
        self.parked.push(parked);
        self.ctes.push(cte_names(query));
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.ctes.pop();
        if let Some(Some(bodies)) = self.parked.pop()
            && let Some(with) = query.with.as_mut()
        {
            for (cte, body) in with.cte_tables.iter_mut().zip(bodies) {
                *cte.query = body;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match plain_relation(factor, &self.ctes).cloned() {
            Some(name) => {
                let result = self.on.before(factor, &name);
                self.done(result)
            }
            None => ControlFlow::Continue(()),
        }
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match plain_relation(factor, &self.ctes).cloned() {
            Some(name) => {
                let result = self.on.after(factor, &name);
                self.done(result)
            }
            None => ControlFlow::Continue(()),
        }
    }
}

/// The names the `WITH` of `query` defines, which hide relations of the
/// same name inside it.
fn cte_names(query: &Query) -> Vec<String> {
    (query.with.iter())
        .flat_map(|with| with.cte_tables.iter())
        .map(|cte| normalize(&cte.alias.name))
        .collect()
}

/// A relation named plainly (no arguments, no hints), and not a name a
/// `WITH` in scope defines.
fn plain_relation<'f>(factor: &'f TableFactor, ctes: &[Vec<String>]) -> Option<&'f ObjectName> {
    let TableFactor::Table {
        name, args: None, ..
    } = factor
    else {
        return None;
    };
    if let [ObjectNamePart::Identifier(single)] = name.0.as_slice() {
        let single = normalize(single);
        if ctes.iter().flatten().any(|cte| *cte == single) {
            return None;
        }
    }
    Some(name)
}

/// Puts `query` in the place of `factor`, under `alias`.
fn replace(factor: &mut TableFactor, query: Query, alias: TableAlias) {
    *factor = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(query),
        alias: Some(alias),
        sample: None,
    };
}

/// The alias `factor` was written with, taken off it, or one naming it
/// `name`.
fn take_alias(factor: &mut TableFactor, name: &str) -> TableAlias {
    let written = match factor {
        TableFactor::Table { alias, .. } => alias.take(),
        _ => None,
    };
    written.unwrap_or_else(|| TableAlias {
        explicit: true,
        name: quoted(name),
        columns: Vec::new(),
        at: None,
    })
}

struct Qualifier<'a> {
    scope: &'a Scope<'a>,
}

impl OnRelation for Qualifier<'_> {
    fn before(&mut self, factor: &mut TableFactor, name: &ObjectName) -> Result<()> {
        if let Some((namespace, relation)) = self.scope.resolve(name)
            && (namespace.table(&relation).is_some() || namespace.view(&relation).is_some())
            && let TableFactor::Table { name, .. } = factor
        {
            *name = ObjectName::from(vec![ident(namespace.name()), ident(&relation)]);
        }
        Ok(())
    }
}

struct Collector<'a> {
    scope: &'a Scope<'a>,
    found: Vec<Relation>,
}

impl OnRelation for Collector<'_> {
    fn before(&mut self, _factor: &mut TableFactor, name: &ObjectName) -> Result<()> {
        if let Some((namespace, relation)) = self.scope.resolve(name)
            && (namespace.table(&relation).is_some() || namespace.view(&relation).is_some())
        {
            self.found.push((namespace.name().to_owned(), relation));
        }
        Ok(())
    }
}

struct Expander<'a> {
    scope: &'a Scope<'a>,
    expansions: usize,
}

/// `information_schema.views` as DataFusion makes it lists every table
/// (only views have a definition), under other column names than the
/// standard's. Views here are read-only.
const INFORMATION_SCHEMA_VIEWS: &str = "SELECT table_catalog, table_schema, table_name, \
     definition AS view_definition, 'NONE' AS check_option, 'NO' AS is_updatable, \
     'NO' AS is_insertable_into, 'NO' AS is_trigger_updatable, \
     'NO' AS is_trigger_deletable, 'NO' AS is_trigger_insertable_into \
     FROM information_schema.views AS __epochdb_views WHERE definition IS NOT NULL";

impl OnRelation for Expander<'_> {
    fn before(&mut self, factor: &mut TableFactor, name: &ObjectName) -> Result<()> {
        let Some((namespace, relation)) = self.scope.resolve(name) else {
            return Ok(());
        };
        let Some(view) = namespace.view(&relation) else {
            return Ok(());
        };
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS {
            return Err(Error::TooComplex {
                message: format!("a statement may expand at most {MAX_EXPANSIONS} views"),
            });
        }
        let mut query = parse_query(&view.query)?;
        let narrower = Narrower {
            scope: Scope {
                database: self.scope.database,
                current_schema: namespace.name(),
            },
            view: &view,
        };
        walk(&mut query, narrower)?;
        let alias = take_alias(factor, &relation);
        let columns = view.columns.iter().map(|c| c.name.as_str());
        // The walk goes on into the query put here, expanding the views
        // it reads in turn.
        replace(factor, query, renamed(alias, columns));
        Ok(())
    }

    /// `information_schema.views` read as its views alone (once: the
    /// query put in its place names it under an alias of its own).
    fn after(&mut self, factor: &mut TableFactor, name: &ObjectName) -> Result<()> {
        if let TableFactor::Table {
            alias: Some(alias), ..
        } = factor
            && alias.name.value == "__epochdb_views"
        {
            return Ok(());
        }
        let database = self.scope.database.name();
        let names_it = qualified(name, database, self.scope.current_schema)
            .is_ok_and(|(schema, table)| schema == "information_schema" && table == "views");
        if names_it {
            let alias = take_alias(factor, "views");
            replace(factor, parse_query(INFORMATION_SCHEMA_VIEWS)?, alias);
        }
        Ok(())
    }
}

/// Narrows the tables and views a view's own query reads to the columns
/// they had when the view was made (see the module's doc).
struct Narrower<'a> {
    /// The database, and the view's schema.
    scope: Scope<'a>,
    view: &'a View,
}

impl OnRelation for Narrower<'_> {
    fn after(&mut self, factor: &mut TableFactor, name: &ObjectName) -> Result<()> {
        let Some((namespace, relation)) = self.scope.resolve(name) else {
            return Ok(());
        };
        let Some(dependency) = (self.view.depends_on.iter())
            .find(|d| d.schema == namespace.name() && d.name == relation)
        else {
            return Ok(());
        };
        // A table that has grown, or a view replaced with more columns.
        let now: Vec<String> = match (namespace.table(&relation), namespace.view(&relation)) {
            (Some(table), _) => (table.schema().columns().iter())
                .map(|c| c.name.clone())
                .collect(),
            (None, Some(view)) => view.columns.iter().map(|c| c.name.clone()).collect(),
            (None, None) => return Ok(()),
        };
        if now.len() == dependency.columns.len() {
            return Ok(());
        }
        if !(dependency.columns.iter().zip(&now)).all(|(then, now)| then == now)
            || now.len() < dependency.columns.len()
        {
            return Err(Error::ObjectInUse {
                message: format!(
                    "relation \"{relation}\" no longer has the columns view \"{}\" reads",
                    self.view.name
                ),
            });
        }
        let query = narrowed(name, &dependency.columns)?;
        let alias = take_alias(factor, &relation);
        replace(factor, query, alias);
        Ok(())
    }
}

/// `name` as an identifier that reads back as it is: quoted unless it is
/// a plain lower-case name and no keyword.
fn ident(name: &str) -> Ident {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let keyword = ALL_KEYWORDS
        .binary_search(&name.to_ascii_uppercase().as_str())
        .is_ok();
    if plain && !keyword {
        Ident::new(name)
    } else {
        quoted(name)
    }
}

fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// The alias a view takes in the query that reads it: the one written (or
/// its name), with the view's column names after those the alias gives.
fn renamed<'c>(mut alias: TableAlias, columns: impl Iterator<Item = &'c str>) -> TableAlias {
    let given = alias.columns.len();
    alias
        .columns
        .extend(columns.skip(given).map(|c| TableAliasColumnDef {
            name: quoted(c),
            data_type: None,
        }));
    alias
}

/// `SELECT columns FROM name`.
fn narrowed(name: &ObjectName, columns: &[String]) -> Result<Query> {
    let columns = (columns.iter())
        .map(|c| quoted(c).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    parse_query(&format!("SELECT {columns} FROM {name}"))
}
