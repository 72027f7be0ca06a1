//! TimescaleDB's spellings of a table's retention:
//! `add_retention_policy('t', INTERVAL '7 days' [, if_not_exists])` and
//! `remove_retention_policy('t' [, if_exists])`, beside `ALTER TABLE t SET
//! (retention = ...)`. They are functions of one session: they change a
//! table of the session's database as the session's role (a superuser, as
//! for DDL), and answer once the change is durable.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::access::Principal;
use super::names::qualified_text;
use crate::query::error::Error;
use crate::storage::{Namespace, Storage, Table};

/// The two functions, for the session of `principal`.
pub(crate) fn udfs(storage: Arc<Storage>, principal: Arc<Principal>) -> Vec<ScalarUDF> {
    let interval = DataType::Interval(IntervalUnit::MonthDayNano);
    let add = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Utf8, interval.clone()]),
            TypeSignature::Exact(vec![DataType::Utf8, interval, DataType::Boolean]),
        ],
        Volatility::Volatile,
    );
    let remove = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Utf8]),
            TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
        ],
        Volatility::Volatile,
    );
    [(true, add), (false, remove)]
        .into_iter()
        .map(|(add, signature)| {
            AsyncScalarUDF::new(Arc::new(RetentionPolicy {
                add,
                storage: storage.clone(),
                principal: principal.clone(),
                signature,
            }))
            .into_scalar_udf()
        })
        .collect()
}

/// `add_retention_policy` (`add`) or `remove_retention_policy`.
#[derive(Debug)]
struct RetentionPolicy {
    add: bool,
    storage: Arc<Storage>,
    principal: Arc<Principal>,
    signature: Signature,
}

impl PartialEq for RetentionPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.add == other.add
            && Arc::ptr_eq(&self.storage, &other.storage)
            && Arc::ptr_eq(&self.principal, &other.principal)
    }
}

impl Eq for RetentionPolicy {}

impl Hash for RetentionPolicy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.add.hash(state);
    }
}

/// TimescaleDB numbers its jobs from 1000; a table's policy is its job.
const FIRST_JOB_ID: i64 = 1000;

impl ScalarUDFImpl for RetentionPolicy {
    fn name(&self) -> &str {
        if self.add {
            "add_retention_policy"
        } else {
            "remove_retention_policy"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        // `remove_retention_policy` returns void, which reads as empty text.
        Ok(if self.add {
            DataType::Int32
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(Error::Unsupported {
            what: format!("{} here (only in a select list)", self.name()),
        }
        .into())
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for RetentionPolicy {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let arrays = (args.args.iter())
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let catalog = &args.config_options.catalog;
        let mut jobs = Vec::with_capacity(rows);
        for row in 0..rows {
            let Some(name) = arrays.first().map(|a| a.as_string::<i32>()) else {
                return exec_err!("{} needs a table", self.name());
            };
            if name.is_null(row) {
                jobs.push(None);
                continue;
            }
            let flag = |index: usize| {
                (arrays.get(index)).is_some_and(|a| a.is_valid(row) && a.as_boolean().value(row))
            };
            let (namespace, table) = self.table(
                name.value(row),
                &catalog.default_catalog,
                &catalog.default_schema,
            )?;
            let job = if self.add {
                let Some(drop_after) = arrays
                    .get(1)
                    .map(|a| a.as_primitive::<IntervalMonthDayNanoType>())
                else {
                    return exec_err!("add_retention_policy needs an interval");
                };
                let retention = (drop_after.is_valid(row))
                    .then(|| micros(drop_after.value(row)))
                    .flatten()
                    .filter(|&r| r > 0)
                    .ok_or_else(|| Error::InvalidParameterValue {
                        message: "drop_after must be a positive interval".into(),
                    })?;
                self.add(&namespace, &table, retention, flag(2)).await?
            } else {
                self.remove(&namespace, &table, flag(1)).await?;
                None
            };
            jobs.push(job);
        }
        Ok(ColumnarValue::Array(if self.add {
            Arc::new(Int32Array::from(jobs))
        } else {
            Arc::new(StringArray::from(vec![Some(""); rows]))
        }))
    }
}

impl RetentionPolicy {
    /// The table `name` names (`t` or `schema.t`, as SQL writes names), in
    /// the session's database; a superuser's to change.
    fn table(
        &self,
        name: &str,
        database: &str,
        current_schema: &str,
    ) -> Result<(Arc<Namespace>, Arc<Table>)> {
        let (schema, table) = qualified_text(name, database, current_schema)?;
        let found = (self.storage.database(database))
            .and_then(|db| db.schema(&schema))
            .and_then(|ns| Some((ns.table(&table)?, ns)));
        let Some((table, namespace)) = found else {
            return Err(Error::UndefinedTable { name: table }.into());
        };
        if !self.principal.is_superuser(&self.storage) {
            return Err(Error::PermissionDenied {
                message: format!("must be owner of hypertable \"{}\"", table.name()),
                detail: None,
            }
            .into());
        }
        if table.schema().is_plain() {
            return Err(Error::InvalidParameterValue {
                message: format!("table \"{}\" is not a hypertable", table.name()),
            }
            .into());
        }
        Ok((namespace, table))
    }

    /// Sets the table's retention; the policy's job id.
    async fn add(
        &self,
        namespace: &Namespace,
        table: &Table,
        retention: i64,
        if_not_exists: bool,
    ) -> Result<Option<i32>> {
        let job = i32::try_from(FIRST_JOB_ID.saturating_add(table.id() as i64)).ok();
        if table.retention().is_some() {
            if if_not_exists {
                return Ok(job);
            }
            return Err(Error::DuplicateObject {
                message: format!(
                    "retention policy already exists for hypertable \"{}\"",
                    table.name()
                ),
            }
            .into());
        }
        let set = namespace.set_retention(table.name(), Some(retention));
        set.map_err(Error::from)?
            .durable()
            .await
            .map_err(Error::from)?;
        Ok(job)
    }

    /// Removes the table's retention.
    async fn remove(&self, namespace: &Namespace, table: &Table, if_exists: bool) -> Result<()> {
        if table.retention().is_none() {
            if if_exists {
                return Ok(());
            }
            return Err(Error::UndefinedObject {
                message: format!(
                    "retention policy not found for hypertable \"{}\"",
                    table.name()
                ),
            }
            .into());
        }
        let reset = namespace.set_retention(table.name(), None);
        reset
            .map_err(Error::from)?
            .durable()
            .await
            .map_err(Error::from)?;
        Ok(())
    }
}

/// An interval as microseconds, a month as 30 days (as PostgreSQL's
/// `justify_days` counts it); `None` when it does not fit.
fn micros(interval: IntervalMonthDayNano) -> Option<i64> {
    const DAY: i64 = 86_400_000_000;
    let days = i64::from(interval.months)
        .checked_mul(30)?
        .checked_add(i64::from(interval.days))?;
    days.checked_mul(DAY)?
        .checked_add(interval.nanoseconds / 1000)
}
