//! The router and the accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post};
use tokio::net::TcpListener;
use tower_http::decompression::RequestDecompressionLayer;

use super::dialect::Dialect;
use super::handlers::{self, AppState, HttpOptions};
use super::stream;
use crate::query::QueryEngine;

/// Serves HTTP clients on `listener` until `shutdown` completes; requests
/// in flight then finish (their writes are acknowledged) before it returns.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<QueryEngine>,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(AppState::new(engine, &options)?);
    let app = Router::new()
        .route("/write", write(Dialect::V1))
        .route("/api/v2/write", write(Dialect::V2))
        .route("/api/v3/write_lp", write(Dialect::V3))
        .route("/ping", get(handlers::ping).head(handlers::ping))
        .route("/health", get(handlers::health))
        .route("/query", get(handlers::query).post(handlers::query))
        .route("/ws-stream", get(stream::ws_stream))
        // The limit applies to the body as the handler reads it: inflated.
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(RequestDecompressionLayer::new())
        .with_state(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A write endpoint answering in `dialect`.
fn write(dialect: Dialect) -> MethodRouter<Arc<AppState>> {
    post(handlers::write).layer(Extension(dialect))
}
