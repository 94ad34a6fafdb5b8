//! Danish wording and number formats of the report (decimal comma, "97,4 %", 22.11.2026).

use chrono::{Datelike, NaiveDate};

/// The three goals of the action plan a department head steers by, with the KPI that
/// measures each this week (items 15, 16 and 17).
pub const GOALS: [(&str, &str, &str); 3] = [
    ("plan_coverage", "Handleplaner", "Aktive sager med foranstaltning, hvor handleplanen foreligger"),
    ("follow_up_on_time", "Opfølgning", "Aktive sager, hvor ingen opfølgning er overskredet"),
    ("investigation_within_limit", "Undersøgelser", "Åbne børnefaglige undersøgelser inden for fristen på 4 måneder"),
];

/// A plan item (or the notification rules) that the report gives a section of its own
/// beside the three goals: its KPIs, the export table they are counted from, and how the
/// page names it.
pub struct Section {
    /// Anchor and key: `frister`, `underretninger`, `klager`.
    pub key: &'static str,
    pub name: &'static str,
    /// "punkt 12", or "" for notifications, which the law sets rather than a plan item.
    pub item: &'static str,
    pub kpis: &'static [&'static str],
    /// The further table of the export the KPIs count (docs/export.md).
    pub table: &'static str,
    /// "Ingen data: udtrækket har ingen …" when the export lacks that table.
    pub no_data: &'static str,
    /// Said when the unit has nothing to measure this week although the export has data.
    pub nothing: &'static str,
}

/// The sections of plan items 12 and 13, of notifications, of the lawful-case audit and of
/// the budget, in page order.
pub static SECTIONS: [Section; 5] = [
    Section {
        key: "frister",
        name: "Sagsbehandlingsfrister",
        item: "punkt 12",
        kpis: &["decision_within_deadline", "delay_letter_sent"],
        table: "decisions",
        no_data: "Ingen data: udtrækket har ingen ansøgninger (tabellen decisions)",
        nothing: "Intet at måle: ingen ansøgninger med frist i de seneste 365 dage",
    },
    Section {
        key: "underretninger",
        name: "Underretninger",
        item: "",
        kpis: &["notification_assessed_in_time", "notification_receipt_confirmed"],
        table: "notifications",
        no_data: "Ingen data: udtrækket har ingen underretninger (tabellen notifications)",
        nothing: "Intet at måle: ingen underretninger med frist i de seneste 365 dage",
    },
    Section {
        key: "klager",
        name: "Klager",
        item: "punkt 13",
        kpis: &["complaints_formalitet", "complaints_realitet"],
        table: "complaints",
        no_data: "Ingen data: udtrækket har ingen klager (tabellen complaints)",
        nothing: "Intet at måle: ingen klager i perioden eller i basisperioden",
    },
    Section {
        key: "lovmedholdelighed",
        name: "Lovmedholdelighed og genopretning",
        item: "revision",
        kpis: &["lawful_case"],
        table: "case_events",
        no_data: "Ingen data: udtrækket har ingen sagsskridt (tabellen case_events), så tjeklisten kan ikke vurderes",
        nothing: "Intet at måle: ingen aktive sager med aktiv foranstaltning",
    },
    Section {
        key: "budget",
        name: "Budget",
        item: "økonomi",
        kpis: &["budget_forecast"],
        table: "budgets",
        no_data: "Ingen data: udtrækket har ingen budgetter (tabellen budgets)",
        nothing: "Intet at måle: intet budget og ingen udgifter i året",
    },
];

/// The section a KPI is shown in, if any (items 15–17 have the goal tiles instead).
pub fn section_of(kpi_id: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.kpis.contains(&kpi_id))
}

/// Whether a KPI is met at or below its target (complaints) rather than at or above it.
pub fn lower_is_better(kpi_id: &str) -> bool {
    crate::kpi::DEFINITIONS.iter().any(|d| d.id == kpi_id && d.lower_is_better)
}

