//! Sending rows that may come slowly. pgwire's senders queue every message
//! and flush at the end of the response, which never comes for a
//! `SUBSCRIBE`. These send what is ready in one write, and flush whenever
//! the rows pause, so a live row reaches the client as it is produced.

use std::fmt::Debug;

use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use pgwire::api::results::{CopyResponse, FieldInfo, QueryResponse, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyDone, CopyOutResponse};
use pgwire::messages::data::RowDescription;

/// The next item of `stream`; if it is not ready, what was queued for the
/// client is flushed first.
pub(super) async fn next_or_flush<S, C>(
    stream: &mut S,
    client: &mut C,
) -> PgWireResult<Option<S::Item>>
where
    S: Stream + Unpin,
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<C::Error>,
{
    if let Some(item) = stream.next().now_or_never() {
        return Ok(item);
    }
    client.flush().await?;
    Ok(stream.next().await)
}

/// A query's rows, as pgwire's `send_query_response` sends them (the
/// RowDescription first when `describe`), flushed as they pause.
pub(super) async fn send_query_rows<C>(
    client: &mut C,
    response: QueryResponse,
    describe: bool,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<C::Error>,
{
    let QueryResponse {
        command_tag,
        row_schema,
        mut data_rows,
        ..
    } = response;
    if describe {
        let fields = row_schema.iter().map(<&FieldInfo>::into).collect();
        client
            .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                fields,
            )))
            .await?;
    }
    let mut rows = 0;
    while let Some(row) = next_or_flush(&mut data_rows, client).await? {
        client.feed(PgWireBackendMessage::DataRow(row?)).await?;
        rows += 1;
    }
    let tag = Tag::new(&command_tag).with_rows(rows);
    client
        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

/// A `COPY ... TO STDOUT`'s data, flushed as it pauses. An error ends it
/// without CopyDone; the caller reports it.
pub(super) async fn send_copy_out<C>(client: &mut C, response: CopyResponse) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<C::Error>,
{
    let formats = response.column_formats();
    let CopyResponse {
        format,
        columns,
        mut data_stream,
        ..
    } = response;
    let columns = i16::try_from(columns).unwrap_or(i16::MAX);
    client
        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            format, columns, formats,
        )))
        .await?;
    let mut rows = 0;
    while let Some(data) = next_or_flush(&mut data_stream, client).await? {
        let data = data?;
        if data.data.is_empty() {
            continue;
        }
        // The binary format's trailer is not a row.
        if data.data.as_ref() != [0xFF, 0xFF] {
            rows += 1;
        }
        client.feed(PgWireBackendMessage::CopyData(data)).await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    let tag = Tag::new("COPY").with_rows(rows);
    client
        .send(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}
