//! The physical planner: DataFusion's, plus EpochDB's logical extension
//! nodes.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{ColumnarValue, LogicalPlan};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::asof::AsofPlanner;
use super::gapfill::GapFillPlanner;

/// Plans with DataFusion's planner, which asks ours for extension nodes.
#[derive(Debug, Default)]
pub(super) struct EpochQueryPlanner;

impl EpochQueryPlanner {
    fn extension_planners() -> Vec<Arc<dyn ExtensionPlanner + Send + Sync>> {
        vec![Arc::new(GapFillPlanner), Arc::new(AsofPlanner)]
    }
}

#[async_trait]
impl QueryPlanner for EpochQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(Self::extension_planners())
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// The value of `expr`, an expression without columns (a constant, `now()`,
/// a bound parameter), as an extension planner needs it.
pub(super) fn constant_value(expr: &dyn PhysicalExpr) -> Result<ScalarValue> {
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match expr.evaluate(&batch)? {
        ColumnarValue::Scalar(value) => Ok(value),
        ColumnarValue::Array(array) => ScalarValue::try_from_array(&array, 0),
    }
}
