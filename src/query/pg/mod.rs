//! PostgreSQL compatibility in the query layer: functions PostgreSQL clients
//! call (`version()`, the catalog functions, overrides of DataFusion's), the
//! column names PostgreSQL gives results, and the role catalogs.

pub(crate) mod column_names;
pub(crate) mod functions;
pub(crate) mod placeholders;
pub(crate) mod roles_catalog;
pub(crate) mod set_comparison;
