//! The weekly report (docs/report.md): figures on the page and in the workbook against the KPI
//! table, hand-worked overdue lists and deadlines, golden tables of the sample export,
//! ISO-week edge cases, empty units, safe file names and no CPR anywhere.

mod layout;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use chrono::NaiveDate;
use cwkpi::kpi::KpiRow;
use cwkpi::report::{IsoWeek, da, file_stem, write_reports};
use cwkpi::{Catalog, CheckedExport, EngineOptions, Rules};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn week(s: &str) -> IsoWeek {
    s.parse().unwrap()
}

/// Imports a folder of CSV files into a Parquet export under `tmp` and loads it.
fn load_csv(csv_dir: &Path, tmp: &Path) -> CheckedExport {
    let parquet = tmp.join("export");
    cwkpi::import::import_csv_export(csv_dir, &parquet).unwrap();
    CheckedExport::load(&parquet).unwrap()
}

/// Writes the given CSV tables into `tmp/csv` and loads them as an export.
fn export_from(tables: &[(&str, &str)], tmp: &Path) -> CheckedExport {
    let csv = tmp.join("csv");
    std::fs::create_dir_all(&csv).unwrap();
    for (name, text) in tables {
        std::fs::write(csv.join(format!("{name}.csv")), text).unwrap();
    }
    load_csv(&csv, tmp)
}

/// Writes the report for `week` into `tmp/<name>` and returns that folder.
async fn report(export: &CheckedExport, week: IsoWeek, tmp: &Path, name: &str) -> PathBuf {
    report_with(export, Rules::builtin(), week, tmp, name).await
}

/// As `report`, under the given rules.
async fn report_with(export: &CheckedExport, rules: Rules, week: IsoWeek, tmp: &Path, name: &str) -> PathBuf {
    let out = tmp.join(name);
    std::fs::create_dir_all(&out).unwrap();
    let mut catalog =
        Catalog::new(export, rules, &week.sundays_back(cwkpi::report::TREND_WEEKS), &EngineOptions::default())
            .await
            .unwrap();
    let summary = write_reports(&mut catalog, week, &out, &[]).await.unwrap();
    assert!(summary.units > 0 && summary.files > 0);
    out
}

async fn kpi_rows(export: &CheckedExport, as_of: NaiveDate) -> Vec<KpiRow> {
    let catalog = Catalog::new(export, Rules::builtin(), &[as_of], &EngineOptions::default()).await.unwrap();
    catalog.kpi_rows().await.unwrap()
}

/// A CSV file as rows of column → value.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

/// Picks `columns` of the rows where `unit_id` is `unit`, joined with `|`.
fn slice(rows: &[HashMap<String, String>], unit: &str, columns: &[&str]) -> Vec<String> {
    rows.iter()
        .filter(|r| r["unit_id"] == unit)
        .map(|r| columns.iter().map(|c| r[*c].as_str()).collect::<Vec<_>>().join("|"))
        .collect()
}

/// The part of a page from the heading with id `from` to the end of its section.
fn section<'a>(html: &'a str, from: &str) -> &'a str {
    let Some(start) = html.find(&format!("id=\"{from}\"")) else { return "" };
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The KPI table of a unit page (section Nøgletal): (kpi_id, numerator, denominator, share)
/// from the `data-kpi` rows and their `data-value` attributes.
fn html_kpis(html: &str) -> Vec<(String, i64, i64, Option<f64>)> {
    kpi_rows_in(section(html, "kpi-h"))
}

/// The `data-kpi` rows of a part of a page.
fn kpi_rows_in(html: &str) -> Vec<(String, i64, i64, Option<f64>)> {
    let value = |row: &str, field: &str| -> String {
        let at = row.find(&format!("data-field=\"{field}\" data-value=\"")).unwrap() + field.len() + 26;
        row[at..].split('"').next().unwrap().to_string()
    };
    html.split("<tr data-kpi=\"")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap()];
            let id = row.split('"').next().unwrap().to_string();
            let share = value(row, "share");
            (
                id,
                value(row, "numerator").parse().unwrap(),
                value(row, "denominator").parse().unwrap(),
                if share.is_empty() { None } else { Some(share.parse().unwrap()) },
            )
        })
        .collect()
}

/// One Excel table of a workbook as rows of header → cell.
fn xlsx_table(path: &Path, table: &str) -> Vec<HashMap<String, Data>> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    wb.load_tables().unwrap();
    let t = wb.table_by_name(table).unwrap();
    let columns = t.columns().to_vec();
    t.data().rows().map(|r| columns.iter().cloned().zip(r.iter().cloned()).collect()).collect()
}

fn number(d: &Data) -> Option<f64> {
    match d {
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        Data::Empty => None,
        other => panic!("expected a number, got {other:?}"),
    }
}

