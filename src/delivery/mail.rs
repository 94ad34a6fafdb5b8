//! The mail a head receives: the unit's tiles as the report page shows them (each tile's
//! verdict, the KPI it leads with, the others with their marks), in plain text and in
//! HTML, and the link to the unit's page. Figures only: the mail is built from the KPI
//! table, which holds no case, child or caseworker, so none can reach it.

use crate::report::data::KpiFigure;
use crate::report::{IsoWeek, da, tiles};

/// One mail's subject and bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A tile as one line of the mail.
struct TileLine {
    goal: bool,
    name: &'static str,
    met: Option<bool>,
    /// "Handleplan rettidig 83,3 % (mål 95 %, 5 af 6)".
    lead: String,
    /// The tile's other KPIs: (met, "Handleplan foreligger 100,0 % (mål 95 %)").
    others: Vec<(Option<bool>, String)>,
}

fn figure_text(k: &KpiFigure, counts: bool) -> String {
    let target = da::target_rule(k.target, da::lower_is_better(&k.kpi_id));
    if counts && k.share.is_some() {
        format!(
            "{} {} (mål {target}, {} af {})",
            da::kpi_label(&k.kpi_id),
            da::percent(k.share),
            da::count(&k.kpi_id, k.numerator),
            da::count(&k.kpi_id, k.denominator)
        )
    } else {
        format!("{} {} (mål {target})", da::kpi_label(&k.kpi_id), da::percent(k.share))
    }
}

