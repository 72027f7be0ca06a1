//! NSDb's live subscriptions over WebSocket: `GET /ws-stream`.
//!
//! A client sends `{"db", "namespace", "metric", "queryString", "from"?,
//! "to"?, "filters"?}`: the database, the schema (NSDb's namespace), the
//! table (its metric) and a `SELECT` over it, with optional bounds on its
//! time column (milliseconds since the epoch, inclusive) and filters
//! `{"dimension", "value", "operator"}` (`=`, `>`, `>=`, `<`, `<=`,
//! `like`), all ANDed onto the query. The answer is the query's rows now,
//! `{"queryString", "quid", "records"}`, then for each batch of new
//! matching rows `{"quid", "metric", "records"}`, at most one per
//! `refresh_period` milliseconds (a parameter of the URL, at least 100,
//! the default). A record is `{"timestamp", "value", "dimensions",
//! "fields"}`: the time column in milliseconds, the one field when there
//! is exactly one, the tag columns, and every other column. An invalid
//! query is answered `{"db", "namespace", "queryString", "reason"}` and the
//! socket stays usable; one socket may hold several subscriptions.
//!
//! Each subscription is a `SUBSCRIBE` run by the query engine, with the
//! same exact boundary between history and live rows. A subscriber that
//! falls behind, or whose table is dropped, gets a close frame saying why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Fields, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::dialect::Dialect;
use super::handlers::{AppState, Params, auth_error};
use crate::query::{self, Principal, QueryEngine, quote_ident};
use crate::storage::{DEFAULT_DATABASE, DEFAULT_SCHEMA};

/// The shortest time between two pushes of one subscription, and the default.
const MIN_REFRESH: Duration = Duration::from_millis(100);

/// The largest message a client may send.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How often an idle socket is pinged.
const PING_EVERY: Duration = Duration::from_secs(20);

/// Messages waiting to be sent on one socket; a subscription that would
/// queue more waits, and its own queue in the engine fills instead.
const OUTGOING: usize = 64;

/// One subscription request, in NSDb's words.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    db: Option<String>,
    namespace: Option<String>,
    metric: Option<String>,
    query_string: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
struct Filter {
    dimension: String,
    value: Value,
    operator: String,
}

/// `GET /ws-stream`: authenticated as the write endpoints are, then upgraded.
pub(super) async fn ws_stream(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Params,
    upgrade: WebSocketUpgrade,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(e) => {
            return Dialect::V1.error(axum::http::StatusCode::BAD_REQUEST, &e.body_text());
        }
    };
    let principal = match state.auth.authenticate(&headers, &params, peer).await {
        Ok(principal) => principal,
        Err(e) => return auth_error(Dialect::V1, &e),
    };
    let refresh = (params.get("refresh_period"))
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(MIN_REFRESH, Duration::from_millis)
        .max(MIN_REFRESH);
    let engine = state.engine.clone();
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, engine, Arc::new(principal), refresh))
        .into_response()
}

