//! The state of a `COPY ... FROM STDIN` in progress on a connection: the
//! decoder of the client's data and the query layer's writer it feeds.

use pgwire::error::ErrorInfo;

use super::copy_format::CopyDecoder;
use super::sqlstate;
use crate::query::{CopyIn, RawField};
use crate::session;

/// A `COPY ... FROM STDIN` in progress on a connection.
#[derive(Debug)]
pub(super) struct CopyState {
    pub(super) decoder: CopyDecoder,
    /// `None` once an error has been met: the rest of the data is discarded.
    pub(super) writer: Option<Box<CopyIn>>,
    pub(super) error: Option<ErrorInfo>,
    /// Where the fields of the row being handed over are (reused).
    fields: Vec<RawField>,
}

impl CopyState {
    pub(super) fn new(decoder: CopyDecoder, writer: Box<CopyIn>, columns: usize) -> Self {
        Self {
            decoder,
            writer: Some(writer),
            error: None,
            fields: Vec::with_capacity(columns),
        }
    }

    /// Feeds the rows the decoder has complete to the writer, handing full
    /// batches to its worker; on an error, remembers it and drops the
    /// writer (and what it staged).
    pub(super) async fn drain(&mut self) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let result = loop {
            // Each row's bytes go from the decoder's buffer into the batch in
            // one copy; nothing is allocated per row.
            let full = match self.decoder.next_row_raw(&mut self.fields) {
                Ok(Some(row)) => writer.push_row(row.line, row.extra, &self.fields, row.line_no),
                Ok(None) => break Ok(()),
                Err(e) => break Err(sqlstate::copy_error_info(&e)),
            };
            let shipped = match full {
                Ok(true) => writer.ship().await,
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = shipped {
                break Err(sqlstate::error_info(&session::Error::Query(e)));
            }
        };
        if let Err(info) = result {
            self.writer = None;
            self.error = Some(info);
        }
    }
}
