//! Sequences in SQL: `CREATE SEQUENCE` options, the sequences `SERIAL` and
//! identity columns own, and the functions `nextval`, `currval`, `setval`
//! and `lastval`.
//!
//! The functions are one set per session: `currval` and `lastval` answer
//! what this session's `nextval` last returned. A value is handed out
//! before the record that advanced its sequence is durable, so the session
//! waits for it ([`SessionSequences::durable`]) before it reports the
//! statement done, as PostgreSQL flushes a transaction that called
//! `nextval` when it commits.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    ColumnOption, DataType as SqlType, Expr, SequenceOptions as SqlSequenceOption, UnaryOperator,
    Value,
};
use futures::StreamExt;
use parking_lot::Mutex;

use super::access::{Principal, check_table};
use super::names::qualified_text;
use crate::query::error::{Error, Result};
use crate::query::pg::quoting::quote_ident;
use crate::storage::{
    self, Identity, Privileges, Sequence, SequenceOptions, SequenceSpec, SequenceType, Storage,
};

/// The sequence a column of a new table owns, as its definition asks.
#[derive(Debug, Clone)]
pub(crate) struct ColumnSequence {
    pub(crate) spec: SequenceSpec,
    /// `None` for `SERIAL`.
    pub(crate) identity: Option<Identity>,
}

/// `SMALLSERIAL`, `SERIAL` and `BIGSERIAL` (and their other spellings):
/// the integer type and its sequence's.
pub(crate) fn serial_type(data_type: &SqlType) -> Option<(SqlType, SequenceType)> {
    let SqlType::Custom(name, modifiers) = data_type else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    let [part] = name.0.as_slice() else {
        return None;
    };
    let ident = part.as_ident()?;
    if ident.quote_style.is_some() {
        return None;
    }
    match ident.value.to_ascii_lowercase().as_str() {
        "smallserial" | "serial2" => Some((SqlType::SmallInt(None), SequenceType::Int16)),
        "serial" | "serial4" => Some((SqlType::Integer(None), SequenceType::Int32)),
        "bigserial" | "serial8" => Some((SqlType::BigInt(None), SequenceType::Int64)),
        _ => None,
    }
}

/// The sequence type of an identity column of `column_type`.
pub(crate) fn identity_type(column_type: storage::ColumnType) -> Result<SequenceType> {
    match column_type {
        storage::ColumnType::Int16 => Ok(SequenceType::Int16),
        storage::ColumnType::Int32 => Ok(SequenceType::Int32),
        storage::ColumnType::Int64 => Ok(SequenceType::Int64),
        other => Err(Error::InvalidParameterValue {
            message: format!(
                "identity column type must be smallint, integer, or bigint, not {}",
                crate::pgtype::arrow_type_name(&other.arrow_type())
            ),
        }),
    }
}

/// `GENERATED ALWAYS | BY DEFAULT AS IDENTITY [(options)]`, if the column
/// option is one.
pub(crate) fn identity_option(
    option: &ColumnOption,
) -> Result<Option<(Identity, Vec<SqlSequenceOption>)>> {
    use datafusion::sql::sqlparser::ast::GeneratedAs;
    let ColumnOption::Generated {
        generated_as,
        sequence_options,
        generation_expr,
        ..
    } = option
    else {
        return Ok(None);
    };
    if generation_expr.is_some() {
        return Err(Error::Unsupported {
            what: "generated columns".into(),
        });
    }
    let identity = match generated_as {
        GeneratedAs::Always => Identity::Always,
        GeneratedAs::ByDefault => Identity::ByDefault,
        GeneratedAs::ExpStored => {
            return Err(Error::Unsupported {
                what: "generated columns".into(),
            });
        }
    };
    Ok(Some((
        identity,
        sequence_options.clone().unwrap_or_default(),
    )))
}

/// The options of `CREATE SEQUENCE` or of an identity column.
pub(crate) fn sequence_spec(
    data_type: Option<SequenceType>,
    options: &[SqlSequenceOption],
) -> Result<SequenceSpec> {
    let mut spec = SequenceSpec {
        data_type,
        ..SequenceSpec::default()
    };
    for option in options {
        match option {
            SqlSequenceOption::IncrementBy(value, _) => spec.increment = Some(integer(value)?),
            SqlSequenceOption::MinValue(value) => {
                spec.min = value.as_ref().map(integer).transpose()?
            }
            SqlSequenceOption::MaxValue(value) => {
                spec.max = value.as_ref().map(integer).transpose()?
            }
            SqlSequenceOption::StartWith(value, _) => spec.start = Some(integer(value)?),
            SqlSequenceOption::Cache(value) => spec.cache = Some(integer(value)?),
            // sqlparser marks `NO CYCLE` with `true`.
            SqlSequenceOption::Cycle(no) => spec.cycle = !no,
        }
    }
    Ok(spec)
}

