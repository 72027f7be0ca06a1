//! Simple and extended query handling: statements in, responses out.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, StreamExt, TryStreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

use super::Connection;
use super::copy;
use super::encode::{self, RenderOptions};
use super::params::{self, BoundParameter};
use super::sqlstate::{self, error_info};
use crate::session::{self, Output, Prepared, Session, TransactionCommand};

/// A statement prepared through Parse, with what Describe reports about it.
#[derive(Debug, Clone)]
pub(super) struct PreparedStatement {
    prepared: Prepared,
    /// Types of `$1..$n` as reported to the client.
    parameter_types: Vec<Type>,
    /// Types of `$1..$n` the plan expects.
    expected_types: Vec<Option<DataType>>,
    output: Option<SchemaRef>,
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

/// Sends ParameterStatus for settings the last statement changed.
async fn report_settings<C>(client: &mut C, session: &Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in session.take_reported_settings() {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name.to_owned(),
                value,
            )))
            .await?;
    }
    Ok(())
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
        Output::CopyIn {
            writer,
            options,
            columns,
        } => copy::start_copy_in(connection, writer, &options, columns)?,
        Output::CopyOut { rows, options } => copy::copy_out(session, rows, &options)?,
        Output::Rows(stream) => {
            Response::Query(rows_response(session, stream, format, buffer).await?)
        }
        Output::Command { tag, rows } => {
            let mut tag_message = Tag::new(tag);
            if tag == "INSERT" {
                tag_message = tag_message.with_oid(0);
            }
            if let Some(rows) = rows {
                tag_message = tag_message.with_rows(rows as usize);
            }
            Response::Execution(tag_message)
        }
        Output::Transaction { command, tag } => match command {
            TransactionCommand::Begin => Response::TransactionStart(Tag::new(tag)),
            TransactionCommand::Commit | TransactionCommand::Rollback => {
                Response::TransactionEnd(Tag::new(tag))
            }
        },
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
        let mut responses = Vec::with_capacity(count);
        for (i, statement) in statements.into_iter().enumerate() {
            let result = async {
                let prepared = session.prepare(statement).await?;
                session.execute(&prepared, None).await
            }
            .await;
            report_settings(client, &session).await?;
            match result {
                Ok(output) => {
                    let buffer = i + 1 < count;
                    responses.push(
                        respond(
                            &self.connection,
                            &session,
                            output,
                            &Format::UnifiedText,
                            buffer,
                        )
                        .await?,
                    );
                }
                Err(e) => {
                    // As PostgreSQL: the rest of a multi-statement query is skipped.
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(responses)
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
        let prepared = session
            .prepare(statement)
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
                            .map(|t| encode::pg_type(&Field::new("", t, true)))
                    })
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let output = prepared.output_schema().map_err(describe)?;
        Ok(Some(PreparedStatement {
            prepared,
            parameter_types,
            expected_types,
            output,
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
        let session = self.connection.session()?;
        let statement = &portal.statement.statement;
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
                expected: statement.expected_types.get(i).and_then(Option::as_ref),
            })
            .collect();
        let params = (!bound.is_empty())
            .then(|| params::decode_all(&bound))
            .transpose()?;
        let result = session.execute(&statement.prepared, params).await;
        report_settings(client, &session).await?;
        let output = result.map_err(|e| sqlstate::to_pgwire(&e))?;
        respond(
            &self.connection,
            &session,
            output,
            &portal.result_column_format,
            false,
        )
        .await
    }
}