/// Checks every unit's page and workbook against `Catalog::kpi_rows()` for the week's Sunday.
async fn assert_figures_match(export: &CheckedExport, out: &Path, week: IsoWeek) {
    let rows = kpi_rows(export, week.sunday()).await;
    assert!(!rows.is_empty());
    let mut by_unit: HashMap<&str, Vec<&KpiRow>> = HashMap::new();
    for r in &rows {
        by_unit.entry(r.unit_id.as_str()).or_default().push(r);
    }
    for (unit, expected) in by_unit {
        let stem = file_stem(unit);
        let html = std::fs::read_to_string(out.join(format!("{stem}.html"))).unwrap();
        let page = html_kpis(&html);
        let in_section = |k: &&KpiRow| da::section_of(&k.kpi_id).is_some();
        if html.contains("<strong>Ingen sager.</strong>") {
            // A unit without cases shows no KPI table; its case figures must all be empty.
            assert!(page.is_empty());
            assert!(
                expected.iter().filter(|k| !in_section(k)).all(|k| k.denominator == 0 && k.share.is_none()),
                "{unit}"
            );
        } else {
            let want: Vec<(String, i64, i64, Option<f64>)> =
                expected.iter().map(|k| (k.kpi_id.clone(), k.numerator, k.denominator, k.share)).collect();
            assert_eq!(page, want, "HTML of unit {unit}");
            // Each KPI's label links to how it is counted, explained in Danish at the end.
            let how = section(&html, "how-h");
            assert!(how.contains("Sådan beregnes tallet"), "{unit}");
            for (id, ..) in &page {
                assert!(html.contains(&format!("href=\"#beregning-{id}\"")), "{unit}: {id} has no link");
                let entry = how.split(&format!("<dt id=\"beregning-{id}\">")).nth(1);
                let entry = entry.unwrap_or_else(|| panic!("{unit}: {id} is not explained"));
                let text = entry.split("<dd>").nth(1).and_then(|d| d.split("</dd>").next()).unwrap_or_default();
                assert!(text.starts_with("Nævner: ") || text.starts_with("Tæller: "), "{unit} {id}: {text}");
            }
        }
        // Every page has the sections of plan items 12 and 13 and notifications: their rows
        // agree with the KPI table, or the section says there is nothing (no data, nothing
        // to measure) and the figures are indeed all zero.
        for sec in &da::SECTIONS {
            let part = section(&html, &format!("{}-h", sec.key));
            assert!(!part.is_empty(), "{unit}: no section {}", sec.key);
            let want: Vec<(String, i64, i64, Option<f64>)> = expected
                .iter()
                .filter(|k| sec.kpis.contains(&k.kpi_id.as_str()))
                .map(|k| (k.kpi_id.clone(), k.numerator, k.denominator, k.share))
                .collect();
            assert_eq!(want.len(), sec.kpis.len(), "{unit} {}", sec.key);
            let rows = kpi_rows_in(part);
            if part.contains("Ingen data: ") || part.contains("Intet at måle: ") {
                assert!(rows.is_empty(), "{unit} {}", sec.key);
                assert!(want.iter().all(|(_, n, d, _)| *n == 0 && *d == 0), "{unit} {}: {want:?}", sec.key);
            } else {
                assert_eq!(rows, want, "{unit}: section {}", sec.key);
            }
        }
        let sheet = xlsx_table(&out.join(format!("{stem}.xlsx")), "KPI");
        assert_eq!(sheet.len(), expected.len(), "workbook of unit {unit}");
        // The overview goes tile by tile, each tile's KPIs in the order its tile leads with.
        let sheet_order: Vec<String> = sheet
            .iter()
            .map(|c| match &c["Nøgletal-id"] {
                Data::String(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        let tile_order: Vec<String> =
            expected_tiles(&expected).into_iter().flat_map(|t| t.into_iter().map(|k| k.kpi_id.clone())).collect();
        assert_eq!(sheet_order, tile_order, "workbook of unit {unit}");
        for cells in &sheet {
            let k = expected.iter().find(|k| cells["Nøgletal-id"] == Data::String(k.kpi_id.clone())).unwrap();
            assert_eq!(number(&cells["Tæller"]), Some(k.numerator as f64), "{unit} {}", k.kpi_id);
            assert_eq!(number(&cells["Nævner"]), Some(k.denominator as f64), "{unit} {}", k.kpi_id);
            assert_eq!(number(&cells["Andel"]), k.share, "{unit} {}", k.kpi_id);
            assert_eq!(number(&cells["Mål"]), Some(k.target), "{unit} {}", k.kpi_id);
            let status = match k.met {
                Some(true) => "Opfyldt",
                Some(false) => "Ikke opfyldt",
                None => "Intet at måle",
            };
            assert_eq!(cells["Status"], Data::String(status.into()), "{unit} {}", k.kpi_id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// ISO weeks

#[test]
fn week_parsing_edge_cases() {
    // 2026 has 53 ISO weeks: week 53 runs 28 Dec 2026 – 3 Jan 2027.
    let w53 = week("2026-W53");
    assert_eq!(w53.monday(), date("2026-12-28"));
    assert_eq!(w53.sunday(), date("2027-01-03"));
    assert_eq!(w53.to_string(), "2026-W53");
    // Week 1 of 2027 starts on Monday 4 January.
    let w01 = week("2027-W01");
    assert_eq!(w01.monday(), date("2027-01-04"));
    assert_eq!(w01.minus(1), w53);
    assert_eq!(IsoWeek::of(date("2027-01-03")), w53);
    // A late-December day can belong to week 1 of the next year.
    assert_eq!(IsoWeek::of(date("2024-12-30")).to_string(), "2025-W01");
    // Accepted spellings.
    assert_eq!(week("2026-w47"), week("2026-W47"));
    assert_eq!(week("2026W47"), week("2026-W47"));
    assert_eq!(week(" 2026-W7 ").to_string(), "2026-W07");
    assert_eq!(week("2026-W47").sunday(), date("2026-11-22"));
    // The 13 Sundays of a report across the year boundary.
    let sundays = week("2027-W02").sundays_back(13);
    assert_eq!(sundays.first(), Some(&date("2026-10-25")));
    assert_eq!(sundays.last(), Some(&date("2027-01-17")));
    assert!(sundays.windows(2).all(|w| (w[1] - w[0]).num_days() == 7));
    // Default week: the last complete one (Copenhagen date given by the caller); on a
    // Sunday that week is still running.
    assert_eq!(IsoWeek::last_complete_before(date("2026-11-23")).to_string(), "2026-W47");
    assert_eq!(IsoWeek::last_complete_before(date("2026-11-22")).to_string(), "2026-W46");
    assert_eq!(week("2026-W53").plus(1), week("2027-W01"));
    assert_eq!(IsoWeek::last_complete_before(date("2027-01-04")).to_string(), "2026-W53");

    // Invalid input names what is wrong and never panics.
    for bad in [
        "2025-W53",
        "2026-W00",
        "2026-W54",
        "2026-47",
        "",
        "W47",
        "abcd-W01",
        "2026-W4 7",
        "26-W47",
        "2026-W123",
        "2026-W-1",
    ] {
        let err = bad.parse::<IsoWeek>().expect_err(bad).to_string();
        assert!(err.contains("week") || err.contains("ISO"), "{bad}: {err}");
    }
    assert!("2025-W53".parse::<IsoWeek>().unwrap_err().to_string().contains("1–52"));
}

#[test]
fn danish_formats_file_names_and_chart() {
    use cwkpi::report::chart::{Point, trend_svg};

    assert_eq!(da::percent(Some(0.9743589743589743)), "97,4 %");
    assert_eq!(da::percent(None), "–");
    assert_eq!(da::target(0.95), "95 %");
    assert_eq!(da::target(0.925), "92,5 %");
    assert_eq!(da::change_pp(Some(-3.04)), "−3,0 pp");
    assert_eq!(da::change_pp(Some(0.01)), "±0,0 pp");
    assert_eq!(da::integer(1234567), "1.234.567");
    assert_eq!(da::money(12345.5), "12.345,50 kr.");
    assert_eq!(da::money(-1234.25), "−1.234,25 kr.");
    assert_eq!(da::money(-0.5), "−0,50 kr.");
    assert_eq!(da::elements("investigated;plan"), "Børnefaglig undersøgelse eller målgruppeafklaring, Handleplan");
    assert_eq!(da::week_short("2026-W08"), "uge 8");
    assert_eq!(da::long_date(date("2026-11-22")), "22. november 2026");

    // Unit ids become safe, distinct file names; reserved names are escaped too.
    assert_eq!(file_stem("U0005"), "U0005");
    assert_eq!(file_stem("A/B C"), "A~2FB~20C");
    assert_eq!(file_stem("../x"), "~2E~2E~2Fx");
    assert_eq!(file_stem("Ø"), "~C3~98");
    assert_eq!(file_stem("index"), "~69ndex");
    assert_eq!(file_stem("COM1"), "~43OM1");
    assert_ne!(file_stem("a~2F"), file_stem("a/"));
    assert_eq!(file_stem(""), "~");

    // A week with nothing to measure breaks the line; the target is a dashed line.
    let points: Vec<Point> = [Some(0.9), Some(0.96), None, Some(0.97), Some(1.0)]
        .into_iter()
        .enumerate()
        .map(|(i, share)| Point { label: (40 + i).to_string(), share })
        .collect();
    let svg = trend_svg("Handleplan foreligger", &points, 0.95, false);
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert_eq!(svg.matches("<circle").count(), 4);
    assert!(svg.contains("stroke-dasharray") && svg.contains("mål 95 %"));
    assert!(svg.contains(
        "<title>Handleplan foreligger: andel pr. uge fra uge 40 til uge 44. Seneste andel 100,0 %, mål 95 %.</title>"
    ));
    // Met at or above the target: one red dot (90 %), three green.
    assert_eq!((svg.matches("#b3261e\"/>").count(), svg.matches("#1e7b34\"/>").count()), (1, 3));

    // Complaints: lower is better, so the dots at or below the target are green, and a
    // share above 100 % stays on the axis, which then reaches above 100 %.
    let points: Vec<Point> = [Some(0.5), Some(0.9), Some(1.5)]
        .into_iter()
        .enumerate()
        .map(|(i, share)| Point { label: (40 + i).to_string(), share })
        .collect();
    let svg = trend_svg("Klager over realitet mod basisår", &points, 0.9, true);
    assert_eq!((svg.matches("#b3261e\"/>").count(), svg.matches("#1e7b34\"/>").count()), (1, 2));
    assert!(svg.contains("mål ≤ 90 %") && svg.contains("Lavere er bedre.") && svg.contains(">160 %<"), "{svg}");

    // Direction of a change: a fall is an improvement where lower is better.
    assert_eq!(da::change_direction(Some(2.0), false), ("better", "forbedring"));
    assert_eq!(da::change_direction(Some(2.0), true), ("worse", "forværring"));
    assert_eq!(da::change_direction(Some(-2.0), true), ("better", "forbedring"));
    assert_eq!(da::change_direction(Some(0.01), true), ("", ""));
    assert_eq!(da::change_direction(None, false), ("", ""));
    assert_eq!(da::target_rule(0.9, true), "≤ 90 %");
    assert_eq!(da::target_rule(0.95, false), "95 %");
}

// ---------------------------------------------------------------------------------------
// The follow-up export of tests/slt

#[tokio::test(flavor = "multi_thread")]
async fn follow_ups_export_figures_and_overdue_follow_ups() {
    let tmp = tempfile::tempdir().unwrap();
    let export = load_csv(&root().join("tests/slt/follow_ups"), tmp.path());
    // Week 26 of 2026 ends on Sunday 2026-06-28, two days before the slt's as-of date.
    let w = week("2026-W26");
    let out = report(&export, w, tmp.path(), "report").await;
    assert_figures_match(&export, &out, w).await;

    // Overdue follow-ups of D2 at 2026-06-28, worked from tests/slt/follow_ups.slt:
    //   M13 and M14: active (they end 29/30 June, after T), never followed up:
    //       2025-01-01 + 3 months = 2025-04-01, 453 days before T (365 + 88);
    //   M11y: BL:32 from 2026-01-01, F11 was for M11x only: due 2026-04-01, 88 days;
    //   M15: its case closes 2026-06-29, so it is still active at T: due 2026-04-01, 88 days;
    //   M10: the follow-up on 2026-07-01 is after T: due 2026-04-15, 74 days;
    //   M9: the case-wide follow-up predates the start: 2026-03-01 + 3 m = 2026-06-01, 27 days;
    //   M17: the case-wide follow-up set next_due_on 2026-06-15: 13 days;
    //   M18: latest follow-up 2025-12-20 set nothing: + 6 months = 2026-06-20, 8 days.
    // Equal days sort by case id. M16 (due 2026-07-15) is not overdue.
    let overdue = read_csv(&out.join("tables/overdue.csv"));
    let follow_ups: Vec<String> = slice(&overdue, "D2", &["kind", "case_id", "item_id", "due_on", "days_overdue"])
        .into_iter()
        .filter(|r| r.starts_with("follow_up_overdue|"))
        .map(|r| r.trim_start_matches("follow_up_overdue|").to_string())
        .collect();
    assert_eq!(
        follow_ups,
        [
            "C13|M13|2025-04-01|453",
            "C14|M14|2025-04-01|453",
            "C11|M11y|2026-04-01|88",
            "C15|M15|2026-04-01|88",
            "C10|M10|2026-04-15|74",
            "C9|M9|2026-06-01|27",
            "C17|M17|2026-06-15|13",
            "C18|M18|2026-06-20|8",
        ]
    );
    // In T1 nothing is overdue yet: M2, M5 and M6 fall due on 2026-06-29, the day after T,
    // so they are the first deadlines of week 27 instead, with M1 and M4 (2026-06-30) and
    // M8 (next_due_on 2026-07-15, week 29). M3 (2026-08-27) is beyond the 4 weeks.
    assert!(slice(&overdue, "T1", &["kind"]).iter().all(|k| k != "follow_up_overdue"));
    let deadlines = read_csv(&out.join("tables/deadlines.csv"));
    let coming: Vec<String> =
        slice(&deadlines, "T1", &["kind", "case_id", "due_on", "due_week", "weeks_ahead", "days_left"])
            .into_iter()
            .filter(|r| r.starts_with("follow_up_due|"))
            .map(|r| r.trim_start_matches("follow_up_due|").to_string())
            .collect();
    assert_eq!(
        coming,
        [
            "C2|2026-06-29|2026-W27|1|1",
            "C5|2026-06-29|2026-W27|1|1",
            "C6|2026-06-29|2026-W27|1|1",
            "C1|2026-06-30|2026-W27|1|2",
            "C4|2026-06-30|2026-W27|1|2",
            "C8|2026-07-15|2026-W29|3|17",
        ]
    );
    // The overdue follow-ups are exactly the follow_up_on_time misses: D2 has 1 of 9 on time.
    let d2 = kpi_rows(&export, w.sunday())
        .await
        .into_iter()
        .find(|k| k.unit_id == "D2" && k.kpi_id == "follow_up_on_time")
        .unwrap();
    assert_eq!((d2.numerator, d2.denominator), (1, 9));
}

// ---------------------------------------------------------------------------------------
// A small export made for the report

/// Week 26 of 2026 (Monday 22 June – Sunday 28 June) is the report week.
/// ORG > CEN > {AFD > T1, "X/2", TOM}; TOM has no cases; "X/2" checks file-name escaping.
const SMALL: &[(&str, &str)] = &[
    (
        "units",
        "unit_id,name,parent_id\nORG,Forvaltningen,\nCEN,Center Nord,ORG\nAFD,Afdeling Nord,CEN\nT1,Team 1,AFD\nX/2,Afdeling Syd,CEN\nTOM,Tom afdeling,CEN\n",
    ),
    ("caseworkers", "caseworker_id,name,unit_id\nW1,Anna Hansen,T1\nW2,Bo Jensen,AFD\nW3,Carl Nielsen,X/2\n"),
    // Invented CPR-shaped values (day 32–34 exists in no real number); they must never appear.
    (
        "children",
        "child_id,birth_date,cpr\nK1,2015-06-29,320615-1111\nK2,2010-06-28,330610-2222\nK3,2020-02-29,340220-3333\n",
    ),
    (
        "cases",
        "case_id,child_id,unit_id,caseworker_id,opened_on,closed_on\n\
         S1,K1,T1,W1,2025-01-01,\n\
         S2,K2,AFD,W2,2025-01-01,\n\
         S3,K3,X/2,W3,2025-01-01,\n\
         S4,K1,AFD,,2026-01-01,\n\
         S5,K2,T1,W1,2024-01-01,2026-05-01\n",
    ),
    (
        "measures",
        "measure_id,case_id,paragraph,started_on,ended_on,decided_on\n\
         M1,S1,SEL:52.3.7,2026-03-01,,\n\
         M2,S2,BL:32.1.3,2026-05-10,,2026-04-05\n\
         M3,S3,SEL:52.3,2026-01-15,,\n\
         M4,S4,SEL:76,2026-06-10,,\n\
         M5,S1,SEL:41,2026-01-01,,\n\
         M6,S4,BL:46,2026-06-28,,\n",
    ),
    (
        "investigations",
        "investigation_id,case_id,started_on,completed_on,aware_on\n\
         I1,S1,2026-02-01,,2026-01-20\n\
         I2,S2,2026-03-26,,\n\
         I3,S3,2026-03-10,,\n\
         I4,S5,2026-01-05,,\n\
         I5,S2,2026-01-10,2026-06-24,\n\
         I6,S4,2026-03-27,,\n\
         I7,S4,2026-06-23,,\n",
    ),
    ("action_plans", "plan_id,case_id,created_on\nP1,S1,2026-02-20\nP4,S4,2026-06-12\nP6,S1,2026-06-22\n"),
    (
        "follow_ups",
        "follow_up_id,case_id,performed_on,measure_id,next_due_on\nF1,S1,2026-03-20,M1,2026-06-20\nF2,S4,2026-06-25,,\n",
    ),
];

const SMALL_CPR: [&str; 3] = ["320615-1111", "330610-2222", "340220-3333"];

#[tokio::test(flavor = "multi_thread")]
async fn small_export_overdue_deadlines_caseworkers_and_production() {
    let tmp = tempfile::tempdir().unwrap();
    let export = export_from(SMALL, tmp.path());
    let w = week("2026-W26");
    let out = report(&export, w, tmp.path(), "report").await;
    assert_figures_match(&export, &out, w).await;

    // KPIs at T = 2026-06-28 for the whole organisation, by hand:
    //   plan_coverage 2/3: S1 (M1 due at its start 03-01, plan P1 02-20) and S4 (M4 due 06-10,
    //     plan P4 06-12) have plans; S3 (M3 due 01-15) has none; S2's M2 is due 07-05, after T.
    //   plan_on_time 1/3: M1 on time; M3 never; M4's plan came two days late.
    //   follow_up_on_time 2/4: S1 (M1's set date 06-20 passed) and S3 (M3 never followed up)
    //     are late; S2 (M2 due 08-10) and S4 (F2 06-25 → 12-25; M6 from 06-28 → 09-28) are not.
    //   investigation_within_limit 4/6: I1 (clock from aware_on 01-20 → 05-20) and I4 (→ 05-05)
    //     are past the limit; I4's case closed on 05-01, but the investigation is still open.
    //   investigation_completed_within_limit 0/1: I5 completed 06-24, due 05-10.
    let org: Vec<(String, i64, i64)> = kpi_rows(&export, w.sunday())
        .await
        .into_iter()
        .filter(|k| k.unit_id == "ORG")
        .map(|k| (k.kpi_id, k.numerator, k.denominator))
        .collect();
    let expected = [
        ("plan_coverage", 2, 3),
        ("plan_on_time", 1, 3),
        ("follow_up_on_time", 2, 4),
        ("investigation_within_limit", 4, 6),
        ("investigation_completed_within_limit", 0, 1),
        // The export has none of the further tables: their figures have zero denominators.
        ("decision_within_deadline", 0, 0),
        ("delay_letter_sent", 0, 0),
        ("notification_assessed_in_time", 0, 0),
        ("notification_receipt_confirmed", 0, 0),
        ("complaints_formalitet", 0, 0),
        ("complaints_realitet", 0, 0),
        ("lawful_case", 0, 0),
        ("budget_forecast", 0, 0),
    ];
    assert_eq!(org, expected.map(|(k, n, d)| (k.to_string(), n, d)));

    // Overdue items, worst first:
    //   S3 plan missing: M3 needs a plan before its start 2026-01-15; 164 days by 06-28.
    //   S3 follow-up: M3 started 01-15, never followed up: due 04-15, 74 days.
    //   S5 investigation I4: started 01-05, limit 4 months → 05-05, 54 days (closed case).
    //   S1 investigation I1: aware_on 01-20 starts the clock → 05-20, 39 days.
    //   S1 follow-up: F1 set next_due_on 06-20 for M1, 8 days.
    // Ages at 06-28: K3 (born 2020-02-29) is 6; K2 turns 16 on the day; K1 turns 11 tomorrow.
    let overdue = read_csv(&out.join("tables/overdue.csv"));
    let columns =
        ["case_id", "case_unit_id", "caseworker_name", "child_age", "kind", "item_id", "due_on", "days_overdue"];
    let all = [
        "S3|X/2|Carl Nielsen|6|plan_missing|M3|2026-01-15|164",
        "S3|X/2|Carl Nielsen|6|follow_up_overdue|M3|2026-04-15|74",
        "S5|T1|Anna Hansen|16|investigation_overdue|I4|2026-05-05|54",
        "S1|T1|Anna Hansen|10|investigation_overdue|I1|2026-05-20|39",
        "S1|T1|Anna Hansen|10|follow_up_overdue|M1|2026-06-20|8",
    ];
    assert_eq!(slice(&overdue, "ORG", &columns), all);
    assert_eq!(slice(&overdue, "CEN", &columns), all);
    // A department's list holds its own and its teams' cases only.
    assert_eq!(slice(&overdue, "AFD", &columns), all[2..]);
    assert_eq!(slice(&overdue, "T1", &columns), all[2..]);
    assert_eq!(slice(&overdue, "X/2", &columns), all[..2]);
    assert!(slice(&overdue, "TOM", &columns).is_empty());

    // Deadlines 06-29 … 07-26: M2's plan (decided 04-05 + 3 months = 07-05, week 27), I3
    // (03-10 + 4 months = 07-10, week 28) and I2 (03-26 → 07-26, the last day, week 30).
    // I6 (→ 07-27) is one day beyond the 4 weeks.
    let deadlines = read_csv(&out.join("tables/deadlines.csv"));
    assert_eq!(
        slice(
            &deadlines,
            "ORG",
            &[
                "case_id",
                "caseworker_name",
                "child_age",
                "kind",
                "item_id",
                "due_on",
                "due_week",
                "weeks_ahead",
                "days_left"
            ]
        ),
        [
            "S2|Bo Jensen|16|plan_due|M2|2026-07-05|2026-W27|1|7",
            "S3|Carl Nielsen|6|investigation_deadline|I3|2026-07-10|2026-W28|2|12",
            "S2|Bo Jensen|16|investigation_deadline|I2|2026-07-26|2026-W30|4|28",
        ]
    );

    // Caseworkers of the organisation: W1 holds S1 (active) and S5 (closed, with the open I4);
    // S4 has no caseworker.
    let caseworkers = read_csv(&out.join("tables/caseworkers.csv"));
    let cw_columns = [
        "caseworker_id",
        "active_cases",
        "open_investigations",
        "overdue_items",
        "plan_coverage_numerator",
        "plan_coverage_denominator",
        "follow_up_on_time_numerator",
        "follow_up_on_time_denominator",
        "investigation_within_limit_numerator",
        "investigation_within_limit_denominator",
    ];
    assert_eq!(
        slice(&caseworkers, "ORG", &cw_columns),
        ["W1|1|2|3|1|1|0|1|0|2", "W2|1|1|0|0|0|1|1|1|1", "W3|1|1|2|0|1|0|1|1|1", "|1|2|0|1|1|1|1|2|2"]
    );
    // Carl Nielsen works in X/2 only, so Afdeling Nord's report does not list him.
    assert_eq!(slice(&caseworkers, "AFD", &["caseworker_id"]), ["W1", "W2", ""]);

    // Production in week 26: I7 started 06-23, I5 completed 06-24, P6 made 06-22, F2 on
    // 06-25, M6 started on Sunday 06-28. Week 25 had nothing.
    let production = read_csv(&out.join("tables/production.csv"));
    let prod_columns = [
        "week",
        "investigations_started",
        "investigations_completed",
        "action_plans_created",
        "follow_ups_performed",
        "measures_started",
    ];
    let org_weeks = slice(&production, "ORG", &prod_columns);
    assert_eq!(org_weeks.len(), 12);
    assert_eq!(org_weeks[11], "2026-W26|1|1|1|1|1");
    assert_eq!(org_weeks[10], "2026-W25|0|0|0|0|0");
    assert_eq!(org_weeks[0].split('|').next(), Some("2026-W15"));

    // The page shows the same list, worst first, with who holds each case.
    let page = std::fs::read_to_string(out.join("ORG.html")).unwrap();
    let listed = section(&page, "overdue-h");
    let positions: Vec<usize> = ["164", "74", "54", "39", "8"]
        .iter()
        .map(|d| listed.find(&format!("days\">{d}<")).unwrap_or_else(|| panic!("{d} days not on the page")))
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]));
    assert!(listed.contains("Carl Nielsen") && listed.contains("Anna Hansen"));
    // The status tiles say in words whether each goal is met.
    for goal in ["Handleplaner", "Opfølgning", "Undersøgelser"] {
        assert!(page.contains(&format!("aria-label=\"{goal}: Målet er ikke opfyldt\"")), "{goal}");
    }
    // A tile stands for its plan item: it leads with the KPI that fails worst (plans on time,
    // 1 of 3, before plan coverage, 2 of 3) and names the item's other KPI under it.
    let tiles = &page[page.find("id=\"goals-h\"").unwrap()..page.find("class=\"facts\"").unwrap()];
    assert!(tiles.contains("data-lead=\"plan_on_time\"") && tiles.contains("Handleplan foreligger: 66,7 %"), "{tiles}");
    assert!(
        tiles.contains("Afsluttede undersøgelser inden for frist")
            && tiles.contains("Åbne undersøgelser inden for frist"),
        "{tiles}"
    );

    // The workbook holds the same list, numbers as numbers and dates as dates.
    let sheet = xlsx_table(&out.join("ORG.xlsx"), "Forsinkede");
    assert_eq!(sheet.len(), 5);
    assert_eq!(sheet[0]["Sag"], Data::String("S3".into()));
    assert_eq!(number(&sheet[0]["Dage over frist"]), Some(164.0));
    assert_eq!(number(&sheet[0]["Barnets alder"]), Some(6.0));
    match &sheet[0]["Frist"] {
        Data::DateTime(d) => assert_eq!(d.as_f64(), 46037.0), // 2026-01-15 as an Excel serial
        other => panic!("due date is not a date: {other:?}"),
    }

    // Unit ids become safe file names, and the index links to them.
    assert!(out.join("X~2F2.html").is_file() && out.join("X~2F2.xlsx").is_file());
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("href=\"X~2F2.html\""));

    // A unit without cases gets a page that says so, and a valid workbook.
    let empty = std::fs::read_to_string(out.join("TOM.html")).unwrap();
    assert!(empty.contains("Ingen sager."));
    assert_eq!(xlsx_table(&out.join("TOM.xlsx"), "KPI").len(), cwkpi::kpi::DEFINITIONS.len());

    // Without the further tables each section says so in a sentence, on every page (also
    // the one without cases), and the workbook's sheets say it too; no breaches are listed.
    for unit in ["ORG", "AFD", "TOM"] {
        let page = std::fs::read_to_string(out.join(format!("{unit}.html"))).unwrap();
        assert!(section(&page, "frister-h").contains("Ingen data: udtrækket har ingen ansøgninger"), "{unit}");
        assert!(
            section(&page, "underretninger-h").contains("Ingen data: udtrækket har ingen underretninger"),
            "{unit}"
        );
        assert!(section(&page, "klager-h").contains("Ingen data: udtrækket har ingen klager"), "{unit}");
        assert!(section(&page, "lovmedholdelighed-h").contains("Ingen data: udtrækket har ingen sagsskridt"), "{unit}");
        assert!(!section(&page, "frister-h").contains("<table"), "{unit}");
    }
    let tiles = &page[page.find("class=\"items\"").unwrap()..page.find("class=\"facts\"").unwrap()];
    assert_eq!(tiles.matches("Ingen data").count(), da::SECTIONS.len() * 2, "{tiles}");
    let mut wb: Xlsx<_> = open_workbook(out.join("AFD.xlsx")).unwrap();
    let note = wb.worksheet_range("Underretninger").unwrap().get_value((1, 0)).cloned();
    assert_eq!(
        note,
        Some(Data::String("Ingen data: udtrækket har ingen underretninger (tabellen notifications).".into()))
    );
    assert!(read_csv(&out.join("tables/breaches.csv")).is_empty());

    // Analysts get the report's list from the view with the same filter.
    let catalog =
        Catalog::new(&export, Rules::builtin(), &w.sundays_back(13), &EngineOptions::default()).await.unwrap();
    let batches = catalog
        .query("SELECT case_id FROM report_overdue WHERE unit_id = 'AFD' AND as_of = DATE '2026-06-28' ORDER BY days_overdue DESC")
        .await
        .unwrap();
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column(0), &DataType::Utf8).unwrap();
            (0..c.len()).map(move |i| c.as_string::<i32>().value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, ["S5", "S1", "S1"]);

    assert_no_cpr(&out, &SMALL_CPR.map(String::from));
}

// ---------------------------------------------------------------------------------------
// The further tables: plan item 12 (case-processing deadlines), notifications, plan item 13

/// Applications, notifications and complaints for SMALL, report week 2026-W26 (T = 06-28;
/// W = 2025-06-29 … 2026-06-28, the baseline B = 2024-06-29 … 2025-06-28).
const FURTHER: &[(&str, &str)] = &[
    (
        "decisions",
        "decision_id,case_id,paragraph,applied_on,decided_on,outcome,delay_letter_on\n\
         D1,S1,SEL:41,2026-03-02,2026-04-20,bevilget,\n\
         D2,S2,SEL:41.1,2026-03-16,,,2026-05-05\n\
         D3,S3,BL:32.1.3,2026-02-10,,,\n\
         D4,S4,SEL:41,2026-04-06,2026-06-30,afslag,2026-06-10\n\
         D5,S5,SEL:42,2026-01-05,2026-03-10,bevilget,2026-02-20\n\
         D6,S1,SEL:76,2026-01-01,,,\n\
         D7,S2,SEL:41,2026-06-20,,,\n\
         D8,S1,BL:32,2025-01-10,,,\n",
    ),
    (
        "notifications",
        "notification_id,unit_id,received_at,assessed_at,professional,receipt_confirmed_on,child_id,case_id\n\
         N1,T1,2026-06-01T09:00:00,2026-06-01T15:00:00,true,2026-06-03,K1,S1\n\
         N2,AFD,2026-06-10T10:00:00,2026-06-11T11:00:00,false,,,\n\
         N3,X/2,2026-06-27T20:00:00,,true,,K3,\n\
         N4,TOM,2026-05-04T08:00:00,2026-05-04T12:00:00,true,2026-05-20,,\n\
         N5,T1,2026-06-28T22:00:00,,false,,,\n",
    ),
    (
        "complaints",
        "complaint_id,unit_id,received_on,kind,case_id\n\
         Q1,AFD,2026-03-01,formalitet,S2\n\
         Q2,AFD,2024-09-01,formalitet,\n\
         Q3,T1,2025-01-15,formalitet,S1\n\
         Q4,X/2,2025-02-01,formalitet,\n\
         Q5,T1,2026-06-28,realitet,S1\n\
         Q6,X/2,2025-06-29,realitet,S3\n\
         Q7,AFD,2025-06-28,realitet,\n\
         Q8,AFD,2024-06-28,realitet,\n\
         Q9,T1,2026-06-29,realitet,\n\
         Q10,AFD,2026-01-01,andet,\n\
         Q11,AFD,2024-06-25,realitet,\n",
    ),
];

/// The units of SMALL at or below `unit`.
fn subtree(unit: &str) -> BTreeSet<&'static str> {
    let parents: HashMap<&str, &str> =
        [("CEN", "ORG"), ("AFD", "CEN"), ("T1", "AFD"), ("X/2", "CEN"), ("TOM", "CEN")].into_iter().collect();
    ["ORG", "CEN", "AFD", "T1", "X/2", "TOM"]
        .into_iter()
        .filter(|u| {
            let mut at = Some(*u);
            while let Some(a) = at {
                if a == unit {
                    return true;
                }
                at = parents.get(a).copied();
            }
            false
        })
        .collect()
}

/// Strings of a query's first columns, row by row, joined with `|` (null as "").
async fn query_rows(catalog: &Catalog, sql: &str) -> Vec<String> {
    let batches = catalog.query(sql).await.unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let columns: Vec<_> = b.columns().iter().map(|c| cast(c, &DataType::Utf8).unwrap()).collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    if c.is_valid(i) { c.value(i).to_string() } else { String::new() }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn further_tables_sections_breaches_notifications_and_complaints() {
    let tmp = tempfile::tempdir().unwrap();
    let tables: Vec<(&str, &str)> = SMALL.iter().chain(FURTHER).copied().collect();
    let export = export_from(&tables, tmp.path());
    let w = week("2026-W26");
    let out = report(&export, w, tmp.path(), "report").await;
    // Page, workbook and every section against `cwkpi kpi` for every unit.
    assert_figures_match(&export, &out, w).await;

    // The new KPIs at T = 2026-06-28, by hand:
    //   Deadlines (SEL:41/42 8 weeks, BL:32 3 months): D1 03-02 → 04-27 decided 04-20 (in time);
    //     D2 03-16 → 05-11 open, letter 05-05; D3 02-10 → 05-10 open, no letter; D4 04-06 →
    //     06-01, decided 06-30 (after T, so open at T), letter 06-10 after the deadline;
    //     D5 01-05 → 03-02 decided late 03-10, letter 02-20. D6 (SEL:76) has no deadline rule,
    //     D7's deadline 08-15 is after T, D8's (2025-04-10) is before W.
    //     decision_within_deadline 1/5; delay_letter_sent 2/4 (D2, D5).
    //   Notifications: N1 assessed in 6 hours, N2 in 25 hours, N3 never (deadline 06-28 20:00,
    //     in W), N4 in 4 hours; N5's deadline (06-29 22:00) is after T: assessed 2/4.
    //     Receipts: N1 (06-01 + 6 working days, 5 June closed → 06-10) confirmed 06-03; N4
    //     (05-04 → 05-12) confirmed 05-20; N3's (07-06) is after T: 1/2.
    //   Complaints: formalitet 1 in W (Q1) against 3 in B (Q2, Q3, Q4): 1/3, met (≤ 0.90);
    //     realitet 2 in W (Q5 on T, Q6 on W's first day) against 1 in B (Q7 on its last day;
    //     Q8 and Q11 are before B, Q9 after T): 2/1 = 200 %, not met (> 0.97). Q10 is neither
    //     kind. A week earlier realitet was 2 (Q6, Q7) against 2 (Q8, Q11): 100 %.
    let all = kpi_rows(&export, w.sunday()).await;
    let figures = |unit: &str| -> Vec<String> {
        all.iter()
            .filter(|k| k.unit_id == unit && da::section_of(&k.kpi_id).is_some())
            .map(|k| {
                format!(
                    "{}|{}|{}|{}",
                    k.kpi_id,
                    k.numerator,
                    k.denominator,
                    k.met.map_or("", |m| if m { "met" } else { "not met" })
                )
            })
            .collect()
    };
    assert_eq!(
        figures("ORG"),
        [
            "decision_within_deadline|1|5|not met",
            "delay_letter_sent|2|4|not met",
            "notification_assessed_in_time|2|4|not met",
            "notification_receipt_confirmed|1|2|not met",
            "complaints_formalitet|1|3|met",
            "complaints_realitet|2|1|not met",
            // No case_events table: the checklist is unknown, not failed.
            "lawful_case|0|0|",
            // No budgets table: no budget figures.
            "budget_forecast|0|0|",
        ]
    );
    // X/2: D3 only; N3; formalitet 0 in W against Q4 (0 %, met), realitet Q6 against none
    // in B (no share, nothing to compare with).
    assert_eq!(
        figures("X/2"),
        [
            "decision_within_deadline|0|1|not met",
            "delay_letter_sent|0|1|not met",
            "notification_assessed_in_time|0|1|not met",
            "notification_receipt_confirmed|0|0|",
            "complaints_formalitet|0|1|met",
            "complaints_realitet|1|0|",
            "lawful_case|0|0|",
            "budget_forecast|0|0|",
        ]
    );

    // Breaches at T, oldest deadline first: D8 (444 days), D3 (49), D2 (48, letter 05-05),
    // D4 (27, letter 06-10: sent by T although after the deadline).
    let breaches = read_csv(&out.join("tables/breaches.csv"));
    let columns = [
        "decision_id",
        "case_id",
        "case_unit_id",
        "caseworker_name",
        "paragraph",
        "applied_on",
        "deadline",
        "days_overdue",
        "delay_letter_sent",
    ];
    let org = [
        "D8|S1|T1|Anna Hansen|BL:32|2025-01-10|2025-04-10|444|false",
        "D3|S3|X/2|Carl Nielsen|BL:32.1.3|2026-02-10|2026-05-10|49|false",
        "D2|S2|AFD|Bo Jensen|SEL:41.1|2026-03-16|2026-05-11|48|true",
        "D4|S4|AFD||SEL:41|2026-04-06|2026-06-01|27|true",
    ];
    assert_eq!(slice(&breaches, "ORG", &columns), org);
    assert_eq!(slice(&breaches, "AFD", &columns), [org[0], org[2], org[3]]);
    assert_eq!(slice(&breaches, "X/2", &columns), [org[1]]);
    assert!(slice(&breaches, "TOM", &columns).is_empty());

    // For every unit the list is the deadline_breaches view over the unit's subtree, in
    // the same order, in the CSV table, the workbook and on the page.
    let catalog =
        Catalog::new(&export, Rules::builtin(), &w.sundays_back(13), &EngineOptions::default()).await.unwrap();
    let view = query_rows(
        &catalog,
        "SELECT unit_id, decision_id, case_id, paragraph, applied_on, deadline, days_overdue, delay_letter_sent \
         FROM deadline_breaches WHERE as_of = DATE '2026-06-28' ORDER BY deadline, case_id, decision_id",
    )
    .await;
    assert_eq!(view.len(), 4);
    for unit in ["ORG", "CEN", "AFD", "T1", "X/2", "TOM"] {
        let units = subtree(unit);
        let want: Vec<String> = view
            .iter()
            .filter(|r| units.contains(r.split('|').next().unwrap()))
            .map(|r| r.split_once('|').unwrap().1.to_string())
            .collect();
        let csv = slice(
            &breaches,
            unit,
            &["decision_id", "case_id", "paragraph", "applied_on", "deadline", "days_overdue", "delay_letter_sent"],
        );
        assert_eq!(csv, want, "tables/breaches.csv for {unit}");

        let stem = file_stem(unit);
        let sheet = xlsx_table(&out.join(format!("{stem}.xlsx")), "Fristoverskridelser");
        let sheet: Vec<String> = sheet
            .iter()
            .filter(|r| r["Sag"] != Data::Empty)
            .map(|r| {
                let days = number(&r["Dage over frist"]).unwrap() as i64;
                let sent = if r["Orienteret om forsinkelse"] == Data::String("Ja".into()) { "true" } else { "false" };
                // Excel dates are days since 1899-12-30.
                let day = |d: &Data| match d {
                    Data::DateTime(d) => (date("1899-12-30") + chrono::Duration::days(d.as_f64() as i64)).to_string(),
                    other => panic!("not a date: {other:?}"),
                };
                format!(
                    "{}|{}|{}|{}|{}|{days}|{sent}",
                    r["Ansøgning-id"],
                    r["Sag"],
                    r["Paragraf"],
                    day(&r["Ansøgt"]),
                    day(&r["Frist"])
                )
            })
            .collect();
        assert_eq!(sheet, want, "workbook of {unit}");

        let page = std::fs::read_to_string(out.join(format!("{stem}.html"))).unwrap();
        let listed: Vec<&str> = section(&page, "frister-h")
            .split("data-decision=\"")
            .skip(1)
            .map(|r| r.split('"').next().unwrap())
            .collect();
        let want_ids: Vec<&str> = want.iter().map(|r| r.split('|').next().unwrap()).collect();
        assert_eq!(listed, want_ids, "page of {unit}");
    }

    // The page: tiles for the three further items, their sections, no empty tables.
    let page = std::fs::read_to_string(out.join("ORG.html")).unwrap();
    let tiles = &page[page.find("class=\"items\"").unwrap()..page.find("class=\"facts\"").unwrap()];
    for name in ["Sagsbehandlingsfrister (punkt 12)", "Underretninger", "Klager (punkt 13)"] {
        assert!(tiles.contains(&format!("aria-label=\"{name}: Målet er ikke opfyldt\"")), "{name}: {tiles}");
    }
    let frister = section(&page, "frister-h");
    assert!(frister.contains("(4, heraf 2 uden orienteringsbrev; ældste frist først)"), "{frister}");
    assert!(frister.contains("Ja, 05.05.2026") && frister.contains("(ingen sagsbehandler)"));
    // Complaints: counts in W and B, the share against a target where lower is better.
    let klager = section(&page, "klager-h");
    assert!(klager.contains("perioden 29.06.2025–28.06.2026 mod basisperioden 29.06.2024–28.06.2025"), "{klager}");
    assert!(klager.contains("≤ 90 %") && klager.contains("≤ 97 %"));
    assert_eq!(klager.matches("badge met").count(), 1);
    assert_eq!(klager.matches("badge notmet").count(), 1);
    assert_eq!(klager.matches("<svg").count(), 2, "the two complaint trends");
    // Realitet rose from 100 % a week earlier to 200 %: worse, as lower is better.
    let realitet = &klager[klager.find("data-kpi=\"complaints_realitet\"").unwrap()..];
    assert!(realitet[..realitet.find("</tr>").unwrap()].contains("class=\"num worse\""), "{realitet}");
    // The trend section keeps the goals' KPIs; the others are drawn in their sections.
    assert_eq!(section(&page, "trend-h").matches("<svg").count(), 5);
    // The sub-units of Center Nord against the further items too.
    let cen = std::fs::read_to_string(out.join("CEN.html")).unwrap();
    let subs = section(&cen, "sub-h");
    assert!(
        subs.contains("<th class=\"num\">Klager</th>")
            && subs.contains("Klager over formalitet mod basisår: 50,0 %")
            && subs.contains("Klager over realitet mod basisår: 100,0 %"),
        "{subs}"
    );

    // A unit without cases still shows the notifications it received (N4 at TOM).
    let tom = std::fs::read_to_string(out.join("TOM.html")).unwrap();
    assert!(tom.contains("<strong>Ingen sager.</strong>"));
    assert_eq!(
        kpi_rows_in(section(&tom, "underretninger-h")),
        [
            ("notification_assessed_in_time".to_string(), 1, 1, Some(1.0)),
            ("notification_receipt_confirmed".to_string(), 0, 1, Some(0.0))
        ]
    );
    assert!(section(&tom, "frister-h").contains("Ingen åbne fristoverskridelser"));

    // The workbook's complaint sheet: the 13 weeks, this week last, counts as numbers.
    let klager = xlsx_table(&out.join("ORG.xlsx"), "Klager");
    assert_eq!(klager.len(), 13);
    let last = &klager[12];
    assert_eq!(number(&last["Realitet i perioden"]), Some(2.0));
    assert_eq!(number(&last["Realitet i basisperioden"]), Some(1.0));
    assert_eq!(number(&last["Realitet andel"]), Some(2.0));
    assert_eq!(last["Realitet status"], Data::String("Ikke opfyldt".into()));
    assert_eq!(number(&last["Formalitet i perioden"]), Some(1.0));
    let notes = xlsx_table(&out.join("ORG.xlsx"), "Underretninger");
    assert_eq!(number(&notes[12]["Vurderet 24 t nævner"]), Some(4.0));

    // The index has a column per tile and gives complaints' targets as "≤".
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    // This export has decisions, notifications and complaints but no case events: the index
    // names that table only.
    assert!(index.contains(">Klager<br><small>mål ≤\u{a0}90\u{a0}%"), "{index}");
    assert!(
        index.contains("sagsskridt") && !index.contains("ingen ansøgninger") && !index.contains("ingen klager"),
        "{index}"
    );

    assert_no_cpr(&out, &SMALL_CPR.map(String::from));
}

#[tokio::test(flavor = "multi_thread")]
async fn long_breach_lists_are_capped_on_the_page_only() {
    let tmp = tempfile::tempdir().unwrap();
    // 130 applications of S3 (X/2) under SEL:41, applied a day apart from 2025-01-01, never decided.
    let mut decisions = String::from("decision_id,case_id,paragraph,applied_on,decided_on,outcome,delay_letter_on\n");
    for i in 0..130 {
        let applied = date("2025-01-01") + chrono::Duration::days(i);
        decisions.push_str(&format!("A{i:03},S3,SEL:41,{applied},,,\n"));
    }
    let tables: Vec<(&str, &str)> = SMALL.iter().copied().chain([("decisions", decisions.as_str())]).collect();
    let export = export_from(&tables, tmp.path());
    let w = week("2026-W26");
    let out = report(&export, w, tmp.path(), "report").await;
    let limit = cwkpi::report::html::LIST_LIMIT;
    for unit in ["ORG", "X/2"] {
        let page = std::fs::read_to_string(out.join(format!("{}.html", file_stem(unit)))).unwrap();
        let frister = section(&page, "frister-h");
        let listed: Vec<&str> =
            frister.split("data-decision=\"").skip(1).map(|r| r.split('"').next().unwrap()).collect();
        assert_eq!(listed.len(), limit);
        assert_eq!((listed[0], listed[limit - 1]), ("A000", "A099"));
        // The first 25 show at once, the other 75 of the page are one click away.
        let (at_once, folded) = frister.split_once("<details class=\"more\"><summary>Vis 75 mere</summary>").unwrap();
        assert_eq!(at_once.matches("data-decision=\"").count(), cwkpi::report::html::PAGE_ROWS);
        assert_eq!(folded.matches("data-decision=\"").count(), limit - cwkpi::report::html::PAGE_ROWS);
        // The contents line under the tiles counts all 130 breaches.
        assert!(page.contains(">Fristoverskridelser (130)</a>"), "contents line of {unit}");
        assert!(frister.contains(&format!("Viser de {limit} ældste af 130 overskridelser")), "{frister}");
        assert_eq!(xlsx_table(&out.join(format!("{}.xlsx", file_stem(unit))), "Fristoverskridelser").len(), 130);
    }
    assert_eq!(slice(&read_csv(&out.join("tables/breaches.csv")), "ORG", &["decision_id"]).len(), 130);
    // Notifications and complaints are absent: their sections say so, the deadlines' do not.
    let page = std::fs::read_to_string(out.join("ORG.html")).unwrap();
    assert!(!section(&page, "frister-h").contains("Ingen data"));
    assert!(section(&page, "underretninger-h").contains("Ingen data: udtrækket har ingen underretninger"));
}

#[tokio::test(flavor = "multi_thread")]
async fn week_before_any_data_and_week_53() {
    let tmp = tempfile::tempdir().unwrap();
    let export = export_from(SMALL, tmp.path());

    // Years before the first case: every page says there are no cases, nothing fails.
    let early = report(&export, week("2020-W10"), tmp.path(), "early").await;
    for unit in ["ORG", "CEN", "AFD", "T1", "X~2F2", "TOM"] {
        let page = std::fs::read_to_string(early.join(format!("{unit}.html"))).unwrap();
        assert!(page.contains("Ingen sager."), "{unit}");
        assert!(xlsx_table(&early.join(format!("{unit}.xlsx")), "Forsinkede").len() <= 1, "at most a blank row");
    }
    assert!(read_csv(&early.join("tables/overdue.csv")).is_empty());
    assert_eq!(read_csv(&early.join("tables/kpi.csv")).len(), 6 * cwkpi::kpi::DEFINITIONS.len());

    // Week 53 of 2026 is as of Sunday 2027-01-03; the trend reaches back to week 41.
    let w53 = report(&export, week("2026-W53"), tmp.path(), "w53").await;
    let trend = read_csv(&w53.join("tables/kpi_trend.csv"));
    let dates: BTreeSet<&str> = trend.iter().map(|r| r["as_of"].as_str()).collect();
    assert_eq!(dates.len(), 13);
    assert_eq!(dates.first(), Some(&"2026-10-11"));
    assert_eq!(dates.last(), Some(&"2027-01-03"));
    let weeks: Vec<String> = slice(&read_csv(&w53.join("tables/production.csv")), "ORG", &["week", "week_start"]);
    assert_eq!(weeks.last().map(String::as_str), Some("2026-W53|2026-12-28"));
    // The week after: deadlines are labelled with 2027 weeks.
    let w01 = report(&export, week("2027-W01"), tmp.path(), "w01").await;
    assert!(read_csv(&w01.join("tables/deadlines.csv")).iter().all(|r| r["due_week"].starts_with("2027-W")));
    let manifest = std::fs::read_to_string(w01.join("report.json")).unwrap();
    assert!(manifest.contains("\"as_of\": \"2027-01-10\""));
}

// ---------------------------------------------------------------------------------------
// The sample export: golden tables and privacy

/// The sample export (`fixtures/sample`), generated into a temporary folder when absent.
fn sample_export(tmp: &Path) -> PathBuf {
    let fixture = root().join("fixtures/sample");
    if fixture.is_dir() {
        return fixture;
    }
    let out = tmp.join("sample");
    let opts = cwkpi::r#gen::GenOptions {
        order: cwkpi::r#gen::Order::Sorted,
        ..cwkpi::r#gen::GenOptions::new(0.03, 7, date("2026-11-22"))
    };
    cwkpi::r#gen::generate(&opts, &out).unwrap();
    out
}

/// The tiles of a unit's KPI rows as the report must order them, worked out here from the
/// rule rather than taken from the code: the three goals (each KPI with the goal's plan
/// item), then the sections; within a tile the failing KPIs before the met ones before
/// those with nothing to measure, each group by its distance to the target (share minus
/// target, target minus share for complaints), smallest first.
fn expected_tiles<'a>(rows: &[&'a KpiRow]) -> Vec<Vec<&'a KpiRow>> {
    let item = |id: &str| cwkpi::kpi::DEFINITIONS.iter().find(|d| d.id == id).unwrap().plan_item;
    let mut groups: Vec<Vec<&str>> = da::GOALS
        .iter()
        .map(|(goal, ..)| {
            let mut ids = vec![*goal];
            ids.extend(
                cwkpi::kpi::DEFINITIONS.iter().filter(|d| d.id != *goal && d.plan_item == item(goal)).map(|d| d.id),
            );
            ids
        })
        .collect();
    groups.extend(da::SECTIONS.iter().map(|s| s.kpis.to_vec()));
    groups
        .into_iter()
        .map(|ids| {
            let mut tile: Vec<&KpiRow> =
                ids.iter().filter_map(|id| rows.iter().find(|k| k.kpi_id == *id).copied()).collect();
            let key = |k: &KpiRow| {
                let rank = match k.met {
                    Some(false) => 0,
                    Some(true) => 1,
                    None => 2,
                };
                let lower = da::lower_is_better(&k.kpi_id);
                let margin = k.share.map_or(f64::INFINITY, |s| if lower { k.target - s } else { s - k.target });
                (rank, margin)
            };
            tile.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap());
            tile
        })
        .collect()
}