/// `AS smallint | integer | bigint` of `CREATE SEQUENCE`.
pub(crate) fn sequence_type(data_type: &SqlType) -> Result<SequenceType> {
    match data_type {
        SqlType::SmallInt(_) | SqlType::Int2(_) => Ok(SequenceType::Int16),
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => Ok(SequenceType::Int32),
        SqlType::BigInt(_) | SqlType::Int8(_) => Ok(SequenceType::Int64),
        other => Err(Error::InvalidParameterValue {
            message: format!("sequence type must be smallint, integer, or bigint, not {other}"),
        }),
    }
}

/// A sequence option's value: an integer constant.
fn integer(value: &Expr) -> Result<i64> {
    let (negative, value) = match value {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => (true, expr.as_ref()),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => (false, expr.as_ref()),
        other => (false, other),
    };
    let text = match value {
        Expr::Value(v) => match &v.value {
            Value::Number(text, _) => text.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let signed = if negative { format!("-{text}") } else { text };
    signed
        .parse::<i64>()
        .map_err(|_| Error::InvalidParameterValue {
            message: format!("invalid sequence option value: {value}"),
        })
}

/// Settles a spec into options, with storage's checks.
pub(crate) fn options(spec: &SequenceSpec) -> Result<SequenceOptions> {
    Ok(SequenceOptions::new(spec)?)
}

/// What one session's sequence functions remember.
#[derive(Debug, Default)]
pub(crate) struct SessionSequences {
    /// `currval`: the last value `nextval` returned here, per sequence id.
    current: Mutex<HashMap<u64, i64>>,
    /// `lastval`: the sequence `nextval` last advanced here.
    last: Mutex<Option<Arc<Sequence>>>,
    /// The newest record of a value handed out here, not yet waited for.
    ticket: Mutex<Option<storage::Durable<()>>>,
}

impl SessionSequences {
    /// Waits until every value this session handed out is durable.
    pub(crate) async fn durable(&self) -> Result<()> {
        let ticket = self.ticket.lock().take();
        if let Some(ticket) = ticket {
            ticket.durable().await?;
        }
        Ok(())
    }

    fn keep(&self, ticket: storage::Durable<()>) {
        if ticket.is_immediate() {
            return;
        }
        let mut kept = self.ticket.lock();
        *kept = Some(match kept.take() {
            Some(earlier) => earlier.later(ticket),
            None => ticket,
        });
    }
}

/// `stream`, which ends only once the values its statement handed out are
/// durable.
pub(crate) fn durable_at_end(
    stream: SendableRecordBatchStream,
    sequences: Arc<SessionSequences>,
) -> SendableRecordBatchStream {
    let schema = stream.schema();
    let tail = futures::stream::once(async move { sequences.durable().await })
        .filter_map(|waited| async move { waited.err().map(|e| Err(e.into())) });
    Box::pin(RecordBatchStreamAdapter::new(schema, stream.chain(tail)))
}

/// Which of the four functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Function {
    Nextval,
    Currval,
    Setval,
    Lastval,
    /// `pg_get_serial_sequence(table, column)`: the sequence a column owns.
    SerialSequence,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Function::Nextval => "nextval",
            Function::Currval => "currval",
            Function::Setval => "setval",
            Function::Lastval => "lastval",
            Function::SerialSequence => "pg_get_serial_sequence",
        }
    }
}

/// The four functions, for one session.
pub(crate) fn udfs(
    storage: Arc<Storage>,
    principal: Arc<Principal>,
    session: Arc<SessionSequences>,
) -> Vec<ScalarUDF> {
    let signature = |function| match function {
        Function::Nextval | Function::Currval => {
            Signature::exact(vec![DataType::Utf8], Volatility::Volatile)
        }
        Function::Setval => Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
            ],
            Volatility::Volatile,
        ),
        Function::Lastval => Signature::exact(vec![], Volatility::Volatile),
        Function::SerialSequence => {
            Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Stable)
        }
    };
    [
        Function::Nextval,
        Function::Currval,
        Function::Setval,
        Function::Lastval,
        Function::SerialSequence,
    ]
    .into_iter()
    .map(|function| {
        ScalarUDF::new_from_impl(SequenceFunction {
            function,
            signature: signature(function),
            storage: storage.clone(),
            principal: principal.clone(),
            session: session.clone(),
        })
    })
    .collect()
}

#[derive(Debug)]
struct SequenceFunction {
    function: Function,
    signature: Signature,
    storage: Arc<Storage>,
    principal: Arc<Principal>,
    session: Arc<SessionSequences>,
}

impl PartialEq for SequenceFunction {
    fn eq(&self, other: &Self) -> bool {
        self.function == other.function && Arc::ptr_eq(&self.session, &other.session)
    }
}