/// Serves one socket until the client closes it or goes away; its
/// subscriptions end with it.
async fn serve(
    socket: WebSocket,
    engine: Arc<QueryEngine>,
    principal: Arc<Principal>,
    refresh: Duration,
) {
    let (mut sink, mut incoming) = socket.split();
    let (outgoing, mut queued) = mpsc::channel::<Message>(OUTGOING);
    let mut subscriptions = JoinSet::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let engine = engine.clone();
                    let principal = principal.clone();
                    let outgoing = outgoing.clone();
                    subscriptions.spawn(async move {
                        subscribe(&engine, principal, text.as_str(), refresh, &outgoing).await;
                    });
                }
                Some(Ok(Message::Binary(_))) => {
                    let reason = json!({"reason": "send subscriptions as text messages"});
                    if sink.send(Message::Text(reason.to_string().into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            Some(message) = queued.recv() => {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    subscriptions.abort_all();
}

/// Runs one subscription: its history, then its pushes, until the socket
/// goes away or the subscription ends.
async fn subscribe(
    engine: &QueryEngine,
    principal: Arc<Principal>,
    text: &str,
    refresh: Duration,
    out: &mpsc::Sender<Message>,
) {
    let send = |value: Value| out.send(Message::Text(value.to_string().into()));
    let request: Request = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(e) => {
            let _ = send(json!({"reason": format!("not a subscription: {e}")})).await;
            return;
        }
    };
    let database = request
        .db
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let schema = (request.namespace.clone()).unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
    let refuse = |reason: String| {
        json!({
            "db": request.db,
            "namespace": request.namespace,
            "queryString": request.query_string,
            "reason": reason,
        })
    };
    let Some(metric) = request.metric.clone() else {
        let _ = send(refuse("a subscription names its metric".into())).await;
        return;
    };
    let (time, tags) = (engine.column_roles(&database, &schema, &metric)).unwrap_or_default();
    let sql = match query_text(&request, &metric, time.as_deref()) {
        Ok(sql) => sql,
        Err(reason) => {
            let _ = send(refuse(reason)).await;
            return;
        }
    };
    let mut rows = match engine.subscribe(principal, &database, &schema, &sql).await {
        Ok(rows) => rows,
        Err(e) => {
            let _ = send(refuse(e.to_string())).await;
            return;
        }
    };
    let quid = quid();
    let shape = Shape::new(rows.schema().fields(), time, tags);
    // The history: every row before the first progress row.
    let mut history = Vec::new();
    loop {
        match rows.next().await {
            Some(Ok(batch)) => {
                let done = shape.progressed(&batch);
                history.extend(shape.records(&batch));
                if done {
                    break;
                }
            }
            Some(Err(e)) => {
                let _ = send(refuse(query::Error::from(e).to_string())).await;
                return;
            }
            None => return,
        }
    }
    let answer = json!({"queryString": request.query_string, "quid": quid, "records": history});
    if send(answer).await.is_err() {
        return;
    }
    // Live rows, gathered for at most one push per refresh period.
    let mut pending: Vec<Value> = Vec::new();
    let mut next_push = Instant::now();
    loop {
        let wait = if pending.is_empty() {
            None
        } else {
            Some(next_push.saturating_duration_since(Instant::now()))
        };
        let next = match wait {
            // `None`: the push is due.
            Some(wait) => tokio::time::timeout(wait, rows.next()).await.ok(),
            None => Some(rows.next().await),
        };
        match next {
            Some(Some(Ok(batch))) => pending.extend(shape.records(&batch)),
            Some(Some(Err(e))) => {
                let reason = query::Error::from(e).to_string();
                let frame = CloseFrame {
                    // 1013: try again later.
                    code: 1013,
                    reason: reason.chars().take(120).collect::<String>().into(),
                };
                let _ = out.send(Message::Close(Some(frame))).await;
                return;
            }
            Some(None) => return,
            None => {}
        }
        if !pending.is_empty() && Instant::now() >= next_push {
            let push = json!({"quid": quid, "metric": metric, "records": pending});
            if send(push).await.is_err() {
                return;
            }
            pending = Vec::new();
            next_push = Instant::now() + refresh;
        }
    }
}

/// The SQL of a request: its query, with its bounds and filters ANDed on.
fn query_text(request: &Request, metric: &str, time: Option<&str>) -> Result<String, String> {
    let query = match &request.query_string {
        Some(query) => query.trim().trim_end_matches(';').to_owned(),
        None => format!("SELECT * FROM {}", quote_ident(metric)),
    };
    let mut conditions = Vec::new();
    if request.from.is_some() || request.to.is_some() {
        let Some(time) = time else {
            return Err(format!("\"{metric}\" has no time column to bound"));
        };
        let column = quote_ident(time);
        let at = |ms: i64| format!("to_timestamp({ms}::float8 / 1000)");
        if let Some(from) = request.from {
            conditions.push(format!("{column} >= {}", at(from)));
        }
        if let Some(to) = request.to {
            conditions.push(format!("{column} <= {}", at(to)));
        }
    }
    for filter in &request.filters {
        let operator = match filter.operator.to_ascii_lowercase().as_str() {
            op @ ("=" | ">" | ">=" | "<" | "<=") => op.to_owned(),
            "like" => "LIKE".to_owned(),
            other => return Err(format!("unknown filter operator \"{other}\"")),
        };
        let value = match &filter.value {
            Value::String(text) => format!("'{}'", text.replace('\'', "''")),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            other => return Err(format!("a filter's value may not be {other}")),
        };
        conditions.push(format!(
            "{} {operator} {value}",
            quote_ident(&filter.dimension)
        ));
    }
    if conditions.is_empty() {
        return Ok(query);
    }
    Ok(format!(
        "SELECT * FROM ({query}) AS nsdb WHERE {}",
        conditions.join(" AND ")
    ))
}

/// A subscription's id: a random UUID.
fn quid() -> String {
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Where each column of a subscription's rows goes in a record.
struct Shape {
    /// Column index of `epochdb_progressed`.
    progressed: usize,
    /// Columns of the query: name, and its part of the record.
    columns: Vec<(usize, String, Part)>,
    /// The one field, when there is exactly one: the record's `value`.
    value: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Timestamp,
    Dimension,
    Field,
}

impl Shape {
    fn new(fields: &Fields, time: Option<String>, tags: Vec<String>) -> Self {
        let columns: Vec<(usize, String, Part)> = (fields.iter().enumerate())
            .skip(2)
            .map(|(i, f)| {
                let name = f.name().clone();
                let part = if time.as_deref() == Some(name.as_str()) {
                    Part::Timestamp
                } else if tags.contains(&name) {
                    Part::Dimension
                } else {
                    Part::Field
                };
                (i, name, part)
            })
            .collect();
        let fields: Vec<usize> = (columns.iter())
            .filter(|c| c.2 == Part::Field)
            .map(|c| c.0)
            .collect();
        Self {
            progressed: 1,
            value: (fields.len() == 1).then(|| fields[0]),
            columns,
        }
    }

    /// Whether `batch` holds a progress row.
    fn progressed(&self, batch: &RecordBatch) -> bool {
        (batch.column(self.progressed).as_boolean_opt()).is_some_and(|p| p.true_count() > 0)
    }

    /// The records of `batch`'s data rows.
    fn records(&self, batch: &RecordBatch) -> Vec<Value> {
        let progressed = batch.column(self.progressed).as_boolean_opt();
        let mut records = Vec::new();
        for row in 0..batch.num_rows() {
            if progressed.is_some_and(|p| p.is_valid(row) && p.value(row)) {
                continue;
            }
            let mut record = Map::new();
            let mut dimensions = Map::new();
            let mut fields = Map::new();
            for (i, name, part) in &self.columns {
                let value = json_value(batch.column(*i).as_ref(), row);
                match part {
                    Part::Timestamp => {
                        record.insert("timestamp".into(), millis(batch.column(*i).as_ref(), row));
                    }
                    Part::Dimension => {
                        dimensions.insert(name.clone(), value);
                    }
                    Part::Field => {
                        if self.value == Some(*i) {
                            record.insert("value".into(), value.clone());
                        }
                        fields.insert(name.clone(), value);
                    }
                }
            }
            record.insert("dimensions".into(), Value::Object(dimensions));
            record.insert("fields".into(), Value::Object(fields));
            records.push(Value::Object(record));
        }
        records
    }
}

/// A timestamp as milliseconds since the epoch.
fn millis(array: &dyn Array, row: usize) -> Value {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) if array.is_valid(row) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            json!(micros.div_euclid(1000))
        }
        _ => json_value(array, row),
    }
}

