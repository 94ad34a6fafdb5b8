//! Writing into a worksheet: typed cells, the formats, report tables as Excel tables,
//! and met / not met coloured by formula against the target.

use super::{EXCEL_ROWS, TABLE_HEADER_ROW};
use crate::error::{Error, Result};
use crate::report::da;
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::utility::row_col_to_cell;
use rust_xlsxwriter::{
    Color, ConditionalFormatFormula, ExcelDateTime, Format, Table, TableColumn, TableStyle, Worksheet, XlsxError,
};
use std::path::Path;

pub(super) enum Cell {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    /// A fraction shown as a percentage.
    Pct(Option<f64>),
    /// Percentage points.
    Points(Option<f64>),
    /// Kroner with øre.
    Money(Option<f64>),
    Date(NaiveDate),
}

pub(super) struct Formats {
    pub(super) title: Format,
    pub(super) date: Format,
    pub(super) pct: Format,
    pub(super) points: Format,
    pub(super) money: Format,
    pub(super) green: Format,
    pub(super) red: Format,
}

impl Formats {
    pub(super) fn new() -> Formats {
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            date: Format::new().set_num_format("dd-mm-yyyy"),
            pct: Format::new().set_num_format("0.0%"),
            points: Format::new().set_num_format("+0.0;-0.0;0.0"),
            money: Format::new().set_num_format("#,##0.00"),
            green: Format::new().set_background_color(Color::RGB(0xC6EFCE)).set_font_color(Color::RGB(0x006100)),
            red: Format::new().set_background_color(Color::RGB(0xFFC7CE)).set_font_color(Color::RGB(0x9C0006)),
        }
    }
}

pub(super) fn xlsx_error(e: XlsxError) -> Error {
    match (&e, xlsx_io_cause(&e)) {
        // A sheet's temporary file names the folder it was to be made in.
        (XlsxError::TempFileError(dir, _), Some(io)) => Error::writing(dir, io),
        (_, Some(io)) => Error::writing(Path::new("an Excel workbook's sheet"), io),
        (_, None) => Error::Internal(format!("Excel workbook: {e}")),
    }
}

/// The OS error inside a workbook error: a file it could not write, or the temporary file
/// of a sheet written in constant memory that it could not create.
pub(super) fn xlsx_io_cause(e: &XlsxError) -> Option<&(dyn std::error::Error + 'static)> {
    match e {
        XlsxError::IoError(io) | XlsxError::TempFileError(_, io) => Some(io),
        XlsxError::ZipError(zip) => Some(zip),
        _ => None,
    }
}

/// Where a written table's data sits, for conditional formats.
pub(super) struct Placed {
    pub(super) first: u32,
    pub(super) last: u32,
}

/// Writes a title, a note and an Excel table with a header row. An empty table gets one
/// blank row, since Excel tables need a data row.
pub(super) fn write_table(
    ws: &mut Worksheet,
    f: &Formats,
    name: &str,
    title: &str,
    note: &str,
    columns: &[(&str, f64)],
    rows: &[Vec<Cell>],
) -> Result<Placed> {
    let header = TABLE_HEADER_ROW;
    // A sheet holds 1,048,576 rows; a longer list is cut there and says so (the CSV table
    // under tables/ has every row).
    let room = (EXCEL_ROWS - header - 1) as usize;
    let note = if rows.len() > room {
        format!(
            "{note} Listen har {} rækker; arket viser de første {}, og hele listen står i tables/.",
            da::integer(rows.len() as i64),
            da::integer(room as i64)
        )
    } else {
        note.to_string()
    };
    let rows = &rows[..rows.len().min(room)];
    // A column whose numbers all share one format carries it, and its cells are written
    // without one: the writer gives such a cell its column's style, where a format passed
    // with each cell is looked up by hashing the whole format (7–8 % of the pages' time).
    // Set first, so a sheet written in memory and one streamed row by row style the same
    // cells (the note's too, when it stands in such a column).
    let column_formats = column_formats(f, columns.len(), rows);
    for (c, format) in column_formats.iter().enumerate() {
        if let Some(format) = format {
            ws.set_column_format(c as u16, format).map_err(xlsx_error)?;
        }
    }
    ws.write_string_with_format(0, 0, title, &f.title).map_err(xlsx_error)?;
    ws.write_string(1, 0, &note).map_err(xlsx_error)?;
    // The table first: its header row is written when it is added, and a sheet written in
    // constant memory takes its rows in order.
    let last = header + rows.len().max(1) as u32;
    let table_columns: Vec<TableColumn> = columns.iter().map(|(h, _)| TableColumn::new().set_header(*h)).collect();
    let table =
        Table::new().set_name(name).set_columns(&table_columns).set_style(TableStyle::Medium2).set_autofilter(true);
    ws.add_table(header, 0, last, columns.len() as u16 - 1, &table).map_err(xlsx_error)?;
    for (r, row) in rows.iter().enumerate() {
        let r = header + 1 + r as u32;
        for (c, cell) in row.iter().enumerate() {
            // The cell's own format only where its column carries none.
            let own = cell_format(f, cell).flatten().filter(|_| column_formats.get(c).copied().flatten().is_none());
            let c = c as u16;
            match cell {
                Cell::Text(s) => ws.write_string(r, c, s).map(|_| ()),
                Cell::OptText(Some(s)) => ws.write_string(r, c, s).map(|_| ()),
                Cell::Int(n) | Cell::OptInt(Some(n)) => ws.write_number(r, c, *n as f64).map(|_| ()),
                Cell::Pct(Some(x)) | Cell::Points(Some(x)) | Cell::Money(Some(x)) => match own {
                    Some(format) => ws.write_number_with_format(r, c, *x, format).map(|_| ()),
                    None => ws.write_number(r, c, *x).map(|_| ()),
                },
                Cell::Date(d) => {
                    let date =
                        ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).map_err(xlsx_error)?;
                    match own {
                        Some(format) => ws.write_date_with_format(r, c, &date, format).map(|_| ()),
                        None => ws.write_datetime(r, c, &date).map(|_| ()),
                    }
                }
                Cell::OptText(None) | Cell::OptInt(None) | Cell::Pct(None) | Cell::Points(None) | Cell::Money(None) => {
                    Ok(())
                }
            }
            .map_err(xlsx_error)?;
        }
    }
    for (c, (_, width)) in columns.iter().enumerate() {
        ws.set_column_width(c as u16, *width).map_err(xlsx_error)?;
    }
    ws.set_freeze_panes(header + 1, 0).map_err(xlsx_error)?;
    ws.set_paper_size(9); // A4
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    Ok(Placed { first: header + 1, last })
}