impl Eq for SequenceFunction {}

impl Hash for SequenceFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.function.hash(state);
    }
}

impl ScalarUDFImpl for SequenceFunction {
    fn name(&self) -> &str {
        self.function.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.function {
            Function::SerialSequence => DataType::Utf8,
            _ => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let catalog = &args.config_options.catalog;
        let (database, schema) = (&catalog.default_catalog, &catalog.default_schema);
        let rows = args.number_rows;
        if self.function == Function::SerialSequence {
            let arrays = (args.args.iter())
                .map(|a| a.to_array(rows))
                .collect::<DfResult<Vec<_>>>()?;
            let (Some(tables), Some(columns)) = (arrays.first(), arrays.get(1)) else {
                return Err(Error::Unsupported {
                    what: "pg_get_serial_sequence without a column".into(),
                }
                .into());
            };
            let (tables, columns) = (tables.as_string::<i32>(), columns.as_string::<i32>());
            let mut names = Vec::with_capacity(rows);
            for row in 0..rows {
                names.push(if tables.is_null(row) || columns.is_null(row) {
                    None
                } else {
                    self.serial_sequence(tables.value(row), columns.value(row), database, schema)?
                });
            }
            return Ok(ColumnarValue::Array(Arc::new(StringArray::from(names))));
        }
        if self.function == Function::Lastval {
            let last = self.session.last.lock().clone();
            let sequence = last.ok_or_else(|| Error::NotInPrerequisiteState {
                message: "lastval is not yet defined in this session".into(),
            })?;
            let value = self.current(&sequence)?;
            return Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(value))));
        }
        // The common case: one sequence named by a constant, for every row.
        if let Some(ColumnarValue::Scalar(name)) = args.args.first()
            && args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let ScalarValue::Utf8(name) = name else {
                return Ok(ColumnarValue::Scalar(ScalarValue::Int64(None)));
            };
            let Some(name) = name else {
                return Ok(ColumnarValue::Scalar(ScalarValue::Int64(None)));
            };
            let sequence = self.find(name, database, schema)?;
            return Ok(match self.function {
                Function::Nextval => {
                    ColumnarValue::Array(Arc::new(Int64Array::from(self.next(&sequence, rows)?)))
                }
                Function::Currval => {
                    ColumnarValue::Scalar(ScalarValue::Int64(Some(self.current(&sequence)?)))
                }
                _ => {
                    let arrays = (args.args.iter())
                        .map(|a| a.to_array(1))
                        .collect::<DfResult<Vec<_>>>()?;
                    let value = self.set_row(&sequence, &arrays, 0)?;
                    ColumnarValue::Scalar(ScalarValue::Int64(value))
                }
            });
        }
        let arrays = (args.args.iter())
            .map(|a| a.to_array(rows))
            .collect::<DfResult<Vec<_>>>()?;
        let Some(names) = arrays.first().map(|a| a.as_string::<i32>()) else {
            return Err(Error::Unsupported {
                what: format!("{} without a sequence", self.name()),
            }
            .into());
        };
        let mut values = Vec::with_capacity(rows);
        for row in 0..rows {
            if names.is_null(row) {
                values.push(None);
                continue;
            }
            let sequence = self.find(names.value(row), database, schema)?;
            values.push(match self.function {
                Function::Nextval => self.next(&sequence, 1)?.first().copied(),
                Function::Currval => Some(self.current(&sequence)?),
                _ => self.set_row(&sequence, &arrays, row)?,
            });
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(values))))
    }
}

impl SequenceFunction {
    /// `pg_get_serial_sequence(table, column)`: the qualified name of the
    /// sequence the column owns, NULL when it owns none.
    fn serial_sequence(
        &self,
        table: &str,
        column: &str,
        database: &str,
        current_schema: &str,
    ) -> Result<Option<String>> {
        let (schema, relation) = qualified_text(table, database, current_schema)?;
        let namespace = (self.storage.database(database)).and_then(|db| db.schema(&schema));
        let found = namespace.as_ref().and_then(|ns| ns.table(&relation));
        let (Some(namespace), Some(found)) = (namespace, found) else {
            return Err(Error::UndefinedTable { name: relation });
        };
        // The column is written as it is stored: no case folding.
        if !found.schema().columns().iter().any(|c| c.name == column) {
            return Err(Error::UndefinedColumn {
                name: format!("{column}\" of relation \"{relation}"),
            });
        }
        let owned = namespace.sequence_names().into_iter().find_map(|name| {
            let sequence = namespace.sequence(&name)?;
            let owner = sequence.owner()?;
            (owner.table == relation && owner.column == column).then_some(name)
        });
        Ok(owned.map(|name| format!("{}.{}", quote_ident(&schema), quote_ident(&name))))
    }

