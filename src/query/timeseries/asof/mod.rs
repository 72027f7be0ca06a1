//! ASOF JOIN: each row of the left side with the one row of the right side
//! whose time is nearest on the side the match condition allows, among the
//! rows with equal ON keys.
//!
//! ```sql
//! SELECT t.time, t.sym, t.price, q.bid
//! FROM trades t ASOF JOIN quotes q
//!   MATCH_CONDITION (t.time >= q.time)            -- q's latest at or before t
//!   ON t.sym = q.sym
//! ```
//!
//! - The match condition compares a left time with a right time: `>=` and
//!   `>` take the latest right row at or before (strictly before) the left
//!   row, `<=` and `<` the earliest at or after. A tolerance bounds the
//!   distance: `MATCH_CONDITION (t.time >= q.time AND t.time - q.time <=
//!   INTERVAL '5 seconds')`.
//! - ON holds equalities of a left and a right expression, ANDed; it may be
//!   left out.
//! - Every left row is kept, with NULLs when nothing matches (as Snowflake
//!   and QuestDB do). NULL keys and times never match. Among right rows with
//!   the same time, the last one read is taken.
//!
//! Planning: DataFusion's SQL planner has no ASOF join, so [`rewrite_joins`]
//! turns it into a LEFT JOIN whose ON carries the match condition as a call
//! of the `epochdb_asof` marker; [`AsofRule`], an analyzer rule, turns that
//! join into an [`AsofJoin`] node, which [`AsofJoinExec`](exec::AsofJoinExec)
//! executes: it reads the right side once into memory, sorted by keys and
//! time, and streams the left side, finding each row's match by a hash
//! lookup of its keys and a binary search of the time.

mod ast;
mod exec;
mod functions;
mod node;
mod rule;
#[cfg(test)]
mod tests;

pub(crate) use ast::rewrite_joins;
pub(crate) use exec::AsofPlanner;
pub(crate) use functions::AsofMarker;
pub(crate) use rule::AsofRule;
