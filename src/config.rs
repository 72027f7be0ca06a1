//! Configuration: typed plain data, read once from the command line and the
//! environment (every flag has an `EPOCHDB_*` variable) in `main`.

use std::path::PathBuf;

use clap::Parser;

/// EpochDB: an in-memory time-series database that speaks the PostgreSQL wire protocol.
#[derive(Debug, Clone, Parser)]
#[command(name = "epochdb", version, about)]
pub struct Config {
    /// Address to listen on for PostgreSQL clients. Port 0 picks a free port.
    #[arg(long, env = "EPOCHDB_LISTEN", default_value = "127.0.0.1:5432")]
    pub listen: String,

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
    /// A configuration for tests and embedding: loopback, a free port, the given
    /// data directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: data_dir.into(),
            log_level: "warn".to_owned(),
            query_memory_limit: 1 << 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4 GB"), Ok(4 << 30));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1XB").is_err());
    }
}
