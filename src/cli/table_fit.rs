//! Tables that fit the screen: every text table goes through [`fit`], which wraps prose columns and,
//! when that is not enough, leaves columns out (and says which), so an 80-column terminal shows no
//! wrapped borders. `--wide` turns this off.
//!
//! The width is chosen once per process by [`set_width`]: unlimited with `--wide`; else `$COLUMNS`
//! when exported; else the terminal's width when stdout is one; else 80 (a pipe, a file, a cron mail).

use std::sync::atomic::{AtomicUsize, Ordering};

use tabled::grid::util::string::{get_char_width, get_line_width};

/// The width when stdout is not a terminal and `$COLUMNS` is not set: the classic terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// Narrower than this, a table cannot say anything useful; `$COLUMNS` below it is ignored.
const MIN_WIDTH: usize = 20;

/// A prose column (one whose cells hold spaces) is wrapped no narrower than this, or its longest
/// word when that is shorter: 12 keeps "0.618..=0.786:0.168"-like tokens whole, a phrase per line.
const MIN_PROSE: usize = 12;

/// The width every table is fitted to (`usize::MAX` = `--wide`).
static WIDTH: AtomicUsize = AtomicUsize::new(DEFAULT_WIDTH);

/// Sets the table width for this process: see the module documentation.
pub fn set_width(wide: bool) {
    let width = if wide {
        usize::MAX
    } else {
        columns_env()
            .or_else(|| {
                terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0 as usize)
            })
            .filter(|w| *w >= MIN_WIDTH)
            .unwrap_or(DEFAULT_WIDTH)
    };
    WIDTH.store(width, Ordering::Relaxed);
}

/// The width help wraps at where clap would not know one: clap wraps at 100 columns when stdout is not
/// a terminal and `$COLUMNS` is unset (a pipe, a file); tables fit [`DEFAULT_WIDTH`] there, and so does
/// help. `None`: clap's own choice (the terminal's width, or `$COLUMNS`).
pub fn help_width() -> Option<usize> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    (columns_env().is_none() && !terminal).then_some(DEFAULT_WIDTH)
}

fn columns_env() -> Option<usize> {
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

/// The width tables are fitted to.
pub fn width() -> usize {
    WIDTH.load(Ordering::Relaxed)
}

/// A table as text cells: the header row and the body rows (every row as long as the header).
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    /// Column titles.
    pub header: Vec<String>,
    /// The body.
    pub rows: Vec<Vec<String>>,
    /// Columns (by title) to leave out first when the table is too wide, before any other.
    pub optional: Vec<String>,
}

impl Cells {
    /// The cells of derived `Tabled` rows.
    pub fn of<T: tabled::Tabled>(rows: impl IntoIterator<Item = T>) -> Cells {
        Cells {
            header: T::headers().into_iter().map(|h| h.into_owned()).collect(),
            rows: rows
                .into_iter()
                .map(|r| r.fields().into_iter().map(|f| f.into_owned()).collect())
                .collect(),
            optional: Vec::new(),
        }
    }

    /// Names the columns to leave out first, in this order, when the table does not fit.
    pub fn optional(mut self, titles: &[&str]) -> Cells {
        self.optional = titles.iter().map(|t| t.to_string()).collect();
        self
    }

    /// The column to leave out next: the first optional one still there, else the last.
    fn next_to_leave_out(&self) -> usize {
        self.optional
            .iter()
            .find_map(|o| self.header.iter().position(|h| h == o))
            .unwrap_or(self.header.len() - 1)
    }

    /// Removes column `i` (a column a caller shows only on request).
    pub fn remove_column(&mut self, i: usize) {
        if i < self.header.len() {
            self.header.remove(i);
            for r in &mut self.rows {
                r.remove(i);
            }
        }
    }

    /// The widest line of each column, header included.
    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| text_width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(text_width(c));
            }
        }
        w
    }

    /// The narrowest a column may be wrapped to, or None when it is not prose: a column is prose
    /// when some cell has three words or more; numbers, times (`2012-06-01 09:00`) and pairs
    /// (`GOOG 1d`, `limit 500`) stay on one line.
    fn floor(&self, i: usize) -> Option<usize> {
        let cells = || self.rows.iter().map(|r| &r[i]);
        if !cells().any(|c| c.split_whitespace().nth(2).is_some()) {
            return None;
        }
        let longest_word = cells()
            .chain(std::iter::once(&self.header[i]))
            .flat_map(|c| c.split_whitespace())
            .map(text_width)
            .max()
            .unwrap_or(1);
        Some(longest_word.clamp(1, MIN_PROSE))
    }
}

/// The rendered width of a table whose columns are `widths` wide, in the sharp style: one space of
/// padding on each side of a cell and one border character between cells and at both ends.
fn table_width(widths: &[usize]) -> usize {
    widths.iter().map(|w| w + 3).sum::<usize>() + 1
}

fn text_width(s: &str) -> usize {
    s.lines().map(get_line_width).max().unwrap_or(0)
}

