//! The trend chart: a KPI's weekly share against its target, as inline SVG (no scripts,
//! no external resources, so the page opens offline and prints as drawn).

use std::fmt::Write as _;

use super::da;

/// One week of a trend.
pub struct Point {
    /// Short x-axis label, e.g. "47".
    pub label: String,
    pub share: Option<f64>,
}

const WIDTH: f64 = 330.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 38.0;
/// Room right of the plot for the target's label ("mål ≤ 100 %").
const RIGHT: f64 = 62.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// Draws the share line over the weeks, a dashed line at the target, and gaps where a
/// week has nothing to measure. `title` names the KPI for screen readers. A dot is green
/// where the target is met: at or above it, or at or below it when `lower_is_better`
/// (complaints, whose share may exceed 100 %: the axis then reaches above 100 %).
pub fn trend_svg(title: &str, points: &[Point], target: f64, lower_is_better: bool) -> String {
    let shares: Vec<f64> = points.iter().filter_map(|p| p.share).collect();
    // The y-axis starts at a round 10 % below the lowest value shown, so small changes near
    // the target stay visible while the axis still says where it starts. It ends at 100 %,
    // or at a round 10 % above the highest value when that is more.
    let lowest = shares.iter().copied().fold(target, f64::min);
    let highest = shares.iter().copied().fold(target, f64::max);
    let y_max = if highest > 1.0 + 1e-9 { (highest * 10.0).ceil() / 10.0 + 0.1 } else { 1.0 };
    let y_min = ((lowest * 10.0).floor() / 10.0 - 0.1).max(0.0).min(y_max - 0.1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x =
        |i: usize| LEFT + if points.len() > 1 { plot_w * i as f64 / (points.len() - 1) as f64 } else { plot_w / 2.0 };
    let y = |v: f64| TOP + plot_h * (y_max - v.clamp(y_min, y_max)) / (y_max - y_min);

    let latest = points.iter().rev().find_map(|p| p.share);
    let first = points.first().map_or("", |p| p.label.as_str());
    let last = points.last().map_or("", |p| p.label.as_str());
    let desc = format!(
        "{title}: andel pr. uge fra uge {first} til uge {last}. Seneste andel {}, mål {}.{}",
        da::percent(latest),
        da::target_rule(target, lower_is_better),
        if lower_is_better { " Lavere er bedre." } else { "" }
    );

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(&desc)
    );
    let _ = write!(s, "<title>{}</title>", escape(&desc));

    // Grid lines every 10 % (every 20 % when the axis is long), labelled on the left.
    let step = if y_max - y_min > 0.5 { 0.2 } else { 0.1 };
    // Grid lines fall on whole multiples of the step (at 100 % when the axis ends there).
    let y_max_grid = (y_max / step + 1e-9).floor() * step;
    let mut v = y_max_grid;
    while v >= y_min - 1e-9 {
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#d9dde3" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="end" fill="#555">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 4.0,
            yy + 3.0,
            escape(&format!("{} %", (v * 100.0).round() as i64))
        );
        v -= step;
    }

    // x-axis labels: every week when they fit, else every other one and the last.
    let every = if points.len() > 13 { 2 } else { 1 };
    for (i, p) in points.iter().enumerate() {
        if i % every == 0 || i + 1 == points.len() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#555">{}</text>"##,
                x(i),
                HEIGHT - 8.0,
                escape(&p.label)
            );
        }
    }

    // Target line.
    let ty = y(target);
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#8a1c1c" stroke-width="1.5" stroke-dasharray="5 3"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="start" fill="#8a1c1c">mål {}</text>"##,
        WIDTH - RIGHT,
        WIDTH - RIGHT + 4.0,
        ty + 3.0,
        escape(&da::target_rule(target, lower_is_better))
    );

    // The share line, broken where a week has no share.
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(f64, f64)>, s: &mut String| {
        if run.len() > 1 {
            let pts: Vec<String> = run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ =
                write!(s, r##"<polyline points="{}" fill="none" stroke="#1f4e79" stroke-width="2"/>"##, pts.join(" "));
        }
        run.clear();
    };
    for (i, p) in points.iter().enumerate() {
        match p.share {
            Some(v) => run.push((x(i), y(v))),
            None => flush(&mut run, &mut s),
        }
    }
    flush(&mut run, &mut s);
    for (i, p) in points.iter().enumerate() {
        if let Some(v) = p.share {
            let met = if lower_is_better { v <= target } else { v >= target };
            let (fill, r) = if met { ("#1e7b34", 3.0) } else { ("#b3261e", 3.0) };
            let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}"/>"#, x(i), y(v));
        }
    }
    if points.iter().all(|p| p.share.is_none()) {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">Intet at måle i perioden</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Escapes text for SVG/HTML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A recovery milestone on the burn-down chart.
pub struct Milestone {
    /// Weeks after the chart's first week (fractional for a date that is not a Sunday).
    pub at_week: f64,
    pub label: String,
    pub max_remaining: i64,
    pub met: Option<bool>,
}

/// The burn-down of recovery: the cases still to recover week by week (`counts`, one per
/// week label; none where unknown), and the milestones as diamonds at their date and
/// `max_remaining`, green when met and red when not. The x-axis runs over `weeks` labels,
/// which may reach past the last count to show milestones ahead.
pub fn burndown_svg(title: &str, weeks: &[String], counts: &[Option<i64>], milestones: &[Milestone]) -> String {
    let highest =
        counts.iter().flatten().copied().chain(milestones.iter().map(|m| m.max_remaining)).max().unwrap_or(0).max(1);
    let y_max = round_top(highest as f64);
    let plot_w = WIDTH * 2.0 - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let width = WIDTH * 2.0;
    let n = weeks.len().max(2);
    let x = |i: f64| LEFT + plot_w * i / (n - 1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_max);

    let latest = counts.iter().rev().find_map(|c| *c);
    let desc = format!(
        "{title}: sager tilbage pr. uge fra {} til {}. Seneste antal {}. {} delmål.",
        weeks.first().map_or("", |w| w.as_str()),
        weeks.last().map_or("", |w| w.as_str()),
        latest.map_or("–".to_string(), da::integer),
        milestones.len()
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="trend burndown" viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(&desc),
        escape(&desc)
    );
    // Five grid steps on a round top of 5 or more; one per case below it.
    let steps = if y_max >= 5.0 { 5 } else { y_max as i64 };
    whole_number_grid(&mut s, (LEFT, width - RIGHT), y_max, steps, y);
    let every = weeks.len().div_ceil(13).max(1);
    for (i, w) in weeks.iter().enumerate() {
        if i % every == 0 || i + 1 == weeks.len() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#555">{}</text>"##,
                x(i as f64),
                HEIGHT - 8.0,
                escape(w)
            );
        }
    }
    let points: Vec<String> = counts
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| format!("{:.1},{:.1}", x(i as f64), y(c as f64))))
        .collect();
    if points.len() > 1 {
        let _ =
            write!(s, r##"<polyline points="{}" fill="none" stroke="#1f4e79" stroke-width="2"/>"##, points.join(" "));
    }
    for (i, c) in counts.iter().enumerate() {
        if let Some(c) = c {
            let _ = write!(s, r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#1f4e79"/>"##, x(i as f64), y(*c as f64));
        }
    }
    for m in milestones {
        let (cx, cy) = (x(m.at_week), y(m.max_remaining as f64));
        let fill = match m.met {
            Some(true) => "#1e7b34",
            Some(false) => "#b3261e",
            None => "#777",
        };
        let _ = write!(
            s,
            r##"<path d="M{cx:.1},{:.1} L{:.1},{cy:.1} L{cx:.1},{:.1} L{:.1},{cy:.1} Z" fill="{fill}"><title>{}</title></path><text x="{cx:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="{fill}">{}</text>"##,
            cy - 5.0,
            cx + 5.0,
            cy + 5.0,
            cx - 5.0,
            escape(&m.label),
            cy - 8.0,
            escape(&format!("≤ {}", da::integer(m.max_remaining)))
        );
    }
    if points.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">Ukendt: udtrækket har ingen sagsskridt</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A round top for an axis: 1, 2 or 5 times a power of ten, at or above `highest`.
fn round_top(highest: f64) -> f64 {
    let magnitude = 10f64.powi(highest.log10().floor() as i32);
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= highest).unwrap_or(highest)
}

/// Grid lines at `steps` even steps from 0 to `y_max` across `(from, to)`, each labelled on
/// the left with its whole number.
fn whole_number_grid(s: &mut String, (from, to): (f64, f64), y_max: f64, steps: i64, y: impl Fn(f64) -> f64) {
    for k in 0..=steps {
        let v = y_max * k as f64 / steps as f64;
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{from}" y1="{yy:.1}" x2="{to:.1}" y2="{yy:.1}" stroke="#d9dde3" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="end" fill="#555">{}</text>"##,
            from - 4.0,
            yy + 3.0,
            escape(&da::integer(v.round() as i64))
        );
    }
}

