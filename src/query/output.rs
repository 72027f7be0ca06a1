//! What running a statement produced: rows, a command tag, or a COPY.

use datafusion::execution::SendableRecordBatchStream;

use super::commands::copy::{CopyIn, CopyOptions};

/// What executing a statement produced.
pub enum Output {
    /// Rows, streamed. The stream's schema names the columns as PostgreSQL
    /// would; its batches may name them otherwise, so read columns by
    /// position.
    Rows(SendableRecordBatchStream),
    /// The rows a command returned (`INSERT ... RETURNING`), under the
    /// command's tag.
    Returning {
        tag: &'static str,
        rows: SendableRecordBatchStream,
    },
    /// A completed command with its PostgreSQL command tag and affected rows.
    Command {
        tag: &'static str,
        rows: Option<u64>,
    },
    /// A `COPY ... FROM STDIN` waiting for its data.
    CopyIn {
        writer: Box<CopyIn>,
        options: CopyOptions,
        columns: usize,
    },
    /// The rows of a `COPY ... TO STDOUT`.
    CopyOut {
        rows: SendableRecordBatchStream,
        options: CopyOptions,
    },
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows(stream) => f.debug_tuple("Rows").field(&stream.schema()).finish(),
            Output::Returning { tag, rows } => f
                .debug_struct("Returning")
                .field("tag", tag)
                .field("rows", &rows.schema())
                .finish(),
            Output::Command { tag, rows } => f
                .debug_struct("Command")
                .field("tag", tag)
                .field("rows", rows)
                .finish(),
            Output::CopyIn { options, .. } => f.debug_tuple("CopyIn").field(options).finish(),
            Output::CopyOut { options, .. } => f.debug_tuple("CopyOut").field(options).finish(),
        }
    }
}