/// `cells` as a table no wider than `max` (see the module documentation): first the prose columns
/// are wrapped, widest first, down to their floor; then columns are left out, the optional ones first,
/// then from the right (the first column, the row's name, stays), and a line after the table names
/// them.
pub fn fit(mut cells: Cells, max: usize) -> String {
    let mut left_out = Vec::new();
    let widths = loop {
        let widths = wrapped_widths(&cells, max);
        if table_width(&widths) <= max || cells.header.len() <= 1 {
            break widths;
        }
        let i = cells.next_to_leave_out();
        left_out.push(cells.header[i].clone());
        cells.remove_column(i);
    };
    for (i, w) in widths.iter().enumerate() {
        for r in &mut cells.rows {
            r[i] = wrap(&r[i], *w);
        }
        cells.header[i] = wrap(&cells.header[i], *w);
    }
    let mut out = render(cells);
    if !left_out.is_empty() {
        let note = format!(
            "(left out to fit {max} columns: {}; --wide shows them)",
            left_out.join(", ")
        );
        out.push('\n');
        out.push_str(&wrap(&note, max));
    }
    out
}

/// The column widths after wrapping prose columns (widest first, one character at a time) until the
/// table fits `max` or every prose column is at its floor.
fn wrapped_widths(cells: &Cells, max: usize) -> Vec<usize> {
    let mut widths = cells.widths();
    let floors: Vec<Option<usize>> = (0..widths.len()).map(|i| cells.floor(i)).collect();
    while table_width(&widths) > max {
        let widest = (0..widths.len())
            .filter(|&i| floors[i].is_some_and(|f| widths[i] > f))
            .max_by_key(|&i| (widths[i], std::cmp::Reverse(i)));
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
    widths
}

/// A time as tables show it: `2012-06-01 09:00` for `2012-06-01T09:00:00Z` or
/// `2012-06-01T09:00:00.000Z` (bars and orders here fall on whole minutes; 4 to 8 characters
/// narrower); any other text as it is.
pub fn short_time(t: &str) -> String {
    let minutes = t
        .strip_suffix(":00.000Z")
        .or_else(|| t.strip_suffix(":00Z"));
    match minutes {
        Some(m) if m.len() == 16 && m.as_bytes()[10] == b'T' => m.replacen('T', " ", 1),
        _ => t.to_string(),
    }
}

/// `text` wrapped at spaces to lines of at most `width` (a word longer than that is cut).
pub fn wrap(text: &str, width: usize) -> String {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if get_line_width(line) <= width {
            out.push(line.to_string());
            continue;
        }
        let mut cur = String::new();
        let mut cur_w = 0;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let ww = get_line_width(word);
            if cur_w > 0 && cur_w + 1 + ww <= width {
                cur.push(' ');
                cur.push_str(word);
                cur_w += 1 + ww;
                continue;
            }
            if cur_w > 0 {
                out.push(std::mem::take(&mut cur));
                cur_w = 0;
            }
            for ch in word.chars() {
                let cw = get_char_width(ch);
                if cur_w + cw > width && cur_w > 0 {
                    out.push(std::mem::take(&mut cur));
                    cur_w = 0;
                }
                cur.push(ch);
                cur_w += cw;
            }
        }
        out.push(cur);
    }
    out.join("\n")
}

fn render(cells: Cells) -> String {
    use tabled::settings::object::Columns;
    use tabled::settings::{Alignment, Style};
    let numeric: Vec<usize> = (0..cells.header.len())
        .filter(|&i| numeric_column(cells.rows.iter().map(|r| r[i].as_str())))
        .collect();
    let mut b = tabled::builder::Builder::with_capacity(cells.rows.len() + 1, cells.header.len());
    b.push_record(cells.header);
    for r in cells.rows {
        b.push_record(r);
    }
    let mut table = b.build();
    table.with(Style::sharp());
    for i in numeric {
        table.modify(Columns::one(i), Alignment::right());
    }
    table.to_string()
}

