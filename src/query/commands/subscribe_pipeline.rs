//! A subscription's query compiled for batches of its table's rows: the
//! filters and select list above one table's scan, as physical
//! expressions, run the same way over a snapshot's batches and over each
//! write's rows, so a row matches live exactly when it would in a query.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, new_null_array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::physical_expr::PhysicalExpr;

use crate::query::error::{Error, Result};

/// What a refusal of a query's form says.
pub(super) fn refuse(what: &str) -> Error {
    Error::Unsupported {
        what: format!(
            "SUBSCRIBE to a query with {what} (a select list and WHERE over one table, or an \
             aggregate of them grouped by a time_bucket, can be subscribed to)"
        ),
    }
}

/// One step of a subscription's query, bottom up.
enum Step {
    /// Keeps the rows where the predicate is true.
    Filter(Arc<dyn PhysicalExpr>),
    /// Computes new columns, with these types.
    Project(Vec<Arc<dyn PhysicalExpr>>, SchemaRef),
}

/// A subscription's query compiled for batches of its table's rows.
pub(super) struct Pipeline {
    /// The table's columns as the plan knows them, which rows are aligned
    /// to by name (a row written after `ADD COLUMN` has more).
    source: SchemaRef,
    table: String,
    /// The filters pushed into the scan, over all the table's columns.
    scan_filter: Option<Arc<dyn PhysicalExpr>>,
    /// The scan's columns, as indexes of `source`.
    projection: Vec<usize>,
    steps: Vec<Step>,
}

impl Pipeline {
    /// Compiles `plan` (optimized). Fails with 0A000 for anything but a
    /// select list and filters over one time-series table.
    pub(super) fn compile(state: &SessionState, plan: &LogicalPlan) -> Result<(Self, TableScan)> {
        let mut steps = Vec::new();
        let mut node = plan;
        let scan = loop {
            match node {
                LogicalPlan::Projection(projection) => {
                    let input = projection.input.schema();
                    let exprs = (projection.expr.iter())
                        .map(|e| state.create_physical_expr(e.clone(), input))
                        .collect::<datafusion::error::Result<Vec<_>>>()?;
                    steps.push(Step::Project(exprs, nullable(projection.schema.inner())));
                    node = &projection.input;
                }
                LogicalPlan::Filter(filter) => {
                    let input = filter.input.schema();
                    let predicate = state.create_physical_expr(filter.predicate.clone(), input)?;
                    steps.push(Step::Filter(predicate));
                    node = &filter.input;
                }
                LogicalPlan::SubqueryAlias(alias) => node = &alias.input,
                LogicalPlan::TableScan(scan) => break scan.clone(),
                LogicalPlan::Aggregate(_) => return Err(refuse("aggregates or DISTINCT")),
                LogicalPlan::Sort(_) => return Err(refuse("ORDER BY")),
                LogicalPlan::Limit(_) => return Err(refuse("LIMIT or OFFSET")),
                LogicalPlan::Join(_) => return Err(refuse("joins or subqueries")),
                LogicalPlan::Window(_) => return Err(refuse("window functions")),
                LogicalPlan::Union(_) => return Err(refuse("UNION")),
                LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
                    return Err(refuse("no table"));
                }
                other => return Err(refuse(&format!("this form ({})", other.display()))),
            }
        };
        steps.reverse();
        if scan.fetch.is_some() {
            return Err(refuse("LIMIT or OFFSET"));
        }
        let source = scan.source.schema();
        let full = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &source)?;
        let scan_filter = match conjunction(scan.filters.iter().cloned()) {
            Some(predicate) => Some(state.create_physical_expr(predicate, &full)?),
            None => None,
        };
        let projection =
            (scan.projection.clone()).unwrap_or_else(|| (0..source.fields().len()).collect());
        let pipeline = Pipeline {
            source,
            table: scan.table_name.table().to_owned(),
            scan_filter,
            projection,
            steps,
        };
        Ok((pipeline, scan))
    }

    /// The query's rows among `batch`, a batch of the table's rows.
    pub(super) fn run(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut batch = self.align(batch)?;
        if let Some(predicate) = &self.scan_filter {
            batch = keep(&batch, predicate)?;
        }
        let mut batch = batch
            .project(&self.projection)
            .map_err(DataFusionError::from)?;
        for step in &self.steps {
            batch = match step {
                Step::Filter(predicate) => keep(&batch, predicate)?,
                Step::Project(exprs, schema) => {
                    let rows = batch.num_rows();
                    let columns = (exprs.iter())
                        .map(|e| e.evaluate(&batch)?.into_array(rows))
                        .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
                    let options = RecordBatchOptions::new().with_row_count(Some(rows));
                    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
                        .map_err(DataFusionError::from)?
                }
            };
        }
        Ok(batch)
    }

    /// `batch` with the columns of `source`, by position: a table only
    /// grows at its end (`ADD COLUMN`) or renames, so a batch written later
    /// holds the planned columns first, and one written before holds a
    /// prefix of them (the rest read as NULL).
    fn align(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        if batch.schema().fields() == self.source.fields() {
            return Ok(batch.clone());
        }
        let rows = batch.num_rows();
        let columns = (self.source.fields().iter().enumerate())
            .map(|(i, field)| match batch.columns().get(i) {
                Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
                Some(_) => Err(Error::NotInPrerequisiteState {
                    message: format!(
                        "column \"{}\" of relation \"{}\" changed while subscribed to",
                        field.name(),
                        self.table
                    ),
                }),
                None => Ok(new_null_array(field.data_type(), rows)),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(
            RecordBatch::try_new_with_options(nullable(&self.source), columns, &options)
                .map_err(DataFusionError::from)?,
        )
    }
}

/// `schema` with every field nullable: the steps' batches are checked
/// against their schemas, which need not promise what the plan proved.
fn nullable(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = (schema.fields().iter())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The rows of `batch` where `predicate` is true.
fn keep(batch: &RecordBatch, predicate: &Arc<dyn PhysicalExpr>) -> Result<RecordBatch> {
    let mask = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
    let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
        return Err(Error::Unsupported {
            what: "SUBSCRIBE with a WHERE clause that is not boolean".into(),
        });
    };
    Ok(filter_record_batch(batch, mask).map_err(DataFusionError::from)?)
}
