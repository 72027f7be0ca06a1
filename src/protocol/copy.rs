//! The COPY sub-protocol.
//!
//! `COPY ... FROM STDIN`: the statement leaves a `CopyState` on the
//! connection and answers CopyInResponse. Each CopyData message goes through the
//! decoder for its format ([`copy_format`](super::copy_format)) into the
//! query layer's [`CopyIn`] writer. An error stops the decoding; like
//! PostgreSQL, the rest of the data is discarded and the error is reported
//! when the client ends the copy. CopyDone applies the rows and completes the
//! command with `COPY n`; CopyFail, an error or a dropped connection applies
//! none of them.
//!
//! `COPY ... TO STDOUT`: the query's rows are framed in the requested format,
//! one CopyData message per row, as PostgreSQL sends them.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{CopyResponse, FieldFormat, Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use super::connection::{Connection, report_session, sync_transaction_status};
use super::copy_format::{self, CopyDecoder, CsvOptions, TextOptions};
use super::copy_in::CopyState;
use super::encode::{self, RenderOptions};
use super::sqlstate;
use crate::query::{CopyFormat, CopyIn, CopyOptions};
use crate::session::{self, Session};

/// The decoder format for a `COPY` statement's options.
fn decoder_format(options: &CopyOptions) -> PgWireResult<copy_format::CopyFormat> {
    let byte = |c: char, what: &str| -> PgWireResult<u8> {
        u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
            sqlstate::user_error(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("COPY {what} must be a single one-byte character"),
            )
        })
    };
    let delimiter = |default: u8| {
        options
            .delimiter
            .map_or(Ok(default), |c| byte(c, "delimiter"))
    };
    let null = |default: Vec<u8>| {
        options
            .null
            .as_ref()
            .map_or(default, |n| n.as_bytes().to_vec())
    };
    let format = match options.format {
        CopyFormat::Text => {
            let defaults = TextOptions::default();
            copy_format::CopyFormat::Text(TextOptions {
                delimiter: delimiter(defaults.delimiter)?,
                null: null(defaults.null),
            })
        }
        CopyFormat::Csv => {
            let defaults = CsvOptions::default();
            let quote = options
                .quote
                .map_or(Ok(defaults.quote), |c| byte(c, "quote"))?;
            copy_format::CopyFormat::Csv(CsvOptions {
                delimiter: delimiter(defaults.delimiter)?,
                null: null(defaults.null),
                quote,
                escape: options.escape.map_or(Ok(quote), |c| byte(c, "escape"))?,
                header: options.header,
            })
        }
        CopyFormat::Binary => copy_format::CopyFormat::Binary,
    };
    format
        .validate()
        .map_err(|e| PgWireError::UserError(Box::new(sqlstate::copy_error_info(&e))))?;
    Ok(format)
}

/// Starts a `COPY ... FROM STDIN`: leaves its state on the connection and
/// returns the CopyInResponse.
pub(super) fn start_copy_in(
    connection: &Connection,
    writer: Box<CopyIn>,
    options: &CopyOptions,
    columns: usize,
) -> PgWireResult<Response> {
    let format = decoder_format(options)?;
    *connection.copy.lock() = Some(CopyState::new(
        CopyDecoder::new(format, columns),
        writer,
        columns,
    ));
    let code = i8::from(options.format == CopyFormat::Binary);
    Ok(Response::CopyIn(CopyResponse::new(
        code,
        columns,
        stream::empty(),
    )))
}

/// The CopyData, CopyDone and CopyFail handler of one connection.
#[derive(Debug)]
pub(super) struct CopyInHandler {
    connection: Arc<Connection>,
}

impl CopyInHandler {
    pub(super) fn new(connection: Arc<Connection>) -> Self {
        Self { connection }
    }

    fn take_state(&self) -> PgWireResult<CopyState> {
        self.connection.copy.lock().take().ok_or_else(|| {
            sqlstate::user_error(sqlstate::PROTOCOL_VIOLATION, "no COPY in progress")
        })
    }
}

