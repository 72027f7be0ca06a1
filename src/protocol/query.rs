//! Simple and extended query handling: statements in, responses out.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, SinkExt, StreamExt, TryStreamExt, stream};
use pgwire::api::copy::send_copy_in_response;
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_ready_for_query,
};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, MemPortalStore, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, Execute, PortalSuspended, Sync as SyncMessage,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery};
use pgwire::messages::simplequery::Query;

use super::connection::{Connection, report_session, sync_transaction_status};
use super::copy;
use super::encode::{self, RenderOptions};
use super::frames::VIOLATION;
use super::params::{self, BoundParameter};
use super::sqlstate::{self, error_info};
use super::stream_out::{next_or_flush, send_copy_out, send_query_rows};
use crate::pgtype;
use crate::query;
use crate::session::{self, Count, Output, Prepared, Session, TransactionEffect};

/// A statement prepared through Parse, with what Describe reports about it.
#[derive(Debug, Clone)]
pub(super) struct PreparedStatement {
    prepared: Prepared,
    /// Types of `$1..$n` as reported to the client.
    parameter_types: Vec<Type>,
    /// Types of `$1..$n` the plan expects.
    expected_types: Vec<Option<DataType>>,
    /// Which of `$1..$n` the client declared a type for at Parse.
    declared: Vec<bool>,
    output: Option<SchemaRef>,
    /// The connection's statement epoch when parsed: `DEALLOCATE ALL` ends it.
    epoch: u64,
}

#[derive(Debug)]
pub(super) struct QueryHandler {
    connection: Arc<Connection>,
    parser: Arc<StatementParser>,
}

impl QueryHandler {
    pub(super) fn new(connection: Arc<Connection>) -> Self {
        Self {
            parser: Arc::new(StatementParser {
                connection: connection.clone(),
            }),
            connection,
        }
    }
}

/// `DEALLOCATE name`: drops a prepared statement, which must exist;
/// `DEALLOCATE ALL` (`None`) ends every statement parsed so far.
fn deallocate<S: PortalStore + ?Sized>(
    connection: &Connection,
    store: &S,
    name: Option<&str>,
) -> PgWireResult<()> {
    let epoch = connection.statement_epoch.load(Ordering::Acquire);
    let Some(name) = name else {
        connection.statement_epoch.fetch_add(1, Ordering::AcqRel);
        return Ok(());
    };
    let exists = match store
        .as_any()
        .downcast_ref::<MemPortalStore<PreparedStatement>>()
    {
        Some(store) => match store.get_statement(name) {
            Some(Entry::Value(stored)) => stored.statement.epoch == epoch,
            Some(Entry::Empty) => true,
            None => false,
        },
        None => store.get_statement(name).is_some(),
    };
    if !exists {
        return Err(statement_not_found(name));
    }
    store.rm_statement(name);
    Ok(())
}

fn statement_not_found(name: &str) -> PgWireError {
    sqlstate::user_error(
        sqlstate::INVALID_SQL_STATEMENT_NAME,
        format!("prepared statement \"{name}\" does not exist"),
    )
}

/// Turns an output into a pgwire response. With `buffer`, rows are collected
/// now (a later statement of the same simple query must not change them).
async fn respond(
    connection: &Connection,
    session: &Session,
    output: Output,
    format: &Format,
    buffer: bool,
) -> PgWireResult<Response> {
    Ok(match output {
        Output::Statement(query::Output::CopyIn {
            writer,
            options,
            columns,
        }) => copy::start_copy_in(connection, writer, &options, columns)?,
        Output::Statement(query::Output::CopyOut { rows, options }) => {
            copy::copy_out(session, rows, &options)?
        }
        Output::Statement(query::Output::Rows(stream)) => {
            Response::Query(rows_response(session, stream, format, buffer).await?)
        }
        Output::Statement(query::Output::Returning { tag, rows }) => {
            let mut response = rows_response(session, rows, format, buffer).await?;
            // `INSERT 0 n`: the oid, then the rows.
            if tag == "INSERT" {
                response.set_command_tag("INSERT 0");
            } else {
                response.set_command_tag(tag);
            }
            Response::Query(response)
        }
        Output::Statement(query::Output::Command { tag, rows }) => {
            let mut tag_message = Tag::new(tag);
            if tag == "INSERT" {
                tag_message = tag_message.with_oid(0);
            }
            if let Some(rows) = rows {
                tag_message = tag_message.with_rows(rows as usize);
            }
            Response::Execution(tag_message)
        }
        Output::Transaction { effect, tag } => match effect {
            TransactionEffect::Began => Response::TransactionStart(Tag::new(tag)),
            TransactionEffect::Ended => Response::TransactionEnd(Tag::new(tag)),
            TransactionEffect::Continued => Response::Execution(Tag::new(tag)),
        },
        Output::Fetched(rows) => {
            let mut response = rows_response(session, rows, format, buffer).await?;
            response.set_command_tag("FETCH");
            Response::Query(response)
        }
        // Handled by the caller, which holds the statement store.
        Output::Deallocate { tag, .. } => Response::Execution(Tag::new(tag)),
    })
}

