//! The 15 TSBS devops query types, as plain PostgreSQL SQL that EpochDB and
//! PostgreSQL both run, with random parameters chosen as TSBS chooses them:
//! random hosts and a random window of the query's length within the data.

use std::fmt::Write as _;

use crate::generate::{FIELDS, Rng, Scale, timestamp};

/// A query type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `single-groupby-M-H-N`: M metrics' max per minute of H hosts over N
    /// hours.
    SingleGroupby {
        metrics: usize,
        hosts: usize,
        hours: i64,
    },
    /// `cpu-max-all-H`: all metrics' max per hour of H hosts over 8 hours.
    CpuMaxAll { hosts: usize },
    /// `double-groupby-M`: M metrics' mean per host per hour over 12 hours.
    DoubleGroupby { metrics: usize },
    /// `high-cpu-H`: rows with usage_user > 90 in 12 hours, of one host or
    /// all (`None`).
    HighCpu { hosts: Option<usize> },
    /// `lastpoint`: every host's newest row.
    Lastpoint,
    /// `groupby-orderby-limit`: the last 5 minutes' max before a random time.
    GroupbyOrderbyLimit,
}

pub(crate) const ALL: [Kind; 15] = [
    Kind::SingleGroupby {
        metrics: 1,
        hosts: 1,
        hours: 1,
    },
    Kind::SingleGroupby {
        metrics: 1,
        hosts: 1,
        hours: 12,
    },
    Kind::SingleGroupby {
        metrics: 1,
        hosts: 8,
        hours: 1,
    },
    Kind::SingleGroupby {
        metrics: 5,
        hosts: 1,
        hours: 1,
    },
    Kind::SingleGroupby {
        metrics: 5,
        hosts: 1,
        hours: 12,
    },
    Kind::SingleGroupby {
        metrics: 5,
        hosts: 8,
        hours: 1,
    },
    Kind::CpuMaxAll { hosts: 1 },
    Kind::CpuMaxAll { hosts: 8 },
    Kind::DoubleGroupby { metrics: 1 },
    Kind::DoubleGroupby { metrics: 5 },
    Kind::DoubleGroupby { metrics: 10 },
    Kind::HighCpu { hosts: Some(1) },
    Kind::HighCpu { hosts: None },
    Kind::Lastpoint,
    Kind::GroupbyOrderbyLimit,
];

impl Kind {
    pub(crate) fn name(self) -> String {
        match self {
            Kind::SingleGroupby {
                metrics,
                hosts,
                hours,
            } => format!("single-groupby-{metrics}-{hosts}-{hours}"),
            Kind::CpuMaxAll { hosts } => format!("cpu-max-all-{hosts}"),
            Kind::DoubleGroupby { metrics: 10 } => "double-groupby-all".to_owned(),
            Kind::DoubleGroupby { metrics } => format!("double-groupby-{metrics}"),
            Kind::HighCpu { hosts: None } => "high-cpu-all".to_owned(),
            Kind::HighCpu { hosts: Some(h) } => format!("high-cpu-{h}"),
            Kind::Lastpoint => "lastpoint".to_owned(),
            Kind::GroupbyOrderbyLimit => "groupby-orderby-limit".to_owned(),
        }
    }

    /// Whether the rows come in no defined order (compare them sorted).
    pub(crate) fn unordered(self) -> bool {
        matches!(self, Kind::HighCpu { .. })
    }

    /// One instance of the query, with parameters drawn from `rng`.
    pub(crate) fn sql(self, scale: &Scale, rng: &mut Rng) -> String {
        match self {
            Kind::SingleGroupby {
                metrics,
                hosts,
                hours,
            } => {
                let (start, end) = window(scale, rng, hours * 3600);
                format!(
                    "SELECT date_trunc('minute', time) AS minute, {} FROM cpu \
                     WHERE {} AND time >= '{start}' AND time < '{end}' \
                     GROUP BY minute ORDER BY minute",
                    aggregates("max", metrics),
                    host_filter(scale, rng, hosts),
                )
            }
            Kind::CpuMaxAll { hosts } => {
                let (start, end) = window(scale, rng, 8 * 3600);
                format!(
                    "SELECT date_trunc('hour', time) AS hour, {} FROM cpu \
                     WHERE {} AND time >= '{start}' AND time < '{end}' \
                     GROUP BY hour ORDER BY hour",
                    aggregates("max", FIELDS.len()),
                    host_filter(scale, rng, hosts),
                )
            }
            Kind::DoubleGroupby { metrics } => {
                let (start, end) = window(scale, rng, 12 * 3600);
                format!(
                    "SELECT date_trunc('hour', time) AS hour, hostname, {} FROM cpu \
                     WHERE time >= '{start}' AND time < '{end}' \
                     GROUP BY hour, hostname ORDER BY hour, hostname",
                    aggregates("avg", metrics),
                )
            }
            Kind::HighCpu { hosts } => {
                let (start, end) = window(scale, rng, 12 * 3600);
                let hosts = match hosts {
                    Some(n) => format!(" AND {}", host_filter(scale, rng, n)),
                    None => String::new(),
                };
                format!(
                    "SELECT * FROM cpu WHERE usage_user > 90.0 \
                     AND time >= '{start}' AND time < '{end}'{hosts}"
                )
            }
            Kind::Lastpoint => {
                "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC".to_owned()
            }
            Kind::GroupbyOrderbyLimit => {
                let (_, end) = window(scale, rng, 0);
                format!(
                    "SELECT date_trunc('minute', time) AS minute, max(usage_user) FROM cpu \
                     WHERE time < '{end}' GROUP BY minute ORDER BY minute DESC LIMIT 5"
                )
            }
        }
    }
}

fn aggregates(function: &str, metrics: usize) -> String {
    let mut list = String::new();
    for (i, field) in FIELDS.iter().take(metrics).enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        let _ = write!(list, "{function}({field}) AS {function}_{field}");
    }
    list
}

/// `hostname IN (...)` with `n` distinct random hosts.
fn host_filter(scale: &Scale, rng: &mut Rng, n: usize) -> String {
    let n = n.min(scale.hosts);
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    while chosen.len() < n {
        let host = rng.below(scale.hosts);
        if !chosen.contains(&host) {
            chosen.push(host);
        }
    }
    let names: Vec<String> = chosen.iter().map(|h| format!("'host_{h}'")).collect();
    format!("hostname IN ({})", names.join(", "))
}

/// A random window of `secs` seconds within the data (all of it when the
/// data is shorter), as timestamp literals.
fn window(scale: &Scale, rng: &mut Rng, secs: i64) -> (String, String) {
    let first = Scale::time_secs(0);
    let span = scale.end_secs() - first;
    let secs = secs.min(span);
    let slack = (span - secs).max(0) as u64;
    // Windows start on a whole minute, as TSBS's do.
    let offset = (rng.next_u64() % (slack + 1)) as i64 / 60 * 60;
    let start = first + offset;
    (timestamp(start), timestamp(start + secs.max(60)))
}