#[async_trait]
impl CopyHandler for CopyInHandler {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.connection.session()?;
        // The state leaves the connection while the rows drain, which may
        // wait for the worker; messages of a connection are handled one at a
        // time, and if this future is dropped, so is the copy.
        let mut state = self.connection.copy.lock().take().ok_or_else(|| {
            sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                "CopyData received with no COPY in progress",
            )
        })?;
        if state.writer.is_some() {
            // A cancel request ends the copy like bad data does: nothing applies.
            match session.check_canceled() {
                Err(e) => {
                    state.writer = None;
                    state.error = Some(sqlstate::error_info(&e));
                }
                Ok(()) => {
                    state.decoder.push(&copy_data.data);
                    state.drain().await;
                }
            }
        }
        *self.connection.copy.lock() = Some(state);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self.finish_copy().await;
        // pgwire reports the client's status in ReadyForQuery; an error fails
        // the block afterwards, in the connection's error handler.
        if let Ok(session) = self.connection.session() {
            sync_transaction_status(client, &session);
            report_session(client, &session).await?;
        }
        let tag = Tag::new("COPY").with_rows(result? as usize);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Dropping the state drops the staged rows.
        drop(self.connection.copy.lock().take());
        if let Ok(session) = self.connection.session() {
            sync_transaction_status(client, &session);
        }
        sqlstate::user_error(
            sqlstate::QUERY_CANCELED,
            format!("COPY from stdin failed: {}", fail.message),
        )
    }
}

impl CopyInHandler {
    /// Decodes the last of the data and applies (or stages) the copy.
    async fn finish_copy(&self) -> PgWireResult<u64> {
        let mut state = self.take_state()?;
        if state.writer.is_some() {
            match state.decoder.finish() {
                Ok(()) => state.drain().await,
                Err(e) => {
                    state.writer = None;
                    state.error = Some(sqlstate::copy_error_info(&e));
                }
            }
        }
        let rows = match (state.error, state.writer) {
            (Some(error), _) => return Err(PgWireError::UserError(Box::new(error))),
            (None, Some(writer)) => writer
                .finish()
                .await
                .map_err(|e| sqlstate::to_pgwire(&session::Error::Query(e)))?,
            (None, None) => 0,
        };
        Ok(rows)
    }
}

/// The response of a `COPY ... TO STDOUT`: one CopyData message per row.
pub(super) fn copy_out(
    session: &Session,
    rows: SendableRecordBatchStream,
    options: &CopyOptions,
) -> PgWireResult<Response> {
    let binary = options.format == CopyFormat::Binary;
    let schema = rows.schema();
    let columns = schema.fields().len();
    let fields = Arc::new(encode::field_infos(&schema, |_| {
        if binary {
            FieldFormat::Binary
        } else {
            FieldFormat::Text
        }
    }));
    let render = RenderOptions::new(&session.setting("timezone").unwrap_or_default());
    let framing = Framing::new(options, columns)?;
    let mut header = match options.format {
        CopyFormat::Binary => {
            let mut header = BytesMut::new();
            header.put_slice(b"PGCOPY\n\xFF\r\n\x00");
            header.put_i32(0);
            header.put_i32(0);
            Some(header)
        }
        CopyFormat::Csv if options.header => {
            let mut header = BytesMut::new();
            for (i, field) in schema.fields().iter().enumerate() {
                framing.field(&mut header, i, Some(field.name().as_bytes()));
            }
            framing.end_row(&mut header);
            // Sent as its own message, as PostgreSQL does.
            Some(header)
        }
        _ => None,
    };
    let csv_header = options.format == CopyFormat::Csv && header.is_some();
    let leading = if csv_header {
        header.take().map(|h| Ok(CopyData::new(h.freeze())))
    } else {
        None
    };
    let data = rows.flat_map(move |batch| {
        let messages: Vec<PgWireResult<CopyData>> = match batch {
            Err(e) => vec![Err(sqlstate::stream_error(e))],
            Ok(batch) => {
                let mut out = Vec::with_capacity(batch.num_rows());
                let mut row_buf = header.take().unwrap_or_default();
                let result = encode::encode_values(&batch, &fields, &render, |_, i, value| {
                    framing.field(&mut row_buf, i, value);
                    if i + 1 == columns {
                        framing.end_row(&mut row_buf);
                        out.push(Ok(CopyData::new(row_buf.split().freeze())));
                    }
                });
                if let Err(e) = result {
                    out.push(Err(sqlstate::encode_error(&e)));
                }
                out
            }
        };
        stream::iter(messages)
    });
    let data = stream::iter(leading).chain(data);
    Ok(Response::CopyOut(CopyResponse::new(
        i8::from(binary),
        columns,
        data,
    )))
}

