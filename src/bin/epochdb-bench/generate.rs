//! The TSBS devops cpu-only dataset, generated deterministically from a seed
//! as timescale/tsbs generates it: per host ten tags and ten CPU fields, each
//! field a random walk with normally distributed steps clamped to [0, 100]
//! whose whole part is the value (TSBS writes `usage_user=58i`), one row
//! every 10 s from 2016-01-01 00:00:00 UTC.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// Seconds between two rows of a host.
pub(crate) const INTERVAL_SECS: i64 = 10;
/// 2016-01-01 00:00:00 UTC, where TSBS starts.
pub(crate) const START_SECS: i64 = 1_451_606_400;

pub(crate) const TAGS: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];

pub(crate) const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

const REGIONS: [(&str, &[&str]); 9] = [
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "test"];

/// SplitMix64: small, fast and good enough for benchmark data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// Standard normal, by Box-Muller.
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// One simulated host: its tags and the state of its ten random walks.
#[derive(Debug)]
pub(crate) struct Host {
    /// The tags, tab-free, in [`TAGS`] order.
    pub(crate) tags: [String; 10],
    walks: [f64; 10],
    rng: Rng,
}

impl Host {
    pub(crate) fn new(seed: u64, id: usize) -> Self {
        let mut rng = Rng::new(seed ^ (id as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        let (region, datacenters) = REGIONS[rng.below(REGIONS.len())];
        let tags = [
            format!("host_{id}"),
            region.to_owned(),
            datacenters[rng.below(datacenters.len())].to_owned(),
            rng.below(100).to_string(),
            OSES[rng.below(OSES.len())].to_owned(),
            ARCHES[rng.below(ARCHES.len())].to_owned(),
            TEAMS[rng.below(TEAMS.len())].to_owned(),
            rng.below(20).to_string(),
            rng.below(2).to_string(),
            ENVIRONMENTS[rng.below(ENVIRONMENTS.len())].to_owned(),
        ];
        let walks = std::array::from_fn(|_| rng.unit() * 100.0);
        Self { tags, walks, rng }
    }

    /// Advances every walk one step and returns the fields: the walks'
    /// whole parts.
    pub(crate) fn step(&mut self) -> [i64; 10] {
        for walk in &mut self.walks {
            *walk = (*walk + self.rng.normal()).clamp(0.0, 100.0);
        }
        self.walks.map(|w| w as i64)
    }
}

/// The shape of a dataset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub(crate) hosts: usize,
    /// Rows per host.
    pub(crate) steps: usize,
    pub(crate) seed: u64,
}

impl Scale {
    pub(crate) fn rows(&self) -> u64 {
        self.hosts as u64 * self.steps as u64
    }

    /// The time of step `step`, in seconds since the epoch.
    pub(crate) fn time_secs(step: usize) -> i64 {
        START_SECS + step as i64 * INTERVAL_SECS
    }

