//! Accepts PostgreSQL connections (and HTTP ones, through `http`) and shuts
//! down gracefully.

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::Db;
use crate::protocol;

/// The runtime the server runs on: multi-threaded, with I/O and timers, and
/// with the stack a deep statement needs on every thread
/// ([`STATEMENT_STACK_BYTES`](crate::session::STATEMENT_STACK_BYTES)).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(crate::session::STATEMENT_STACK_BYTES)
        .build()
}

/// Serves collectors over HTTP on `listener` until `shutdown` completes;
/// requests in flight finish first.
pub async fn run_http(
    listener: TcpListener,
    db: Db,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::http::serve(
        listener,
        db.engine().clone(),
        db.http_options().clone(),
        shutdown,
    )
    .await
}

/// Serves line protocol streams over TCP on `listener` until `shutdown`
/// completes; each connection writes what it holds first.
pub async fn run_ilp_tcp(
    listener: TcpListener,
    db: Db,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    crate::lp_tcp::serve(
        listener,
        db.engine().clone(),
        db.ilp_tcp_options().clone(),
        shutdown,
    )
    .await;
}

/// Serves clients on `listener` until `shutdown` completes.
///
/// On shutdown it stops accepting, closes every connection (a query still
/// running is cancelled with it) and returns once all connection tasks are gone.
pub async fn run(listener: TcpListener, db: Db, shutdown: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let backends = std::sync::Arc::new(protocol::Backends::default());
    tokio::pin!(shutdown);
    loop {
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    tracing::debug!(%peer, "connection accepted");
                    if let Err(e) = socket.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    let engine = db.engine().clone();
                    let security = db.security().clone();
                    let backends = backends.clone();
                    let mut stop = stop_rx.clone();
                    connections.spawn(async move {
                        tokio::select! {
                            result = protocol::serve(socket, engine, backends, security) => {
                                if let Err(e) = result {
                                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                                }
                            }
                            _ = stop.wait_for(|stopping| *stopping) => {
                                tracing::debug!(%peer, "connection closed by shutdown");
                            }
                        }
                    });
                }
                Err(e) => {
                    // Running out of file descriptors and the like: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::info!(connections = connections.len(), "shutting down");
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    tracing::info!("shutdown complete");
}
