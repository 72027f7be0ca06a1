//! The endpoints: the three write APIs, `/ping`, `/health` and `/query`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{AuthError, Authenticator};
use super::dialect::Dialect;
use crate::query::{self, LineWrite, Precision, QueryEngine};
use crate::storage::DEFAULT_DATABASE;

/// The InfluxDB version `/ping` reports: the 1.8 API, whose v1 and v2
/// write endpoints this serves.
const INFLUXDB_VERSION: &str = "1.8.10";

/// How the HTTP listener behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Requests authenticate with a role's password; otherwise only
    /// loopback clients are served.
    pub passwords: bool,
    /// The role `Authorization: Token <password>` names.
    pub token_role: Option<String>,
    /// The largest body, after decompression.
    pub max_body_bytes: usize,
    /// How long a request with wrong credentials waits for its `401`.
    pub auth_failure_delay: Duration,
}

/// What every handler shares.
#[derive(Debug)]
pub(super) struct AppState {
    pub(super) engine: Arc<QueryEngine>,
    pub(super) auth: Authenticator,
    max_body_bytes: usize,
}

impl AppState {
    pub(super) fn new(engine: Arc<QueryEngine>, options: &HttpOptions) -> std::io::Result<Self> {
        Ok(Self {
            auth: Authenticator::new(
                engine.clone(),
                options.passwords,
                options.token_role.clone(),
                options.auth_failure_delay,
            )?,
            engine,
            max_body_bytes: options.max_body_bytes,
        })
    }
}

pub(super) type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The write endpoints; the route gives the dialect.
pub(super) async fn write(
    State(state): State<Arc<AppState>>,
    Extension(dialect): Extension<Dialect>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    write_lines(&state, dialect, peer, &headers, params, body).await
}

async fn write_lines(
    state: &AppState,
    dialect: Dialect,
    peer: SocketAddr,
    headers: &HeaderMap,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(e) => return dialect.error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let principal = match state.auth.authenticate(headers, &params, peer).await {
        Ok(principal) => principal,
        Err(e) => return auth_error(dialect, &e),
    };
    // v1 and v3 name a database; v2 a bucket, `db/rp` on InfluxDB 1.8.
    // The retention policy is ignored: every table lives in `public`.
    let named = match dialect {
        Dialect::V1 | Dialect::V3 => params.get("db").map(String::as_str),
        Dialect::V2 => params
            .get("bucket")
            .map(|b| b.split('/').next().unwrap_or(b)),
    };
    let database = named.filter(|d| !d.is_empty()).unwrap_or(DEFAULT_DATABASE);
    // InfluxDB 3 guesses the unit of each timestamp by default.
    let precision = match params.get("precision").map(String::as_str) {
        None | Some("") if dialect == Dialect::V3 => Precision::Auto,
        None | Some("") => Precision::Nanoseconds,
        Some(text) => match Precision::parse(text) {
            Some(precision) => precision,
            None => {
                return dialect.error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "invalid precision \"{text}\": give ns, us, ms, s, m, h or auto (n and u also work)"
                    ),
                );
            }
        },
    };
    let accept_partial = match (dialect, params.get("accept_partial").map(String::as_str)) {
        (Dialect::V3, Some("false")) => false,
        (Dialect::V3, None | Some("true")) | (Dialect::V1 | Dialect::V2, _) => true,
        (Dialect::V3, Some(other)) => {
            return dialect.error(
                StatusCode::BAD_REQUEST,
                &format!("invalid accept_partial \"{other}\": give true or false"),
            );
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return dialect.too_large(state.max_body_bytes);
        }
        Err(e) => return dialect.error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let write = LineWrite {
        database,
        body: &body,
        precision,
        accept_partial,
        now_micros: query::now_micros(),
    };
    match state.engine.write_lines(&principal, &write).await {
        Ok(outcome) if outcome.dropped == 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(outcome) => dialect.rejected(&outcome.rejected, outcome.dropped, accept_partial),
        Err(e) => write_error(dialect, database, &e),
    }
}

pub(super) fn auth_error(dialect: Dialect, error: &AuthError) -> Response {
    let status = match error {
        AuthError::Failed | AuthError::CannotLogin(_) => StatusCode::UNAUTHORIZED,
        AuthError::NotLoopback | AuthError::FromWebPage => StatusCode::FORBIDDEN,
    };
    dialect.error(status, &error.to_string())
}

