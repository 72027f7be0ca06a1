//! The TCP line protocol listener (QuestDB's and InfluxDB 1.x's UDP/TCP
//! style): a stream of lines and no answers. Off unless
//! `--ilp-tcp-listen` names an address.
//!
//! Lines are written in batches, each once it holds `batch_bytes` of whole
//! lines or `flush_after` after its first line arrived, whichever comes
//! first, and when the client closes the stream. A batch is written as an
//! HTTP write with partial writes is: its valid lines commit together. A
//! bad line is logged with the peer's address and its line number, and
//! closes the connection: the valid lines of its batch are written, and
//! nothing the client sent after that batch is read.
//!
//! There is no authentication on this protocol: only loopback clients are
//! served, writing as a superuser (to the `postgres` database unless
//! `--ilp-tcp-database` names another). A connection that opens with an
//! HTTP request line is closed at once: a web page cannot write through it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::line_protocol;
use crate::query::{self, LineWrite, Precision, Principal, QueryEngine};

/// How the listener batches.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// The database lines go to.
    pub database: String,
    /// Whole lines that make a batch.
    pub batch_bytes: usize,
    /// The longest a line waits before its batch is written.
    pub flush_after: Duration,
    /// The longest line; a longer one closes the connection.
    pub max_line_bytes: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            database: crate::storage::DEFAULT_DATABASE.to_owned(),
            batch_bytes: 1 << 20,
            flush_after: Duration::from_secs(1),
            max_line_bytes: 1 << 20,
        }
    }
}

/// Serves line protocol streams on `listener` until `shutdown` completes;
/// each connection then writes what it holds and closes.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<QueryEngine>,
    options: TcpOptions,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let options = Arc::new(options);
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    if !peer.ip().is_loopback() {
                        tracing::warn!(%peer, "line protocol over TCP serves loopback clients only: connection refused");
                        continue;
                    }
                    let engine = engine.clone();
                    let options = options.clone();
                    let stop = stop_rx.clone();
                    connections.spawn(async move {
                        Connection { engine, options, peer, lines_before: 0 }
                            .run(socket, stop)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "line protocol accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

struct Connection {
    engine: Arc<QueryEngine>,
    options: Arc<TcpOptions>,
    peer: SocketAddr,
    /// Physical lines written from this connection so far, for numbering.
    lines_before: usize,
}

impl Connection {
    async fn run(mut self, mut socket: TcpStream, mut stop: watch::Receiver<bool>) {
        let mut buffer: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut chunk = vec![0u8; 64 << 10];
        // The whole lines at the start of `buffer`: scanned once, and again
        // only past them when a newline comes, so a client that sends a
        // byte at a time costs what its bytes cost.
        let mut complete = 0;
        // When the oldest unwritten line arrived.
        let mut pending_since: Option<Instant> = None;
        loop {
            let deadline = pending_since.map(|t| t + self.options.flush_after);
            let read = tokio::select! {
                read = socket.read(&mut chunk) => Some(read),
                () = sleep_until(deadline) => None,
                _ = stop.wait_for(|stopping| *stopping) => Some(Ok(0)),
            };
            let ended = match read {
                None => false,
                Some(Ok(0)) => true,
                Some(Ok(n)) => {
                    buffer.extend_from_slice(&chunk[..n]);
                    pending_since.get_or_insert_with(Instant::now);
                    if chunk[..n].contains(&b'\n') {
                        complete += line_protocol::complete_len(&buffer[complete..]);
                    }
                    false
                }
                Some(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "line protocol connection failed");
                    true
                }
            };
            if ended {
                complete = buffer.len();
            }
            if self.lines_before == 0 && looks_like_http(&buffer) {
                // A browser can be made to post to any port: a page must not
                // write through a loopback listener that trusts its clients.
                tracing::warn!(peer = %self.peer, "an HTTP request on the line protocol port: connection closed");
                return;
            }
            let due = deadline.is_some_and(|d| Instant::now() >= d);
            if complete > 0 && (ended || due || complete >= self.options.batch_bytes) {
                let keep_going = self.write(&buffer[..complete]).await;
                buffer.drain(..complete);
                complete = 0;
                pending_since = (!buffer.is_empty()).then(Instant::now);
                if !keep_going {
                    return;
                }
            } else if due {
                // Only part of a line so far: give the rest another period.
                pending_since = Some(Instant::now());
            }
            if buffer.len() - complete > self.options.max_line_bytes {
                tracing::warn!(
                    peer = %self.peer,
                    line = self.lines_before + 1,
                    "line protocol line longer than {} bytes: connection closed",
                    self.options.max_line_bytes
                );
                return;
            }
            if ended {
                return;
            }
        }
    }

    /// Writes a batch of whole lines; `false` when a bad line (or a failed
    /// write) closes the connection.
    async fn write(&mut self, body: &[u8]) -> bool {
        let principal = Principal::new(crate::storage::DEFAULT_DATABASE, true);
        let write = LineWrite {
            database: &self.options.database,
            body,
            precision: Precision::Nanoseconds,
            accept_partial: true,
            now_micros: query::now_micros(),
        };
        let lines_before = self.lines_before;
        self.lines_before += body.iter().filter(|&&b| b == b'\n').count();
        match self.engine.write_lines(&principal, &write).await {
            Ok(outcome) if outcome.dropped == 0 => true,
            Ok(outcome) => {
                for rejected in &outcome.rejected {
                    tracing::warn!(
                        peer = %self.peer,
                        line = lines_before + rejected.line,
                        reason = %rejected.reason,
                        text = %rejected.text,
                        "bad line protocol line: connection closed"
                    );
                }
                false
            }
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "line protocol write failed: connection closed");
                false
            }
        }
    }
}

/// Whether `buffer` starts with an HTTP request line (`POST /x HTTP/1.1`).
fn looks_like_http(buffer: &[u8]) -> bool {
    let first = buffer.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    first.ends_with(b" HTTP/1.1") || first.ends_with(b" HTTP/1.0")
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
