//! Runs every `sql-tests/**/*.slt` file against a real EpochDB server over TCP,
//! once with the simple and once with the extended query protocol. Each run has
//! a server of its own.
//!
//! `cargo test --test sqllogictests -- <filter>` runs the matching files only.
//! Records can be limited to one protocol with `onlyif simple` / `skipif extended`.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use libtest_mimic::{Arguments, Failed, Trial};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use common::TestServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Simple,
    Extended,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Simple => "simple",
            Protocol::Extended => "extended",
        }
    }
}

/// A client error that displays the server's message, which `statement error
/// <regex>` records match against.
#[derive(Debug)]
struct DbError(tokio_postgres::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{}", db.message()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self(error)
    }
}

struct Postgres {
    client: Client,
    protocol: Protocol,
}

#[async_trait]
impl AsyncDB for Postgres {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        Ok(match self.protocol {
            Protocol::Simple => run_simple(&self.client, sql).await?,
            Protocol::Extended => run_extended(&self.client, sql).await?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "epochdb"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &Self::Error) -> Option<String> {
        err.0.code().map(|code| code.code().to_owned())
    }
}

async fn run_simple(
    client: &Client,
    sql: &str,
) -> Result<DBOutput<DefaultColumnType>, tokio_postgres::Error> {
    let messages = client.simple_query(sql).await?;
    let mut rows = Vec::new();
    let mut columns = None;
    let mut affected = 0;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(description) => columns = Some(description.len()),
            SimpleQueryMessage::Row(row) => {
                columns = Some(row.len());
                rows.push(
                    (0..row.len())
                        .map(|i| render_text(row.get(i)))
                        .collect::<Vec<_>>(),
                );
            }
            SimpleQueryMessage::CommandComplete(n) => affected = n,
            _ => {}
        }
    }
    Ok(match columns {
        Some(n) => DBOutput::Rows {
            types: vec![DefaultColumnType::Any; n],
            rows,
        },
        None => DBOutput::StatementComplete(affected),
    })
}

fn render_text(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_owned(),
        Some("") => "(empty)".to_owned(),
        Some(v) => v.to_owned(),
    }
}

async fn run_extended(
    client: &Client,
    sql: &str,
) -> Result<DBOutput<DefaultColumnType>, tokio_postgres::Error> {
    let statement = client.prepare(sql).await?;
    if statement.columns().is_empty() {
        return Ok(DBOutput::StatementComplete(
            client.execute(&statement, &[]).await?,
        ));
    }
    let rows = client.query(&statement, &[]).await?;
    let types = vec![DefaultColumnType::Any; statement.columns().len()];
    let rows = rows
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| render_binary(row, i))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(DBOutput::Rows { types, rows })
}

