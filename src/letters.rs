//! `cwkpi letters`: a draft delay letter (retssikkerhedsloven §3 stk. 2) for each open
//! application past its case-processing deadline whose applicant has not been told, from
//! a template the municipality can replace. Letters name the case, the application, the
//! case area, the dates and the unit; a child's name or CPR number is never available
//! to them. The folder is written whole or not at all.

use std::path::Path;

use chrono::NaiveDate;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::report::da;
use crate::report::frame::Frame;
use crate::report::publish::Staging;
use crate::rules::{Period, PeriodKinds};

/// The built-in letter (HTML that prints on A4); `cwkpi letters --print-template` prints it.
pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/letters/delay_letter.html");

const MANIFEST: &str = "letters.json";
const GENERATOR: &str = "cwkpi letters";

/// One open breach without a letter, as the `delay_letters` statement lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DraftLetter {
    pub as_of: NaiveDate,
    pub decision_id: String,
    pub case_id: String,
    pub unit_id: String,
    pub unit_name: String,
    pub paragraph: String,
    pub area: String,
    pub applied_on: NaiveDate,
    pub deadline: NaiveDate,
    pub days_overdue: i64,
    pub span: String,
    pub new_expected_on: NaiveDate,
}

pub struct LettersSummary {
    pub letters: usize,
}

/// The drafts of the catalog's as-of dates, worst first.
pub async fn drafts(catalog: &Catalog) -> Result<Vec<DraftLetter>> {
    let batches = catalog.statement("delay_letters").await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| Error::Internal("delay_letters returned no schema".into()))?;
    let f = Frame::new((schema, batches))?;
    (0..f.rows())
        .map(|i| {
            Ok(DraftLetter {
                as_of: f.date("as_of", i)?,
                decision_id: f.str("decision_id", i)?,
                case_id: f.str("case_id", i)?,
                unit_id: f.str("unit_id", i)?,
                unit_name: f.str("unit_name", i)?,
                paragraph: f.str("paragraph", i)?,
                area: f.str("area", i)?,
                applied_on: f.date("applied_on", i)?,
                deadline: f.date("deadline", i)?,
                days_overdue: f.i64("days_overdue", i)?,
                span: f.str("deadline_span", i)?,
                new_expected_on: f.date("new_expected_on", i)?,
            })
        })
        .collect()
}

/// "8 weeks" → "8 uger", "40 working days" → "40 arbejdsdage".
pub fn span_da(span: &str) -> String {
    match Period::parse(span, PeriodKinds::CaseDeadline) {
        Ok(Period::WorkingDays(n)) => format!("{n} arbejdsdag{}", if n == 1 { "" } else { "e" }),
        Ok(Period::Calendar(s)) if s.months > 0 && s.days == 0 => {
            format!("{} måned{}", s.months, if s.months == 1 { "" } else { "er" })
        }
        Ok(Period::Calendar(s)) if s.months == 0 && s.days % 7 == 0 && s.days > 0 => {
            format!("{} uge{}", s.days / 7, if s.days == 7 { "" } else { "r" })
        }
        Ok(Period::Calendar(s)) if s.months == 0 => format!("{} dag{}", s.days, if s.days == 1 { "" } else { "e" }),
        _ => span.to_string(),
    }
}

/// Where the template comes from, for error messages.
pub struct Template<'a> {
    pub source: &'a str,
    pub name: &'a str,
}

fn template_error(name: &str, e: minijinja::Error) -> Error {
    let line = e.line().map(|l| format!(" line {l}")).unwrap_or_default();
    Error::Usage(format!("letter template {name}{line}: {}", e.kind()))
}

/// Renders one letter.
pub fn render(template: &Template<'_>, letter: &DraftLetter) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("letter", template.source).map_err(|e| template_error(template.name, e))?;
    let t = env.get_template("letter").map_err(|e| template_error(template.name, e))?;
    t.render(minijinja::context! {
        case_id => letter.case_id,
        decision_id => letter.decision_id,
        unit_id => letter.unit_id,
        unit_name => letter.unit_name,
        paragraph => letter.paragraph,
        area => letter.area,
        span => letter.span,
        span_da => span_da(&letter.span),
        applied_on => da::long_date(letter.applied_on),
        deadline => da::long_date(letter.deadline),
        new_expected_on => da::long_date(letter.new_expected_on),
        as_of => da::long_date(letter.as_of),
        applied_on_iso => letter.applied_on.to_string(),
        deadline_iso => letter.deadline.to_string(),
        new_expected_on_iso => letter.new_expected_on.to_string(),
        as_of_iso => letter.as_of.to_string(),
        days_overdue => letter.days_overdue,
    })
    .map_err(|e| template_error(template.name, e))
}

