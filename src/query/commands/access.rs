//! Who may do what: the role statements (`CREATE`/`ALTER`/`DROP ROLE`, and
//! `USER`, which the session turns into `ROLE ... LOGIN`), `GRANT` and
//! `REVOKE`, and the privilege checks every statement passes before it runs.
//!
//! Privileges follow PostgreSQL for what EpochDB has: CONNECT on a database
//! (PUBLIC holds it by default), USAGE on a schema (PUBLIC holds it on
//! `public`), SELECT and INSERT on a table (nobody by default). Superusers
//! bypass every check; only they run DDL and manage roles, as the owner of
//! everything. Checks run when a statement executes, not when it is
//! prepared, so a REVOKE applies to statements prepared before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{LogicalPlan, TableSource, WriteOp};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Action, CreateRole, Expr as SqlExpr, GrantObjects, Grantee, GranteeName, GranteesType,
    ObjectName, ObjectType, Password, Privileges as SqlPrivileges, RoleOption, Statement, Value,
};

use super::names::{normalize, qualified, single_name};
use crate::password::{Encryption, Secret};
use crate::query::datasource::table::SeriesTableProvider;
use crate::query::error::{Error, Result};
use crate::query::output::Output;
use crate::storage::{self, Grantable, PUBLIC, Privileges, RoleChange, Storage};

/// The role a session acts as, installed in its DataFusion context.
#[derive(Debug)]
pub struct Principal {
    name: String,
    /// Logged in without a password, under a name that is no role: the
    /// development default on loopback (see `--superuser`), a superuser.
    trusted_superuser: bool,
    /// `password_encryption = md5`.
    md5_passwords: AtomicBool,
}

