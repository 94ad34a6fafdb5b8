//! A join whose output is huge (a cross join of four tables: billions of rows) makes its
//! rows without ever waiting for input: the task computing it never yields, so neither a
//! timeout nor a cancel can stop it, and on two cores two such queries hold every worker
//! thread for minutes. The tables served are in memory, so their row counts are exact, and
//! a join's output rows are known before it runs (exactly for a cross join, as an upper
//! estimate for the others). A connection's session refuses a plan in which any join
//! would make more than `MAX_JOIN_ROWS` rows (54000, "program limit exceeded").

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

/// A billion rows: a few seconds of one core for the simplest join, and far more than any
/// question about the served exports needs (a million cases with all their measures is
/// tens of millions).
pub const MAX_JOIN_ROWS: usize = 1_000_000_000;

#[derive(Debug)]
pub struct JoinLimit;

impl PhysicalOptimizerRule for JoinLimit {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let mut refused = None;
        let statistics_of = StatisticsContext::default();
        plan.apply(|node| {
            if node.name().ends_with("JoinExec")
                && let Ok(statistics) = statistics_of.compute(node.as_ref(), &StatisticsArgs::new())
                && let Precision::Exact(rows) | Precision::Inexact(rows) = statistics.num_rows
                && rows > MAX_JOIN_ROWS
            {
                refused = Some(DataFusionError::ResourcesExhausted(format!(
                    "program limit exceeded: a join here would make about {rows} rows, more than the {MAX_JOIN_ROWS} a query may; \
                     add a join condition or a filter"
                )));
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        match refused {
            Some(e) => Err(e),
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "cwkpi_join_limit"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    async fn plan(sql: &str) -> Result<()> {
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(JoinLimit))
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.sql("CREATE TABLE t AS SELECT value AS v FROM generate_series(1, 2000)").await?.collect().await?;
        ctx.sql(sql).await?.create_physical_plan().await.map(|_| ())
    }

    #[tokio::test]
    async fn a_join_of_billions_of_rows_is_refused_before_it_runs() {
        let error = plan("SELECT max(a.v + b.v + c.v) FROM t a, t b, t c").await.unwrap_err().to_string();
        assert!(error.contains("program limit exceeded"), "{error}");
        // 2,000 × 2,000 rows is fine, and so is an equi-join.
        plan("SELECT max(a.v + b.v) FROM t a, t b").await.unwrap();
        plan("SELECT count(*) FROM t a JOIN t b ON a.v = b.v JOIN t c ON b.v = c.v").await.unwrap();
    }
}
