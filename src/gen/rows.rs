//! Row buffers, one per table; `take` empties them into named columns.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
};

use super::facts::CaseFacts;

pub(super) type Columns = Vec<(&'static str, ArrayRef)>;

#[derive(Default)]
pub(super) struct ChildRows {
    pub(super) child_id: StringBuilder,
    pub(super) birth_date: Date32Builder,
    pub(super) cpr: StringBuilder,
}

impl ChildRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("child_id", Arc::new(self.child_id.finish())),
            ("birth_date", Arc::new(self.birth_date.finish())),
            ("cpr", Arc::new(self.cpr.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct CaseRows {
    pub(super) case_id: StringBuilder,
    pub(super) child_id: StringBuilder,
    pub(super) unit_id: StringBuilder,
    pub(super) caseworker_id: StringBuilder,
    pub(super) opened_on: Date32Builder,
    pub(super) closed_on: Date32Builder,
    pub(super) target_group: StringBuilder,
}

impl CaseRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("case_id", Arc::new(self.case_id.finish())),
            ("child_id", Arc::new(self.child_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("caseworker_id", Arc::new(self.caseworker_id.finish())),
            ("opened_on", Arc::new(self.opened_on.finish())),
            ("closed_on", Arc::new(self.closed_on.finish())),
            ("target_group", Arc::new(self.target_group.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct MeasureRows {
    pub(super) measure_id: StringBuilder,
    pub(super) case_id: StringBuilder,
    pub(super) paragraph: StringBuilder,
    pub(super) started_on: Date32Builder,
    pub(super) ended_on: Date32Builder,
    pub(super) decided_on: Date32Builder,
    pub(super) acute: BooleanBuilder,
    pub(super) monthly_cost_dkk: Float64Builder,
    pub(super) provider: StringBuilder,
}

impl MeasureRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("measure_id", Arc::new(self.measure_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("paragraph", Arc::new(self.paragraph.finish())),
            ("started_on", Arc::new(self.started_on.finish())),
            ("ended_on", Arc::new(self.ended_on.finish())),
            ("decided_on", Arc::new(self.decided_on.finish())),
            ("acute", Arc::new(self.acute.finish())),
            ("monthly_cost_dkk", Arc::new(self.monthly_cost_dkk.finish())),
            ("provider", Arc::new(self.provider.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct InvestigationRows {
    pub(super) investigation_id: StringBuilder,
    pub(super) case_id: StringBuilder,
    pub(super) started_on: Date32Builder,
    pub(super) completed_on: Date32Builder,
    pub(super) aware_on: Date32Builder,
}

impl InvestigationRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("investigation_id", Arc::new(self.investigation_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("started_on", Arc::new(self.started_on.finish())),
            ("completed_on", Arc::new(self.completed_on.finish())),
            ("aware_on", Arc::new(self.aware_on.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct PlanRows {
    pub(super) plan_id: StringBuilder,
    pub(super) case_id: StringBuilder,
    pub(super) created_on: Date32Builder,
}

impl PlanRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("plan_id", Arc::new(self.plan_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("created_on", Arc::new(self.created_on.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct FollowUpRows {
    pub(super) follow_up_id: StringBuilder,
    pub(super) case_id: StringBuilder,
    pub(super) performed_on: Date32Builder,
    pub(super) measure_id: StringBuilder,
    pub(super) next_due_on: Date32Builder,
}

impl FollowUpRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("follow_up_id", Arc::new(self.follow_up_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("performed_on", Arc::new(self.performed_on.finish())),
            ("measure_id", Arc::new(self.measure_id.finish())),
            ("next_due_on", Arc::new(self.next_due_on.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct ChunkRows {
    pub(super) children: ChildRows,
    pub(super) cases: CaseRows,
    pub(super) measures: MeasureRows,
    pub(super) investigations: InvestigationRows,
    pub(super) plans: PlanRows,
    pub(super) follow_ups: FollowUpRows,
    /// What the further tables need to know about each case of the chunk.
    pub(super) facts: Vec<CaseFacts>,
}

/// One chunk's columns per table, in `TABLE_NAMES` order from "children" on.
pub(super) type ChunkColumns = [Columns; 6];

impl ChunkRows {
    pub(super) fn take(&mut self) -> ChunkColumns {
        [
            self.children.take(),
            self.cases.take(),
            self.measures.take(),
            self.investigations.take(),
            self.plans.take(),
            self.follow_ups.take(),
        ]
    }
}

#[derive(Default)]
pub(super) struct NotificationRows {
    pub(super) notification_id: StringBuilder,
    pub(super) unit_id: StringBuilder,
    pub(super) received_at: TimestampMicrosecondBuilder,
    pub(super) assessed_at: TimestampMicrosecondBuilder,
    pub(super) professional: BooleanBuilder,
    pub(super) receipt_confirmed_on: Date32Builder,
    pub(super) child_id: StringBuilder,
    pub(super) case_id: StringBuilder,
}

impl NotificationRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("notification_id", Arc::new(self.notification_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("received_at", Arc::new(self.received_at.finish())),
            ("assessed_at", Arc::new(self.assessed_at.finish())),
            ("professional", Arc::new(self.professional.finish())),
            ("receipt_confirmed_on", Arc::new(self.receipt_confirmed_on.finish())),
            ("child_id", Arc::new(self.child_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct DecisionRows {
    pub(super) decision_id: StringBuilder,
    pub(super) case_id: StringBuilder,
    pub(super) paragraph: StringBuilder,
    pub(super) applied_on: Date32Builder,
    pub(super) decided_on: Date32Builder,
    pub(super) outcome: StringBuilder,
    pub(super) delay_letter_on: Date32Builder,
}

impl DecisionRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("decision_id", Arc::new(self.decision_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("paragraph", Arc::new(self.paragraph.finish())),
            ("applied_on", Arc::new(self.applied_on.finish())),
            ("decided_on", Arc::new(self.decided_on.finish())),
            ("outcome", Arc::new(self.outcome.finish())),
            ("delay_letter_on", Arc::new(self.delay_letter_on.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct ComplaintRows {
    pub(super) complaint_id: StringBuilder,
    pub(super) unit_id: StringBuilder,
    pub(super) received_on: Date32Builder,
    pub(super) kind: StringBuilder,
    pub(super) case_id: StringBuilder,
}

impl ComplaintRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("complaint_id", Arc::new(self.complaint_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("received_on", Arc::new(self.received_on.finish())),
            ("kind", Arc::new(self.kind.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct EventRows {
    pub(super) event_id: StringBuilder,
    pub(super) case_id: StringBuilder,
    pub(super) kind: StringBuilder,
    pub(super) occurred_on: Date32Builder,
}

impl EventRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("event_id", Arc::new(self.event_id.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("kind", Arc::new(self.kind.finish())),
            ("occurred_on", Arc::new(self.occurred_on.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct PostingRows {
    pub(super) posting_id: StringBuilder,
    pub(super) unit_id: StringBuilder,
    pub(super) account: StringBuilder,
    pub(super) posted_on: Date32Builder,
    pub(super) amount_dkk: Float64Builder,
    pub(super) case_id: StringBuilder,
    pub(super) measure_id: StringBuilder,
}

impl PostingRows {
    pub(super) fn take(&mut self) -> Columns {
        vec![
            ("posting_id", Arc::new(self.posting_id.finish())),
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("account", Arc::new(self.account.finish())),
            ("posted_on", Arc::new(self.posted_on.finish())),
            ("amount_dkk", Arc::new(self.amount_dkk.finish())),
            ("case_id", Arc::new(self.case_id.finish())),
            ("measure_id", Arc::new(self.measure_id.finish())),
        ]
    }
}

#[derive(Default)]
pub(super) struct FurtherRows {
    pub(super) notifications: NotificationRows,
    pub(super) decisions: DecisionRows,
    pub(super) complaints: ComplaintRows,
    pub(super) events: EventRows,
    pub(super) postings: PostingRows,
}

/// One chunk's columns per further table, in `TABLE_NAMES` order.
pub(super) type FurtherColumns = [Columns; 5];

impl FurtherRows {
    pub(super) fn take(&mut self) -> FurtherColumns {
        [
            self.notifications.take(),
            self.decisions.take(),
            self.complaints.take(),
            self.events.take(),
            self.postings.take(),
        ]
    }
}