impl Principal {
    /// The session of role `name`; `trusted_superuser` for a trusted login
    /// under a name that is no role.
    pub fn new(name: &str, trusted_superuser: bool) -> Self {
        Self {
            name: name.to_owned(),
            trusted_superuser,
            md5_passwords: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How passwords set by this session are stored.
    pub fn set_password_encryption(&self, encryption: Encryption) {
        self.md5_passwords
            .store(encryption == Encryption::Md5, Ordering::Relaxed);
    }

    fn encryption(&self) -> Encryption {
        if self.md5_passwords.load(Ordering::Relaxed) {
            Encryption::Md5
        } else {
            Encryption::ScramSha256
        }
    }

    /// Whether the principal is a superuser now (a role's status may change
    /// while it is connected; a dropped role holds nothing).
    pub fn is_superuser(&self, storage: &Storage) -> bool {
        self.trusted_superuser || storage.role(&self.name).is_some_and(|r| r.superuser)
    }
}

/// The principal of a context (a context without one, in tests and tools,
/// acts as a superuser).
fn principal(ctx: &SessionContext) -> Option<Arc<Principal>> {
    ctx.state_ref().read().config().get_extension::<Principal>()
}

fn denied(message: impl Into<String>) -> Error {
    Error::PermissionDenied {
        message: message.into(),
        detail: None,
    }
}

/// Fails unless the context's principal is a superuser; `message` says what
/// a non-superuser may not do, in PostgreSQL's words.
pub(crate) fn require_superuser(
    storage: &Storage,
    ctx: &SessionContext,
    message: impl FnOnce() -> String,
) -> Result<()> {
    match principal(ctx) {
        Some(principal) if !principal.is_superuser(storage) => Err(denied(message())),
        _ => Ok(()),
    }
}

/// May `principal` connect to `database`? PostgreSQL's check at login.
pub(crate) fn check_connect(
    storage: &Storage,
    principal: &Principal,
    database: &str,
) -> Result<()> {
    if principal.is_superuser(storage) {
        return Ok(());
    }
    let allowed = storage.database(database).is_some_and(|db| {
        db.acl()
            .effective(&principal.name)
            .contains(Privileges::CONNECT)
    });
    if allowed {
        Ok(())
    } else {
        Err(Error::PermissionDenied {
            message: format!("permission denied for database \"{database}\""),
            detail: Some("User does not have CONNECT privilege.".into()),
        })
    }
}

/// Checks what a plan reads (SELECT) and writes (INSERT) against the
/// context's principal.
pub(crate) fn check_plan(
    storage: &Storage,
    ctx: &SessionContext,
    plan: &LogicalPlan,
) -> Result<()> {
    let Some(principal) = principal(ctx) else {
        return Ok(());
    };
    if principal.is_superuser(storage) {
        return Ok(());
    }
    let mut failure = None;
    plan.apply_with_subqueries(|node| {
        let checked = match node {
            LogicalPlan::TableScan(scan) => {
                check_source(&principal, &scan.source, Privileges::SELECT)
            }
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                check_source(&principal, &dml.target, Privileges::INSERT)
            }
            // UPDATE and DELETE, which no privilege of EpochDB's grants
            // yet, and whatever else writes or defines, are the owner's,
            // as DDL is.
            LogicalPlan::Dml(dml) => Err(denied(format!(
                "permission denied for table {}",
                dml.table_name.table()
            ))),
            LogicalPlan::Ddl(_) | LogicalPlan::Copy(_) => Err(denied(
                "permission denied: only superusers change definitions",
            )),
            _ => Ok(()),
        };
        Ok(match checked {
            Ok(()) => TreeNodeRecursion::Continue,
            Err(e) => {
                failure = Some(e);
                TreeNodeRecursion::Stop
            }
        })
    })?;
    failure.map_or(Ok(()), Err)
}

fn check_source(
    principal: &Principal,
    source: &Arc<dyn TableSource>,
    needed: Privileges,
) -> Result<()> {
    // Only EpochDB's tables have ACLs; the catalogs are readable by all.
    let Ok(provider) = source_as_provider(source) else {
        return Ok(());
    };
    let Some(series) = provider.downcast_ref::<SeriesTableProvider>() else {
        return Ok(());
    };
    check_table(principal, series.namespace(), series.table(), needed)
}

/// USAGE on the schema, then `needed` on the table.
pub(crate) fn check_table(
    principal: &Principal,
    namespace: &storage::Namespace,
    table: &storage::Table,
    needed: Privileges,
) -> Result<()> {
    if !namespace
        .acl()
        .effective(&principal.name)
        .contains(Privileges::USAGE)
    {
        return Err(denied(format!(
            "permission denied for schema {}",
            namespace.name()
        )));
    }
    if !table.acl().effective(&principal.name).contains(needed) {
        return Err(denied(format!(
            "permission denied for table {}",
            table.name()
        )));
    }
    Ok(())
}

/// `COPY ... FROM STDIN` needs INSERT on its table.
pub(crate) fn check_copy_from(
    storage: &Storage,
    ctx: &SessionContext,
    namespace: &storage::Namespace,
    table: &storage::Table,
) -> Result<()> {
    match principal(ctx) {
        Some(principal) if !principal.is_superuser(storage) => {
            check_table(&principal, namespace, table, Privileges::INSERT)
        }
        _ => Ok(()),
    }
}

/// A role statement, `GRANT` or `REVOKE`.
#[derive(Debug, Clone)]
pub enum Dcl {
    CreateRole {
        name: String,
        options: RoleOptions,
    },
    AlterRole {
        name: String,
        options: RoleOptions,
    },
    DropRoles {
        names: Vec<String>,
        if_exists: bool,
    },
    Grant {
        privileges: Vec<Privilege>,
        objects: Objects,
        grantees: Vec<String>,
        revoke: bool,
    },
}

/// The options of `CREATE ROLE` and `ALTER ROLE`; the password as given.
#[derive(Clone, Default)]
pub struct RoleOptions {
    superuser: Option<bool>,
    login: Option<bool>,
    /// `Some(None)` for `PASSWORD NULL`.
    password: Option<Option<String>>,
}

impl std::fmt::Debug for RoleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A password never reaches a log.
        f.debug_struct("RoleOptions")
            .field("superuser", &self.superuser)
            .field("login", &self.login)
            .field(
                "password",
                &self.password.as_ref().map(|p| p.as_ref().map(|_| "…")),
            )
            .finish()
    }
}

/// A privilege EpochDB enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    All,
    Connect,
    Usage,
    Select,
    Insert,
}

impl Privilege {
    fn keyword(self) -> &'static str {
        match self {
            Privilege::All => "ALL",
            Privilege::Connect => "CONNECT",
            Privilege::Usage => "USAGE",
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
        }
    }
}

/// What a GRANT is on.
#[derive(Debug, Clone)]
pub enum Objects {
    Databases(Vec<String>),
    Schemas(Vec<String>),
    Tables(Vec<ObjectName>),
    AllTablesInSchemas(Vec<String>),
}

