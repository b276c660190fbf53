//! The HTML document builder: a title, a subtitle and sections (heading, caption, blocks: key/value
//! metrics, headline cards, tables with elided middles, inline SVG charts, notices), rendered as one self-contained page
//! with a single inline `<style>` (light theme, print-friendly). All text passes through [`escape`].

use std::fmt::Write as _;

/// `s` with `& < > " '` replaced by entities, safe in text and in quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// Appends `s` escaped (see [`escape`]) to `out`.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// A table: header, rows, right-aligned numeric columns, and optionally a "… K rows omitted …" line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    header: Vec<String>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
    /// (rows shown before the omitted line, rows omitted).
    omitted: Option<(usize, usize)>,
}

impl Table {
    /// A table with these column headings and no rows.
    pub fn new(header: Vec<String>) -> Table {
        let numeric = vec![false; header.len()];
        Table {
            header,
            numeric,
            ..Table::default()
        }
    }

    /// Marks column `i` as numeric (right-aligned).
    pub fn numeric(mut self, cols: &[usize]) -> Table {
        for &i in cols {
            if let Some(n) = self.numeric.get_mut(i) {
                *n = true;
            }
        }
        self
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The first `head` and last `tail` of `total` rows, built by `row(i)` only for the rows shown; when
    /// rows are left out, a line between says how many.
    pub fn elided(
        header: Vec<String>,
        total: usize,
        head: usize,
        tail: usize,
        mut row: impl FnMut(usize) -> Vec<String>,
    ) -> Table {
        let mut t = Table::new(header);
        if total <= head + tail {
            t.rows = (0..total).map(&mut row).collect();
        } else {
            t.rows = (0..head).chain(total - tail..total).map(&mut row).collect();
            t.omitted = Some((head, total - head - tail));
        }
        t
    }

    /// Number of rows held (shown).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn render(&self, out: &mut String) {
        let cls = |i: usize| {
            if self.numeric.get(i) == Some(&true) {
                " class=\"n\""
            } else {
                ""
            }
        };
        out.push_str("<div class=\"tw\"><table class=\"data\"><thead><tr>");
        for (i, h) in self.header.iter().enumerate() {
            let _ = write!(out, "<th scope=\"col\"{}>", cls(i));
            escape_into(out, h);
            out.push_str("</th>");
        }
        out.push_str("</tr></thead><tbody>");
        for (r, row) in self.rows.iter().enumerate() {
            if let Some((at, n)) = self.omitted
                && r == at
            {
                let _ = write!(
                    out,
                    "<tr class=\"omit\"><td colspan=\"{}\">… {} rows omitted …</td></tr>",
                    self.header.len().max(1),
                    group_thousands(n)
                );
            }
            out.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let _ = write!(out, "<td{}>", cls(i));
                escape_into(out, cell);
                out.push_str("</td>");
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
}

/// `1234567` → `1,234,567`.
pub fn group_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether a headline value is good or bad news (its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// Neither.
    #[default]
    Plain,
    /// A gain.
    Up,
    /// A loss.
    Down,
}

/// One labelled value: a row of a key/value table or a headline card. A metric of the field table
/// carries its `backtest --json` key, rendered as the element's `data-key`, so a reader (or a test)
/// finds a number by the name it has everywhere else.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stat {
    /// The `backtest --json` key, for metrics of the field table.
    pub key: Option<&'static str>,
    /// What is shown as the label.
    pub label: String,
    /// The value, shown verbatim.
    pub value: String,
    /// Its colour on a headline card.
    pub tone: Tone,
}

impl Stat {
    /// A labelled value that is not a metric of the field table.
    pub fn plain(label: impl Into<String>, value: impl Into<String>) -> Stat {
        Stat {
            label: label.into(),
            value: value.into(),
            ..Stat::default()
        }
    }
}

/// One piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Label/value rows, shown as given.
    Metrics(Vec<Stat>),
    /// The few numbers that answer the page's question, as large cards.
    Cards(Vec<Stat>),
    /// A data table.
    Table(Table),
    /// An inline SVG chart built by [`super::svg`] (trusted markup; its text is already escaped).
    Svg(String),
    /// A highlighted notice such as "No trades".
    Notice(String),
    /// A plain paragraph.
    Text(String),
}