/// Renders a binary-decoded value exactly as PostgreSQL renders it as text, so
/// that both protocols share one expected output.
fn render_binary(row: &tokio_postgres::Row, i: usize) -> String {
    fn show<T: ToString>(value: Option<T>) -> String {
        value.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
    }
    let ty = row.columns()[i].type_().clone();
    match ty {
        Type::BOOL => show(
            row.get::<_, Option<bool>>(i)
                .map(|b| if b { "t" } else { "f" }),
        ),
        Type::INT2 => show(row.get::<_, Option<i16>>(i)),
        Type::INT4 => show(row.get::<_, Option<i32>>(i)),
        Type::INT8 => show(row.get::<_, Option<i64>>(i)),
        Type::OID => show(row.get::<_, Option<u32>>(i)),
        Type::FLOAT4 => show(
            row.get::<_, Option<f32>>(i)
                .map(|v| float_text(f64::from(v), v.to_string(), format!("{v:e}"), 6)),
        ),
        Type::FLOAT8 => show(
            row.get::<_, Option<f64>>(i)
                .map(|v| float_text(v, v.to_string(), format!("{v:e}"), 15)),
        ),
        Type::TIMESTAMPTZ => show(
            row.get::<_, Option<DateTime<Utc>>>(i)
                .map(|t| format!("{}+00", clock(t.naive_utc()))),
        ),
        Type::TIMESTAMP => show(row.get::<_, Option<NaiveDateTime>>(i).map(clock)),
        Type::DATE => show(row.get::<_, Option<NaiveDate>>(i).map(date_text)),
        Type::TIME => show(row.get::<_, Option<TimeText>>(i).map(|t| t.0)),
        Type::REGTYPE => show(row.get::<_, Option<RegtypeText>>(i).map(|t| t.0)),
        Type::JSON | Type::JSONB => show(row.get::<_, Option<JsonText>>(i).map(|t| t.0)),
        Type::UUID => show(row.get::<_, Option<UuidText>>(i).map(|t| t.0)),
        Type::BYTEA => show(
            row.get::<_, Option<Vec<u8>>>(i)
                .map(|bytes| format!("\\x{}", hex::encode(bytes))),
        ),
        Type::NUMERIC => show(row.get::<_, Option<NumericText>>(i).map(|n| n.0)),
        Type::NUMERIC_ARRAY => array(
            row.get::<_, Option<Vec<Option<NumericText>>>>(i)
                .map(|values| values.into_iter().map(|v| v.map(|n| n.0)).collect()),
        ),
        Type::TEXT_ARRAY | Type::CHAR_ARRAY => array(row.get::<_, Option<Vec<Option<String>>>>(i)),
        Type::INT2_ARRAY => array(row.get::<_, Option<Vec<Option<i16>>>>(i)),
        Type::INT4_ARRAY => array(row.get::<_, Option<Vec<Option<i32>>>>(i)),
        Type::INT8_ARRAY => array(row.get::<_, Option<Vec<Option<i64>>>>(i)),
        Type::OID_ARRAY => array(row.get::<_, Option<Vec<Option<u32>>>>(i)),
        Type::FLOAT8_ARRAY => array(row.get::<_, Option<Vec<Option<f64>>>>(i).map(|values| {
            values
                .into_iter()
                .map(|v| v.map(|v| float_text(v, v.to_string(), format!("{v:e}"), 15)))
                .collect()
        })),
        Type::BOOL_ARRAY => array(row.get::<_, Option<Vec<Option<bool>>>>(i).map(|values| {
            values
                .into_iter()
                .map(|v| v.map(|b| if b { "t" } else { "f" }))
                .collect()
        })),
        Type::TIMESTAMPTZ_ARRAY => array(row.get::<_, Option<Vec<Option<DateTime<Utc>>>>>(i).map(
            |values| {
                values
                    .into_iter()
                    .map(|v| v.map(|t| format!("{}+00", clock(t.naive_utc()))))
                    .collect()
            },
        )),
        _ => match row.get::<_, Option<String>>(i) {
            None => "NULL".to_owned(),
            Some(s) if s.is_empty() => "(empty)".to_owned(),
            Some(s) => s,
        },
    }
}

/// A binary `numeric` (PostgreSQL's numeric_send: digit count, weight,
/// sign and display scale, then base-10000 digits) as numeric_out prints it.
struct NumericText(String);

