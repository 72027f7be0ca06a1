//! A statement as the session prepared it, and what executing it produced.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{DiscardObject, Expr};

use datafusion::execution::SendableRecordBatchStream;

use super::cursor::Count;
use super::error::Result;
use super::transaction::{TransactionCommand, TransactionEffect};
use crate::query;

/// A statement ready to execute.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Planned (or DDL) work for the query engine.
    Query(query::Prepared),
    /// `SET name = value`, or `SET name TO DEFAULT` when `value` is `None`.
    Set {
        name: String,
        value: Option<String>,
        /// `SET LOCAL`: until the transaction block ends.
        local: bool,
    },
    /// `RESET name`, or `RESET ALL` when `name` is `None`.
    Reset {
        name: Option<String>,
    },
    Show {
        name: String,
        /// The column header.
        display: String,
    },
    Transaction(TransactionCommand),
    /// `DISCARD ALL | PLANS | SEQUENCES | TEMP`.
    Discard(DiscardObject),
    /// `DEALLOCATE name`, or `DEALLOCATE ALL` when `name` is `None`.
    Deallocate {
        name: Option<String>,
    },
    /// A statement with nothing to do: `UNLISTEN` (there are no channels).
    /// Pool resets send it.
    Done {
        tag: &'static str,
    },
    /// `DECLARE name CURSOR FOR query`.
    Declare {
        name: String,
        query: query::Prepared,
        hold: bool,
    },
    /// `FETCH count FROM name`, whose rows have `schema`.
    Fetch {
        name: String,
        count: Count,
        schema: SchemaRef,
        /// `WITH (timeout = ...)`: how long to wait for a subscription's
        /// first row before returning none.
        timeout: Option<std::time::Duration>,
    },
    /// `MOVE count FROM name`: skips rows.
    Move {
        name: String,
        count: Count,
    },
    /// `CLOSE name`, or `CLOSE ALL` when `name` is `None`.
    Close {
        name: Option<String>,
    },
    /// `PREPARE name AS statement`.
    PrepareNamed {
        name: String,
        statement: Box<Prepared>,
        /// The parameters' types as `PREPARE` declared them.
        declared: Vec<String>,
    },
    /// `EXECUTE name (values)` of a statement prepared with `PREPARE`.
    ExecuteNamed {
        statement: Box<Prepared>,
        parameters: Vec<Expr>,
        declared: Vec<String>,
    },
}

impl Prepared {
    /// The columns of the rows the statement returns, `None` if it returns none.
    pub fn output_schema(&self) -> Result<Option<SchemaRef>> {
        Ok(match self {
            Prepared::Query(q) => q.output_schema(),
            Prepared::Show { display, .. } => Some(show_schema(display)),
            Prepared::Fetch { schema, .. } => Some(schema.clone()),
            Prepared::ExecuteNamed { statement, .. } => statement.output_schema()?,
            _ => None,
        })
    }

    /// Whether its rows never end (`SUBSCRIBE`, alone or inside `COPY`).
    pub fn streams_for_ever(&self) -> bool {
        match self {
            Prepared::Query(query::Prepared::CopyTo { query, .. }) => query.is_subscription(),
            Prepared::Query(query) => query.is_subscription(),
            Prepared::ExecuteNamed { statement, .. } => statement.streams_for_ever(),
            _ => false,
        }
    }

    /// The inferred types of `$1..$n`.
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>> {
        Ok(match self {
            Prepared::Query(q) => q.parameter_types()?,
            _ => Vec::new(),
        })
    }
}

/// What executing a statement produced.
pub enum Output {
    /// What the statement produced: rows, a command tag, or a COPY. The
    /// session's own commands (`SET`, `DISCARD`, ...) answer with a tag too.
    Statement(query::Output),
    /// A transaction control statement: how it moved the transaction.
    Transaction {
        effect: TransactionEffect,
        tag: &'static str,
    },
    /// Rows a `FETCH` read from a cursor.
    Fetched(SendableRecordBatchStream),
    /// Prepared statements to drop (`name`, or all of them for `None`); the
    /// protocol layer holds them.
    Deallocate {
        name: Option<String>,
        tag: &'static str,
    },
}

impl Output {
    /// A completed command that reports no row count.
    pub(super) fn command(tag: &'static str) -> Self {
        Output::Statement(query::Output::Command { tag, rows: None })
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Statement(output) => f.debug_tuple("Statement").field(output).finish(),
            Output::Transaction { effect, tag } => f
                .debug_tuple("Transaction")
                .field(effect)
                .field(tag)
                .finish(),
            Output::Fetched(_) => f.write_str("Fetched"),
            Output::Deallocate { name, tag } => {
                f.debug_tuple("Deallocate").field(name).field(tag).finish()
            }
        }
    }
}

pub(super) fn show_schema(display: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        display,
        DataType::Utf8,
        false,
    )]))
}
