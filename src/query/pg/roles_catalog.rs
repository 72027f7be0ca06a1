//! `pg_roles`, `pg_user` and `pg_authid` from the role catalog, in place of
//! pg-catalog's (which lists no roles). Passwords show as `********`, as in
//! `pg_roles`; `pg_authid` shows no verifier at all, since the catalogs are
//! readable by every role here.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::query::datasource::system::scan_batch;
use crate::storage::{Role, Storage};

/// The role tables this module answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Roles,
    User,
    Authid,
}

impl Kind {
    fn of(name: &str) -> Option<Self> {
        match name {
            "pg_roles" => Some(Kind::Roles),
            "pg_user" => Some(Kind::User),
            "pg_authid" => Some(Kind::Authid),
            _ => None,
        }
    }
}

/// A `pg_catalog` whose role tables read the role catalog.
#[derive(Debug)]
pub(crate) struct WithRoles {
    inner: Arc<dyn SchemaProvider>,
    storage: Arc<Storage>,
}

impl WithRoles {
    pub(crate) fn new(inner: Arc<dyn SchemaProvider>, storage: Arc<Storage>) -> Self {
        Self { inner, storage }
    }
}

#[async_trait]
impl SchemaProvider for WithRoles {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        if !names.iter().any(|n| n == "pg_user") {
            names.push("pg_user".to_owned());
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        match Kind::of(name) {
            Some(kind) => Ok(Some(Arc::new(RoleTable {
                kind,
                storage: self.storage.clone(),
            }))),
            None => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        Kind::of(name).is_some() || self.inner.table_exist(name)
    }
}

#[derive(Debug)]
struct RoleTable {
    kind: Kind,
    storage: Arc<Storage>,
}

fn schema(kind: Kind) -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let flag = |name: &str| Field::new(name, DataType::Boolean, true);
    let oid = |name: &str| Field::new(name, DataType::Int32, true);
    let until = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        )
    };
    let config = |name: &str| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )
    };
    let fields = match kind {
        Kind::User => vec![
            text("usename"),
            oid("usesysid"),
            flag("usecreatedb"),
            flag("usesuper"),
            flag("userepl"),
            flag("usebypassrls"),
            text("passwd"),
            until("valuntil"),
            config("useconfig"),
        ],
        Kind::Roles | Kind::Authid => {
            let mut fields = Vec::new();
            if kind == Kind::Authid {
                fields.push(oid("oid"));
            }
            fields.extend([
                text("rolname"),
                flag("rolsuper"),
                flag("rolinherit"),
                flag("rolcreaterole"),
                flag("rolcreatedb"),
                flag("rolcanlogin"),
                flag("rolreplication"),
                Field::new("rolconnlimit", DataType::Int32, true),
                text("rolpassword"),
                until("rolvaliduntil"),
                flag("rolbypassrls"),
            ]);
            if kind == Kind::Roles {
                fields.push(config("rolconfig"));
                fields.push(oid("oid"));
            }
            fields
        }
    };
    Arc::new(Schema::new(fields))
}

impl RoleTable {
    fn batch(&self) -> Result<RecordBatch> {
        let mut roles: Vec<Role> = self.storage.roles();
        if self.kind == Kind::User {
            roles.retain(|r| r.login);
        }
        let n = roles.len();
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            roles.iter().map(|r| r.name.as_str()),
        ));
        let oids: ArrayRef = Arc::new(Int32Array::from_iter_values(
            roles.iter().map(|r| r.oid as i32),
        ));
        let superuser: ArrayRef = Arc::new(BooleanArray::from_iter(
            roles.iter().map(|r| Some(r.superuser)),
        ));
        // What only superusers have here: CREATEROLE, CREATEDB, REPLICATION,
        // BYPASSRLS are all the superuser's.
        let same_as_superuser = superuser.clone();
        let constant = |value: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![value; n])) };
        let password: ArrayRef =
            Arc::new(StringArray::from_iter(roles.iter().map(
                |r| match self.kind {
                    Kind::Authid => None,
                    _ => r.password.as_ref().map(|_| "********"),
                },
            )));
        let until: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![None::<i64>; n]).with_timezone("UTC"));
        let config = || -> ArrayRef {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for _ in 0..n {
                builder.append_null();
            }
            Arc::new(builder.finish())
        };
        let columns = match self.kind {
            Kind::User => vec![
                names,
                oids,
                same_as_superuser.clone(),
                superuser,
                same_as_superuser.clone(),
                same_as_superuser,
                password,
                until,
                config(),
            ],
            Kind::Roles | Kind::Authid => {
                let login: ArrayRef =
                    Arc::new(BooleanArray::from_iter(roles.iter().map(|r| Some(r.login))));
                let mut columns = Vec::new();
                if self.kind == Kind::Authid {
                    columns.push(oids.clone());
                }
                columns.extend([
                    names,
                    superuser.clone(),
                    constant(true),
                    same_as_superuser.clone(),
                    same_as_superuser.clone(),
                    login,
                    same_as_superuser.clone(),
                    Arc::new(Int32Array::from(vec![-1; n])) as ArrayRef,
                    password,
                    until,
                    same_as_superuser,
                ]);
                if self.kind == Kind::Roles {
                    columns.push(config());
                    columns.push(oids);
                }
                columns
            }
        };
        Ok(RecordBatch::try_new(schema(self.kind), columns)?)
    }
}

#[async_trait]
impl TableProvider for RoleTable {
    fn schema(&self) -> SchemaRef {
        schema(self.kind)
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
