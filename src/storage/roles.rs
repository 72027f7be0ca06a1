//! Roles (users) and access control lists, PostgreSQL's `pg_authid` and the
//! `datacl`/`nspacl`/`relacl` columns.
//!
//! Roles live in [`Storage`]; each database, schema and table keeps its own
//! [`Acl`], so an ACL goes with the object it protects when that is dropped.
//! A role's password is kept only as the stored secret text the query layer
//! made of it (a SCRAM verifier or an md5 hash); storage never sees a
//! password. Every change is logged like DDL, so roles and grants are exactly
//! as durable as the catalog.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::journal::{Journal, Record};
use super::{Database, Durable, Error, Namespace, Result, Storage, Table};

/// The grantee that stands for every role, as in `GRANT ... TO PUBLIC`. No
/// role may take the name.
pub const PUBLIC: &str = "public";

/// The first OID given to a role, after PostgreSQL's reserved range.
const FIRST_ROLE_OID: u32 = 16384;

/// A role.
#[derive(Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub oid: u32,
    pub superuser: bool,
    pub login: bool,
    /// The stored secret (see [`crate::password`]); `None`: no password, so
    /// no password login.
    pub password: Option<String>,
}

impl std::fmt::Debug for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The verifier stays out of logs: only whether there is one.
        f.debug_struct("Role")
            .field("name", &self.name)
            .field("oid", &self.oid)
            .field("superuser", &self.superuser)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

/// A set of privileges on one object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges(u8);

impl Privileges {
    pub const NONE: Self = Self(0);
    /// On a database: connecting to it.
    pub const CONNECT: Self = Self(1);
    /// On a schema: looking up the objects in it.
    pub const USAGE: Self = Self(2);
    /// On a table.
    pub const SELECT: Self = Self(4);
    /// On a table.
    pub const INSERT: Self = Self(8);

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(super) fn bits(self) -> u8 {
        self.0
    }

    pub(super) fn from_bits(bits: u8) -> Self {
        Self(bits & 0b1111)
    }
}

/// Who holds which privileges on one object. `PUBLIC`'s entry stays even when
/// empty, so a revoked default survives a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    entries: BTreeMap<String, Privileges>,
}

impl Acl {
    /// PUBLIC holds `privileges`: the default of new databases (CONNECT) and
    /// of each database's `public` schema (USAGE).
    pub(super) fn public(privileges: Privileges) -> Self {
        let mut acl = Self::default();
        acl.entries.insert(PUBLIC.to_owned(), privileges);
        acl
    }

    /// What `role` may do: its own grants and PUBLIC's.
    pub fn effective(&self, role: &str) -> Privileges {
        let own = self.entries.get(role).copied().unwrap_or_default();
        own.union(self.entries.get(PUBLIC).copied().unwrap_or_default())
    }

    /// The grantees and what each holds, PUBLIC's included.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Privileges)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    fn set(&mut self, grantee: &str, privileges: Privileges) {
        if privileges.is_empty() && grantee != PUBLIC {
            self.entries.remove(grantee);
        } else {
            self.entries.insert(grantee.to_owned(), privileges);
        }
    }

    fn holds_anything(&self, grantee: &str) -> bool {
        self.entries.get(grantee).is_some_and(|p| !p.is_empty())
    }
}

/// An object with an ACL, as WAL records name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AclObject {
    Database(String),
    Schema { database: String, name: String },
    Table(u64),
}

/// Replay: `grantee` holds `privileges` in `acl`, as logged.
pub(super) fn restore_acl(acl: &RwLock<Acl>, grantee: &str, privileges: Privileges) {
    acl.write().set(grantee, privileges);
}

/// Changes `grantee`'s privileges in `acl` (of `object`) under the object's
/// own lock, logging the result; the caller holds the commit lock.
fn apply_acl(
    journal: &Journal,
    acl: &RwLock<Acl>,
    object: AclObject,
    grantee: &str,
    update: impl FnOnce(Privileges) -> Privileges,
) -> Result<Durable<()>> {
    let mut acl = acl.write();
    let privileges = update(acl.entries.get(grantee).copied().unwrap_or_default());
    let record = Record::SetAcl {
        object,
        grantee: grantee.to_owned(),
        privileges: privileges.bits(),
    };
    let logged = journal.log(&[record.encode()], ())?;
    acl.set(grantee, privileges);
    Ok(logged)
}

/// An object privileges are granted on.
#[derive(Debug, Clone)]
pub enum Grantable {
    Database(Arc<Database>),
    Schema(Arc<Namespace>),
    Table(Arc<Table>),
}

/// The role catalog of a storage tree.
#[derive(Debug)]
pub(super) struct Roles {
    roles: RwLock<BTreeMap<String, Role>>,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            roles: RwLock::new(BTreeMap::new()),
        }
    }
}

impl Roles {
    pub(super) fn snapshot_records(&self) -> Vec<Record> {
        self.roles
            .read()
            .values()
            .map(|role| Record::PutRole(role.clone()))
            .collect()
    }

    /// Replay: the role as logged, created or replaced.
    pub(super) fn restore(&self, role: Role) {
        self.roles.write().insert(role.name.clone(), role);
    }

    pub(super) fn forget(&self, name: &str) {
        self.roles.write().remove(name);
    }
}