/// A failed write: the client's (4xx) or the server's (5xx, which collectors
/// retry).
fn write_error(dialect: Dialect, database: &str, error: &query::Error) -> Response {
    match error {
        query::Error::UndefinedDatabase { .. } => {
            let message = match dialect {
                Dialect::V2 => format!("bucket \"{database}\" not found"),
                _ => format!("database not found: \"{database}\""),
            };
            dialect.error(StatusCode::NOT_FOUND, &message)
        }
        query::Error::PermissionDenied { message, .. } => {
            dialect.error(StatusCode::FORBIDDEN, message)
        }
        query::Error::Storage(e) => {
            tracing::error!(error = %e, "a line protocol write failed");
            dialect.error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        other => {
            tracing::error!(error = %other, "a line protocol write failed");
            dialect.error(StatusCode::INTERNAL_SERVER_ERROR, &other.to_string())
        }
    }
}

/// `GET|HEAD /ping`: `204` with the version headers (`200` and a body with
/// `verbose=true`).
pub(super) async fn ping(Query(params): Query<HashMap<String, String>>) -> Response {
    let mut response = if params.get("verbose").is_some_and(|v| v == "true") {
        (
            StatusCode::OK,
            axum::Json(json!({ "version": INFLUXDB_VERSION })),
        )
            .into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        "X-Influxdb-Version",
        HeaderValue::from_static(INFLUXDB_VERSION),
    );
    headers.insert("X-Influxdb-Build", HeaderValue::from_static("OSS"));
    headers.insert(
        "X-EpochDB-Version",
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    response
}

/// `GET /health`: the listener only starts once recovery has finished, so
/// a server that answers is ready.
pub(super) async fn health() -> Response {
    axum::Json(json!({
        "name": "epochdb",
        "message": "ready for queries and writes",
        "status": "pass",
        "checks": [],
        "version": INFLUXDB_VERSION,
    }))
    .into_response()
}

/// `/query`: InfluxQL's `CREATE DATABASE name`, which Telegraf's v1 output
/// sends before it writes. Anything else is refused: EpochDB is queried
/// in SQL, over the PostgreSQL protocol.
pub(super) async fn query(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let dialect = Dialect::V1;
    let mut params = match params {
        Ok(Query(params)) => params,
        Err(e) => return dialect.error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    // A form body may carry `q` (and the credentials) too.
    if let Ok(body) = &body {
        for (key, value) in form_urlencoded(body) {
            params.entry(key).or_insert(value);
        }
    }
    let principal = match state.auth.authenticate(&headers, &params, peer).await {
        Ok(principal) => principal,
        Err(e) => return auth_error(dialect, &e),
    };
    let Some(text) = params.get("q") else {
        return dialect.error(StatusCode::BAD_REQUEST, "missing required parameter \"q\"");
    };
    let Some(name) = create_database_name(text) else {
        return dialect.error(
            StatusCode::BAD_REQUEST,
            "EpochDB's /query runs only CREATE DATABASE: query EpochDB in SQL over the PostgreSQL protocol",
        );
    };
    match state.engine.create_database(&principal, &name).await {
        Ok(_) => axum::Json(json!({ "results": [{ "statement_id": 0 }] })).into_response(),
        Err(e) => write_error(dialect, &name, &e),
    }
}

/// The pairs of an `application/x-www-form-urlencoded` body; nothing when
/// the body is not one.
fn form_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// The database `CREATE DATABASE name` (InfluxQL) names: a bare name, or a
/// double-quoted one with `\"` and `\\` escapes. `None` for any other text.
fn create_database_name(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches(';').trim_end();
    let mut words = text.splitn(3, char::is_whitespace);
    let create = words.next()?;
    let database = words.next()?;
    if !create.eq_ignore_ascii_case("create") || !database.eq_ignore_ascii_case("database") {
        return None;
    }
    let name = words.next()?.trim();
    if let Some(quoted) = name.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return chars.as_str().trim().is_empty().then_some(out),
                c => out.push(c),
            }
        }
        return None;
    }
    let bare = name.chars().all(|c| c.is_alphanumeric() || c == '_');
    (bare && !name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_create_database_telegraf_sends() {
        assert_eq!(
            create_database_name("CREATE DATABASE \"telegraf\""),
            Some("telegraf".into())
        );
        assert_eq!(
            create_database_name("create database db1;"),
            Some("db1".into())
        );
        assert_eq!(
            create_database_name(r#"CREATE DATABASE "a \"b\"""#),
            Some("a \"b\"".into())
        );
        assert_eq!(create_database_name("SHOW DATABASES"), None);
        assert_eq!(
            create_database_name("CREATE DATABASE \"x\" WITH DURATION 1d"),
            None
        );
        assert_eq!(create_database_name("CREATE DATABASE a b"), None);
    }

    #[test]
    fn reads_a_form_body() {
        assert_eq!(
            form_urlencoded(b"q=CREATE+DATABASE+%22t%22&u=x"),
            vec![
                ("q".to_owned(), "CREATE DATABASE \"t\"".to_owned()),
                ("u".to_owned(), "x".to_owned())
            ]
        );
    }
}