fn tile_lines(figures: &[KpiFigure]) -> Vec<TileLine> {
    tiles::tiles()
        .into_iter()
        .map(|tile| {
            let kpis = tiles::lead_first(tile.kpis.iter().filter_map(|id| figures.iter().find(|k| k.kpi_id == *id)));
            TileLine {
                goal: tile.section.is_none(),
                name: tile.name,
                met: tiles::tile_met(kpis.iter().map(|k| k.met)),
                lead: kpis.first().map_or_else(|| "intet at måle".into(), |k| figure_text(k, true)),
                others: kpis.iter().skip(1).map(|k| (k.met, figure_text(k, false))).collect(),
            }
        })
        .collect()
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "–",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The mail for unit `unit_id` named `unit_name`, from its KPI figures of the report week.
pub fn compose(unit_id: &str, unit_name: &str, week: IsoWeek, figures: &[KpiFigure], link: &str) -> Mail {
    let lines = tile_lines(figures);
    let goals: Vec<&TileLine> = lines.iter().filter(|l| l.goal).collect();
    let met = goals.iter().filter(|l| l.met == Some(true)).count();
    let subject = format!("Ugerapport {} – {unit_name}: {met} af {} mål opfyldt", week.label_da(), goals.len());
    let as_of = da::long_date(week.sunday());

    let mut text = format!("Ugerapport {} for {unit_name} ({unit_id})\nStatus pr. søndag {as_of}.\n", week.label_da());
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"da\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: Segoe UI, Calibri, Arial, sans-serif; color: #1b1f24\">\n\
         <h2 style=\"color: #12304d\">Ugerapport {} for {}</h2>\n<p>Status pr. søndag {as_of}.</p>\n",
        escape(&subject),
        week.label_da(),
        escape(unit_name)
    );
    for (heading, goal) in [("Handleplanens mål", true), ("Øvrige punkter i handleplanen", false)] {
        text.push_str(&format!("\n{heading}:\n"));
        html.push_str(&format!(
            "<h3 style=\"color: #12304d\">{heading}</h3>\n<table style=\"border-collapse: collapse\">\n"
        ));
        for l in lines.iter().filter(|l| l.goal == goal) {
            let (_, verdict) = da::status(l.met);
            text.push_str(&format!("{} {}: {verdict} – {}\n", mark(l.met), l.name, l.lead));
            for (m, other) in &l.others {
                text.push_str(&format!("    {} {other}\n", mark(*m)));
            }
            let colour = match l.met {
                Some(true) => "#1e7b34",
                Some(false) => "#b3261e",
                None => "#555555",
            };
            let others: String =
                l.others.iter().map(|(m, o)| format!("<br><small>{} {}</small>", mark(*m), escape(o))).collect();
            html.push_str(&format!(
                "<tr><td style=\"padding: 4px 8px; color: #fff; background: {colour}; font-weight: 600\">{} {}</td>\
                 <td style=\"padding: 4px 8px; border-bottom: 1px solid #e1e5ea\"><b>{}</b>: {}{others}</td></tr>\n",
                mark(l.met),
                escape(verdict),
                escape(l.name),
                escape(&l.lead)
            ));
        }
        html.push_str("</table>\n");
    }
    text.push_str(&format!(
        "\nHele ugerapporten med forsinkede sager, frister og sagsbehandlere:\n{link}\n\n\
         Mailen indeholder kun tal; sagerne står i rapporten.\n"
    ));
    html.push_str(&format!(
        "<p><a href=\"{0}\">Hele ugerapporten</a> med forsinkede sager, frister og sagsbehandlere.</p>\n\
         <p style=\"color: #555; font-size: 12px\">Mailen indeholder kun tal; sagerne står i rapporten.</p>\n</body></html>\n",
        escape(link)
    ));
    Mail { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(kpi_id: &str, numerator: i64, denominator: i64, target: f64) -> KpiFigure {
        let share = (denominator > 0).then(|| numerator as f64 / denominator as f64);
        KpiFigure {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            unit_id: "U0005".into(),
            kpi_id: kpi_id.into(),
            numerator,
            denominator,
            share,
            target,
            met: share.map(|s| if da::lower_is_better(kpi_id) { s <= target } else { s >= target }),
            previous_share: None,
            change_pp: None,
        }
    }

    #[test]
    fn the_mail_leads_each_tile_with_the_failing_kpi_and_links_the_page() {
        // Plan coverage 21 of 21 (met) and plans on time 5 of 6 = 83.3 % (not met): the
        // tile is not met and leads with plans on time. Follow-up 19 of 23 = 82.6 %.
        // Investigations: 2 of 2 open in time and 5 of 7 completed = 71.4 %.
        let figures = [
            figure("plan_coverage", 21, 21, 0.95),
            figure("plan_on_time", 5, 6, 0.95),
            figure("follow_up_on_time", 19, 23, 0.95),
            figure("investigation_within_limit", 2, 2, 0.95),
            figure("investigation_completed_within_limit", 5, 7, 0.95),
        ];
        let week: IsoWeek = "2026-W47".parse().unwrap();
        let mail = compose("U0005", "Afdeling Amager", week, &figures, "https://intra.example/uge/U0005.html");
        assert_eq!(mail.subject, "Ugerapport uge 47 2026 – Afdeling Amager: 0 af 3 mål opfyldt");
        assert!(mail.text.contains("Status pr. søndag 22. november 2026."), "{}", mail.text);
        assert!(
            mail.text.contains(
                "✗ Handleplaner: Ikke opfyldt – Handleplan rettidig 83,3 % (mål 95 %, 5 af 6)\n    ✓ Handleplan foreligger 100,0 % (mål 95 %)\n"
            ),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains(
                "✗ Undersøgelser: Ikke opfyldt – Afsluttede undersøgelser inden for frist 71,4 % (mål 95 %, 5 af 7)"
            ),
            "{}",
            mail.text
        );
        // The sections the figures do not cover have nothing to measure.
        assert!(mail.text.contains("– Klager: Intet at måle – intet at måle"), "{}", mail.text);
        assert!(mail.text.contains("https://intra.example/uge/U0005.html"));
        assert!(mail.html.contains("<a href=\"https://intra.example/uge/U0005.html\">"));
        assert!(mail.html.contains("<b>Handleplaner</b>: Handleplan rettidig 83,3 %"), "{}", mail.html);
    }

    #[test]
    fn a_unit_name_cannot_inject_markup() {
        let week: IsoWeek = "2026-W47".parse().unwrap();
        let mail = compose("U1", "<script>x</script> & co", week, &[], "https://x/U1.html");
        assert!(!mail.html.contains("<script>") && mail.html.contains("&lt;script&gt;x&lt;/script&gt; &amp; co"));
    }
}
