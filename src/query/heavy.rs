//! Statements heavy enough to plan that they must not hold up others.
//!
//! Planning runs on the runtime's worker threads, and a worker busy with one
//! statement runs nothing else queued on it: with a few workers, a deep
//! expression that takes a second to plan (DataFusion's analysis is
//! quadratic in an expression's depth) would stall every session for that
//! second. A heavy statement is planned and set running by
//! [`tokio::task::block_in_place`] instead, which first hands the worker's
//! queue to another thread. Light statements, nearly all of them, skip the
//! hand-over and its cost.

use std::cell::Cell;
use std::future::Future;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Visit, Visitor};
use tokio::runtime::{Handle, RuntimeFlavor};

/// An expression nested deeper than this is heavy.
const HEAVY_DEPTH: usize = 32;

/// A statement with more expression nodes than this is heavy.
const HEAVY_NODES: usize = 4096;

/// Whether `statement` is heavy to plan. It stops looking once it knows, so
/// it costs little even for a long statement.
pub(crate) fn is_heavy(statement: &Statement) -> bool {
    let mut measure = Measure::default();
    statement.visit(&mut measure).is_break()
}

/// Runs `work`, when `heavy`, where it cannot stall the other tasks of this
/// worker thread. On a current-thread runtime (tests), or when already so
/// run (a heavy statement planned again as it runs), it just runs it.
pub(crate) async fn run<T>(heavy: bool, work: impl Future<Output = T>) -> T {
    let multi_thread = Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
    if !heavy || !multi_thread || OFF_THE_WORKERS.get() {
        return work.await;
    }
    tokio::task::block_in_place(|| {
        let _off = OffTheWorkers::enter();
        Handle::current().block_on(work)
    })
}

/// Marks this thread as running heavy work until dropped, even by a panic.
struct OffTheWorkers;

impl OffTheWorkers {
    fn enter() -> Self {
        OFF_THE_WORKERS.set(true);
        OffTheWorkers
    }
}

impl Drop for OffTheWorkers {
    fn drop(&mut self) {
        OFF_THE_WORKERS.set(false);
    }
}

thread_local! {
    /// Whether this thread is running heavy work: blocking again inside it
    /// would start a runtime within a runtime.
    static OFF_THE_WORKERS: Cell<bool> = const { Cell::new(false) };
}

#[derive(Default)]
struct Measure {
    depth: usize,
    nodes: usize,
}

impl Visitor for Measure {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.depth += 1;
        self.nodes += 1;
        if self.depth > HEAVY_DEPTH || self.nodes > HEAVY_NODES {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;
    use crate::query::pg::dialect::PostgresDialect;

    fn heavy(sql: &str) -> bool {
        let statements = Parser::parse_sql(&PostgresDialect::default(), sql).unwrap();
        is_heavy(&statements[0])
    }

    #[test]
    fn deep_or_long_statements_are_heavy() {
        assert!(!heavy(
            "SELECT a + 1, avg(b) FROM t WHERE c = 'x' GROUP BY a"
        ));
        let deep = vec!["1"; HEAVY_DEPTH + 2].join(" + ");
        assert!(heavy(&format!("SELECT {deep}")));
        let long: Vec<String> = (0..HEAVY_NODES).map(|i| i.to_string()).collect();
        assert!(heavy(&format!("SELECT x IN ({})", long.join(", "))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn heavy_work_leaves_the_worker_free() {
        // On the only worker, a heavy task waits for a light task it
        // spawned: it gets its answer only if the worker runs the light one
        // meanwhile.
        let heavy = tokio::spawn(async {
            let (done, wait) = std::sync::mpsc::channel();
            let light = tokio::spawn(async move { done.send(()) });
            let waited = run(true, async move {
                wait.recv_timeout(std::time::Duration::from_secs(30))
            })
            .await;
            (waited, light.await)
        });
        let (waited, light) = heavy.await.unwrap();
        assert!(waited.is_ok() && light.is_ok());
    }
}