async fn rows_response(
    session: &Session,
    stream: SendableRecordBatchStream,
    format: &Format,
    buffer: bool,
) -> PgWireResult<QueryResponse> {
    let schema = stream.schema();
    let fields = Arc::new(encode::field_infos(&schema, |i| format.format_for(i)));
    let options = RenderOptions::new(&session.setting("timezone").unwrap_or_default());
    let batches = if buffer {
        let collected: Vec<_> = stream.try_collect().await.map_err(sqlstate::stream_error)?;
        stream::iter(collected.into_iter().map(Ok)).boxed()
    } else {
        stream.boxed()
    };
    let encoder_fields = fields.clone();
    let rows = batches
        .map(move |batch| match batch {
            Ok(batch) => encode::encode_batch(&batch, &encoder_fields, &options)
                .map_err(|e| sqlstate::encode_error(&e)),
            Err(e) => Err(sqlstate::stream_error(e)),
        })
        .flat_map(|rows| match rows {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::iter([Err(e)]).right_stream(),
        });
    Ok(QueryResponse::new(fields, rows))
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    /// As pgwire's, but ReadyForQuery reports the session's transaction
    /// state, and a Query that [`frames`](super::frames) found malformed is
    /// answered with PostgreSQL's 08P01.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(message) = query.query.strip_prefix(VIOLATION) {
            return Err(sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                message.to_owned(),
            ));
        }
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let session = self.connection.session()?;
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.send_responses(client, &query.query).await;
        sync_transaction_status(client, &session);
        if matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            return result;
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        result?;
        send_ready_for_query(client, client.transaction_status()).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.connection.session()?;
        let statements = match session.parse(query) {
            Ok(statements) => statements,
            Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&e)))]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let count = statements.len();
        // As PostgreSQL: several statements in one Query run in one implicit
        // transaction, unless they control transactions themselves.
        let implicit = count > 1
            && !statements
                .iter()
                .any(|s| Session::is_transaction_control(s) || matches!(s, Statement::Copy { .. }))
            && session.begin_implicit();
        let mut responses = Vec::with_capacity(count);
        let ran = self
            .run_statements(client, &session, statements, implicit, &mut responses)
            .await;
        if implicit {
            if ran.is_err() {
                session.statement_failed();
            }
            if let Err(e) = session.end_implicit().await {
                session.statement_failed();
                responses.push(Response::Error(Box::new(error_info(&e))));
            }
        }
        ran?;
        Ok(responses)
    }
}

