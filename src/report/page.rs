//! What every page of one report shares: the report's figures grouped by unit, the unit
//! tree and the rules, read by the HTML pages, the workbooks and the audit sections.

use std::collections::HashMap;

use super::da;
use super::data::{
    Breach, CaseworkerFigures, Deadline, KpiFigure, OverdueItem, ProductionWeek, ReportData, SourceTable, UnitInfo,
};

/// What every page of one report shares.
pub struct PageContext<'a> {
    pub data: &'a ReportData,
    pub rules: &'a crate::Rules,
    pub rules_source: &'a str,
    pub unit_names: HashMap<&'a str, &'a str>,
    pub children: HashMap<&'a str, Vec<&'a UnitInfo>>,
    pub parents: HashMap<&'a str, &'a str>,
    pub kpi: HashMap<&'a str, Vec<&'a KpiFigure>>,
    pub production: HashMap<&'a str, Vec<&'a ProductionWeek>>,
    pub overdue: HashMap<&'a str, Vec<&'a OverdueItem>>,
    pub deadlines: HashMap<&'a str, Vec<&'a Deadline>>,
    pub caseworkers: HashMap<&'a str, Vec<&'a CaseworkerFigures>>,
    pub breaches: HashMap<&'a str, Vec<&'a Breach>>,
    pub sources: HashMap<&'a str, &'a SourceTable>,
}

impl<'a> PageContext<'a> {
    pub fn new(data: &'a ReportData, rules: &'a crate::Rules) -> PageContext<'a> {
        fn group<'a, T>(rows: &'a [T], unit: impl Fn(&'a T) -> &'a str) -> HashMap<&'a str, Vec<&'a T>> {
            let mut map: HashMap<&str, Vec<&T>> = HashMap::new();
            for row in rows {
                map.entry(unit(row)).or_default().push(row);
            }
            map
        }
        let mut children: HashMap<&str, Vec<&UnitInfo>> = HashMap::new();
        let mut parents = HashMap::new();
        for u in &data.units {
            if let Some(p) = u.parent_id.as_deref() {
                children.entry(p).or_default().push(u);
                parents.insert(u.id.as_str(), p);
            }
        }
        PageContext {
            data,
            rules,
            rules_source: rules.source.as_str(),
            unit_names: data.units.iter().map(|u| (u.id.as_str(), u.name.as_str())).collect(),
            children,
            parents,
            kpi: group(&data.kpi, |k| k.unit_id.as_str()),
            production: group(&data.production, |p| p.unit_id.as_str()),
            overdue: group(&data.overdue, |o| o.unit_id.as_str()),
            deadlines: group(&data.deadlines, |d| d.unit_id.as_str()),
            caseworkers: group(&data.caseworkers, |c| c.unit_id.as_str()),
            breaches: group(&data.breaches, |b| b.unit_id.as_str()),
            sources: data.sources.iter().map(|t| (t.name.as_str(), t)).collect(),
        }
    }

    /// Whether the export holds rows of a further table (decisions, notifications …).
    pub fn has_data(&self, table: &str) -> bool {
        self.sources.get(table).is_some_and(|t| t.present && t.rows > 0)
    }

    /// A section's note when the export has no rows for it: "Ingen data: …".
    pub fn no_data(&self, section: &da::Section) -> Option<String> {
        (!self.has_data(section.table)).then(|| format!("{}.", section.no_data))
    }

    /// The unit's KPI figure for the report week.
    pub fn this_week(&self, unit: &str, kpi_id: &str) -> Option<&'a KpiFigure> {
        let as_of = self.data.week.sunday();
        self.kpi.get(unit)?.iter().copied().find(|k| k.kpi_id == kpi_id && k.as_of == as_of)
    }

    /// The target of a KPI under the rules in force.
    pub fn target(&self, kpi_id: &str) -> f64 {
        self.rules.target(kpi_id)
    }

    pub(crate) fn unit_name(&self, id: &str) -> String {
        self.unit_names.get(id).map_or_else(|| id.to_string(), |n| n.to_string())
    }

    /// A unit's name as shown inside the report of `within`: "Afdeling X, team 1" becomes
    /// "team 1" on the page of "Afdeling X", which already says where it is.
    pub(crate) fn unit_name_within(&self, id: &str, within: &str) -> String {
        let name = self.unit_name(id);
        let outer = self.unit_name(within);
        match name.strip_prefix(outer.as_str()).and_then(|rest| rest.strip_prefix(", ")) {
            Some(rest) if !rest.is_empty() => rest.to_string(),
            _ => name,
        }
    }
}