/// Each column's number format when every value in it has the same one (a percentage, a
/// date …); None for a column of text and whole numbers, or of values formatted differently.
fn column_formats<'f>(f: &'f Formats, width: usize, rows: &[Vec<Cell>]) -> Vec<Option<&'f Format>> {
    (0..width)
        .map(|c| {
            // Each filled cell's format (None for text and whole numbers); empty cells skipped.
            let mut formats = rows.iter().filter_map(|row| row.get(c)).filter_map(|cell| cell_format(f, cell));
            let first: &Format = formats.next()??;
            formats.all(|format| format.is_some_and(|format| std::ptr::eq(format, first))).then_some(first)
        })
        .collect()
}

/// A filled cell's number format: Some(None) for text and whole numbers, None when empty.
fn cell_format<'f>(f: &'f Formats, cell: &Cell) -> Option<Option<&'f Format>> {
    match cell {
        Cell::Pct(Some(_)) => Some(Some(&f.pct)),
        Cell::Points(Some(_)) => Some(Some(&f.points)),
        Cell::Money(Some(_)) => Some(Some(&f.money)),
        Cell::Date(_) => Some(Some(&f.date)),
        Cell::Text(_) | Cell::OptText(Some(_)) | Cell::Int(_) | Cell::OptInt(Some(_)) => Some(None),
        Cell::OptText(None) | Cell::OptInt(None) | Cell::Pct(None) | Cell::Points(None) | Cell::Money(None) => None,
    }
}

/// Colours column `col` green where `met` holds and red where `not_met` does; both are
/// formulas over the first data row (Excel shifts them down the column).
pub(super) fn colour(
    ws: &mut Worksheet,
    f: &Formats,
    at: &Placed,
    col: u16,
    met: Option<&str>,
    not_met: &str,
) -> Result<()> {
    for (rule, format) in [(met, &f.green), (Some(not_met), &f.red)] {
        let Some(rule) = rule else { continue };
        let cf = ConditionalFormatFormula::new().set_rule(rule).set_format(format);
        ws.add_conditional_format(at.first, col, at.last, col, &cf).map_err(xlsx_error)?;
    }
    Ok(())
}

/// Green when a share in `share_col` reaches the target (a cell or a number), red below.
pub(super) fn colour_share(ws: &mut Worksheet, f: &Formats, at: &Placed, share_col: u16, target: &str) -> Result<()> {
    colour_share_towards(ws, f, at, share_col, target, false)
}

/// As `colour_share`; when `lower_is_better` (complaints) green at or below the target and
/// red above it.
pub(super) fn colour_share_towards(
    ws: &mut Worksheet,
    f: &Formats,
    at: &Placed,
    share_col: u16,
    target: &str,
    lower_is_better: bool,
) -> Result<()> {
    let cell = column_cell(at, share_col);
    let (good, bad) = if lower_is_better { ("<=", ">") } else { (">=", "<") };
    colour(
        ws,
        f,
        at,
        share_col,
        Some(&format!("=AND(ISNUMBER({cell}),{cell}{good}{target})")),
        &format!("=AND(ISNUMBER({cell}),{cell}{bad}{target})"),
    )
}

/// The first data cell of a column with the column fixed and the row relative ("$E5"),
/// so a rule over the column compares each row with its own cells.
pub(super) fn column_cell(at: &Placed, col: u16) -> String {
    let cell = row_col_to_cell(at.first, col);
    let split = cell.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
    format!("${}{}", &cell[..split], &cell[split..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn a_column_carries_the_format_all_its_values_share() {
        let f = Formats::new();
        let rows = vec![
            vec![
                Cell::Pct(Some(0.5)),
                Cell::Date(day()),
                Cell::Text("a".into()),
                Cell::Pct(Some(0.5)),
                Cell::Pct(None),
            ],
            vec![Cell::Pct(None), Cell::Date(day()), Cell::Int(3), Cell::Money(Some(1.0)), Cell::Pct(None)],
            vec![Cell::Pct(Some(1.0)), Cell::Date(day()), Cell::OptText(None), Cell::Pct(Some(0.1)), Cell::Pct(None)],
        ];
        let formats = column_formats(&f, 5, &rows);
        let is = |c: usize, format: &Format| formats[c].is_some_and(|x| std::ptr::eq(x, format));
        // Percentages (an empty cell does not count), dates.
        assert!(is(0, &f.pct) && is(1, &f.date), "{formats:?}");
        // Text and whole numbers carry none; nor do percentages beside money, nor an empty column.
        assert_eq!((formats[2], formats[3], formats[4]), (None, None, None));
        // A table wider than its rows: the missing columns carry none.
        assert_eq!(column_formats(&f, 6, &rows)[5], None);
    }
}