impl Objects {
    fn kind(&self) -> &'static str {
        match self {
            Objects::Databases(_) => "database",
            Objects::Schemas(_) => "schema",
            Objects::Tables(_) | Objects::AllTablesInSchemas(_) => "table",
        }
    }

    /// The privileges `privilege` means on this kind of object.
    fn privileges(&self, privilege: Privilege) -> Result<Privileges> {
        let bits = match (self, privilege) {
            (Objects::Databases(_), Privilege::All | Privilege::Connect) => Privileges::CONNECT,
            (Objects::Schemas(_), Privilege::All | Privilege::Usage) => Privileges::USAGE,
            (Objects::Tables(_) | Objects::AllTablesInSchemas(_), Privilege::All) => {
                Privileges::SELECT.union(Privileges::INSERT)
            }
            (Objects::Tables(_) | Objects::AllTablesInSchemas(_), Privilege::Select) => {
                Privileges::SELECT
            }
            (Objects::Tables(_) | Objects::AllTablesInSchemas(_), Privilege::Insert) => {
                Privileges::INSERT
            }
            (objects, privilege) => {
                return Err(Error::InvalidGrant {
                    message: format!(
                        "invalid privilege type {} for {}",
                        privilege.keyword(),
                        objects.kind()
                    ),
                });
            }
        };
        Ok(bits)
    }
}

fn unsupported(what: impl Into<String>) -> Error {
    Error::Unsupported { what: what.into() }
}

fn role_options(create: &CreateRole) -> Result<RoleOptions> {
    let mut options = Vec::new();
    if let Some(v) = create.superuser {
        options.push(RoleOption::SuperUser(v));
    }
    if let Some(v) = create.login {
        options.push(RoleOption::Login(v));
    }
    if let Some(password) = &create.password {
        options.push(RoleOption::Password(password.clone()));
    }
    let ignored = create.inherit.is_some()
        || create.bypassrls.is_some()
        || create.create_db.is_some()
        || create.create_role.is_some()
        || create.replication.is_some()
        || create.connection_limit.is_some()
        || create.valid_until.is_some()
        || !create.in_role.is_empty()
        || !create.in_group.is_empty()
        || !create.role.is_empty()
        || !create.user.is_empty()
        || !create.admin.is_empty()
        || create.authorization_owner.is_some();
    if ignored {
        return Err(unsupported(
            "a role option other than SUPERUSER, LOGIN and PASSWORD",
        ));
    }
    parse_options(&options)
}

fn parse_options(options: &[RoleOption]) -> Result<RoleOptions> {
    let mut parsed = RoleOptions::default();
    for option in options {
        match option {
            RoleOption::SuperUser(v) => parsed.superuser = Some(*v),
            RoleOption::Login(v) => parsed.login = Some(*v),
            RoleOption::Password(Password::NullPassword) => parsed.password = Some(None),
            RoleOption::Password(Password::Password(expr)) => {
                let text = match expr {
                    SqlExpr::Value(v) => match &v.value {
                        Value::SingleQuotedString(s)
                        | Value::EscapedStringLiteral(s)
                        | Value::DollarQuotedString(
                            datafusion::sql::sqlparser::ast::DollarQuotedString {
                                value: s, ..
                            },
                        ) => Some(s.clone()),
                        Value::Null => None,
                        _ => {
                            return Err(Error::InvalidParameterValue {
                                message: "a password must be a string literal".into(),
                            });
                        }
                    },
                    _ => {
                        return Err(Error::InvalidParameterValue {
                            message: "a password must be a string literal".into(),
                        });
                    }
                };
                parsed.password = Some(text);
            }
            other => {
                return Err(unsupported(format!("role option {other}")));
            }
        }
    }
    Ok(parsed)
}

fn object_names(names: &[ObjectName]) -> Result<Vec<String>> {
    names.iter().map(single_name).collect()
}