/// Each goal tile of a page: (name, the KPI it leads with, its big share, the KPIs under it).
fn goal_tiles(html: &str) -> Vec<(String, String, String, Vec<String>)> {
    html.split("<div class=\"goal ")
        .skip(1)
        .map(|t| {
            let t = &t[..t.find("\n  </div>").unwrap_or(t.len())];
            let between = |from: &str, to: &str| {
                let start = t.find(from).map(|i| i + from.len()).unwrap_or_else(|| panic!("{from} in {t}"));
                t[start..start + t[start..].find(to).unwrap()].to_string()
            };
            let also: Vec<String> = t
                .split("<div class=\"detail also ")
                .skip(1)
                .map(|a| {
                    let text = &a[a.find("</span> ").unwrap() + 8..];
                    text[..text.find(':').unwrap()].to_string()
                })
                .collect();
            (
                between("<div class=\"name\">", "<"),
                between("data-lead=\"", "\""),
                between("<div class=\"share\">", " <small>"),
                also,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tiles_lead_with_the_kpi_that_fails_worst_on_every_page_and_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let export = CheckedExport::load(&sample_export(tmp.path())).unwrap();
    let w = week("2026-W47");
    let out = report(&export, w, tmp.path(), "report").await;
    let rows = kpi_rows(&export, w.sunday()).await;

    // Afdeling Amager (U0005) as of 2026-11-22, from its KPI rows: plan coverage 21 of 21
    // (met) and plans on time 5 of 6 = 83.3 % (not met); open investigations in time 2 of 2
    // (met) and completed in time 5 of 7 = 71.4 % (not met). Each tile leads with the
    // failing KPI and names the met one under it.
    let page = std::fs::read_to_string(out.join("U0005.html")).unwrap();
    let tiles = goal_tiles(&page);
    assert_eq!(tiles[0].0, "Handleplaner");
    assert_eq!((tiles[0].1.as_str(), tiles[0].2.as_str()), ("plan_on_time", "83,3 %"));
    assert_eq!(tiles[0].3, ["Handleplan foreligger"]);
    assert_eq!(tiles[2].0, "Undersøgelser");
    assert_eq!((tiles[2].1.as_str(), tiles[2].2.as_str()), ("investigation_completed_within_limit", "71,4 %"));
    assert_eq!(tiles[2].3, ["Åbne undersøgelser inden for frist"]);
    assert!(page.contains(
        "<span class=\"mark\" aria-hidden=\"true\">✓</span> Åbne undersøgelser inden for frist: 100,0 % (mål 95 %)"
    ));

    // Every unit page follows the rule, worked out above from the KPI rows.
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    for unit in ["U0001", "U0002", "U0003", "U0005", "U0006", "U0007", "U0008", "U0009"] {
        let mine: Vec<&KpiRow> = rows.iter().filter(|k| k.unit_id == unit).collect();
        let want = expected_tiles(&mine);
        let page = std::fs::read_to_string(out.join(format!("{unit}.html"))).unwrap();
        let tiles = goal_tiles(&page);
        assert_eq!(tiles.len(), 3, "{unit}");
        for (tile, want) in tiles.iter().zip(&want) {
            let lead = want[0];
            assert_eq!(tile.1, lead.kpi_id, "{unit} {}", tile.0);
            assert_eq!(tile.2, da::percent(lead.share), "{unit} {}", tile.0);
            let under: Vec<&str> = want[1..].iter().map(|k| da::kpi_label(&k.kpi_id)).collect();
            assert_eq!(tile.3, under, "{unit} {}", tile.0);
        }
        // The index's row of the unit: one cell per tile with the leading share.
        let row = &index[index.find(&format!("href=\"{unit}.html\"")).unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        let cells: Vec<&str> = row.split("<td class=\"num tile ").skip(1).collect();
        assert_eq!(cells.len(), want.len(), "{unit}: {row}");
        for (cell, want) in cells.iter().zip(&want) {
            let text = &cell[cell.find('>').unwrap() + 1..];
            let text = &text[..text.find(" <span").unwrap()];
            assert_eq!(text, da::percent(want.first().and_then(|k| k.share)), "{unit}: {cell}");
        }
    }
}

const TABLES: [&str; 7] = ["kpi", "kpi_trend", "production", "overdue", "deadlines", "caseworkers", "breaches"];

#[tokio::test(flavor = "multi_thread")]
async fn sample_export_golden_tables_figures_and_no_cpr() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = sample_export(tmp.path());
    let export = CheckedExport::load(&sample).unwrap();
    let w = week("2026-W47");
    let out = report(&export, w, tmp.path(), "report").await;

    let golden = root().join("tests/golden");
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in TABLES {
        let actual = std::fs::read_to_string(out.join(format!("tables/{name}.csv"))).unwrap();
        let path = golden.join(format!("report_{name}.csv"));
        if update {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, &actual).unwrap();
        } else {
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1 to create it", path.display()));
            if expected != actual {
                stale.push(name);
            }
        }
    }
    assert!(stale.is_empty(), "report tables differ from tests/golden: {stale:?} (UPDATE_GOLDEN=1 regenerates them)");

    // Parquet and CSV hold the same rows.
    for name in TABLES {
        let file = std::fs::File::open(out.join(format!("tables/{name}.parquet"))).unwrap();
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, read_csv(&out.join(format!("tables/{name}.csv"))).len(), "{name}");
    }

    assert_figures_match(&export, &out, w).await;

    // Every CPR value of the export, as written and without its dash.
    let mut cprs = Vec::new();
    for entry in std::fs::read_dir(&sample).unwrap() {
        let path = entry.unwrap().path();
        let is_children = path.file_stem().is_some_and(|s| s == "children");
        let files: Vec<PathBuf> = if path.is_dir() && is_children {
            std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect()
        } else if is_children {
            vec![path]
        } else {
            continue;
        };
        for f in files {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap()).unwrap().build().unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let Some(col) = batch.column_by_name("cpr") else { continue };
                let col = cast(col, &DataType::Utf8).unwrap();
                let col = col.as_string::<i32>();
                cprs.extend(
                    (0..col.len())
                        .filter(|&i| col.is_valid(i) && !col.value(i).is_empty())
                        .map(|i| col.value(i).to_string()),
                );
            }
        }
    }
    assert!(cprs.len() > 100, "the sample export should carry CPR values to check against");
    assert_no_cpr(&out, &cprs);
}