/// A titled part of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The `<h2>`; also the section's `id` (slugged).
    pub heading: String,
    /// A line under the heading saying how to read what follows.
    pub caption: Option<String>,
    /// The content, in order.
    pub blocks: Vec<Block>,
}

impl Section {
    /// Sets the caption.
    pub fn caption(&mut self, text: impl Into<String>) -> &mut Section {
        self.caption = Some(text.into());
        self
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) -> &mut Section {
        self.blocks.push(block);
        self
    }
}

/// A report page under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    title: String,
    subtitle: Option<String>,
    sections: Vec<Section>,
}

impl Document {
    /// A page with this title (also the `<title>`) and optional subtitle.
    pub fn new(title: impl Into<String>, subtitle: Option<String>) -> Document {
        Document {
            title: title.into(),
            subtitle: subtitle.filter(|s| !s.is_empty()),
            sections: Vec::new(),
        }
    }

    /// Starts a section and returns it for filling.
    pub fn section(&mut self, heading: impl Into<String>) -> &mut Section {
        self.sections.push(Section {
            heading: heading.into(),
            caption: None,
            blocks: Vec::new(),
        });
        self.sections.last_mut().expect("just pushed")
    }

    /// The sections so far.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The complete page.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        out.push_str("<meta name=\"generator\" content=\"flowrex\"><title>");
        escape_into(&mut out, &self.title);
        out.push_str("</title><style>");
        out.push_str(STYLE);
        out.push_str("</style></head>\n<body><main><header><h1>");
        escape_into(&mut out, &self.title);
        out.push_str("</h1>");
        if let Some(s) = &self.subtitle {
            out.push_str("<p class=\"sub\">");
            escape_into(&mut out, s);
            out.push_str("</p>");
        }
        out.push_str("</header>\n");
        for s in &self.sections {
            render_section(&mut out, s);
        }
        out.push_str("</main></body></html>\n");
        out
    }
}

fn render_section(out: &mut String, s: &Section) {
    let _ = write!(out, "<section id=\"{}\"><h2>", slug(&s.heading));
    escape_into(out, &s.heading);
    out.push_str("</h2>");
    if let Some(c) = &s.caption {
        out.push_str("<p class=\"cap\">");
        escape_into(out, c);
        out.push_str("</p>");
    }
    for b in &s.blocks {
        match b {
            Block::Metrics(kv) => render_metrics(out, kv),
            Block::Cards(cards) => render_cards(out, cards),
            Block::Table(t) => t.render(out),
            Block::Svg(svg) => {
                out.push_str("<figure>");
                out.push_str(svg);
                out.push_str("</figure>");
            }
            Block::Notice(text) => {
                out.push_str("<p class=\"notice\">");
                escape_into(out, text);
                out.push_str("</p>");
            }
            Block::Text(text) => {
                out.push_str("<p>");
                escape_into(out, text);
                out.push_str("</p>");
            }
        }
    }
    out.push_str("</section>\n");
}

/// ` data-key="KEY"` for a metric of the field table (keys are plain identifiers; escaped anyway).
fn key_attr(out: &mut String, key: Option<&str>) {
    if let Some(k) = key {
        out.push_str(" data-key=\"");
        escape_into(out, k);
        out.push('"');
    }
}

