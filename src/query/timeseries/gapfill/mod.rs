//! Gap filling with TimescaleDB's functions: `time_bucket_gapfill`, `locf`
//! and `interpolate`.
//!
//! ```sql
//! SELECT time_bucket_gapfill('5 minutes', time) AS bucket, host,
//!        avg(cpu), locf(avg(cpu)), interpolate(avg(cpu))
//! FROM metrics
//! WHERE time >= '2024-01-01' AND time < '2024-01-02'
//! GROUP BY bucket, host
//! ```
//!
//! An aggregate grouped by `time_bucket_gapfill(width, ts [, timezone]
//! [, start [, finish]])` returns, for every group of its other keys, a row
//! for every bucket from the one holding `start` up to `finish` (exclusive):
//! the group's own rows, and for the buckets without any, a row whose
//! aggregates are NULL. Without `start` or `finish` they are read from the
//! WHERE clause's bounds on `ts` (`>=`, `>`, `<`, `<=`, `BETWEEN`); a range
//! left open is an error. Bounds may be parameters: they are read when the
//! plan is executed.
//!
//! In gap rows, `locf(value [, prev [, treat_null_as_missing]])` carries the
//! group's last value forward (before the first, `prev`), and
//! `interpolate(value [, prev [, next]])` interpolates linearly between the
//! neighbouring rows (`prev` and `next`, `(time, value)` records, stand in
//! for the rows before the first and after the last).
//!
//! Planning: [`GapFillRule`], an analyzer rule, turns the aggregate's
//! `time_bucket_gapfill` into `time_bucket` and puts a [`GapFill`] node over
//! it. A projection between the two computes the values, `prev` and `next` of
//! each `locf` and `interpolate` as columns, which the node fills in place and
//! the query's projection then reads. [`GapFillExec`](exec::GapFillExec) does
//! the filling over its input sorted by group and bucket.

mod ast;
mod exec;
mod functions;
mod node;
mod rule;
#[cfg(test)]
mod tests;

pub(crate) use ast::positional_arguments;
pub(crate) use exec::GapFillPlanner;
pub(crate) use functions::{FillFunction, Observation, TimeBucketGapfill};
pub(crate) use rule::GapFillRule;
