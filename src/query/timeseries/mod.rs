//! Time-series SQL: TimescaleDB's `time_bucket`, `first`/`last` and gap
//! filling, ASOF joins, the latest point per series, and a faster
//! `date_trunc`. Each is a function, a rule or an operator that the engine
//! registers with DataFusion.

mod asof;
mod bookend;
mod constant;
mod date_trunc;
mod gapfill;
mod latest;
mod time_bucket;

pub(crate) use asof::{AsofMarker, AsofPlanner, AsofRule, rewrite_joins};
pub(crate) use bookend::Bookend;
pub(crate) use date_trunc::DateTrunc;
pub(crate) use gapfill::{
    FillFunction, GapFillPlanner, GapFillRule, Observation, TimeBucketGapfill, positional_arguments,
};
pub(crate) use latest::LatestPerSeries;
pub(crate) use time_bucket::TimeBucket;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Registers the time-series functions, as TimescaleDB names them.
pub(crate) fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(TimeBucket::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(DateTrunc::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(AsofMarker::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(TimeBucketGapfill::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(FillFunction::locf()));
    ctx.register_udf(ScalarUDF::new_from_impl(FillFunction::interpolate()));
    ctx.register_udf(ScalarUDF::new_from_impl(Observation::prev()));
    ctx.register_udf(ScalarUDF::new_from_impl(Observation::next()));
    ctx.register_udaf(AggregateUDF::new_from_impl(Bookend::first()));
    ctx.register_udaf(AggregateUDF::new_from_impl(Bookend::last()));
}