fn grant_parts(
    privileges: &SqlPrivileges,
    objects: Option<&GrantObjects>,
    grantees: &[Grantee],
) -> Result<(Vec<Privilege>, Objects, Vec<String>)> {
    let privileges = match privileges {
        SqlPrivileges::All { .. } => vec![Privilege::All],
        SqlPrivileges::Actions(actions) => actions
            .iter()
            .map(|action| match action {
                Action::Connect => Ok(Privilege::Connect),
                Action::Usage => Ok(Privilege::Usage),
                Action::Select { columns: None } => Ok(Privilege::Select),
                Action::Insert { columns: None } => Ok(Privilege::Insert),
                Action::Select { .. } | Action::Insert { .. } => {
                    Err(unsupported("column privileges"))
                }
                other => Err(unsupported(format!(
                    "privilege {other} (EpochDB has CONNECT, USAGE, SELECT and INSERT)"
                ))),
            })
            .collect::<Result<_>>()?,
    };
    let objects = match objects {
        Some(GrantObjects::Databases(names)) => Objects::Databases(object_names(names)?),
        Some(GrantObjects::Schemas(names)) => Objects::Schemas(object_names(names)?),
        Some(GrantObjects::Tables(names)) => Objects::Tables(names.clone()),
        Some(GrantObjects::AllTablesInSchema { schemas }) => {
            Objects::AllTablesInSchemas(object_names(schemas)?)
        }
        Some(other) => return Err(unsupported(format!("GRANT ON {other}"))),
        None => return Err(unsupported("granting membership in a role")),
    };
    let grantees = grantees
        .iter()
        .map(|grantee| match (&grantee.grantee_type, &grantee.name) {
            (GranteesType::Public, _) => Ok(PUBLIC.to_owned()),
            (
                GranteesType::None | GranteesType::Role | GranteesType::User | GranteesType::Group,
                Some(GranteeName::ObjectName(name)),
            ) => single_name(name),
            _ => Err(unsupported(format!("grantee {grantee}"))),
        })
        .collect::<Result<_>>()?;
    Ok((privileges, objects, grantees))
}