/// A `json` (its text) or `jsonb` (a version byte, 1, then its text) in
/// binary, as PostgreSQL prints it.
struct JsonText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for JsonText {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = match (ty, raw.split_first()) {
            (&Type::JSONB, Some((1, text))) => text,
            (&Type::JSONB, _) => return Err("jsonb without version 1".into()),
            _ => raw,
        };
        Ok(JsonText(std::str::from_utf8(text)?.to_owned()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

/// A `uuid` in binary (its 16 bytes), as PostgreSQL prints it.
struct UuidText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for UuidText {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let hex = hex::encode(raw);
        if hex.len() != 32 {
            return Err("a uuid has 16 bytes".into());
        }
        Ok(UuidText(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

/// A `regtype` in binary (the type's oid), as PostgreSQL prints it.
struct RegtypeText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for RegtypeText {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 4] = raw.try_into()?;
        let oid = u32::from_be_bytes(bytes);
        let t = Type::from_oid(oid).ok_or("unknown type oid")?;
        let name = match epochdb::pgtype::element_type(&t) {
            Some(element) => format!("{}[]", epochdb::pgtype::type_name(&element)),
            None => epochdb::pgtype::type_name(&t).to_owned(),
        };
        Ok(RegtypeText(name))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::REGTYPE
    }
}

/// A `time` in binary (microseconds since midnight, 24:00:00 included), as
/// PostgreSQL prints it.
struct TimeText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for TimeText {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into()?;
        let micros = i64::from_be_bytes(bytes);
        let (secs, fraction) = (micros / 1_000_000, micros % 1_000_000);
        let mut text = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        if fraction > 0 {
            let digits = format!(".{fraction:06}");
            text.push_str(digits.trim_end_matches('0'));
        }
        Ok(TimeText(text))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIME
    }
}

impl<'a> tokio_postgres::types::FromSql<'a> for NumericText {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |k: usize| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
            let bytes = raw.get(2 * k..2 * k + 2).ok_or("short numeric")?;
            Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
        };
        let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
        if sign == 0xC000 {
            return Ok(NumericText("NaN".into()));
        }
        let digit = |k: i32| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
            if k < 0 || k >= i32::from(ndigits) {
                Ok(0)
            } else {
                word(4 + k as usize)
            }
        };
        let mut out = String::new();
        if sign == 0x4000 {
            out.push('-');
        }
        // Integral part: the digits of weight w down to 0.
        if weight < 0 {
            out.push('0');
        } else {
            for k in 0..=i32::from(weight) {
                let d = digit(k)?;
                if k == 0 {
                    out.push_str(&d.to_string());
                } else {
                    out.push_str(&format!("{d:04}"));
                }
            }
        }
        if dscale > 0 {
            let mut fraction = String::new();
            let mut k = i32::from(weight) + 1;
            while fraction.len() < dscale as usize {
                fraction.push_str(&format!("{:04}", digit(k)?));
                k += 1;
            }
            fraction.truncate(dscale as usize);
            out.push('.');
            out.push_str(&fraction);
        }
        Ok(NumericText(out))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// A one-dimensional array as PostgreSQL's array_out writes it.
fn array<T: ToString>(values: Option<Vec<Option<T>>>) -> String {
    let Some(values) = values else {
        return "NULL".to_owned();
    };
    let elements: Vec<String> = values
        .into_iter()
        .map(|v| match v {
            None => "NULL".to_owned(),
            Some(v) => {
                let text = v.to_string();
                let plain = !text.is_empty()
                    && !text.eq_ignore_ascii_case("NULL")
                    && !text
                        .chars()
                        .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
                if plain {
                    text
                } else {
                    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
                }
            }
        })
        .collect();
    format!("{{{}}}", elements.join(","))
}

/// PostgreSQL's float text: shortest round-trip digits, exponent form outside
/// [1e-4, 1e`max_exponent`).
fn float_text(v: f64, plain: String, scientific: String, max_exponent: i32) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let (mantissa, exponent) = scientific.split_once('e').expect("scientific notation");
    let exponent: i32 = exponent.parse().expect("exponent");
    if v != 0.0 && (exponent < -4 || exponent >= max_exponent) {
        format!(
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        )
    } else {
        plain
    }
}

/// A date as PostgreSQL prints it: year 0 and before are years BC.
fn date_text(d: NaiveDate) -> String {
    use chrono::Datelike;
    if d.year() > 0 {
        return d.to_string();
    }
    format!("{:04}-{:02}-{:02} BC", 1 - d.year(), d.month(), d.day())
}

fn clock(t: NaiveDateTime) -> String {
    let text = t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

fn run_file(path: &Path, protocol: Protocol) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    runtime.block_on(async {
        let server = TestServer::start().await;
        let connection_string = server.connection_string("postgres");
        let mut runner = Runner::new(move || {
            let connection_string = connection_string.clone();
            async move {
                let (client, connection) =
                    tokio_postgres::connect(&connection_string, tokio_postgres::NoTls)
                        .await
                        .map_err(DbError)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(Postgres { client, protocol })
            }
        });
        runner.add_label(protocol.label());
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(300),
            runner.run_file_async(path),
        )
        .await;
        server.stop().await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failed::from(e.display(true).to_string())),
            Err(_) => Err(Failed::from("timed out after 300 s")),
        }
    })
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql-tests");
    let mut files = Vec::new();
    slt_files(&root, &mut files);
    let mut trials = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for protocol in [Protocol::Simple, Protocol::Extended] {
            let path = file.clone();
            trials.push(Trial::test(
                format!("{name}::{}", protocol.label()),
                move || run_file(&path, protocol),
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