/// `0001-<decision id as a file name>.html`: numbered in worst-first order, so the folder
/// lists in the order to send them, and distinct decisions never share a name.
fn file_name(position: usize, letter: &DraftLetter) -> String {
    format!("{position:04}-{}.html", crate::report::file_stem(&letter.decision_id))
}

/// Writes one file per letter and `index.html` into `out`, replacing an earlier letters
/// folder only once everything is written.
pub fn write_letters(letters: &[DraftLetter], template: &Template<'_>, out: &Path) -> Result<LettersSummary> {
    // Render everything first: a template error leaves nothing behind.
    let pages: Vec<(String, String)> = letters
        .iter()
        .enumerate()
        .map(|(i, l)| Ok((file_name(i + 1, l), render(template, l)?)))
        .collect::<Result<_>>()?;
    let staging = Staging::prepare_for(out, MANIFEST, GENERATOR)?;
    let write = |name: &str, text: &str| {
        let path = staging.path().join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    };
    for (name, text) in &pages {
        write(name, text)?;
    }
    write("index.html", &index_page(letters, &pages))?;
    let manifest = serde_json::json!({
        "generator": GENERATOR,
        "as_of": letters.first().map(|l| l.as_of.to_string()),
        "letters": letters.len(),
        "template": template.name,
    });
    write(MANIFEST, &format!("{manifest:#}\n"))?;
    staging.commit()?;
    Ok(LettersSummary { letters: letters.len() })
}

fn index_page(letters: &[DraftLetter], pages: &[(String, String)]) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    let rows: Vec<_> = letters
        .iter()
        .zip(pages)
        .map(|(l, (file, _))| {
            minijinja::context! {
                file => file, case_id => l.case_id, decision_id => l.decision_id, unit_name => l.unit_name,
                paragraph => l.paragraph, applied_on => da::date(l.applied_on), deadline => da::date(l.deadline),
                days_overdue => l.days_overdue, new_expected_on => da::date(l.new_expected_on),
            }
        })
        .collect();
    let source = include_str!("../templates/letters/index.html");
    env.add_template("index", source)
        .and_then(|_| env.get_template("index"))
        .and_then(|t| {
            t.render(minijinja::context! { rows => rows, as_of => letters.first().map(|l| da::long_date(l.as_of)) })
        })
        .unwrap_or_else(|e| format!("<!DOCTYPE html><p>index: {e}</p>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> DraftLetter {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        DraftLetter {
            as_of: d("2026-11-22"),
            decision_id: "D/7".into(),
            case_id: "C<1>".into(),
            unit_id: "A1".into(),
            unit_name: "Afdeling Nord".into(),
            paragraph: "SEL:41".into(),
            area: "merudgifter".into(),
            applied_on: d("2026-09-01"),
            deadline: d("2026-10-27"),
            days_overdue: 26,
            span: "8 weeks".into(),
            new_expected_on: d("2027-01-17"),
        }
    }

    #[test]
    fn the_default_letter_names_case_dates_and_area_escaped() {
        let html = render(&Template { source: DEFAULT_TEMPLATE, name: "built-in" }, &letter()).unwrap();
        for part in [
            "C&lt;1&gt;",
            "D&#x2f;7",
            "1. september 2026",
            "27. oktober 2026",
            "17. januar 2027",
            "8 uger",
            "merudgifter",
            "@page { size: A4",
        ] {
            assert!(html.contains(part), "{part} missing in\n{html}");
        }
    }

    #[test]
    fn spans_in_danish() {
        assert_eq!(span_da("40 working days"), "40 arbejdsdage");
        assert_eq!(span_da("3 months"), "3 måneder");
        assert_eq!(span_da("1 month"), "1 måned");
        assert_eq!(span_da("8 weeks"), "8 uger");
        assert_eq!(span_da("10 days"), "10 dage");
    }

    #[test]
    fn a_broken_template_is_a_usage_error_naming_it() {
        let e = render(&Template { source: "{{ case_id ", name: "mine.html" }, &letter()).unwrap_err();
        assert_eq!(e.exit_code(), 64, "{e}");
        assert!(e.to_string().contains("mine.html"), "{e}");
    }

    #[test]
    fn file_names_are_numbered_and_safe() {
        assert_eq!(file_name(3, &letter()), "0003-D~2F7.html");
    }
}
