//! Roles and access control lists as plain data: what a role is, what
//! privileges are, and who holds which on one object (PostgreSQL's
//! `pg_authid` rows and `datacl`/`nspacl`/`relacl` values). The catalogs that
//! keep and log them are [`roles`](super::roles) and the storage tree.

use std::collections::BTreeMap;

/// The grantee that stands for every role, as in `GRANT ... TO PUBLIC`. No
/// role may take the name.
pub const PUBLIC: &str = "public";

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

    /// What `grantee` itself holds, without PUBLIC's.
    pub(super) fn granted_to(&self, grantee: &str) -> Privileges {
        self.entries.get(grantee).copied().unwrap_or_default()
    }

    /// The grantees and what each holds, PUBLIC's included.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Privileges)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    pub(super) fn set(&mut self, grantee: &str, privileges: Privileges) {
        if privileges.is_empty() && grantee != PUBLIC {
            self.entries.remove(grantee);
        } else {
            self.entries.insert(grantee.to_owned(), privileges);
        }
    }

    pub(super) fn holds_anything(&self, grantee: &str) -> bool {
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