/// What `CREATE ROLE` and `ALTER ROLE` set; `None` leaves a value as it is
/// (for `CREATE`: as PostgreSQL's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleChange {
    pub superuser: Option<bool>,
    pub login: Option<bool>,
    /// `Some(None)`: `PASSWORD NULL`.
    pub password: Option<Option<String>>,
}

fn check_name(name: &str) -> Result<()> {
    if name == PUBLIC || name == "none" || name.starts_with("pg_") || name.is_empty() {
        return Err(Error::ReservedRoleName { name: name.into() });
    }
    Ok(())
}

impl Storage {
    /// The role `name`, if it exists.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.roles.roles.read().get(name).cloned()
    }

    /// Every role, by name.
    pub fn roles(&self) -> Vec<Role> {
        self.roles.roles.read().values().cloned().collect()
    }

    /// Creates a role.
    pub fn create_role(&self, name: &str, change: RoleChange) -> Result<Durable<()>> {
        check_name(name)?;
        let _change = self.journal.change();
        let mut roles = self.roles.roles.write();
        if roles.contains_key(name) {
            return Err(Error::RoleExists { name: name.into() });
        }
        let oid = roles
            .values()
            .map(|r| r.oid + 1)
            .max()
            .unwrap_or(FIRST_ROLE_OID)
            .max(FIRST_ROLE_OID);
        let role = Role {
            name: name.to_owned(),
            oid,
            superuser: change.superuser.unwrap_or(false),
            login: change.login.unwrap_or(false),
            password: change.password.flatten(),
        };
        let logged = self
            .journal
            .log(&[Record::PutRole(role.clone()).encode()], ())?;
        roles.insert(name.to_owned(), role);
        Ok(logged)
    }

    /// Changes a role.
    pub fn alter_role(&self, name: &str, change: RoleChange) -> Result<Durable<()>> {
        let _change = self.journal.change();
        let mut roles = self.roles.roles.write();
        let Some(role) = roles.get_mut(name) else {
            return Err(Error::RoleNotFound { name: name.into() });
        };
        let mut changed = role.clone();
        if let Some(superuser) = change.superuser {
            changed.superuser = superuser;
        }
        if let Some(login) = change.login {
            changed.login = login;
        }
        if let Some(password) = change.password {
            changed.password = password;
        }
        let logged = self
            .journal
            .log(&[Record::PutRole(changed.clone()).encode()], ())?;
        *role = changed;
        Ok(logged)
    }

    /// Drops roles, all or none. A role that still holds privileges on some
    /// object stays, as in PostgreSQL: revoke them first. A role that does not
    /// exist is an error unless `if_exists` is set.
    pub fn drop_roles(&self, names: &[String], if_exists: bool) -> Result<Durable<()>> {
        let _change = self.journal.change();
        let mut roles = self.roles.roles.write();
        let mut records = Vec::with_capacity(names.len());
        for name in names {
            if !roles.contains_key(name) {
                if if_exists {
                    continue;
                }
                return Err(Error::RoleNotFound { name: name.clone() });
            }
            if let Some(object) = self.object_granted_to(name) {
                return Err(Error::RoleInUse {
                    name: name.clone(),
                    detail: format!("privileges for {object}"),
                });
            }
            records.push(Record::DropRole { name: name.clone() }.encode());
        }
        let logged = self.journal.log(&records, ())?;
        for name in names {
            roles.remove(name);
        }
        Ok(logged)
    }

    /// Changes what `grantee` (a role, or [`PUBLIC`]) holds on each of
    /// `objects`. The role cannot be dropped meanwhile, so no grant outlives
    /// its grantee.
    pub fn update_privileges(
        &self,
        grantee: &str,
        objects: &[Grantable],
        update: impl Fn(Privileges) -> Privileges,
    ) -> Result<Vec<Durable<()>>> {
        let _change = self.journal.change();
        let roles = self.roles.roles.read();
        if grantee != PUBLIC && !roles.contains_key(grantee) {
            return Err(Error::RoleNotFound {
                name: grantee.to_owned(),
            });
        }
        let journal = self.journal.as_ref();
        objects
            .iter()
            .map(|object| match object {
                Grantable::Database(db) => apply_acl(
                    journal,
                    &db.acl,
                    AclObject::Database(db.name.clone()),
                    grantee,
                    &update,
                ),
                Grantable::Schema(namespace) => apply_acl(
                    journal,
                    &namespace.acl,
                    AclObject::Schema {
                        database: namespace.database.clone(),
                        name: namespace.name.clone(),
                    },
                    grantee,
                    &update,
                ),
                Grantable::Table(table) => apply_acl(
                    journal,
                    table.acl_lock(),
                    AclObject::Table(table.id()),
                    grantee,
                    &update,
                ),
            })
            .collect()
    }

    /// The first object (as PostgreSQL names it in a DETAIL) on which
    /// `grantee` holds a privilege.
    fn object_granted_to(&self, grantee: &str) -> Option<String> {
        for database in self.databases.read().values() {
            if database.acl.read().holds_anything(grantee) {
                return Some(format!("database {}", database.name));
            }
            for namespace in database.schemas.read().values() {
                if namespace.acl.read().holds_anything(grantee) {
                    return Some(format!("schema {}", namespace.name()));
                }
                for (name, table) in namespace.tables.read().iter() {
                    if table.acl_lock().read().holds_anything(grantee) {
                        return Some(format!("table {name}"));
                    }
                }
            }
        }
        None
    }
}
