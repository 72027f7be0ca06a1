//! The physical planner: DataFusion's, plus EpochDB's logical extension
//! nodes.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::datasource::dml;
use super::timeseries::{AsofPlanner, GapFillPlanner};

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
        if let Some(dml) = dml::plan(logical_plan, session)? {
            return Ok(dml);
        }
        DefaultPhysicalPlanner::with_extension_planners(Self::extension_planners())
            .create_physical_plan(logical_plan, session)
            .await
    }
}