/// Every file under `dir` (relative path → bytes).
fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The nightly has the report's catalog compute its as-of date beside the trend's Sundays
/// and takes its KPI table from the report, with `kpi` kept for those dates. The report must not
/// change by it (the extra date's rows stay out of the trend and production), and the KPI
/// table at that date must be the one a catalog at that date alone gives.
#[tokio::test]
async fn a_report_computed_beside_another_date_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let export = CheckedExport::load(&sample_export(tmp.path())).unwrap();
    let w = week("2026-W47");
    let plain = report(&export, w, tmp.path(), "plain").await;

    // A Wednesday after the report's Sunday (2026-11-22), as a nightly on the Thursday has it.
    let wednesday = date("2026-11-25");
    let mut cached_views = cwkpi::report::cached_views();
    cached_views.push(("kpi".to_string(), cwkpi::catalog::Lifetime::AsOfDates));
    let options = EngineOptions { cached_views, ..Default::default() };
    let mut catalog = Catalog::new(&export, Rules::builtin(), &[wednesday], &options).await.unwrap();
    let beside = tmp.path().join("beside");
    std::fs::create_dir_all(&beside).unwrap();
    let summary = write_reports(&mut catalog, w, &beside, &[wednesday]).await.unwrap();

    let (plain_files, beside_files) = (files_under(&plain), files_under(&beside));
    assert!(plain_files.len() > 20, "the sample report has pages, workbooks and tables");
    assert_eq!(plain_files.keys().collect::<Vec<_>>(), beside_files.keys().collect::<Vec<_>>());
    for (name, bytes) in &plain_files {
        assert!(beside_files[name] == *bytes, "{} differs when the catalog also computes {wednesday}", name.display());
    }
    let trend = read_csv(&beside.join("tables/kpi_trend.csv"));
    assert_eq!(trend.iter().filter(|r| r["as_of"] == "2026-11-25").count(), 0);
    assert_eq!(trend.iter().filter(|r| r["as_of"] == "2026-11-22").count(), trend.len() / 13);

    let mut at_wednesday = summary.kpi_rows;
    let all_dates = at_wednesday.len();
    at_wednesday.retain(|r| r.as_of == wednesday);
    assert_eq!(all_dates, 14 * at_wednesday.len(), "the catalog holds the 13 Sundays and the Wednesday");
    let alone = kpi_rows(&export, wednesday).await;
    assert!(!alone.is_empty());
    assert_eq!(at_wednesday, alone);
}