    /// The sequence `name` names (`'s'`, `'schema.s'`, `'"S"'`), which the
    /// session's role may use.
    fn find(&self, name: &str, database: &str, current_schema: &str) -> Result<Arc<Sequence>> {
        let (schema, relation) = qualified_text(name, database, current_schema)?;
        let namespace = (self.storage.database(database)).and_then(|db| db.schema(&schema));
        let Some(namespace) = namespace else {
            return Err(Error::UndefinedTable { name: relation });
        };
        let Some(sequence) = namespace.sequence(&relation) else {
            return Err(match namespace.table(&relation) {
                Some(_) => Error::WrongObjectType {
                    message: format!("\"{relation}\" is not a sequence"),
                },
                None => Error::UndefinedTable { name: relation },
            });
        };
        if !self.principal.is_superuser(&self.storage) {
            // A sequence has no privileges of its own here: a column's
            // sequence is used as its table is (INSERT to take values,
            // SELECT to read them), and any other is a superuser's.
            let needed = match self.function {
                Function::Currval | Function::Lastval | Function::SerialSequence => {
                    Privileges::SELECT
                }
                Function::Nextval | Function::Setval => Privileges::INSERT,
            };
            let table = (sequence.owner()).and_then(|owner| namespace.table(&owner.table));
            let allowed = table.is_some_and(|table| {
                check_table(&self.principal, &namespace, &table, needed).is_ok()
            });
            if !allowed {
                return Err(Error::PermissionDenied {
                    message: format!("permission denied for sequence {relation}"),
                    detail: None,
                });
            }
        }
        Ok(sequence)
    }

    fn next(&self, sequence: &Arc<Sequence>, n: usize) -> Result<Vec<i64>> {
        let (values, ticket) = sequence.next_values(n)?;
        self.session.keep(ticket);
        if let Some(&last) = values.last() {
            self.session.current.lock().insert(sequence.id(), last);
            *self.session.last.lock() = Some(sequence.clone());
        }
        Ok(values)
    }

    fn current(&self, sequence: &Sequence) -> Result<i64> {
        (self.session.current.lock().get(&sequence.id()).copied()).ok_or_else(|| {
            Error::NotInPrerequisiteState {
                message: format!(
                    "currval of sequence \"{}\" is not yet defined in this session",
                    sequence.name()
                ),
            }
        })
    }

    /// `setval(s, value [, is_called])` for row `row`.
    fn set_row(
        &self,
        sequence: &Sequence,
        arrays: &[Arc<dyn Array>],
        row: usize,
    ) -> Result<Option<i64>> {
        let Some(values) = arrays.get(1) else {
            return Ok(None);
        };
        let values = values.as_primitive::<Int64Type>();
        if values.is_null(row) {
            return Ok(None);
        }
        let called = match arrays.get(2) {
            None => true,
            Some(flags) if flags.is_null(row) => return Ok(None),
            Some(flags) => flags.as_boolean().value(row),
        };
        let value = values.value(row);
        let ticket = sequence.set(value, called)?;
        self.session.keep(ticket);
        if called {
            self.session.current.lock().insert(sequence.id(), value);
        }
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::ObjectName;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse_options(sql: &str) -> Vec<SqlSequenceOption> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        match statement.into_iter().next() {
            Some(datafusion::sql::sqlparser::ast::Statement::CreateSequence {
                sequence_options,
                ..
            }) => sequence_options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_read_as_postgres_reads_them() {
        let spec = sequence_spec(
            None,
            &parse_options(
                "CREATE SEQUENCE s INCREMENT BY -2 MINVALUE -100 NO MAXVALUE START WITH -3 CACHE 5 CYCLE",
            ),
        )
        .unwrap();
        assert_eq!(spec.increment, Some(-2));
        assert_eq!(spec.min, Some(-100));
        assert_eq!(spec.max, None);
        assert_eq!(spec.start, Some(-3));
        assert_eq!(spec.cache, Some(5));
        assert!(spec.cycle);
        let spec = sequence_spec(None, &parse_options("CREATE SEQUENCE s NO CYCLE")).unwrap();
        assert!(!spec.cycle);
        assert!(sequence_spec(None, &parse_options("CREATE SEQUENCE s START 1.5")).is_err());
    }

    #[test]
    fn serial_spellings() {
        let ty = |name: &str| {
            SqlType::Custom(
                ObjectName::from(vec![datafusion::sql::sqlparser::ast::Ident::new(name)]),
                vec![],
            )
        };
        assert_eq!(serial_type(&ty("SERIAL")).unwrap().1, SequenceType::Int32);
        assert_eq!(
            serial_type(&ty("bigserial")).unwrap().1,
            SequenceType::Int64
        );
        assert_eq!(serial_type(&ty("serial2")).unwrap().1, SequenceType::Int16);
        assert!(serial_type(&ty("serials")).is_none());
    }
}
