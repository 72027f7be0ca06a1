//! Configuration: typed plain data, read once from the command line and the
//! environment (every flag has an `EPOCHDB_*` variable) in `main`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// EpochDB: an in-memory time-series database that speaks the PostgreSQL wire protocol.
#[derive(Debug, Clone, Parser)]
#[command(name = "epochdb", version, about)]
pub struct Config {
    /// Address to listen on for PostgreSQL clients. Port 0 picks a free port.
    #[arg(long, env = "EPOCHDB_LISTEN", default_value = "127.0.0.1:5432")]
    pub listen: String,

    /// Address of the HTTP listener for collectors (InfluxDB's write API);
    /// `off` turns it off. Port 0 picks a free port (logged).
    #[arg(long, env = "EPOCHDB_HTTP_LISTEN", default_value = "127.0.0.1:8086")]
    pub http_listen: String,

    /// The largest HTTP request body, after decompression (413 beyond it).
    #[arg(long, env = "EPOCHDB_HTTP_MAX_BODY_SIZE", default_value = "32MiB", value_parser = parse_bytes)]
    pub http_max_body_size: usize,

    /// The role an HTTP request authenticates as when it sends only a
    /// password (`Authorization: Token <password>`); the superuser by default.
    #[arg(long, env = "EPOCHDB_HTTP_TOKEN_ROLE")]
    pub http_token_role: Option<String>,

    /// Address of the TCP line protocol listener (QuestDB uses port 9009);
    /// `off` (the default) turns it off. It serves loopback clients only.
    #[arg(long, env = "EPOCHDB_ILP_TCP_LISTEN", default_value = "off")]
    pub ilp_tcp_listen: String,

    /// The database the TCP line protocol listener writes to.
    #[arg(long, env = "EPOCHDB_ILP_TCP_DATABASE", default_value = "postgres")]
    pub ilp_tcp_database: String,

    /// Directory for the server's files.
    #[arg(long, env = "EPOCHDB_DATA_DIR", default_value = "./epochdb-data")]
    pub data_dir: PathBuf,

    /// Log level (error, warn, info, debug, trace) or a tracing filter directive.
    #[arg(long, env = "EPOCHDB_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Memory one query may use for sorts, joins and aggregations, e.g. `512MiB`,
    /// `4GiB`; `0` for no limit. A query over it fails with SQLSTATE 53200.
    #[arg(long, env = "EPOCHDB_QUERY_MEMORY_LIMIT", default_value = "4GiB", value_parser = parse_bytes)]
    pub query_memory_limit: usize,

    /// How many rows may wait for one subscriber (`SUBSCRIBE`) before it is
    /// cut off with SQLSTATE 53400; writers never wait for subscribers.
    #[arg(long, env = "EPOCHDB_SUBSCRIBE_QUEUE_ROWS", default_value_t = crate::query::DEFAULT_SUBSCRIBE_QUEUE_ROWS)]
    pub subscribe_queue_rows: usize,

    /// When a write is acknowledged. `sync`: after an fsync of the write-ahead
    /// log (concurrent writes share fsyncs); nothing acknowledged is ever lost.
    /// `interval:<ms>`: once written to the operating system, with an fsync at
    /// least every <ms>; a crash of EpochDB loses nothing acknowledged, a crash
    /// of the machine loses at most the last <ms>. `none`: memory only, no
    /// files; a restart starts empty.
    #[arg(long, env = "EPOCHDB_DURABILITY", default_value = "sync", value_parser = parse_durability)]
    pub durability: Durability,

    /// How often a snapshot of all data is written (and the WAL it covers
    /// removed), e.g. `30s`, `5m`; `0` for only by WAL size and at shutdown.
    #[arg(long, env = "EPOCHDB_SNAPSHOT_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub snapshot_interval: Duration,

    /// A snapshot is also written once the WAL has grown by this much since the
    /// last. This bounds the WAL replayed on start: about 90 bytes per TSBS
    /// row, replayed at about a million rows per second.
    #[arg(long, env = "EPOCHDB_SNAPSHOT_WAL_SIZE", default_value = "256MiB", value_parser = parse_bytes)]
    pub snapshot_wal_size: usize,

    /// WAL segment files are closed, and a new one started, at this size.
    #[arg(long, env = "EPOCHDB_WAL_SEGMENT_SIZE", default_value = "64MiB", value_parser = parse_bytes)]
    pub wal_segment_size: usize,

    /// Start even when a WAL record in the middle of the log is corrupt:
    /// keep everything before it, and discard it and everything after.
    #[arg(long, env = "EPOCHDB_RECOVER_TRUNCATE")]
    pub recover_truncate: bool,

    /// The superuser created (or given this password) at start. With it (or a
    /// superuser password) every connection authenticates with a password;
    /// without either, only loopback connections are accepted, without one.
    #[arg(long, env = "EPOCHDB_SUPERUSER")]
    pub superuser: Option<String>,

    /// A file holding the superuser's password (a trailing newline is
    /// ignored). The superuser is `postgres` unless `--superuser` names it.
    #[arg(long, env = "EPOCHDB_SUPERUSER_PASSWORD_FILE")]
    pub superuser_password_file: Option<PathBuf>,

    /// The superuser's password itself, for containers; prefer the file.
    #[arg(long, env = "EPOCHDB_SUPERUSER_PASSWORD", hide_env_values = true, value_parser = parse_password)]
    pub superuser_password: Option<Password>,