/// No CPR value (with or without its dash) in any file of the report: text files as text,
/// workbooks cell by cell, Parquet files value by value.
fn assert_no_cpr(out: &Path, cprs: &[String]) {
    let mut needles: Vec<String> = cprs.to_vec();
    needles.extend(cprs.iter().map(|c| c.replace('-', "")));
    let check = |text: &str, file: &Path| {
        for n in &needles {
            assert!(!text.contains(n.as_str()), "a CPR value appears in {}", file.display());
        }
    };
    let mut files = vec![out.to_path_buf()];
    let mut seen = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        seen += 1;
        match path.extension().and_then(|e| e.to_str()) {
            Some("xlsx") => {
                for (_, rows) in workbook_cells(&path) {
                    for cell in rows.iter().flatten() {
                        check(&cell.to_string(), &path);
                    }
                }
            }
            Some("parquet") => {
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
                for batch in reader {
                    for col in batch.unwrap().columns() {
                        let text = cast(col, &DataType::Utf8).unwrap();
                        let text = text.as_string::<i32>();
                        for i in 0..text.len() {
                            if text.is_valid(i) {
                                check(text.value(i), &path);
                            }
                        }
                    }
                }
            }
            _ => check(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()), &path),
        }
    }
    assert!(seen > 10);
}

