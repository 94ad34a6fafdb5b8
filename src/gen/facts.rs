//! What a case chunk records about each case while making it, for the further tables:
//! recording draws nothing from the case stream, so the core tables do not depend on it.

use super::codes::Kind;
use super::days::Day;
use crate::rules::ParagraphRule;

pub(super) struct MeasureFacts {
    pub(super) number: u64,
    pub(super) started: Day,
    pub(super) ended: Option<Day>,
    pub(super) decided: Option<Day>,
    pub(super) acute: bool,
    pub(super) rule: Option<&'static ParagraphRule>,
    pub(super) barnets_lov: bool,
    pub(super) kind: Kind,
    pub(super) monthly_cost: Option<f64>,
}

impl MeasureFacts {
    /// Whether the measure's rule asks for follow-ups.
    pub(super) fn needs_follow_up(&self) -> bool {
        self.rule.is_some_and(|rule| rule.follow_up)
    }
}

/// A case as the further tables see it, recorded while the case is made (recording draws
/// nothing from the case stream, so the core tables do not depend on it).
pub(super) struct CaseFacts {
    pub(super) number: u64,
    /// Index into `Organisation::leaves`.
    pub(super) leaf: usize,
    pub(super) child: u64,
    pub(super) opened: Day,
    pub(super) closed: Option<Day>,
    pub(super) handicap: bool,
    pub(super) measures: Vec<MeasureFacts>,
}