    pub(crate) fn end_secs(&self) -> i64 {
        Self::time_secs(self.steps)
    }
}

/// `secs` as a PostgreSQL timestamptz literal's text.
pub(crate) fn timestamp(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string()
}

/// Calls `row` with each row of hosts `hosts` in time order (all of the
/// hosts' rows at one time, then the next), until it returns false.
fn for_each_row(
    scale: Scale,
    hosts: std::ops::Range<usize>,
    mut row: impl FnMut(usize, &str, &Host, [i64; 10]) -> bool,
) {
    let mut state: Vec<Host> = hosts.map(|id| Host::new(scale.seed, id)).collect();
    for step in 0..scale.steps {
        let time = timestamp(Scale::time_secs(step));
        for host in &mut state {
            let fields = host.step();
            if !row(step, &time, host, fields) {
                return;
            }
        }
    }
}

/// The rows of hosts `hosts` as COPY text, given to `emit` about `chunk`
/// rows at a time until it returns false.
pub(crate) fn copy_text(
    scale: Scale,
    hosts: std::ops::Range<usize>,
    chunk: usize,
    mut emit: impl FnMut(String) -> bool,
) {
    let chunk = chunk.max(1);
    let mut text = String::with_capacity(chunk * 220);
    let mut rows = 0;
    for_each_row(scale, hosts, |_, time, host, fields| {
        text.push_str(time);
        for tag in &host.tags {
            text.push('\t');
            text.push_str(tag);
        }
        for field in fields {
            let _ = write!(text, "\t{field}");
        }
        text.push('\n');
        rows += 1;
        rows % chunk != 0 || emit(std::mem::take(&mut text))
    });
    if !text.is_empty() {
        emit(text);
    }
}

/// The same rows as `INSERT` statements of `batch` rows each.
pub(crate) fn insert_statements(
    scale: Scale,
    hosts: std::ops::Range<usize>,
    batch: usize,
    mut emit: impl FnMut(String) -> bool,
) {
    let batch = batch.max(1);
    let mut sql = String::new();
    let mut rows = 0;
    for_each_row(scale, hosts, |_, time, host, fields| {
        sql.push_str(if rows % batch == 0 {
            "INSERT INTO cpu VALUES "
        } else {
            ", "
        });
        let _ = write!(sql, "('{time}'");
        for tag in &host.tags {
            let _ = write!(sql, ", '{tag}'");
        }
        for field in fields {
            let _ = write!(sql, ", {field}");
        }
        sql.push(')');
        rows += 1;
        rows % batch != 0 || emit(std::mem::take(&mut sql))
    });
    if !sql.is_empty() {
        emit(sql);
    }
}

/// The same rows as InfluxDB line protocol (fields as floats, to match the
/// table's `double precision` columns; nanosecond times), given to `emit`
/// `chunk` lines at a time until it returns false.
pub(crate) fn line_protocol(
    scale: Scale,
    hosts: std::ops::Range<usize>,
    chunk: usize,
    mut emit: impl FnMut(String) -> bool,
) {
    let chunk = chunk.max(1);
    let mut text = String::with_capacity(chunk * 300);
    let mut rows = 0;
    for_each_row(scale, hosts, |step, _, host, fields| {
        // Tags hold no space, comma or equals sign: nothing to escape.
        text.push_str("cpu");
        for (name, tag) in TAGS.iter().zip(&host.tags) {
            let _ = write!(text, ",{name}={tag}");
        }
        for (i, (name, field)) in FIELDS.iter().zip(fields).enumerate() {
            let _ = write!(text, "{}{name}={field}", if i == 0 { ' ' } else { ',' });
        }
        let _ = writeln!(text, " {}000000000", Scale::time_secs(step));
        rows += 1;
        rows % chunk != 0 || emit(std::mem::take(&mut text))
    });
    if !text.is_empty() {
        emit(text);
    }
}

/// `CREATE TABLE cpu` in the form both servers take.
pub(crate) fn create_table() -> String {
    let mut sql = String::from("CREATE TABLE cpu (time TIMESTAMPTZ NOT NULL");
    for tag in TAGS {
        let _ = write!(sql, ", {tag} TEXT");
    }
    for field in FIELDS {
        let _ = write!(sql, ", {field} DOUBLE PRECISION");
    }
    sql.push(')');
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_bounded() {
        let scale = Scale {
            hosts: 3,
            steps: 50,
            seed: 7,
        };
        let collect = || {
            let mut all = String::new();
            copy_text(scale, 0..3, 16, |t| {
                all.push_str(&t);
                true
            });
            all
        };
        let text = collect();
        assert_eq!(text, collect());
        assert_eq!(text.lines().count(), 150);
        for line in text.lines() {
            let columns: Vec<&str> = line.split('\t').collect();
            assert_eq!(columns.len(), 21);
            for value in &columns[11..] {
                let v: i64 = value.parse().unwrap();
                assert!((0..=100).contains(&v));
            }
        }
        assert!(text.starts_with("2016-01-01 00:00:00+00\thost_0\t"));
    }
}
