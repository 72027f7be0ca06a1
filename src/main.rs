//! The `epochdb` server binary.

use std::process::ExitCode;

use clap::Parser;
use epochdb::config::Config;
use epochdb::db::Db;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match epochdb::server::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    tracing::info!(?config, "starting EpochDB {}", env!("CARGO_PKG_VERSION"));
    let db = Db::open(&config).map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let http_listener = match config.http_address() {
        None => None,
        Some(http) => {
            let listener = TcpListener::bind(http).await.map_err(|e| {
                format!("cannot listen for HTTP on {http}: {e} (--http-listen off turns HTTP off)")
            })?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(http = %address, "listening for HTTP (InfluxDB line protocol writes)");
            Some(listener)
        }
    };
    let tcp_listener = match config.ilp_tcp_address() {
        None => None,
        Some(tcp) => {
            let listener = TcpListener::bind(tcp)
                .await
                .map_err(|e| format!("cannot listen for line protocol on {tcp}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(ilp_tcp = %address, "listening for line protocol over TCP (loopback clients only)");
            Some(listener)
        }
    };
    tracing::info!(%address, data_dir = %config.data_dir.display(), "listening for PostgreSQL clients");
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal.cancel();
    });
    let http = http_listener.map(|listener| {
        tokio::spawn(epochdb::server::run_http(
            listener,
            db.clone(),
            stop.clone().cancelled_owned(),
        ))
    });
    let tcp = tcp_listener.map(|listener| {
        tokio::spawn(epochdb::server::run_ilp_tcp(
            listener,
            db.clone(),
            stop.clone().cancelled_owned(),
        ))
    });
    epochdb::server::run(listener, db.clone(), stop.clone().cancelled_owned()).await;
    // The PostgreSQL listener stops only on shutdown; make sure HTTP does too.
    stop.cancel();
    if let Some(http) = http {
        match http.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the HTTP listener failed"),
            Err(e) => tracing::error!(error = %e, "the HTTP listener panicked"),
        }
    }
    if let Some(tcp) = tcp
        && let Err(e) = tcp.await
    {
        tracing::error!(error = %e, "the line protocol listener panicked");
    }
    // Every connection is closed: no write is in flight.
    db.shutdown()
        .map_err(|e| format!("shutdown could not write its snapshot: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown signal received");
}