/// One cell as JSON: numbers and booleans as themselves, the rest as
/// PostgreSQL-like text.
fn json_value(array: &dyn Array, row: usize) -> Value {
    use datafusion::arrow::datatypes as t;
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => json!(array.as_boolean().value(row)),
        DataType::Int16 => json!(array.as_primitive::<t::Int16Type>().value(row)),
        DataType::Int32 => json!(array.as_primitive::<t::Int32Type>().value(row)),
        DataType::Int64 => json!(array.as_primitive::<t::Int64Type>().value(row)),
        DataType::Float32 => json!(array.as_primitive::<t::Float32Type>().value(row)),
        DataType::Float64 => json!(array.as_primitive::<t::Float64Type>().value(row)),
        DataType::Utf8 => json!(array.as_string::<i32>().value(row)),
        _ => {
            let options = FormatOptions::default();
            match ArrayFormatter::try_new(array, &options) {
                Ok(formatter) => json!(formatter.value(row).to_string()),
                Err(_) => Value::Null,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn bounds_and_filters_are_anded_onto_the_query() {
        let r = request(
            r#"{"db": "db", "namespace": "s", "metric": "cpu",
                "queryString": "select * from cpu limit 5;", "from": 1000, "to": 2000,
                "filters": [{"dimension": "host", "value": "o'k", "operator": "="},
                            {"dimension": "v", "value": 1.5, "operator": ">="}]}"#,
        );
        assert_eq!(
            query_text(&r, "cpu", Some("time")).unwrap(),
            "SELECT * FROM (select * from cpu limit 5) AS nsdb WHERE \"time\" >= \
             to_timestamp(1000::float8 / 1000) AND \"time\" <= to_timestamp(2000::float8 / 1000) \
             AND host = 'o''k' AND v >= 1.5"
        );
        let bare = request(r#"{"metric": "Cpu"}"#);
        assert_eq!(
            query_text(&bare, "Cpu", None).unwrap(),
            "SELECT * FROM \"Cpu\""
        );
        let bad = request(
            r#"{"metric": "cpu", "filters": [{"dimension": "a", "value": 1, "operator": "!~"}]}"#,
        );
        assert!(query_text(&bad, "cpu", None).is_err());
        let unbounded = request(r#"{"metric": "cpu", "from": 1}"#);
        assert!(query_text(&unbounded, "cpu", None).is_err());
    }

    #[test]
    fn quids_are_version_4_uuids() {
        let a = quid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, quid());
    }
}