/// How COPY TO frames values, per format.
#[derive(Debug, Clone)]
enum Framing {
    Text {
        delimiter: u8,
        null: Vec<u8>,
    },
    Csv {
        delimiter: u8,
        null: Vec<u8>,
        quote: u8,
        escape: u8,
    },
    Binary {
        columns: i16,
    },
}

impl Framing {
    fn new(options: &CopyOptions, columns: usize) -> PgWireResult<Self> {
        Ok(match decoder_format(options)? {
            copy_format::CopyFormat::Text(t) => Framing::Text {
                delimiter: t.delimiter,
                null: t.null,
            },
            copy_format::CopyFormat::Csv(c) => Framing::Csv {
                delimiter: c.delimiter,
                null: c.null,
                quote: c.quote,
                escape: c.escape,
            },
            copy_format::CopyFormat::Binary => Framing::Binary {
                columns: i16::try_from(columns).map_err(|_| {
                    sqlstate::user_error(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        "too many columns for binary COPY",
                    )
                })?,
            },
        })
    }

    /// Appends field `index` of a row.
    fn field(&self, buf: &mut BytesMut, index: usize, value: Option<&[u8]>) {
        match self {
            Framing::Binary { columns } => {
                if index == 0 {
                    // The field count opens each tuple.
                    buf.put_i16(*columns);
                }
                match value {
                    None => buf.put_i32(-1),
                    Some(v) => {
                        buf.put_i32(v.len() as i32);
                        buf.put_slice(v);
                    }
                }
                return;
            }
            Framing::Text { delimiter, .. } | Framing::Csv { delimiter, .. } => {
                if index > 0 {
                    buf.put_u8(*delimiter);
                }
            }
        }
        match (self, value) {
            (Framing::Text { null, .. } | Framing::Csv { null, .. }, None) => buf.put_slice(null),
            (Framing::Text { delimiter, .. }, Some(v)) => {
                // PostgreSQL's text escapes; the delimiter is backslashed.
                for &b in v {
                    match b {
                        b'\\' => buf.put_slice(b"\\\\"),
                        b'\n' => buf.put_slice(b"\\n"),
                        b'\r' => buf.put_slice(b"\\r"),
                        b'\t' => buf.put_slice(b"\\t"),
                        0x08 => buf.put_slice(b"\\b"),
                        0x0b => buf.put_slice(b"\\v"),
                        0x0c => buf.put_slice(b"\\f"),
                        _ if b == *delimiter => {
                            buf.put_u8(b'\\');
                            buf.put_u8(b);
                        }
                        _ => buf.put_u8(b),
                    }
                }
            }
            (
                Framing::Csv {
                    delimiter,
                    null,
                    quote,
                    escape,
                },
                Some(v),
            ) => {
                // Quoted where an unquoted value would read differently: it
                // holds a delimiter, quote or line break, equals the NULL
                // string, or is the end-of-data marker.
                let needs_quotes = v == null.as_slice()
                    || v == b"\\."
                    || v.iter()
                        .any(|&b| b == *delimiter || b == *quote || b == b'\n' || b == b'\r');
                if needs_quotes {
                    buf.put_u8(*quote);
                    for &b in v {
                        if b == *quote || b == *escape {
                            buf.put_u8(*escape);
                        }
                        buf.put_u8(b);
                    }
                    buf.put_u8(*quote);
                } else {
                    buf.put_slice(v);
                }
            }
            (Framing::Binary { .. }, _) => {}
        }
    }

    /// Ends a row.
    fn end_row(&self, buf: &mut BytesMut) {
        if !matches!(self, Framing::Binary { .. }) {
            buf.put_u8(b'\n');
        }
    }
}