fn render_metrics(out: &mut String, kv: &[Stat]) {
    out.push_str("<table class=\"kv\"><tbody>");
    for s in kv {
        out.push_str("<tr");
        key_attr(out, s.key);
        out.push_str("><th scope=\"row\">");
        escape_into(out, &s.label);
        out.push_str("</th><td>");
        escape_into(out, &s.value);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table>");
}

fn render_cards(out: &mut String, cards: &[Stat]) {
    out.push_str("<div class=\"cards\">");
    for s in cards {
        out.push_str("<div class=\"card\"");
        key_attr(out, s.key);
        out.push_str("><div class=\"l\">");
        escape_into(out, &s.label);
        out.push_str("</div><div class=\"");
        out.push_str(match s.tone {
            Tone::Plain => "v",
            Tone::Up => "v up",
            Tone::Down => "v dn",
        });
        out.push_str("\">");
        escape_into(out, &s.value);
        out.push_str("</div></div>");
    }
    out.push_str("</div>");
}

/// `"Price & trades"` → `"price-trades"`: lowercase ASCII letters and digits joined by single dashes.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "s".into() } else { out }
}

/// The page's only stylesheet. Chart classes used by [`super::svg`]: `g` grid line, `ax` axis line,
/// `tl` tick label, `al` axis title, `lg` legend text, `an` annotation text, `mk` marker (hover outline),
/// `cv` value inside a heatmap cell (`cv w` on dark cells). System fonts only, no web fonts.
const STYLE: &str = "\
:root{color-scheme:light}\
*{box-sizing:border-box}\
body{margin:0;background:#fff;color:#1b1b1b;font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}\
main{max-width:1080px;margin:0 auto;padding:24px 20px 48px}\
h1{font-size:24px;margin:0 0 2px;line-height:1.25}\
.sub{color:#555;margin:0 0 8px}\
section{margin:26px 0 0}\
h2{font-size:17px;margin:0 0 4px;padding-bottom:3px;border-bottom:1px solid #d8d8d8}\
.cap{color:#555;font-size:13px;margin:2px 0 8px}\
figure{margin:0}\
svg{display:block;width:100%;height:auto}\
svg text{font-family:inherit;font-size:12px;fill:#444}\
svg .tl{fill:#555}svg .al{fill:#333;font-weight:600}svg .lg{fill:#222}\
svg .an{fill:#222;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}\
svg .cv{font-size:11px;fill:#222}svg .cv.w{fill:#fff}\
svg .g{stroke:#ebebeb;stroke-width:1}svg .ax{stroke:#9a9a9a;stroke-width:1}\
svg .mk:hover{stroke:#000;stroke-width:1.5}svg rect.mk:hover{stroke-width:2}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums}\
.tw{overflow-x:auto}\
table.data{width:100%;font-size:13px}\
.data th,.data td{padding:3px 8px;border-bottom:1px solid #ececec;text-align:left;white-space:nowrap}\
.data thead th{border-bottom:2px solid #ccc;background:#fafafa}\
.data .n{text-align:right}\
.data .omit td{text-align:center;color:#666;font-style:italic;background:#fafafa}\
table.kv{width:100%}\
.kv tbody{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));column-gap:28px}\
.kv tr{display:flex;justify-content:space-between;border-bottom:1px solid #ececec;padding:3px 0}\
.kv th{font-weight:normal;color:#444;text-align:left;padding-right:12px}\
.kv td{font-weight:600;text-align:right}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(112px,1fr));gap:10px;margin:10px 0 14px}\
.card{border:1px solid #e0e0e0;border-radius:6px;padding:7px 12px;background:#fafafa}\
.card .l{font-size:12px;color:#555}.card .v{font-size:21px;font-weight:650;font-variant-numeric:tabular-nums}\
.card .up{color:#00734f}.card .dn{color:#b03a00}\
.notice{padding:10px 14px;background:#f5f5f5;border-left:4px solid #8a8a8a;color:#222;margin:6px 0}\
@media print{body{font-size:11px}main{max-width:none;padding:0}section{break-inside:avoid}.tw{overflow:visible}}\
";