/// How a KPI is counted, in a head's words: the page's "Sådan beregnes tallet" (the
/// definitions in full are in docs/kpis.md).
pub fn how_counted(kpi_id: &str) -> &'static str {
    match kpi_id {
        "plan_coverage" => {
            "Nævner: aktive sager med mindst én aktiv foranstaltning, der kræver handleplan, og hvor handleplanen \
             skulle foreligge senest på opgørelsesdagen. Tæller: de sager, hvor der er oprettet en handleplan senest \
             den dag. Handleplanen skal foreligge før foranstaltningen starter (4 måneder efter start ved akutte \
             foranstaltninger efter serviceloven), eller 3 måneder efter afgørelsen (barnets lov § 32 og § 46)."
        }
        "plan_on_time" => {
            "Nævner: foranstaltninger, der kræver handleplan, og hvis frist for handleplanen faldt inden for de \
             seneste 365 dage. Tæller: dem, hvor sagen havde en handleplan senest på fristen. En plan, der kom for \
             sent, tæller som for sent, også når den foreligger nu."
        }
        "follow_up_on_time" => {
            "Nævner: aktive sager med mindst én aktiv foranstaltning, der skal følges op. Tæller: de sager, hvor \
             ingen af dem er over fristen. Første opfølgning senest 3 måneder efter start, derefter senest 6 \
             måneder efter seneste opfølgning, medmindre sagsbehandleren satte en anden frist ved opfølgningen."
        }
        "investigation_within_limit" => {
            "Nævner: børnefaglige undersøgelser, der er åbne på opgørelsesdagen. Tæller: dem, der stadig er inden \
             for fristen på 4 måneder, regnet fra den dag kommunen blev opmærksom på behovet (ellers fra \
             undersøgelsens start)."
        }
        "investigation_completed_within_limit" => {
            "Nævner: undersøgelser afsluttet inden for de seneste 365 dage. Tæller: dem, der blev afsluttet inden \
             for fristen på 4 måneder."
        }
        "decision_within_deadline" => {
            "Nævner: ansøgninger, hvis sagsbehandlingsfrist (kommunens offentliggjorte frist for paragraffen, regnet \
             fra ansøgningsdatoen) faldt inden for de seneste 365 dage. Tæller: dem, der blev afgjort senest på \
             fristen."
        }
        "delay_letter_sent" => {
            "Nævner: ansøgninger, der ikke var afgjort ved fristen. Tæller: dem, hvor ansøgeren senest på fristen \
             fik skriftlig besked om, hvornår afgørelsen kan forventes."
        }
        "notification_assessed_in_time" => {
            "Nævner: underretninger, hvis frist (24 timer efter modtagelsen) faldt inden for de seneste 365 dage. \
             Tæller: dem, der blev vurderet inden for de 24 timer."
        }
        "notification_receipt_confirmed" => {
            "Nævner: underretninger fra fagpersoner, hvis frist for kvittering (6 hverdage efter modtagelsen) faldt \
             inden for de seneste 365 dage. Tæller: dem, hvor der blev kvitteret senest på fristen."
        }
        "complaints_formalitet" => {
            "Tæller: klager over formalitet (sagens behandling) modtaget de seneste 365 dage. Nævner: klager over \
             formalitet i basisperioden (de 365 dage før, eller basisåret). Færre er bedre: målet er nået, når \
             andelen er højst målet, og andelen kan komme over 100 %."
        }
        "complaints_realitet" => {
            "Tæller: klager over realitet (afgørelsens indhold) modtaget de seneste 365 dage. Nævner: klager over \
             realitet i basisperioden (de 365 dage før, eller basisåret). Færre er bedre: målet er nået, når \
             andelen er højst målet, og andelen kan komme over 100 %."
        }
        "lawful_case" => {
            "Nævner: aktive sager med mindst én aktiv foranstaltning. Tæller: de sager, hvor hele tjeklisten er \
             opfyldt: børnefaglig undersøgelse (eller målgruppeafklaring), børnesamtale inden for de seneste 365 \
             dage, partshøring, afgørelse med klagevejledning, handleplan og rettidig opfølgning."
        }
        "budget_forecast" => {
            "Nævner: årets korrigerede budget for enheden og enhederne under den, alle konti, i hele kroner. Tæller: \
             prognosen efter bindinger: det bogførte i årets afsluttede måneder plus, for hver aktiv foranstaltning \
             med en månedlig udgift, udgiften for hver resterende måned af året til og med den måned, \
             foranstaltningen slutter. Lavere er bedre: målet er nået, når prognosen højst er målets andel af \
             budgettet."
        }
        _ => "",
    }
}