/// Whether a column holds numbers, to be right-aligned so that digits of the same place line up: at
/// least one cell is a number (`-16.71`, `1,234`, `12.5%`, `2.04×`) and every other cell is one too or
/// says there is none (empty, `—`, `-`).
fn numeric_column<'a>(mut cells: impl Iterator<Item = &'a str>) -> bool {
    let mut any = false;
    let all = cells.all(|c| {
        let c = c.trim();
        if matches!(c, "" | "—" | "-") {
            return true;
        }
        let bare = c.trim_end_matches(['%', '×', 'x']).replace(',', "");
        // Digits first: "inf" and "NaN" parse as floats, and so would a symbol named INF.
        let digits = bare
            .trim_start_matches(['-', '+'])
            .starts_with(|c: char| c.is_ascii_digit());
        let number = digits && bare.parse::<f64>().is_ok();
        any |= number;
        number
    });
    all && any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(header: &[&str], rows: &[&[&str]]) -> Cells {
        Cells {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
            optional: vec![],
        }
    }

    fn widest(s: &str) -> usize {
        s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn the_width_formula_matches_the_rendering() {
        // "│ ab │ c │": 1 + (2+3) + (1+3) = 10 characters.
        let t = fit(cells(&["ab", "c"], &[&["x", "y"]]), 200);
        assert_eq!(widest(&t), 10);
        assert_eq!(table_width(&[2, 1]), 10);
    }

    #[test]
    fn prose_wraps_at_spaces_and_values_stay_whole() {
        let long = "bars in the slow simple moving average of the close (must exceed fast)";
        let c = cells(
            &["Param", "Valid", "Meaning"],
            &[&["slow", "2..=100000", long]],
        );
        let t = fit(c, 40);
        assert!(widest(&t) <= 40, "{t}");
        assert!(t.contains("2..=100000"), "values are not wrapped: {t}");
        assert!(!t.contains("left out"), "{t}");
        // Every word of the prose is still there, in order.
        let words: Vec<&str> = t
            .lines()
            .filter_map(|l| l.split('│').nth(3))
            .flat_map(|c| c.split_whitespace())
            .collect();
        assert_eq!(words.join(" "), format!("Meaning {long}"));
    }

    #[test]
    fn columns_are_left_out_from_the_right_and_named() {
        // Ten 9-character values: 10 × 12 + 1 = 121 columns; at 50 only (50 - 1) / 12 = 4 fit.
        let header: Vec<String> = (0..10).map(|i| format!("col{i}")).collect();
        let row: Vec<String> = (0..10).map(|i| format!("{i:09}")).collect();
        let t = fit(
            Cells {
                header,
                rows: vec![row],
                optional: vec![],
            },
            50,
        );
        assert!(widest(&t) <= 50, "{t}");
        assert!(t.contains("col3") && !t.contains("col4 "), "{t}");
        // The note is wrapped to 50 columns as well.
        let note: Vec<&str> = t.lines().skip(5).collect();
        assert!(note.iter().all(|l| l.chars().count() <= 50), "{t}");
        assert_eq!(
            note.join(" "),
            "(left out to fit 50 columns: col9, col8, col7, col6, col5, col4; --wide shows them)"
        );
    }

    #[test]
    fn optional_columns_go_first() {
        // 4 columns of 5: 4 × 8 + 1 = 33; at 30 one must go, and it is the optional "b", not "d".
        let c = cells(
            &["aaaaa", "bbbbb", "ccccc", "ddddd"],
            &[&["1", "2", "3", "4"]],
        );
        let t = fit(c.optional(&["bbbbb"]), 30);
        assert!(t.lines().next().unwrap().chars().count() == 25, "{t}");
        assert!(
            t.contains("ddddd") && !t.lines().nth(1).unwrap().contains("bbbbb"),
            "{t}"
        );
        // The note, wrapped to 30: "(left out to fit 30 columns:" and "bbbbb; --wide shows them)".
        let note: Vec<&str> = t.lines().skip(5).collect();
        assert_eq!(
            note,
            ["(left out to fit 30 columns:", "bbbbb; --wide shows them)"]
        );
    }

    #[test]
    fn numbers_are_right_aligned_and_text_is_not() {
        let t = fit(
            cells(
                &["name", "ret %", "note"],
                &[
                    &["a", "-16.71", "x"],
                    &["bb", "3.98", "—"],
                    &["c", "—", "2"],
                ],
            ),
            80,
        );
        let lines: Vec<&str> = t.lines().collect();
        // The numbers end in the same column; the names and the note (one "x") start in theirs.
        assert_eq!(lines[3], "│ a    │ -16.71 │ x    │");
        assert_eq!(lines[4], "│ bb   │   3.98 │ —    │");
        assert_eq!(lines[5], "│ c    │      — │ 2    │");
        assert!(lines[1].contains("│  ret % │"), "{t}");
    }

    #[test]
    fn what_counts_as_a_number_column() {
        let col = |c: &[&str]| numeric_column(c.iter().copied());
        assert!(col(&["1,234", "12.5%", "2.04×", "-3", "+0.5", "—", ""]));
        assert!(!col(&["—", "-", ""]), "no number at all");
        assert!(!col(&["1", "GOOG"]));
        assert!(!col(&["inf", "NaN"]), "words that parse as floats");
        assert!(!col(&["2004-08-19", "1"]), "dates");
        assert!(!col(&["fast=10 slow=30"]));
    }

    #[test]
    fn short_times() {
        assert_eq!(short_time("2017-04-19T09:00:00Z"), "2017-04-19 09:00");
        assert_eq!(short_time("2012-06-01T00:00:00.000Z"), "2012-06-01 00:00");
        // Seconds that are not zero, and dates, stay as they are.
        assert_eq!(
            short_time("2012-06-01T00:00:07.000Z"),
            "2012-06-01T00:00:07.000Z"
        );
        assert_eq!(short_time("2012-06-01"), "2012-06-01");
    }

    #[test]
    fn wrap_cuts_a_word_longer_than_the_line() {
        assert_eq!(wrap("abcdefgh ij", 3), "abc\ndef\ngh\nij");
        assert_eq!(wrap("a bc d", 4), "a bc\nd");
        assert_eq!(wrap("short", 10), "short");
    }
}
