//! The role catalog (PostgreSQL's `pg_authid`): the roles of a storage tree,
//! created, altered and dropped under one lock and logged like DDL, so roles
//! are exactly as durable as the rest of the catalog.
//!
//! A role's password is kept only as the stored secret text the query layer
//! made of it (a SCRAM verifier or an md5 hash); storage never sees a
//! password. The ACLs that name roles live with the objects they protect
//! (see the storage tree), so an ACL goes with its object when that is
//! dropped.

use std::collections::BTreeMap;

use parking_lot::RwLock;

use super::acl::{PUBLIC, Role};
use super::error::{Error, Result};
use super::journal::{Durable, Journal};
use super::record::Record;

/// The first OID given to a role, after PostgreSQL's reserved range.
const FIRST_ROLE_OID: u32 = 16384;

/// What `CREATE ROLE` and `ALTER ROLE` set; `None` leaves a value as it is
/// (for `CREATE`: as PostgreSQL's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleChange {
    pub superuser: Option<bool>,
    pub login: Option<bool>,
    /// `Some(None)`: `PASSWORD NULL`.
    pub password: Option<Option<String>>,
}

/// The role catalog of a storage tree.
#[derive(Debug, Default)]
pub(super) struct Roles {
    roles: RwLock<BTreeMap<String, Role>>,
}

impl Roles {
    pub(super) fn get(&self, name: &str) -> Option<Role> {
        self.roles.read().get(name).cloned()
    }

    /// Every role, by name.
    pub(super) fn all(&self) -> Vec<Role> {
        self.roles.read().values().cloned().collect()
    }

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

    /// Replay: the role was dropped.
    pub(super) fn forget(&self, name: &str) {
        self.roles.write().remove(name);
    }

    /// Creates a role; the caller holds the commit lock.
    pub(super) fn create(
        &self,
        journal: &Journal,
        name: &str,
        change: RoleChange,
    ) -> Result<Durable<()>> {
        check_name(name)?;
        let mut roles = self.roles.write();
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
        let logged = journal.log_catalog(&[Record::PutRole(role.clone()).encode()], ())?;
        roles.insert(name.to_owned(), role);
        Ok(logged)
    }

    /// Changes a role; the caller holds the commit lock.
    pub(super) fn alter(
        &self,
        journal: &Journal,
        name: &str,
        change: RoleChange,
    ) -> Result<Durable<()>> {
        let mut roles = self.roles.write();
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
        let logged = journal.log_catalog(&[Record::PutRole(changed.clone()).encode()], ())?;
        *role = changed;
        Ok(logged)
    }

    /// Drops roles, all or none; the caller holds the commit lock. A role for
    /// which `granted_on` names an object it holds privileges on stays, as in
    /// PostgreSQL: revoke them first.
    pub(super) fn drop_all(
        &self,
        journal: &Journal,
        names: &[String],
        if_exists: bool,
        granted_on: impl Fn(&str) -> Option<String>,
    ) -> Result<Durable<()>> {
        let mut roles = self.roles.write();
        let mut records = Vec::with_capacity(names.len());
        for name in names {
            if !roles.contains_key(name) {
                if if_exists {
                    continue;
                }
                return Err(Error::RoleNotFound { name: name.clone() });
            }
            if let Some(object) = granted_on(name) {
                return Err(Error::RoleInUse {
                    name: name.clone(),
                    detail: format!("privileges for {object}"),
                });
            }
            records.push(Record::DropRole { name: name.clone() }.encode());
        }
        let logged = journal.log_catalog(&records, ())?;
        for name in names {
            roles.remove(name);
        }
        Ok(logged)
    }

    /// Runs `f` while `grantee` (a role, or [`PUBLIC`]) cannot be dropped, so
    /// that no grant `f` makes outlives its grantee.
    pub(super) fn while_grantee_exists<T>(
        &self,
        grantee: &str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let roles = self.roles.read();
        if grantee != PUBLIC && !roles.contains_key(grantee) {
            return Err(Error::RoleNotFound {
                name: grantee.to_owned(),
            });
        }
        f()
    }
}

fn check_name(name: &str) -> Result<()> {
    if name == PUBLIC || name == "none" || name.starts_with("pg_") || name.is_empty() {
        return Err(Error::ReservedRoleName { name: name.into() });
    }
    Ok(())
}