/// A short Danish label for narrow columns (the index), under a heading naming the item.
pub fn short_label(kpi_id: &str) -> &str {
    match kpi_id {
        "plan_coverage" => "Foreligger",
        "plan_on_time" => "Rettidig",
        "follow_up_on_time" => "Rettidig",
        "investigation_within_limit" => "Åbne i frist",
        "investigation_completed_within_limit" => "Afsluttet i frist",
        "decision_within_deadline" => "Afgjort i frist",
        "delay_letter_sent" => "Orienteret",
        "notification_assessed_in_time" => "Vurderet 24 t",
        "notification_receipt_confirmed" => "Kvitteret",
        "complaints_formalitet" => "Formalitet",
        "complaints_realitet" => "Realitet",
        "budget_forecast" => "Prognose",
        other => kpi_label(other),
    }
}

/// A heading with soft hyphens in its long compound words, so a narrow column breaks
/// "Sagsbehandlingsfrister" between its parts rather than anywhere.
pub fn breakable(heading: &str) -> String {
    const PARTS: [(&str, &str); 9] = [
        ("Sagsbehandlingsfrister", "Sags\u{ad}behandlings\u{ad}frister"),
        ("Lovmedholdelighed", "Lov\u{ad}med\u{ad}holdelighed"),
        ("genopretning", "gen\u{ad}opretning"),
        ("Underretninger", "Under\u{ad}retninger"),
        ("Undersøgelser", "Under\u{ad}søgelser"),
        ("Handleplaner", "Handle\u{ad}planer"),
        ("Opfølgning", "Op\u{ad}følgning"),
        ("Forsinkede", "For\u{ad}sinkede"),
        ("Sagsbehandler", "Sags\u{ad}behandler"),
    ];
    PARTS.iter().fold(heading.to_string(), |h, (word, parts)| h.replace(word, parts))
}

/// The heading of a plan item's columns: "Handleplaner (15)", "Underretninger".
pub fn plan_item_heading(item: Option<i32>) -> String {
    match item {
        Some(15) => "Handleplaner (15)".into(),
        Some(16) => "Opfølgning (16)".into(),
        Some(17) => "Undersøgelser (17)".into(),
        Some(12) => "Sagsbehandlingsfrister (12)".into(),
        Some(13) => "Klager (13)".into(),
        Some(n) => format!("Punkt {n}"),
        None => "Underretninger".into(),
    }
}

/// The KPI's Danish label (from `kpi::DEFINITIONS`), else its id.
pub fn kpi_label(kpi_id: &str) -> &str {
    crate::kpi::DEFINITIONS.iter().find(|d| d.id == kpi_id).map_or(kpi_id, |d| d.label_da)
}

pub fn overdue_kind(kind: &str) -> &str {
    match kind {
        "investigation_overdue" => "Undersøgelse over fristen",
        "plan_missing" => "Handleplan mangler",
        "follow_up_overdue" => "Opfølgning overskredet",
        other => other,
    }
}

pub fn deadline_kind(kind: &str) -> &str {
    match kind {
        "investigation_deadline" => "Undersøgelse skal være afsluttet",
        "plan_due" => "Handleplan skal foreligge",
        "follow_up_due" => "Opfølgning",
        other => other,
    }
}

/// What the item id names, by kind.
pub fn item_noun(kind: &str) -> &str {
    match kind {
        "investigation_overdue" | "investigation_deadline" => "undersøgelse",
        _ => "foranstaltning",
    }
}

/// A caseworker by name, else by id; cases without one say so.
pub fn caseworker(id: Option<&str>, name: Option<&str>) -> String {
    match (name, id) {
        (Some(n), _) => n.to_string(),
        (None, Some(id)) => id.to_string(),
        (None, None) => "(ingen sagsbehandler)".to_string(),
    }
}

/// A share as a Danish percentage: 0.974 → "97,4 %"; none → "–".
pub fn percent(share: Option<f64>) -> String {
    match share {
        Some(s) => format!("{} %", decimal(s * 100.0, 1)),
        None => "–".into(),
    }
}

/// A target as a percentage without needless decimals: 0.95 → "95 %".
pub fn target(t: f64) -> String {
    let pct = t * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{} %", pct.round() as i64)
    } else {
        format!("{} %", decimal(pct, 1))
    }
}

/// A target with its direction where it is not the usual one: "95 %", and "≤ 90 %" for a
/// KPI met at or below its target.
pub fn target_rule(t: f64, lower_is_better: bool) -> String {
    if lower_is_better { format!("≤ {}", target(t)) } else { target(t) }
}