    /// PEM file of the server's TLS certificate (chain); with `--tls-key`
    /// it enables TLS (SSLRequest and direct SSL) and SCRAM channel binding.
    #[arg(long, env = "EPOCHDB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file of the private key of `--tls-cert`.
    #[arg(long, env = "EPOCHDB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Refuse connections that do not use TLS.
    #[arg(long, env = "EPOCHDB_TLS_REQUIRED", requires = "tls_cert")]
    pub tls_required: bool,

    /// How long a failed login waits before it is answered, as PostgreSQL's
    /// `auth_delay`; it doubles with each further failure of the same role
    /// from the same address. `0s` never waits. A correct password is never
    /// delayed or refused.
    #[arg(long, env = "EPOCHDB_AUTH_DELAY", default_value = "500ms", value_parser = parse_duration)]
    pub auth_delay: Duration,

    /// The longest a failed login waits.
    #[arg(long, env = "EPOCHDB_AUTH_DELAY_MAX", default_value = "10s", value_parser = parse_duration)]
    pub auth_delay_max: Duration,

    /// Connections from one address that may be authenticating at once;
    /// one more is refused (53300). `0` for no cap.
    #[arg(
        long,
        env = "EPOCHDB_MAX_UNAUTHENTICATED_PER_ADDRESS",
        default_value_t = 16
    )]
    pub max_unauthenticated_per_address: usize,

    /// A client that has not finished authenticating after this long is
    /// disconnected, as by PostgreSQL's `authentication_timeout`.
    #[arg(long, env = "EPOCHDB_AUTHENTICATION_TIMEOUT", default_value = "60s", value_parser = parse_authentication_timeout)]
    pub authentication_timeout: Duration,
}

/// A password from the command line or the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

fn parse_password(text: &str) -> Result<Password, String> {
    if text.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(Password(text.to_owned()))
}

/// The `--durability` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Sync,
    Interval(Duration),
    None,
}

/// `sync`, `interval:<ms>` or `none`.
pub fn parse_durability(text: &str) -> Result<Durability, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "sync" => Ok(Durability::Sync),
        "none" => Ok(Durability::None),
        other => {
            let ms = other
                .strip_prefix("interval:")
                .and_then(|ms| ms.trim().trim_end_matches("ms").parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .ok_or_else(|| {
                    format!("\"{text}\" is not a durability mode: use sync, interval:<ms> or none")
                })?;
            Ok(Durability::Interval(Duration::from_millis(ms)))
        }
    }
}

/// A duration: a number with a unit `ms`, `s`, `m` or `h` (seconds without one).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration such as 30s or 5m"))?;
    let millis = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        other => return Err(format!("unknown duration unit \"{other}\"")),
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("\"{text}\" is too long"))
}

/// Between 1 ms and 60 s: pgwire ends every startup at 60 s anyway.
fn parse_authentication_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() || timeout > Duration::from_secs(60) {
        return Err(format!(
            "\"{text}\" is not an authentication timeout: give one above 0 and at most 60s"
        ));
    }
    Ok(timeout)
}

/// A byte size: a number with an optional `B`, `KiB`, `MiB`, `GiB`, `TiB`
/// suffix (or `K`, `M`, `G`, `T`, `KB`, `MB`, `GB`, `TB`, all powers of 1024).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size such as 512MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown size unit \"{other}\"")),
    };
    number
        .checked_mul(1usize << shift)
        .ok_or_else(|| format!("\"{text}\" is too large"))
}

impl Config {
    /// Where the TCP line protocol listener listens; `None` when it is off.
    pub fn ilp_tcp_address(&self) -> Option<&str> {
        let address = self.ilp_tcp_listen.trim();
        (!address.eq_ignore_ascii_case("off")).then_some(address)
    }

    /// Where the HTTP listener listens; `None` when it is off.
    pub fn http_address(&self) -> Option<&str> {
        let address = self.http_listen.trim();
        (!address.eq_ignore_ascii_case("off")).then_some(address)
    }

    /// A configuration for tests and embedding: loopback, a free port, no
    /// HTTP listener, the given data directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            http_listen: "off".to_owned(),
            http_max_body_size: 32 << 20,
            http_token_role: None,
            ilp_tcp_listen: "off".to_owned(),
            ilp_tcp_database: "postgres".to_owned(),
            data_dir: data_dir.into(),
            log_level: "warn".to_owned(),
            query_memory_limit: 1 << 30,
            subscribe_queue_rows: crate::query::DEFAULT_SUBSCRIBE_QUEUE_ROWS,
            durability: Durability::Sync,
            snapshot_interval: Duration::from_secs(300),
            snapshot_wal_size: 256 << 20,
            wal_segment_size: 64 << 20,
            recover_truncate: false,
            superuser: None,
            superuser_password_file: None,
            superuser_password: None,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
            authentication_timeout: Duration::from_secs(60),
            auth_delay: Duration::from_millis(500),
            auth_delay_max: Duration::from_secs(10),
            max_unauthenticated_per_address: 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{
        Durability, parse_authentication_timeout, parse_bytes, parse_durability, parse_duration,
    };

    #[test]
    fn durability_modes_and_durations_parse() {
        assert_eq!(parse_durability("sync"), Ok(Durability::Sync));
        assert_eq!(parse_durability("none"), Ok(Durability::None));
        assert_eq!(
            parse_durability("interval:250"),
            Ok(Durability::Interval(Duration::from_millis(250)))
        );
        assert!(parse_durability("interval:0").is_err());
        assert!(parse_durability("always").is_err());
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5 fortnights").is_err());
        assert_eq!(
            parse_authentication_timeout("30s"),
            Ok(Duration::from_secs(30))
        );
        assert!(parse_authentication_timeout("0").is_err());
        assert!(parse_authentication_timeout("5m").is_err());
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4 GB"), Ok(4 << 30));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1XB").is_err());
    }
}