/// One month of the budget chart: running totals of the year so far.
pub struct BudgetMonth {
    pub budget_cumulative: f64,
    pub actual_cumulative: f64,
    pub closed: bool,
}

/// The year month by month: the cumulative periodised budget as a line, the cumulative
/// actual as bars through the closed months, and the two forecasts as points at December
/// (a circle for the forecast by commitments, a square for the pace so far).
pub fn budget_svg(title: &str, months: &[BudgetMonth], run_rate: Option<f64>, commitments: f64) -> String {
    let highest = months
        .iter()
        .flat_map(|m| [m.budget_cumulative, m.actual_cumulative])
        .chain(run_rate)
        .chain([commitments])
        .fold(0.0f64, f64::max)
        .max(1.0);
    let y_max = round_top(highest);
    let width = WIDTH * 2.0;
    let (left, right) = (LEFT + 30.0, RIGHT + 50.0);
    let plot_w = width - left - right;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / 12.0;
    let x = |month0: usize| left + slot * (month0 as f64 + 0.5);
    let y = |v: f64| TOP + plot_h * (1.0 - v.max(0.0) / y_max);
    let budget_year = months.last().map_or(0.0, |m| m.budget_cumulative);
    let actual = months.iter().rev().find(|m| m.closed).map(|m| m.actual_cumulative);
    let desc = format!(
        "{title}: budget akkumuleret måned for måned, i alt {}; forbrug i de afsluttede måneder {}; prognose efter \
         bindinger {}; prognose efter forbrugstakt {}",
        da::kroner(budget_year),
        actual.map_or_else(|| "–".to_string(), da::kroner),
        da::kroner(commitments),
        run_rate.map_or_else(|| "–".to_string(), da::kroner)
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="trend budget" viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(&desc),
        escape(&desc)
    );
    whole_number_grid(&mut s, (left, width - right), y_max, 5, y);
    const LETTERS: [&str; 12] = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];
    for (i, label) in LETTERS.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#555">{label}</text>"##,
            x(i),
            HEIGHT - 8.0
        );
    }
    // The actual through the closed months as bars, red where it is above the budget.
    for (i, m) in months.iter().enumerate().filter(|(_, m)| m.closed) {
        let top = y(m.actual_cumulative);
        let fill = if m.actual_cumulative > m.budget_cumulative { "#d9a3a0" } else { "#a9c4de" };
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
            x(i) - slot * 0.35,
            slot * 0.7,
            (TOP + plot_h - top).max(0.0)
        );
    }
    let line: Vec<String> =
        months.iter().enumerate().map(|(i, m)| format!("{:.1},{:.1}", x(i), y(m.budget_cumulative))).collect();
    let _ = write!(s, r##"<polyline points="{}" fill="none" stroke="#1f4e79" stroke-width="2"/>"##, line.join(" "));
    // The forecasts at December, green within the budget and red above it; the higher
    // one's label above its mark, the other's below, so close forecasts stay readable.
    let colour = |v: f64| if v <= budget_year { "#1e7b34" } else { "#b3261e" };
    let dec = x(11);
    let commitments_higher = run_rate.is_none_or(|r| commitments >= r);
    let label_y = |v: f64, above: bool| if above { y(v) - 6.0 } else { y(v) + 12.0 };
    let _ = write!(s, r#"<circle cx="{dec:.1}" cy="{:.1}" r="4.5" fill="{}"/>"#, y(commitments), colour(commitments));
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#333">bindinger</text>"##,
        dec + 8.0,
        label_y(commitments, commitments_higher)
    );
    if let Some(r) = run_rate {
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="{}"/>"#,
            dec - 4.0,
            y(r) - 4.0,
            colour(r)
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#333">takt</text>"##,
            dec + 8.0,
            label_y(r, !commitments_higher)
        );
    }
    s.push_str("</svg>");
    s
}