/// Whether a change since last week is an improvement: a rise is good unless lower is
/// better. Returns a CSS class and the word screen readers and tooltips get; a change
/// under 0,05 pp or none is neither.
pub fn change_direction(change: Option<f64>, lower_is_better: bool) -> (&'static str, &'static str) {
    match change {
        Some(c) if c.abs() >= 0.05 => {
            if (c > 0.0) != lower_is_better {
                ("better", "forbedring")
            } else {
                ("worse", "forværring")
            }
        }
        _ => ("", ""),
    }
}

/// A change in percentage points: "+1,2 pp", "−3,0 pp", "±0,0 pp"; none → "–".
pub fn change_pp(change: Option<f64>) -> String {
    match change {
        None => "–".into(),
        Some(c) if c.abs() < 0.05 => "±0,0 pp".into(),
        Some(c) if c > 0.0 => format!("+{} pp", decimal(c, 1)),
        Some(c) => format!("−{} pp", decimal(-c, 1)),
    }
}

/// A number with a decimal comma and `places` decimals.
pub fn decimal(x: f64, places: usize) -> String {
    format!("{x:.places$}").replace('.', ",")
}

/// Whole numbers with a dot between thousands: 12345 → "12.345".
pub fn integer(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("−{out}") } else { out }
}

/// 2026-11-22 → "22.11.2026".
pub fn date(d: NaiveDate) -> String {
    d.format("%d.%m.%Y").to_string()
}

const MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
];

/// 2026-11-22 → "22. november 2026".
pub fn long_date(d: NaiveDate) -> String {
    format!("{}. {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// 2026-10-31 → "oktober 2026".
pub fn month_year(d: NaiveDate) -> String {
    format!("{} {}", MONTHS[d.month0() as usize], d.year())
}

/// "2026-W48" → "uge 48"; any other text is returned as it is.
pub fn week_short(label: &str) -> String {
    label.split_once("-W").map_or_else(|| label.to_string(), |(_, w)| format!("uge {}", w.trim_start_matches('0')))
}

/// Status words for met / not met / nothing to measure; never colour alone.
pub fn status(met: Option<bool>) -> (&'static str, &'static str) {
    match met {
        Some(true) => ("met", "Opfyldt"),
        Some(false) => ("notmet", "Ikke opfyldt"),
        None => ("none", "Intet at måle"),
    }
}

/// The lawful-case checklist's elements (docs/kpis.md) in checklist order, with the Danish
/// words the report uses for what is missing.
pub const CHECKLIST: [(&str, &str); 6] = [
    ("investigated", "Børnefaglig undersøgelse eller målgruppeafklaring"),
    ("child_heard", "Børnesamtale inden for det seneste år"),
    ("parties_consulted", "Partshøring"),
    ("decision_with_guidance", "Afgørelse med klagevejledning"),
    ("plan", "Handleplan"),
    ("followed_up", "Rettidig opfølgning"),
];

/// Checklist element ids joined by ';' ("investigated;plan") in Danish, joined by ", ".
pub fn elements(ids: &str) -> String {
    ids.split(';')
        .filter(|id| !id.is_empty())
        .map(|id| CHECKLIST.iter().find(|(e, _)| *e == id).map_or(id, |(_, da)| da))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a recovery milestone (or a projected KPI) is reached.
pub fn milestone_status(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "Nået",
        Some(false) => "Ikke nået",
        None => "–",
    }
}

/// A KPI's numerator or denominator as words state it: a count of items, or for the
/// budget's forecast (counted in whole kroner) an amount: "14.053.260 kr.".
pub fn count(kpi_id: &str, n: i64) -> String {
    let in_kroner = crate::kpi::DEFINITIONS.iter().any(|d| d.id == kpi_id && d.in_kroner);
    if in_kroner { format!("{} kr.", integer(n)) } else { integer(n) }
}

/// Whole kroner with a dot between thousands (half away from zero): 1110000.4 →
/// "1.110.000 kr.".
pub fn kroner(x: f64) -> String {
    format!("{} kr.", integer(x.round() as i64))
}

/// Kroner with øre and a dot between thousands: 12345.5 → "12.345,50 kr.".
pub fn money(x: f64) -> String {
    let ore = (x * 100.0).round() as i64;
    let kroner = integer(ore / 100);
    let sign = if ore < 0 && ore / 100 == 0 { "−" } else { "" };
    format!("{sign}{kroner},{:02} kr.", (ore % 100).abs())
}
