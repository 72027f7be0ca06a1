//! The latest point per series: a physical rule that recognises aggregates
//! needing only each series' newest row, and the operator that answers them.

mod exec;
mod rule;

pub(crate) use rule::LatestPerSeries;