impl QueryHandler {
    /// Runs the statements of one Query in order, adding each response, and
    /// stops at the first error. In an implicit transaction every result is
    /// collected before the transaction ends, so an error while rows are
    /// produced still undoes its writes.
    async fn run_statements<C>(
        &self,
        client: &mut C,
        session: &Session,
        statements: Vec<Statement>,
        implicit: bool,
        responses: &mut Vec<Response>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let count = statements.len();
        for (i, statement) in statements.into_iter().enumerate() {
            let prepared = session.prepare(statement).await;
            if let Ok(Prepared::Move { name, count }) = &prepared
                && let Some(moved) = self.move_portal(client, name, *count).await?
            {
                responses.push(Response::Execution(Tag::new("MOVE").with_rows(moved)));
                continue;
            }
            let result = match prepared {
                // Its rows never end, so nothing could follow it, and an
                // implicit transaction would wait for ever to collect them.
                Ok(prepared) if count > 1 && prepared.streams_for_ever() => {
                    Err(session::Error::Query(query::Error::Unsupported {
                        what: "SUBSCRIBE with other statements in one query string".into(),
                    }))
                }
                Ok(prepared) => session.execute(&prepared, None).await,
                Err(e) => Err(e),
            };
            report_session(client, session).await?;
            if let Ok(Output::Deallocate { name, .. }) = &result
                && let Err(e) = deallocate(&self.connection, client.portal_store(), name.as_deref())
            {
                session.statement_failed();
                responses.push(Response::Error(Box::new(e.into())));
                break;
            }
            match result {
                Ok(output) => {
                    let buffer = implicit || i + 1 < count;
                    match respond(
                        &self.connection,
                        session,
                        output,
                        &Format::UnifiedText,
                        buffer,
                    )
                    .await
                    {
                        Ok(response) => responses.push(response),
                        Err(PgWireError::UserError(info)) => {
                            session.statement_failed();
                            responses.push(Response::Error(info));
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => {
                    // As PostgreSQL: the rest of a multi-statement query is skipped.
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs a portal (the first Execute) and streams up to `max_rows` of its
    /// rows (0: all); PortalSuspended tells the client that more remain.
    async fn execute_portal<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        // Zero or less: no limit.
        let max_rows = usize::try_from(message.max_rows).unwrap_or(0);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                return Ok(client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?);
            }
            None => return Err(PgWireError::PortalNotFound(name.to_owned())),
        };
        let state = portal.state();
        let mut state = state.lock().await;
        if matches!(*state, PortalExecutionState::Initial) {
            match ExtendedQueryHandler::do_query(self, client, &portal, max_rows).await? {
                Response::Query(rows) => *state = PortalExecutionState::Suspended(rows),
                Response::EmptyQuery => {
                    return Ok(client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?);
                }
                Response::Execution(tag) | Response::TransactionStart(tag) => {
                    return send_execution_response(client, tag).await;
                }
                Response::TransactionEnd(tag) => {
                    client.portal_store().rm_portal(DEFAULT_NAME);
                    return send_execution_response(client, tag).await;
                }
                Response::Error(error) => return Err(PgWireError::UserError(error)),
                Response::CopyIn(copy) => {
                    client.set_state(PgWireConnectionState::CopyInProgress(true));
                    return send_copy_in_response(client, copy).await;
                }
                Response::CopyOut(copy) => return send_copy_out(client, copy).await,
                Response::CopyBoth(_) => {
                    return Err(sqlstate::user_error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "COPY BOTH is not supported",
                    ));
                }
            }
        }
        let PortalExecutionState::Suspended(response) = &mut *state else {
            // Run to completion already: like PostgreSQL, no more rows.
            let tag = Tag::new("SELECT").with_rows(0);
            return Ok(client
                .send(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?);
        };
        let tag = response.command_tag().to_owned();
        let rows = response.data_rows();
        let mut sent = 0;
        let finished = loop {
            if max_rows > 0 && sent == max_rows {
                break false;
            }
            match next_or_flush(rows, client).await? {
                Some(row) => {
                    client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                    sent += 1;
                }
                None => break true,
            }
        };
        if finished {
            *state = PortalExecutionState::Finished;
            let tag = Tag::new(&tag).with_rows(sent);
            client
                .send(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?;
        } else {
            client
                .send(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                .await?;
        }
        Ok(())
    }

    /// Runs a simple query's statements and sends their responses.
    async fn send_responses<C>(&self, client: &mut C, query: &str) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for response in SimpleQueryHandler::do_query(self, client, query).await? {
            match response {
                Response::EmptyQuery => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                }
                Response::Query(rows) => send_query_rows(client, rows, true).await?,
                Response::Execution(tag)
                | Response::TransactionStart(tag)
                | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
                Response::Error(e) => {
                    client
                        .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                        .await?;
                }
                Response::CopyIn(copy) => {
                    send_copy_in_response(client, copy).await?;
                    client.set_state(PgWireConnectionState::CopyInProgress(false));
                }
                Response::CopyOut(copy) => send_copy_out(client, copy).await?,
                Response::CopyBoth(_) => {
                    return Err(sqlstate::user_error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "COPY BOTH is not supported",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Parses and plans statements for Parse messages.
#[derive(Debug)]
pub(super) struct StatementParser {
    connection: Arc<Connection>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<PreparedStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = self.connection.session()?;
        let mut statements = session.parse(sql).map_err(|e| sqlstate::to_pgwire(&e))?;
        if statements.len() > 1 {
            return Err(sqlstate::user_error(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let declared: Vec<Option<DataType>> = types
            .iter()
            .map(|t| {
                t.as_ref()
                    .filter(|t| **t != Type::UNKNOWN)
                    .and_then(pgtype::arrow_type)
            })
            .collect();
        let prepared = session
            .prepare_with_types(statement, &declared)
            .await
            .map_err(|e| sqlstate::to_pgwire(&e))?;
        let describe = |e: session::Error| sqlstate::to_pgwire(&e);
        let expected_types = prepared.parameter_types().map_err(describe)?;
        let count = expected_types.len().max(types.len());
        let parameter_types = (0..count)
            .map(|i| {
                types
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| {
                        expected_types
                            .get(i)
                            .cloned()
                            .flatten()
                            .map(|t| pgtype::pg_type(&Field::new("", t, true)))
                    })
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let output = prepared.output_schema().map_err(describe)?;
        Ok(Some(PreparedStatement {
            prepared,
            parameter_types,
            expected_types,
            declared: declared.iter().map(Option::is_some).collect(),
            output,
            epoch: self.connection.statement_epoch.load(Ordering::Acquire),
        }))
    }

    fn get_parameter_types(&self, statement: &PreparedStatement) -> PgWireResult<Vec<Type>> {
        Ok(statement.parameter_types.clone())
    }

    fn get_result_schema(
        &self,
        statement: &PreparedStatement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &statement.output {
            Some(schema) => encode::field_infos(schema, |i| {
                format.map_or(FieldFormat::Text, |f| f.format_for(i))
            }),
            None => Vec::new(),
        })
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = PreparedStatement;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        self.parser.clone()
    }

    /// As pgwire's, but a statement that returns no rows is described
    /// with NoData, as PostgreSQL describes it, also when it has
    /// parameters (pgwire sends an empty RowDescription then, which pgJDBC
    /// takes for a query once it prepares the statement on the server),
    /// and a SQL cursor can be described as a portal.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        // A cursor opened by SQL `DECLARE` shares the portals' names, as in
        // PostgreSQL: psycopg describes its named cursors so.
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && client.portal_store().get_portal(name).is_none()
            && let Some(schema) = self.connection.session()?.cursor_schema(name)
        {
            let fields = encode::field_infos(&schema, |_| FieldFormat::Text);
            let fields = fields.iter().map(Into::into).collect();
            client
                .send(PgWireBackendMessage::RowDescription(RowDescription::new(
                    fields,
                )))
                .await?;
            return Ok(());
        }
        let stored = match client.portal_store().get_statement(name) {
            Some(Entry::Value(stored)) if message.target_type == TARGET_TYPE_BYTE_STATEMENT => {
                stored
            }
            _ => return self._on_describe(client, message).await,
        };
        if stored.statement.output.is_some() {
            return self._on_describe(client, message).await;
        }
        let described = self.do_describe_statement(client, &stored).await?;
        let parameters = described.parameters.iter().map(Type::oid).collect();
        client
            .feed(PgWireBackendMessage::ParameterDescription(
                ParameterDescription::new(parameters),
            ))
            .await?;
        client
            .send(PgWireBackendMessage::NoData(NoData::new()))
            .await?;
        Ok(())
    }

    /// As pgwire's, but a format code other than 0 (text) and 1 (binary)
    /// fails with PostgreSQL's 22023, where pgwire would read it as binary:
    /// a result column's always, a parameter's when there are parameters.
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parameter_codes = if message.parameters.is_empty() {
            &[][..]
        } else {
            &message.parameter_format_codes[..]
        };
        if let Some(code) = parameter_codes
            .iter()
            .chain(&message.result_column_format_codes)
            .find(|code| !matches!(code, 0 | 1))
        {
            return Err(sqlstate::user_error(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("unsupported format code: {code}"),
            ));
        }
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                if !message.parameters.is_empty() {
                    return Err(sqlstate::user_error(
                        sqlstate::PROTOCOL_VIOLATION,
                        format!(
                            "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires 0",
                            message.parameters.len()
                        ),
                    ));
                }
                client.portal_store().put_empty_portal(portal_name);
            }
            None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
        }
        client
            .send(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    /// As pgwire's, but rows go to the client as they are produced, however
    /// many there are: pgwire collects a whole result before sending it.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.execute_portal(client, message).await;
        if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.set_state(PgWireConnectionState::ReadyForQuery);
        }
        result
    }

    /// As pgwire's, but ReadyForQuery reports the session's transaction state.
    async fn on_sync<C>(&self, client: &mut C, _message: SyncMessage) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal(DEFAULT_NAME);
        if let Ok(session) = self.connection.session() {
            sync_transaction_status(client, &session);
        }
        let status = client.transaction_status();
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.run_portal(client, portal).await
    }
}

impl QueryHandler {
    /// Executes a bound portal's statement.
    async fn run_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedStatement>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.connection.session()?;
        let statement = &portal.statement.statement;
        if statement.epoch != self.connection.statement_epoch.load(Ordering::Acquire) {
            return Err(statement_not_found(&portal.statement.id));
        }
        if portal.parameters.len() != statement.parameter_types.len() {
            return Err(sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {} parameters, but prepared statement requires {}",
                    portal.parameters.len(),
                    statement.parameter_types.len()
                ),
            ));
        }
        let bound: Vec<BoundParameter<'_>> = portal
            .parameters
            .iter()
            .enumerate()
            .map(|(i, value)| BoundParameter {
                value: value.as_ref(),
                binary: portal.parameter_format.is_binary(i),
                pg_type: &statement.parameter_types[i],
                declared: statement.declared.get(i).copied().unwrap_or(false),
                expected: statement.expected_types.get(i).and_then(Option::as_ref),
            })
            .collect();
        let params = (!bound.is_empty())
            .then(|| params::decode_all(&bound))
            .transpose()?;
        let result = session.execute(&statement.prepared, params).await;
        report_session(client, &session).await?;
        let output = result.map_err(|e| sqlstate::to_pgwire(&e))?;
        if let Output::Deallocate { name, .. } = &output {
            deallocate(&self.connection, client.portal_store(), name.as_deref())?;
        }
        respond(
            &self.connection,
            &session,
            output,
            &portal.result_column_format,
            false,
        )
        .await
    }

    /// `MOVE` on a portal bound through the extended protocol, which shares
    /// the namespace of SQL cursors (asyncpg moves its cursors this way):
    /// skips `count` of its rows, running it first if need be. `None` if
    /// there is no such portal.
    async fn move_portal<C>(
        &self,
        client: &mut C,
        name: &str,
        count: Count,
    ) -> PgWireResult<Option<usize>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let portal = match client
            .portal_store()
            .as_any()
            .downcast_ref::<MemPortalStore<PreparedStatement>>()
            .and_then(|store| store.get_portal(name))
        {
            Some(Entry::Value(portal)) => portal,
            _ => return Ok(None),
        };
        let state = portal.state();
        let mut state = state.lock().await;
        if matches!(*state, PortalExecutionState::Initial) {
            *state = match self.run_portal(client, &portal).await? {
                Response::Query(rows) => PortalExecutionState::Suspended(rows),
                Response::Error(error) => return Err(PgWireError::UserError(error)),
                _ => PortalExecutionState::Finished,
            };
        }
        let PortalExecutionState::Suspended(response) = &mut *state else {
            return Ok(Some(0));
        };
        let limit = match count {
            Count::Rows(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Count::All => usize::MAX,
        };
        let rows = response.data_rows();
        let mut moved = 0;
        let mut finished = false;
        while moved < limit {
            match next_or_flush(rows, client).await? {
                Some(row) => {
                    row?;
                    moved += 1;
                }
                None => {
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            *state = PortalExecutionState::Finished;
        }
        Ok(Some(moved))
    }
}