// ---------------------------------------------------------------------------------------
// The command line

#[test]
fn cli_writes_whole_reports_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_cwkpi");
    let export = tmp.path().join("export");
    cwkpi::import::import_csv_export(&root().join("tests/slt/follow_ups"), &export).unwrap();
    let out = tmp.path().join("weekly");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().unwrap();

    let ok =
        run(&["report", "--exports", export.to_str().unwrap(), "--week", "2026-W26", "--out", out.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.join("index.html").is_file() && out.join("D2.xlsx").is_file() && out.join("tables/kpi.csv").is_file());

    // A failing run (no such export) leaves the earlier report as it was and no temporary folder.
    let before = std::fs::read(out.join("index.html")).unwrap();
    let bad =
        run(&["report", "--exports", "/nonexistent/export", "--week", "2026-W27", "--out", out.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert_eq!(std::fs::read(out.join("index.html")).unwrap(), before);
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A later run replaces the report.
    let again =
        run(&["report", "--exports", export.to_str().unwrap(), "--week", "2026-W27", "--out", out.to_str().unwrap()]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(std::fs::read_to_string(out.join("report.json")).unwrap().contains("2026-W27"));

    // Bad weeks and folders that are not reports are refused with a usage error (exit 64).
    let bad_week =
        run(&["report", "--exports", export.to_str().unwrap(), "--week", "2025-W53", "--out", out.to_str().unwrap()]);
    assert_eq!(bad_week.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad_week.stderr).contains("2025 has ISO weeks 1–52"));
    let not_report = tmp.path().join("other");
    std::fs::create_dir_all(&not_report).unwrap();
    std::fs::write(not_report.join("notes.txt"), "keep me").unwrap();
    let refused = run(&[
        "report",
        "--exports",
        export.to_str().unwrap(),
        "--week",
        "2026-W26",
        "--out",
        not_report.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(64));
    assert_eq!(std::fs::read_to_string(not_report.join("notes.txt")).unwrap(), "keep me");
}

// ---------------------------------------------------------------------------------------
// The audit sections (docs/kpis.md): lawful cases and recovery, turning 18, finance, projection

const SLT_UNITS: [&str; 6] = ["ORG", "CEN", "D1", "T1", "D2", "EMPTY"];

/// The units of the `.slt` exports' tree at or below `unit` (ORG > CEN > D1 > T1, CEN > D2,
/// CEN > EMPTY).
fn slt_subtree(unit: &str) -> BTreeSet<&'static str> {
    let parents: HashMap<&str, &str> =
        [("CEN", "ORG"), ("D1", "CEN"), ("T1", "D1"), ("D2", "CEN"), ("EMPTY", "CEN")].into_iter().collect();
    SLT_UNITS
        .into_iter()
        .filter(|u| {
            let mut at = Some(*u);
            while let Some(a) = at {
                if a == unit {
                    return true;
                }
                at = parents.get(a).copied();
            }
            false
        })
        .collect()
}

/// The `data-key`s of a list on a page (`data-list="key"`), in page order.
fn page_list(html: &str, key: &str) -> Vec<String> {
    let Some(start) = html.find(&format!("data-list=\"{key}\"")) else { return Vec::new() };
    let table = &html[start..];
    let table = &table[..table.find("</table>").unwrap()];
    table.split("<tr data-key=\"").skip(1).map(|r| r.split('"').next().unwrap().to_string()).collect()
}

/// Every list of the audit sections, for every unit: the page shows the first rows of the
/// unit's rows in `tables/<key>.csv`, in the same order, and the workbook has all of them.
fn assert_lists_agree(out: &Path, units: &[&str]) {
    use cwkpi::report::lists::{AUDIT_LISTS, PROJECTION};
    for spec in AUDIT_LISTS.iter().chain([&PROJECTION]) {
        let csv = read_csv(&out.join(format!("tables/{}.csv", spec.key)));
        for unit in units {
            let rows = slice(&csv, unit, &[spec.key_column]);
            let stem = file_stem(unit);
            let page = std::fs::read_to_string(out.join(format!("{stem}.html"))).unwrap();
            if spec.page_limit > 0 {
                let shown: Vec<String> = rows.iter().take(spec.page_limit).cloned().collect();
                assert_eq!(page_list(&page, spec.key), shown, "page list {} of {unit}", spec.key);
            }
            let table: String = spec.key.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
            let sheet = xlsx_table(&out.join(format!("{stem}.xlsx")), &table);
            let filled = sheet.iter().filter(|r| r.values().any(|v| *v != Data::Empty)).count();
            assert_eq!(filled, rows.len(), "sheet {} of {unit}", spec.sheet);
        }
    }
}

/// An export of the `.slt` fixtures (`tests/slt/<name>/`).
fn slt_export(name: &str, tmp: &Path) -> CheckedExport {
    load_csv(&root().join("tests/slt").join(name), tmp)
}

/// The built-in rules with recovery milestones added.
fn rules_with_milestones(milestones: &str) -> Rules {
    Rules::parse(
        &format!("{}\n{milestones}", include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/default_rules.toml"))),
        "test rules",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_sections_lawful_cases_recovery_and_milestones() {
    let tmp = tempfile::tempdir().unwrap();
    let export = slt_export("lawful_case", tmp.path());
    let rules = rules_with_milestones(
        "[[recovery_milestone]]\nunit_id = \"ORG\"\non = \"2026-06-30\"\nmax_remaining = 10\n\
         [[recovery_milestone]]\nunit_id = \"D1\"\non = \"2026-05-01\"\nmax_remaining = 0\n\
         [[recovery_milestone]]\nunit_id = \"D2\"\non = \"2026-08-02\"\nmax_remaining = 0\n",
    );
    let w = week("2026-W27");
    let out = report_with(&export, rules, w, tmp.path(), "report").await;
    assert_lists_agree(&out, &SLT_UNITS);

    // The export of tests/slt/lawful_case.slt at T = 2026-07-05 (W = 2025-07-06 … T), by
    // hand from that file's notes. Since its date (06-30) L13 and L14 have closed and
    // L12's measure has ended: 13 cases with an active measure remain. Events dated
    // 2026-07-01 now count: L02's boernesamtale, L04's completed investigation, L07's
    // partshoering and afgoerelse, L16's maalgruppeafklaring make those cases lawful.
    // L01's only boernesamtale (2025-07-01) has left W. Failing: L01 (child_heard),
    // L08 (plan), L11 (followed_up) and L15 (all six).
    let checklist = read_csv(&out.join("tables/checklist.csv"));
    assert_eq!(
        slice(&checklist, "ORG", &["element", "missing", "cases"]),
        [
            // Most often missing first; ties in checklist order.
            "child_heard|2|13",
            "plan|2|13",
            "followed_up|2|13",
            "investigated|1|13",
            "parties_consulted|1|13",
            "decision_with_guidance|1|13",
        ]
    );
    // D1 (with T1): L01–L04 and L08–L11 apply; L01, L08, L11 fail.
    assert_eq!(
        slice(&checklist, "D1", &["element", "missing", "cases"])[..3],
        ["child_heard|1|8", "plan|1|8", "followed_up|1|8"]
    );
    assert!(slice(&checklist, "EMPTY", &["element"]).is_empty());

    // Recovery order: acute first (L15 10000, L08 5000), then cost (L01 1000, L11 none = 0).
    let recovery = read_csv(&out.join("tables/recovery.csv"));
    let columns = ["position", "case_id", "case_unit_id", "caseworker_name", "acute", "monthly_cost_dkk", "missing"];
    let org = [
        "1|L15|D2|Sagsbehandler 2|true|10000.0|investigated;child_heard;parties_consulted;decision_with_guidance;plan;followed_up",
        "2|L08|D1|Sagsbehandler 3|true|5000.0|plan",
        "3|L01|T1|Sagsbehandler 1|false|1000.0|child_heard",
        "4|L11|D1|Sagsbehandler 3|false|0.0|followed_up",
    ];
    assert_eq!(slice(&recovery, "ORG", &columns), org);
    assert_eq!(slice(&recovery, "D1", &columns), org[1..]);
    assert_eq!(slice(&recovery, "T1", &columns), [org[2]]);
    assert_eq!(slice(&recovery, "D2", &columns), [org[0]]);
    // Per caseworker, most cases first: W3 holds L08 (acute) and L11; W1 L01; W2 L15 (acute).
    let per_caseworker = read_csv(&out.join("tables/recovery_caseworkers.csv"));
    assert_eq!(
        slice(&per_caseworker, "ORG", &["caseworker_id", "cases", "acute_cases"]),
        ["W3|2|1", "W1|1|0", "W2|1|1"]
    );
    // The burn-down: the cases still to recover each Sunday, in the workbook and the chart,
    // are recovery_cases counted week by week; T's is 4.
    let sheet = xlsx_table(&out.join("ORG.xlsx"), "RecoveryTrend");
    let weekly: Vec<String> =
        sheet.iter().map(|r| format!("{}", number(&r["Sager tilbage"]).unwrap() as i64)).collect();
    assert_eq!(weekly.len(), 13);
    assert_eq!(weekly[12], "4");
    let catalog =
        Catalog::new(&export, Rules::builtin(), &w.sundays_back(13), &EngineOptions::default()).await.unwrap();
    let counts = query_rows(
        &catalog,
        "SELECT count(r.case_id) FROM as_of_dates d LEFT JOIN recovery_cases r ON r.as_of = d.as_of GROUP BY d.as_of ORDER BY d.as_of",
    )
    .await;
    assert_eq!(weekly, counts);
    assert!(
        section(&std::fs::read_to_string(out.join("ORG.html")).unwrap(), "lovmedholdelighed-h")
            .contains("Seneste antal 4.")
    );

    // Milestones, each at its own unit: ORG at 06-30 has the 7 cases of the .slt file
    // (≤ 10, met). D1 on 05-01: L03 and L04 (investigations not completed yet), L08 (its
    // SEL:52.3 starts that day without a plan) and L11: 4 > 0. D2 on 08-02, after T: the
    // export as it is leaves L15 only, 1 > 0.
    let milestones = read_csv(&out.join("tables/recovery_milestones.csv"));
    let columns = ["on_date", "max_remaining", "remaining", "met"];
    assert_eq!(slice(&milestones, "ORG", &columns), ["2026-06-30|10|7|true"]);
    assert_eq!(slice(&milestones, "D1", &columns), ["2026-05-01|0|4|false"]);
    assert_eq!(slice(&milestones, "D2", &columns), ["2026-08-02|0|1|false"]);

    // The page: the section's lists and the burn-down with the unit's milestone.
    let page = std::fs::read_to_string(out.join("D2.html")).unwrap();
    let recovery_section = section(&page, "lovmedholdelighed-h");
    assert!(recovery_section.contains("(1 sag mangler mindst ét element, heraf 1 akutte)"), "{recovery_section}");
    assert!(
        recovery_section.contains("<title>Delmål 02.08.2026: højst 0 sager, ikke nået</title>"),
        "{recovery_section}"
    );
    assert!(
        recovery_section
            .contains("Børnefaglig undersøgelse eller målgruppeafklaring, Børnesamtale inden for det seneste år")
    );
    let org_page = std::fs::read_to_string(out.join("ORG.html")).unwrap();
    assert_eq!(section(&org_page, "lovmedholdelighed-h").matches("<path d=\"M").count(), 1, "ORG's own milestone only");
    // The D1 milestone (05-01) is inside the chart's 13 weeks (from 04-12).
    assert!(
        std::fs::read_to_string(out.join("D1.html"))
            .unwrap()
            .contains("<title>Delmål 01.05.2026: højst 0 sager, ikke nået</title>")
    );

    // The workbook: the recovery list with Danish element names and the amounts as numbers.
    let sheet = xlsx_table(&out.join("ORG.xlsx"), "Recovery");
    assert_eq!(sheet.len(), 4);
    assert_eq!(sheet[1]["Sag"], Data::String("L08".into()));
    assert_eq!(number(&sheet[1]["Udgift pr. måned"]), Some(5000.0));
    assert_eq!(sheet[1]["Mangler"], Data::String("Handleplan".into()));
    assert_eq!(sheet[0]["Akut"], Data::String("Ja".into()));
    let milestones_sheet = xlsx_table(&out.join("D1.xlsx"), "RecoveryMilestones");
    assert_eq!(milestones_sheet[0]["Status"], Data::String("Ikke nået".into()));

    // The projection: the core KPIs at T+7 … T+28, on the page beside the KPI table, for
    // every unit; equal to `cwkpi kpi` at those dates.
    let projection = read_csv(&out.join("tables/kpi_projection.csv"));
    for weeks_ahead in 1..=4i64 {
        let at = w.sunday() + chrono::Duration::weeks(weeks_ahead);
        let want: Vec<String> = kpi_rows(&export, at)
            .await
            .into_iter()
            .filter(|k| {
                k.unit_id == "D1"
                    && (cwkpi::rules::CORE_KPI_IDS.contains(&k.kpi_id.as_str()) || k.kpi_id == "budget_forecast")
            })
            .map(|k| format!("{}|{}|{}|{}", k.kpi_id, k.numerator, k.denominator, at))
            .collect();
        let got: Vec<String> =
            slice(&projection, "D1", &["kpi_id", "numerator", "denominator", "projected_as_of", "weeks_ahead"])
                .into_iter()
                .filter(|r| r.ends_with(&format!("|{weeks_ahead}")))
                .map(|r| r.rsplit_once('|').unwrap().0.to_string())
                .collect();
        assert_eq!(got, want, "projection {weeks_ahead} weeks ahead");
    }
    let kpi_table = section(&org_page, "kpi-h");
    assert!(
        kpi_table.contains(">Fremskrivning</th>")
            && kpi_table.contains(">uge 28</th>")
            && kpi_table.contains(">uge 31</th>")
    );
    // The five core KPIs and the budget's forecast, four weeks each.
    let projected = cwkpi::rules::CORE_KPI_IDS.len() + 1;
    assert_eq!(kpi_table.matches("data-field=\"projection\"").count(), 4 * projected);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_sections_turning_18_and_finance() {
    let tmp = tempfile::tempdir().unwrap();

    // Turning 18 at T = 2025-08-31 (a Sunday, the as-of of tests/slt/turning_18.slt): Y02
    // on T+1, then Y03 and Y04 (born 29 February) on 2026-02-28, case_id breaking the tie.
    let export = slt_export("turning_18", &tmp.path().join("t18"));
    let out = report(&export, week("2025-W35"), tmp.path(), "t18").await;
    assert_lists_agree(&out, &SLT_UNITS);
    let list = read_csv(&out.join("tables/turning_18.csv"));
    assert_eq!(
        slice(&list, "ORG", &["case_id", "turns_18_on"]),
        ["Y02|2025-09-01", "Y03|2026-02-28", "Y04|2026-02-28"]
    );
    let catalog =
        Catalog::new(&export, Rules::builtin(), &[date("2025-08-31")], &EngineOptions::default()).await.unwrap();
    for unit in SLT_UNITS {
        let units = slt_subtree(unit);
        let view = query_rows(&catalog, "SELECT unit_id, case_id, CAST(turns_18_on AS VARCHAR) AS turns, paragraphs FROM turning_18 ORDER BY turns_18_on, case_id").await;
        let want: Vec<String> = view
            .iter()
            .filter(|r| units.contains(r.split('|').next().unwrap()))
            .map(|r| r.split_once('|').unwrap().1.to_string())
            .collect();
        assert_eq!(slice(&list, unit, &["case_id", "turns_18_on", "paragraphs"]), want, "turning_18 of {unit}");
    }
    let figures =
        query_rows(&catalog, "SELECT active_cases, aged_18_or_older FROM turning_18_units WHERE unit_id = 'ORG'").await;
    let (active, aged) = figures[0].split_once('|').unwrap();
    let page = std::fs::read_to_string(out.join("ORG.html")).unwrap();
    assert!(
        section(&page, "voksenliv-h").contains(&format!("{aged} af {active} aktive sager")),
        "{}",
        section(&page, "voksenliv-h")
    );

    // Finance at T = 2026-06-28 over the export of tests/slt/finance.slt: the report's lists
    // and figures are the views' over each unit's subtree, largest amount first.
    let export = slt_export("finance", &tmp.path().join("fin"));
    let w = week("2026-W26");
    let out = report(&export, w, tmp.path(), "fin").await;
    assert_lists_agree(&out, &SLT_UNITS);
    let catalog = Catalog::new(&export, Rules::builtin(), &[w.sunday()], &EngineOptions::default()).await.unwrap();
    let paid = read_csv(&out.join("tables/paid_without_measure.csv"));
    let unpaid = read_csv(&out.join("tables/registered_not_paid.csv"));
    let paid_view = query_rows(
        &catalog,
        "SELECT unit_id, posting_id, amount_dkk FROM finance_paid_without_measure ORDER BY amount_dkk DESC, posting_id",
    )
    .await;
    let unpaid_view = query_rows(&catalog, "SELECT unit_id, measure_id, monthly_cost_dkk FROM finance_registered_not_paid ORDER BY monthly_cost_dkk DESC, measure_id").await;
    assert!(!paid_view.is_empty() && !unpaid_view.is_empty());
    for unit in SLT_UNITS {
        let units = slt_subtree(unit);
        let within = |view: &[String]| -> Vec<String> {
            view.iter()
                .filter(|r| units.contains(r.split('|').next().unwrap()))
                .map(|r| r.split_once('|').unwrap().1.to_string())
                .collect()
        };
        assert_eq!(
            slice(&paid, unit, &["posting_id", "amount_dkk"]),
            within(&paid_view),
            "paid without measure, {unit}"
        );
        assert_eq!(
            slice(&unpaid, unit, &["measure_id", "monthly_cost_dkk"]),
            within(&unpaid_view),
            "registered not paid, {unit}"
        );
    }
    let finance = query_rows(
        &catalog,
        "SELECT spent_dkk, booked_on_case_dkk, booked_share FROM finance_reconciliation WHERE unit_id = 'ORG'",
    )
    .await;
    let parts: Vec<&str> = finance[0].split('|').collect();
    let page = std::fs::read_to_string(out.join("ORG.html")).unwrap();
    let economy = section(&page, "oekonomi-h");
    let spent: f64 = parts[0].parse().unwrap();
    let booked: f64 = parts[1].parse().unwrap();
    let share: f64 = parts[2].parse().unwrap();
    assert!(economy.contains(&format!("{} af {}", da::money(booked), da::money(spent))), "{economy}");
    assert!(economy.contains(&format!("<b>{}</b>", da::percent(Some(share)))), "{economy}");
    // Without case events the recovery section says so; the turning-18 list does not need them.
    assert!(section(&page, "lovmedholdelighed-h").contains("Ingen data: udtrækket har ingen sagsskridt"));
}

/// The budget follow-up on the sample's pages and workbooks: the section states
/// `budget_forecast`'s figures in whole kroner, draws the year, and lists the units below;
/// the workbook's Budget sheet is `budget_months` of the unit.
#[tokio::test(flavor = "multi_thread")]
async fn the_budget_section_and_sheet_state_the_budget_views() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = sample_export(tmp.path());
    let export = CheckedExport::load(&sample).unwrap();
    let w = week("2026-W47");
    let out = report(&export, w, tmp.path(), "report").await;
    let catalog = Catalog::new(&export, Rules::builtin(), &[w.sunday()], &EngineOptions::default()).await.unwrap();
    let rows = |sql: &str| {
        let catalog = &catalog;
        let sql = sql.to_string();
        async move {
            let mut out = Vec::new();
            for b in catalog.query(&sql).await.unwrap() {
                for i in 0..b.num_rows() {
                    let cells: Vec<String> = (0..b.num_columns())
                        .map(|c| datafusion::arrow::util::display::array_value_to_string(b.column(c), i).unwrap())
                        .collect();
                    out.push(cells);
                }
            }
            out
        }
    };
    // Brønshøj-Husum (U0007): its forecast by commitments against its budget, each in
    // whole kroner as the KPI row has them.
    let forecast = rows(
        "SELECT CAST(round(CAST(forecast_commitments_dkk AS DOUBLE)) AS BIGINT), CAST(round(CAST(budget_year_dkk AS DOUBLE)) AS BIGINT), \
         CAST(round(CAST(forecast_run_rate_dkk AS DOUBLE)) AS BIGINT) FROM budget_forecast WHERE unit_id = 'U0007'",
    )
    .await;
    let kroner = |s: &str| format!("{} kr.", cwkpi::report::da::integer(s.parse().unwrap()));
    let (commitments, budget, run_rate) = (kroner(&forecast[0][0]), kroner(&forecast[0][1]), kroner(&forecast[0][2]));
    let page = std::fs::read_to_string(out.join("U0007.html")).unwrap();
    let budget_section = section(&page, "budget-h");
    for text in [&commitments, &budget, &run_rate] {
        assert!(budget_section.contains(text.as_str()), "{text} not in the budget section");
    }
    let k = kpi_rows(&export, w.sunday())
        .await
        .into_iter()
        .find(|k| k.unit_id == "U0007" && k.kpi_id == "budget_forecast")
        .unwrap();
    assert_eq!(kpi_rows_in(budget_section), [(k.kpi_id.clone(), k.numerator, k.denominator, k.share)]);
    assert_eq!(format!("{} kr.", cwkpi::report::da::integer(k.numerator)), commitments);
    // The chart, and its three teams in the table below it.
    assert!(budget_section.contains("<svg class=\"trend budget\""));
    for team in ["team 1", "team 2", "team 3"] {
        assert!(budget_section.contains(&format!("<td>{team}")), "{team}");
    }
    // The contents line links to the section with the margin over the budget.
    assert!(page.contains("href=\"#budget-h\" class=\"alert\">Budget (+"), "over budget: the link is red");

    // The Budget sheet: the unit's budget_months, every account and month.
    let sheet = xlsx_table(&out.join("U0007.xlsx"), "BudgetMonths");
    let months = rows(
        "SELECT account, month, CAST(budget_dkk AS DOUBLE), CAST(actual_cumulative_dkk AS DOUBLE) FROM budget_months \
         WHERE unit_id = 'U0007' ORDER BY account, month",
    )
    .await;
    assert_eq!(sheet.len(), months.len());
    assert!(months.len() >= 24, "two accounts or more, twelve months each");
    for (row, want) in sheet.iter().zip(&months) {
        assert_eq!(row["Konto"], Data::String(want[0].clone()));
        assert_eq!(number(&row["Måned"]), Some(want[1].parse().unwrap()));
        assert_eq!(number(&row["Budget"]), Some(want[2].parse().unwrap()));
        assert_eq!(number(&row["Forbrug akkumuleret"]), Some(want[3].parse().unwrap()));
    }
    // A unit page of an export without budgets says so, as every section does.
    let no_budgets = tmp.path().join("no_budgets");
    std::fs::create_dir_all(&no_budgets).unwrap();
    for entry in std::fs::read_dir(&sample).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "budgets.parquet" {
            std::fs::copy(&path, no_budgets.join(path.file_name().unwrap())).unwrap();
        }
    }
    let without = CheckedExport::load(&no_budgets).unwrap();
    let out = report(&without, w, tmp.path(), "report_without").await;
    let page = std::fs::read_to_string(out.join("U0007.html")).unwrap();
    assert!(section(&page, "budget-h").contains("Ingen data: udtrækket har ingen budgetter (tabellen budgets)."));
}

/// The report gives the postings back once its finance lists have read them: the catalog
/// it leaves cannot read them any more and says which table is gone, while the KPIs, whose
/// budget forecast reads the postings' month sums (kept for the whole export), still
/// compute, equal to those of a catalog that never released anything.
#[tokio::test]
async fn the_report_releases_the_postings_and_the_kpis_still_compute() {
    let tmp = tempfile::tempdir().unwrap();
    let export = CheckedExport::load(&sample_export(tmp.path())).unwrap();
    let w = week("2026-W47");
    let sunday = w.sunday();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut catalog = Catalog::new(&export, Rules::builtin(), &[sunday], &EngineOptions::default()).await.unwrap();
    let spent = "SELECT sum(amount_dkk) FROM postings";
    let before = catalog.ctx.sql(spent).await.unwrap().collect().await.unwrap();
    assert_eq!(before[0].num_rows(), 1);
    assert!(!before[0].column(0).is_null(0), "the sample export has postings");

    write_reports(&mut catalog, w, &out, &[]).await.unwrap();
    let err = match catalog.ctx.sql(spent).await {
        Ok(df) => df.collect().await.expect_err("the postings were released"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("the table postings was released"), "{err}");

    catalog.set_as_of(&[sunday]).await.unwrap();
    let after = catalog.kpi_rows().await.unwrap();
    assert!(after.iter().any(|r| r.kpi_id == "budget_forecast" && r.denominator > 0), "the budget KPI is counted");
    assert_eq!(after, kpi_rows(&export, sunday).await);
}

/// Which statements run before the postings are released: those that read them directly,
/// through plain views, or through a cached view computed again for each set of dates (the
/// finance lists, read by both the lists and the finance figures). Through the postings'
/// month sums, kept for the whole export and computed before the release, a statement does
/// not read them.
#[tokio::test]
async fn a_statement_reads_the_postings_through_views_computed_per_date_only() {
    let tmp = tempfile::tempdir().unwrap();
    let export = CheckedExport::load(&sample_export(tmp.path())).unwrap();
    let sunday = week("2026-W47").sunday();
    let catalog = Catalog::new(&export, Rules::builtin(), &[sunday], &EngineOptions::default()).await.unwrap();
    for (statement, reads) in [
        ("report_finance", true),
        ("report_paid_without_measure", true),
        ("report_registered_not_paid", true),
        ("report_budget_months", false),
        ("report_overdue", false),
    ] {
        assert_eq!(catalog.statement_reads(statement, "postings").await.unwrap(), reads, "{statement}");
    }
}

/// Every sheet of a workbook as its cells' values, sheet by sheet.
fn workbook_cells(path: &Path) -> Vec<(String, Vec<Vec<Data>>)> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let names = wb.sheet_names().to_vec();
    names
        .into_iter()
        .map(|name| {
            let range = wb.worksheet_range(&name).unwrap();
            let rows = range.rows().map(|r| r.to_vec()).collect();
            (name, rows)
        })
        .collect()
}

/// Small units' sheets are streamed through temporary files when a folder is given for
/// them (the machine's memory folder in a run), kept in the workbook when none is, and kept
/// in the workbook after all when the folder cannot be written: the same cells each way,
/// and the same pages.
#[tokio::test]
async fn small_workbooks_hold_the_same_cells_streamed_or_in_memory() {
    use cwkpi::report::xlsx::SmallSheets;
    let tmp = tempfile::tempdir().unwrap();
    let sample = sample_export(tmp.path());
    let export = CheckedExport::load(&sample).unwrap();
    let w = week("2026-W47");
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let ways = [
        ("in_workbook", SmallSheets::in_workbook()),
        ("streamed", SmallSheets::streamed_in(scratch.clone())),
        ("fallen_back", SmallSheets::streamed_in(tmp.path().join("no such folder"))),
    ];
    let mut outs = Vec::new();
    for (name, small) in &ways {
        let out = tmp.path().join(name);
        std::fs::create_dir_all(&out).unwrap();
        let mut catalog = Catalog::new(
            &export,
            Rules::builtin(),
            &w.sundays_back(cwkpi::report::TREND_WEEKS),
            &EngineOptions::default(),
        )
        .await
        .unwrap();
        let figures = cwkpi::report::compute_report(&mut catalog, w, &[]).await.unwrap();
        cwkpi::report::write_report_with(figures, &out, small).unwrap();
        outs.push(out);
    }
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "no temporary file is left behind");

    let workbooks: Vec<PathBuf> = std::fs::read_dir(&outs[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xlsx"))
        .collect();
    assert!(workbooks.len() >= 5, "the sample has a workbook per unit");
    // A workbook kept in memory shares its strings in one part; a streamed one writes them in
    // its cells. So the three ways did take different paths.
    let shares_strings = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        bytes.windows(20).any(|w| w == b"xl/sharedStrings.xml")
    };
    for in_workbook in &workbooks {
        let name = in_workbook.file_name().unwrap();
        let (streamed, fallen_back) = (outs[1].join(name), outs[2].join(name));
        assert!(shares_strings(in_workbook) && !shares_strings(&streamed) && shares_strings(&fallen_back), "{name:?}");
        let cells = workbook_cells(in_workbook);
        assert!(cells.len() >= cwkpi::report::xlsx::SHEETS.len(), "{name:?}");
        assert!(cells.iter().map(|(_, rows)| rows.len()).sum::<usize>() > 20, "{name:?} has its tables");
        assert_eq!(cells, workbook_cells(&streamed), "{name:?} streamed");
        assert_eq!(cells, workbook_cells(&fallen_back), "{name:?} kept in memory after all");
    }
    // Everything else is byte for byte the same.
    let others = |out: &Path| {
        files_under(out).into_iter().filter(|(p, _)| p.extension().is_none_or(|e| e != "xlsx")).collect::<Vec<_>>()
    };
    assert_eq!(others(&outs[0]), others(&outs[1]));
    assert_eq!(others(&outs[0]), others(&outs[2]));
}