impl Dcl {
    /// The role statement, GRANT or REVOKE this is, if it is one.
    pub(crate) fn from_statement(statement: &Statement) -> Result<Option<Self>> {
        Ok(Some(match statement {
            Statement::CreateRole(create) => {
                let [name] = create.names.as_slice() else {
                    return Err(unsupported("creating several roles at once"));
                };
                if create.if_not_exists {
                    return Err(unsupported("CREATE ROLE IF NOT EXISTS"));
                }
                Dcl::CreateRole {
                    name: single_name(name)?,
                    options: role_options(create)?,
                }
            }
            Statement::AlterRole { name, operation } => {
                use datafusion::sql::sqlparser::ast::AlterRoleOperation;
                match operation {
                    AlterRoleOperation::WithOptions { options } => Dcl::AlterRole {
                        name: normalize(name),
                        options: parse_options(options)?,
                    },
                    other => return Err(unsupported(format!("ALTER ROLE {other}"))),
                }
            }
            Statement::Drop {
                object_type: ObjectType::Role | ObjectType::User,
                if_exists,
                names,
                cascade,
                ..
            } => {
                if *cascade {
                    return Err(unsupported("DROP ROLE ... CASCADE"));
                }
                Dcl::DropRoles {
                    names: object_names(names)?,
                    if_exists: *if_exists,
                }
            }
            Statement::Grant(grant) => {
                if grant.with_grant_option {
                    return Err(unsupported("WITH GRANT OPTION"));
                }
                let (privileges, objects, grantees) =
                    grant_parts(&grant.privileges, grant.objects.as_ref(), &grant.grantees)?;
                Dcl::Grant {
                    privileges,
                    objects,
                    grantees,
                    revoke: false,
                }
            }
            Statement::Revoke(revoke) => {
                let (privileges, objects, grantees) = grant_parts(
                    &revoke.privileges,
                    revoke.objects.as_ref(),
                    &revoke.grantees,
                )?;
                Dcl::Grant {
                    privileges,
                    objects,
                    grantees,
                    revoke: true,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// Runs the statement; returns once the change is durable.
    pub(crate) async fn execute(&self, storage: &Storage, ctx: &SessionContext) -> Result<Output> {
        let (tag, changes) = self.apply(storage, ctx)?;
        for change in changes {
            change.durable().await?;
        }
        Ok(Output::Command { tag, rows: None })
    }

    fn apply(
        &self,
        storage: &Storage,
        ctx: &SessionContext,
    ) -> Result<(&'static str, Vec<storage::Durable<()>>)> {
        let principal = principal(ctx);
        let encryption = principal
            .as_ref()
            .map_or(Encryption::ScramSha256, |p| p.encryption());
        let change = |name: &str, options: &RoleOptions| -> Result<RoleChange> {
            let password = match &options.password {
                // As PostgreSQL: an empty password is no password (a client
                // that sends an empty one must not get in).
                Some(Some(password)) if password.is_empty() => Some(None),
                Some(Some(password)) => {
                    Some(Some(Secret::new(name, password, encryption)?.to_text()))
                }
                Some(None) => Some(None),
                None => None,
            };
            Ok(RoleChange {
                superuser: options.superuser,
                login: options.login,
                password,
            })
        };
        match self {
            Dcl::CreateRole { name, options } => {
                require_superuser(storage, ctx, || "permission denied to create role".into())?;
                let created = storage.create_role(name, change(name, options)?)?;
                Ok(("CREATE ROLE", vec![created]))
            }
            Dcl::AlterRole { name, options } => {
                // A role may change its own password, and nothing else.
                let own_password = principal.as_ref().is_some_and(|p| p.name() == name)
                    && options.superuser.is_none()
                    && options.login.is_none();
                if !own_password {
                    require_superuser(storage, ctx, || {
                        format!("permission denied to alter role \"{name}\"")
                    })?;
                }
                let altered = storage.alter_role(name, change(name, options)?)?;
                Ok(("ALTER ROLE", vec![altered]))
            }
            Dcl::DropRoles { names, if_exists } => {
                require_superuser(storage, ctx, || "permission denied to drop role".into())?;
                if let Some(principal) = &principal
                    && names.iter().any(|n| n == principal.name())
                {
                    return Err(Error::ObjectInUse {
                        message: "current user cannot be dropped".into(),
                    });
                }
                Ok(("DROP ROLE", vec![storage.drop_roles(names, *if_exists)?]))
            }
            Dcl::Grant {
                privileges,
                objects,
                grantees,
                revoke,
            } => {
                let tag = if *revoke { "REVOKE" } else { "GRANT" };
                let mut bits = Privileges::NONE;
                for &privilege in privileges {
                    bits = bits.union(objects.privileges(privilege)?);
                }
                let update = |held: Privileges| {
                    if *revoke {
                        held.without(bits)
                    } else {
                        held.union(bits)
                    }
                };
                let targets = self.targets(storage, ctx, objects)?;
                let mut changes = Vec::new();
                for grantee in grantees {
                    changes.extend(storage.update_privileges(grantee, &targets, update)?);
                }
                Ok((tag, changes))
            }
        }
    }

    /// The objects a GRANT names, which must all exist; only superusers
    /// (the owners of everything) grant.
    fn targets(
        &self,
        storage: &Storage,
        ctx: &SessionContext,
        objects: &Objects,
    ) -> Result<Vec<Grantable>> {
        let options = ctx.state().config_options().catalog.clone();
        let current = || {
            storage.database(&options.default_catalog).ok_or_else(|| {
                storage::Error::DatabaseNotFound {
                    name: options.default_catalog.clone(),
                }
            })
        };
        let schema = |name: &str| -> Result<Arc<storage::Namespace>> {
            current()?
                .schema(name)
                .ok_or_else(|| storage::Error::SchemaNotFound { name: name.into() }.into())
        };
        let targets: Vec<Grantable> = match objects {
            Objects::Databases(names) => names
                .iter()
                .map(|name| {
                    require_superuser(storage, ctx, || {
                        format!("permission denied for database {name}")
                    })?;
                    storage
                        .database(name)
                        .map(Grantable::Database)
                        .ok_or_else(|| {
                            storage::Error::DatabaseNotFound { name: name.clone() }.into()
                        })
                })
                .collect::<Result<_>>()?,
            Objects::Schemas(names) => names
                .iter()
                .map(|name| {
                    require_superuser(storage, ctx, || {
                        format!("permission denied for schema {name}")
                    })?;
                    schema(name).map(Grantable::Schema)
                })
                .collect::<Result<_>>()?,
            Objects::Tables(names) => names
                .iter()
                .map(|name| {
                    let (schema_name, table) =
                        qualified(name, &options.default_catalog, &options.default_schema)?;
                    require_superuser(storage, ctx, || {
                        format!("permission denied for table {table}")
                    })?;
                    let namespace = schema(&schema_name)?;
                    if namespace.view(&table).is_some() {
                        return Err(Error::Unsupported {
                            what: "privileges on a view (a view is read with the privileges \
                                   on the tables it reads)"
                                .into(),
                        });
                    }
                    namespace
                        .table(&table)
                        .map(Grantable::Table)
                        .ok_or_else(|| Error::UndefinedTable {
                            name: name.to_string(),
                        })
                })
                .collect::<Result<_>>()?,
            Objects::AllTablesInSchemas(names) => {
                let mut tables = Vec::new();
                for name in names {
                    require_superuser(storage, ctx, || {
                        format!("permission denied for schema {name}")
                    })?;
                    let namespace = schema(name)?;
                    for table in namespace.table_names() {
                        tables.extend(namespace.table(&table).map(Grantable::Table));
                    }
                }
                tables
            }
        };
        Ok(targets)
    }
}
