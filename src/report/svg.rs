//! Chart primitives that return inline SVG strings: a [`Chart`] frame (value or date x axis, value y
//! axis, grid, legend) to which lines (downsampled min/max per pixel column), filled areas, markers,
//! bands, rules and labels are added; plus [`histogram`], [`heatmap`] and [`monthly_returns`].
//!
//! Hover values are `<title>` children (shown by browsers as tooltips, no script). Styling comes from
//! classes defined in the page's one stylesheet (see `html.rs`). Coordinates are written with one
//! decimal: a viewBox unit is one CSS pixel at the default width, so finer digits would only add bytes.

use std::fmt::Write as _;

use super::html::escape_into;
use super::scale::{
    BREAK, ColourScale, Fmt, Linear, XValue, finite_range, minmax_columns, tick_label, time_ticks,
    value_text, value_ticks,
};

/// Okabe–Ito blue: strategy, long side, gains.
pub const BLUE: &str = "#0072b2";
/// Okabe–Ito orange: short side, losses, drawdown.
pub const ORANGE: &str = "#e69f00";
/// Okabe–Ito vermillion: stop exits.
pub const VERMILLION: &str = "#d55e00";
/// Okabe–Ito bluish green: target exits.
pub const GREEN: &str = "#009e73";
/// Okabe–Ito reddish purple: end-of-data exits.
pub const PURPLE: &str = "#cc79a7";
/// Okabe–Ito sky blue.
pub const SKY: &str = "#56b4e9";
/// Neutral grey: benchmark lines, signal exits.
pub const GREY: &str = "#7a7a7a";
/// Near-black: price line, other exits.
pub const INK: &str = "#333333";

/// Default chart width in viewBox units (= CSS pixels in the page's 1040 px content column).
pub const WIDTH: f64 = 1040.0;

/// Approximate width in pixels of `s` at 12 px in DejaVu Sans / system sans-serif, from coarse
/// per-character classes (checked in Chromium: "max drawdown span" is 124 px, this gives 123.5).
pub fn text_px(s: &str) -> f64 {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '\'' | '|' => 3.3,
            'f' | 't' | 'r' | ' ' | '.' | ',' | ':' | ';' | '!' | '(' | ')' | '[' | ']' | '-' => {
                4.4
            }
            'm' | 'w' | 'M' | 'W' | '%' | '&' | '—' => 10.5,
            '0'..='9' => 7.6,
            c if c.is_uppercase() => 8.2,
            _ => 7.2,
        })
        .sum()
}

/// Appends `v` rounded to one decimal, without a trailing `.0`.
pub fn num(out: &mut String, v: f64) {
    let t = (v * 10.0).round();
    let t = if t.is_finite() { t as i64 } else { 0 };
    if t % 10 == 0 {
        let _ = write!(out, "{}", t / 10);
    } else {
        let sign = if t < 0 { "-" } else { "" };
        let a = t.unsigned_abs();
        let _ = write!(out, "{sign}{}.{}", a / 10, a % 10);
    }
}

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XKind {
    /// UTC milliseconds, labelled with dates.
    Time,
    /// Numbers in this format.
    Value(Fmt),
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swatch {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// A filled box.
    Box,
    /// An upward triangle.
    Up,
    /// A downward triangle.
    Down,
    /// A dot.
    Dot,
}

/// A marker's shape. Triangles have their tip at the point (an `Up` triangle sits below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Tip up, at the point.
    Up,
    /// Tip down, at the point.
    Down,
    /// A dot centred on the point.
    Dot,
}

/// A marker in data coordinates, with a hover title.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// x (milliseconds on time axes).
    pub x: f64,
    /// y.
    pub y: f64,
    /// Shape.
    pub shape: Shape,
    /// Fill colour.
    pub fill: &'static str,
    /// Hover text.
    pub title: String,
}

/// A chart frame under construction: scales, ticks and the layers drawn so far.
#[derive(Debug, Clone)]
pub struct Chart {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: Linear,
    y: Linear,
    x_ticks: Vec<(f64, String)>,
    y_ticks: Vec<(f64, String)>,
    y_title: Option<String>,
    body: String,
    legend: Vec<(&'static str, String, Swatch)>,
    aria: String,
}

impl Chart {
    /// A `width`×`height` chart over `x_dom` × `y_dom` (data units) labelled `aria` for screen readers.
    /// The left margin grows to fit the y tick labels; the top margin holds the legend.
    pub fn new(
        aria: &str,
        size: (f64, f64),
        x_dom: (f64, f64),
        x_kind: XKind,
        y_dom: (f64, f64),
        y_fmt: Fmt,
    ) -> Chart {
        let (w, h) = size;
        let (top, bottom, right) = (26.0, 24.0, 18.0);
        let plot_h = (h - top - bottom).max(10.0);
        let target = ((plot_h / 36.0) as usize).clamp(3, 10);
        let (step, ys) = value_ticks(y_dom.0, y_dom.1, target, y_fmt);
        let y_ticks: Vec<(f64, String)> = ys
            .into_iter()
            .map(|v| (v, tick_label(v, step, y_fmt)))
            .collect();
        let widest = y_ticks.iter().map(|t| text_px(&t.1)).fold(0.0, f64::max);
        let left = (widest + 14.0).max(36.0);
        let plot_w = (w - left - right).max(10.0);
        let x_ticks = match x_kind {
            XKind::Time => time_ticks(x_dom.0 as i64, x_dom.1 as i64, plot_w)
                .into_iter()
                .map(|(t, s)| (t as f64, s))
                .collect(),
            XKind::Value(fmt) => {
                let (step, xs) = value_ticks(x_dom.0, x_dom.1, (plot_w / 90.0) as usize, fmt);
                xs.into_iter()
                    .map(|v| (v, tick_label(v, step, fmt)))
                    .collect()
            }
        };
        Chart {
            w,
            h,
            left,
            right: w - right,
            top,
            bottom,
            x: Linear::new(x_dom, (left, w - right)),
            y: Linear::new(y_dom, (h - bottom, top)),
            x_ticks,
            y_ticks,
            y_title: None,
            body: String::with_capacity(16 * 1024),
            legend: Vec::new(),
            aria: aria.to_string(),
        }
    }

    /// The x scale (data → pixels).
    pub fn x_scale(&self) -> Linear {
        self.x
    }

    /// The y scale (data → pixels).
    pub fn y_scale(&self) -> Linear {
        self.y
    }

    /// Adds a legend entry.
    pub fn legend(&mut self, colour: &'static str, label: &str, swatch: Swatch) -> &mut Chart {
        self.legend.push((colour, label.to_string(), swatch));
        self
    }

    /// A unit or name written above the y axis.
    pub fn y_title(&mut self, t: &str) -> &mut Chart {
        self.y_title = Some(t.to_string());
        self
    }

    /// A line through `ys` against `xs` (ascending), downsampled to at most four points per pixel column
    /// ([`minmax_columns`]); non-finite values break the line.
    pub fn line<X: XValue>(
        &mut self,
        xs: &[X],
        ys: &[f64],
        colour: &str,
        width: f64,
        dashed: bool,
    ) {
        let keep = minmax_columns(xs, ys, &self.x);
        let _ = write!(
            self.body,
            "<path fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"{} d=\"",
            if dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            }
        );
        let mut pen_up = true;
        for &i in &keep {
            if i == BREAK {
                pen_up = true;
                continue;
            }
            self.body.push(if pen_up { 'M' } else { ' ' });
            pen_up = false;
            self.point(xs[i].x(), ys[i]);
        }
        self.body.push_str("\"/>");
    }

    /// The region between `ys` and the horizontal line at `base`, downsampled like [`Chart::line`].
    pub fn area<X: XValue>(&mut self, xs: &[X], ys: &[f64], base: f64, fill: &str, opacity: f64) {
        let keep = minmax_columns(xs, ys, &self.x);
        let _ = write!(
            self.body,
            "<path fill=\"{fill}\" fill-opacity=\"{opacity}\" d=\""
        );
        let by = self.y.map(base);
        for run in keep.split(|&i| i == BREAK).filter(|r| !r.is_empty()) {
            self.body.push('M');
            num(&mut self.body, self.x.map(xs[run[0]].x()));
            self.body.push(' ');
            num(&mut self.body, by);
            for &i in run {
                self.body.push(' ');
                self.point(xs[i].x(), ys[i]);
            }
            self.body.push(' ');
            num(&mut self.body, self.x.map(xs[run[run.len() - 1]].x()));
            self.body.push(' ');
            num(&mut self.body, by);
            self.body.push('Z');
        }
        self.body.push_str("\"/>");
    }

    fn point(&mut self, x: f64, y: f64) {
        num(&mut self.body, self.x.map(x));
        self.body.push(' ');
        num(&mut self.body, self.y.map(y));
    }

    /// Markers, each with its hover title.
    pub fn markers(&mut self, marks: &[Marker]) {
        for m in marks {
            let (px, py) = (self.x.map(m.x), self.y.map(m.y));
            let _ = write!(self.body, "<path class=\"mk\" fill=\"{}\" d=\"M", m.fill);
            match m.shape {
                Shape::Up | Shape::Down => {
                    num(&mut self.body, px);
                    self.body.push(' ');
                    num(&mut self.body, py);
                    let dy = if m.shape == Shape::Up { "9" } else { "-9" };
                    let _ = write!(self.body, "l5 {dy}h-10z");
                }
                Shape::Dot => {
                    num(&mut self.body, px - 3.5);
                    self.body.push(' ');
                    num(&mut self.body, py);
                    self.body.push_str("a3.5 3.5 0 1 0 7 0a3.5 3.5 0 1 0-7 0z");
                }
            }
            self.body.push_str("\"><title>");
            escape_into(&mut self.body, &m.title);
            self.body.push_str("</title></path>");
        }
    }

    /// A full-height band from `x0` to `x1` with a hover title.
    pub fn vband(&mut self, x0: f64, x1: f64, fill: &str, opacity: f64, title: &str) {
        let (a, b) = (self.x.map(x0), self.x.map(x1));
        let _ = write!(
            self.body,
            "<rect fill=\"{fill}\" fill-opacity=\"{opacity}\" x=\""
        );
        num(&mut self.body, a.min(b));
        self.body.push_str("\" y=\"");
        num(&mut self.body, self.top);
        self.body.push_str("\" width=\"");
        num(&mut self.body, (b - a).abs().max(1.0));
        self.body.push_str("\" height=\"");
        num(&mut self.body, self.h - self.top - self.bottom);
        self.body.push_str("\"><title>");
        escape_into(&mut self.body, title);
        self.body.push_str("</title></rect>");
    }

    /// A rectangle in data coordinates with an optional hover title.
    pub fn rect(&mut self, xr: (f64, f64), yr: (f64, f64), fill: &str, title: Option<&str>) {
        let (x0, x1) = (self.x.map(xr.0), self.x.map(xr.1));
        let (y0, y1) = (self.y.map(yr.0), self.y.map(yr.1));
        let _ = write!(self.body, "<rect class=\"mk\" fill=\"{fill}\" x=\"");
        num(&mut self.body, x0.min(x1));
        self.body.push_str("\" y=\"");
        num(&mut self.body, y0.min(y1));
        self.body.push_str("\" width=\"");
        num(&mut self.body, (x1 - x0).abs());
        self.body.push_str("\" height=\"");
        num(&mut self.body, (y1 - y0).abs());
        match title {
            Some(t) => {
                self.body.push_str("\"><title>");
                escape_into(&mut self.body, t);
                self.body.push_str("</title></rect>");
            }
            None => self.body.push_str("\"/>"),
        }
    }

    /// A horizontal rule across the plot at `y`.
    pub fn hline(&mut self, y: f64, colour: &str, dashed: bool) {
        let py = self.y.map(y);
        let _ = write!(self.body, "<path stroke=\"{colour}\" stroke-width=\"1\"");
        if dashed {
            self.body.push_str(" stroke-dasharray=\"4 3\"");
        }
        self.body.push_str(" d=\"M");
        num(&mut self.body, self.left);
        self.body.push(' ');
        num(&mut self.body, py);
        self.body.push('H');
        num(&mut self.body, self.right);
        self.body.push_str("\"/>");
    }

    /// A vertical rule across the plot at `x`.
    pub fn vline(&mut self, x: f64, colour: &str, dashed: bool) {
        let px = self.x.map(x);
        let _ = write!(self.body, "<path stroke=\"{colour}\" stroke-width=\"1\"");
        if dashed {
            self.body.push_str(" stroke-dasharray=\"4 3\"");
        }
        self.body.push_str(" d=\"M");
        num(&mut self.body, px);
        self.body.push(' ');
        num(&mut self.body, self.top);
        self.body.push('V');
        num(&mut self.body, self.h - self.bottom);
        self.body.push_str("\"/>");
    }

    /// A dot at a data point with a hover title.
    pub fn dot(&mut self, x: f64, y: f64, colour: &str, title: &str) {
        let (px, py) = (self.x.map(x), self.y.map(y));
        let _ = write!(
            self.body,
            "<circle class=\"mk\" fill=\"{colour}\" stroke=\"#fff\" r=\"4\" cx=\""
        );
        num(&mut self.body, px);
        self.body.push_str("\" cy=\"");
        num(&mut self.body, py);
        self.body.push_str("\"><title>");
        escape_into(&mut self.body, title);
        self.body.push_str("</title></circle>");
    }

    /// An annotation at a data point: a dot (with hover title) and a bold label placed above (`above`)
    /// or below it, anchored so that it stays inside the plot.
    pub fn annotate(&mut self, x: f64, y: f64, colour: &str, label: &str, above: bool) {
        self.dot(x, y, colour, label);
        let (px, py) = (self.x.map(x), self.y.map(y));
        let half = text_px(label) / 2.0 + 2.0;
        let right = self.right;
        let (anchor, tx) = if px + half > right {
            ("end", px.min(right))
        } else if px - half < self.left {
            ("start", px.max(self.left))
        } else {
            ("middle", px)
        };
        let ty = if above {
            (py - 9.0).max(self.top + 10.0)
        } else {
            (py + 18.0).min(self.h - self.bottom - 4.0)
        };
        let _ = write!(
            self.body,
            "<text class=\"an\" text-anchor=\"{anchor}\" x=\""
        );
        num(&mut self.body, tx);
        self.body.push_str("\" y=\"");
        num(&mut self.body, ty);
        self.body.push_str("\">");
        escape_into(&mut self.body, label);
        self.body.push_str("</text>");
    }

    /// The finished `<svg>` element.
    pub fn finish(self) -> String {
        let mut out = String::with_capacity(self.body.len() + 4096);
        open_svg(&mut out, self.w, self.h, &self.aria);
        self.axes(&mut out);
        out.push_str(&self.body);
        self.legend_row(&mut out);
        out.push_str("</svg>");
        out
    }

    fn axes(&self, out: &mut String) {
        let (bottom, right) = (self.h - self.bottom, self.right);
        out.push_str("<path class=\"g\" d=\"");
        for (v, _) in &self.y_ticks {
            out.push('M');
            num(out, self.left);
            out.push(' ');
            num(out, self.y.map(*v));
            out.push('H');
            num(out, right);
        }
        for (v, _) in &self.x_ticks {
            out.push('M');
            num(out, self.x.map(*v));
            out.push(' ');
            num(out, self.top);
            out.push('V');
            num(out, bottom);
        }
        out.push_str("\"/><path class=\"ax\" fill=\"none\" d=\"M");
        num(out, self.left);
        out.push(' ');
        num(out, self.top);
        out.push('V');
        num(out, bottom);
        out.push('H');
        num(out, right);
        out.push_str("\"/>");
        for (v, s) in &self.y_ticks {
            out.push_str("<text class=\"tl\" text-anchor=\"end\" dy=\".32em\" x=\"");
            num(out, self.left - 6.0);
            out.push_str("\" y=\"");
            num(out, self.y.map(*v));
            out.push_str("\">");
            escape_into(out, s);
            out.push_str("</text>");
        }
        for (v, s) in &self.x_ticks {
            let px = self.x.map(*v);
            let half = text_px(s) / 2.0;
            let (anchor, tx) = if px + half > self.w - 2.0 {
                ("end", self.w - 2.0)
            } else if px - half < 2.0 {
                ("start", 2.0)
            } else {
                ("middle", px)
            };
            let _ = write!(out, "<text class=\"tl\" text-anchor=\"{anchor}\" x=\"");
            num(out, tx);
            out.push_str("\" y=\"");
            num(out, bottom + 16.0);
            out.push_str("\">");
            escape_into(out, s);
            out.push_str("</text>");
        }
    }

    fn legend_row(&self, out: &mut String) {
        let mut x = self.left;
        if let Some(t) = &self.y_title {
            out.push_str("<text class=\"al\" x=\"");
            num(out, 4.0);
            out.push_str("\" y=\"15\">");
            escape_into(out, t);
            out.push_str("</text>");
            x = x.max(4.0 + text_px(t) + 24.0);
        }
        for (colour, label, sw) in &self.legend {
            swatch(out, x, 11.0, colour, *sw);
            out.push_str("<text class=\"lg\" x=\"");
            num(out, x + 18.0);
            out.push_str("\" y=\"15\">");
            escape_into(out, label);
            out.push_str("</text>");
            x += 18.0 + text_px(label) + 18.0;
        }
    }
}

fn open_svg(out: &mut String, w: f64, h: f64, aria: &str) {
    out.push_str("<svg viewBox=\"0 0 ");
    num(out, w);
    out.push(' ');
    num(out, h);
    out.push_str("\" width=\"");
    num(out, w);
    out.push_str("\" height=\"");
    num(out, h);
    out.push_str("\" style=\"max-width:");
    num(out, w);
    out.push_str("px\" role=\"img\" aria-label=\"");
    escape_into(out, aria);
    out.push_str("\">");
}

/// A legend swatch centred vertically on `cy`, 14 px wide starting at `x`.
fn swatch(out: &mut String, x: f64, cy: f64, colour: &str, sw: Swatch) {
    out.push_str("<path");
    match sw {
        Swatch::Line | Swatch::Dashed => {
            let _ = write!(
                out,
                " fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\""
            );
            if sw == Swatch::Dashed {
                out.push_str(" stroke-dasharray=\"4 2\"");
            }
            out.push_str(" d=\"M");
            num(out, x);
            out.push(' ');
            num(out, cy);
            out.push_str("h14");
        }
        Swatch::Box => {
            let _ = write!(out, " fill=\"{colour}\" d=\"M");
            num(out, x);
            out.push(' ');
            num(out, cy - 5.0);
            out.push_str("h12v10h-12z");
        }
        Swatch::Up | Swatch::Down => {
            let _ = write!(out, " fill=\"{colour}\" d=\"M");
            num(out, x + 6.0);
            out.push(' ');
            num(out, if sw == Swatch::Up { cy - 5.0 } else { cy + 5.0 });
            out.push_str(if sw == Swatch::Up {
                "l6 10h-12z"
            } else {
                "l6 -10h-12z"
            });
        }
        Swatch::Dot => {
            let _ = write!(out, " fill=\"{colour}\" d=\"M");
            num(out, x + 2.0);
            out.push(' ');
            num(out, cy);
            out.push_str("a4 4 0 1 0 8 0a4 4 0 1 0-8 0z");
        }
    }
    out.push_str("\"/>");
}

/// Bins of a histogram: the edges (`bins + 1` values, evenly spaced at a nice step, with 0 on an edge
/// whenever the range spans it) and the count in each bin `[edge_i, edge_i+1)`, the last bin closed.
pub fn bin(values: &[f64], target_bins: usize) -> (Vec<f64>, Vec<usize>) {
    let Some((lo, hi)) = finite_range(values) else {
        return (Vec::new(), Vec::new());
    };
    let step = if hi > lo {
        super::scale::nice_step((hi - lo) / target_bins.max(1) as f64)
    } else {
        super::scale::nice_step(lo.abs().max(1.0) / 10.0)
    };
    let first = (lo / step).floor() as i64;
    let mut nb = ((hi / step).floor() as i64 - first + 1).max(1) as usize;
    if (first + nb as i64 - 1) as f64 * step == hi && nb > 1 && hi > lo {
        nb -= 1; // hi sits exactly on an edge: close the last bin instead of opening an empty one
    }
    let edges: Vec<f64> = (0..=nb).map(|i| (first + i as i64) as f64 * step).collect();
    let mut counts = vec![0usize; nb];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v / step).floor() as i64 - first).max(0) as usize).min(nb - 1);
        counts[b] += 1;
    }
    (edges, counts)
}

/// How a histogram colours and names the bars below and above zero, and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistStyle {
    /// Colour and legend label of bars at or below zero.
    pub below: (&'static str, &'static str),
    /// Colour and legend label of bars above zero.
    pub above: (&'static str, &'static str),
    /// What is counted (`trades`): the y-axis title and the unit in the bars' titles.
    pub unit: &'static str,
}

/// Trade returns: losses orange, gains blue.
pub const RETURNS: HistStyle = HistStyle {
    below: (ORANGE, "loss"),
    above: (BLUE, "gain"),
    unit: "trades",
};

/// A histogram of `values` (e.g. trade returns in percent): losses orange, gains blue, a rule at 0 and
/// a dashed rule at the mean. Each bar's title gives its range and count.
pub fn histogram(values: &[f64], fmt: Fmt, aria: &str, size: (f64, f64)) -> String {
    histogram_styled(values, fmt, aria, size, RETURNS)
}

/// [`histogram`] with the colours, labels and unit of `style`.
pub fn histogram_styled(
    values: &[f64],
    fmt: Fmt,
    aria: &str,
    size: (f64, f64),
    style: HistStyle,
) -> String {
    let n = values.iter().filter(|v| v.is_finite()).count();
    let target = ((2.0 * (n as f64).sqrt()).ceil() as usize).clamp(10, 50);
    let (edges, counts) = bin(values, target);
    if counts.is_empty() {
        return Chart::new(
            aria,
            size,
            (0.0, 1.0),
            XKind::Value(fmt),
            (0.0, 1.0),
            Fmt::Count,
        )
        .finish();
    }
    let top = *counts.iter().max().unwrap_or(&1) as f64;
    let x_dom = (edges[0], edges[edges.len() - 1]);
    let mut c = Chart::new(
        aria,
        size,
        x_dom,
        XKind::Value(fmt),
        (0.0, top * 1.1),
        Fmt::Count,
    );
    c.y_title(style.unit);
    let mut title = String::new();
    for (i, &k) in counts.iter().enumerate().filter(|(_, k)| **k > 0) {
        let (a, b) = (edges[i], edges[i + 1]);
        let fill = if b <= 0.0 {
            style.below.0
        } else {
            style.above.0
        };
        title.clear();
        let close = if i + 1 == counts.len() { "]" } else { ")" };
        let _ = write!(
            title,
            "[{}, {}{close}: {k} {}",
            value_text(a, fmt),
            value_text(b, fmt),
            if k == 1 {
                style.unit.strip_suffix('s').unwrap_or(style.unit)
            } else {
                style.unit
            }
        );
        let px_per_unit = c_k(&c);
        // 1 px between bars when they are wide enough to spare it
        let gap = if px_per_unit * (b - a) > 4.0 {
            1.0 / px_per_unit
        } else {
            0.0
        };
        c.rect((a + gap, b - gap), (0.0, k as f64), fill, Some(&title));
    }
    if x_dom.0 < 0.0 && x_dom.1 > 0.0 {
        c.vline(0.0, INK, false);
    }
    let mean = values.iter().filter(|v| v.is_finite()).sum::<f64>() / n as f64;
    c.vline(mean, INK, true);
    c.legend(style.below.0, style.below.1, Swatch::Box);
    c.legend(style.above.0, style.above.1, Swatch::Box);
    c.legend(
        INK,
        &format!("mean {}", value_text(mean, fmt)),
        Swatch::Dashed,
    );
    c.finish()
}

/// Pixels per data unit along x (for converting a pixel gap into data units).
fn c_k(c: &Chart) -> f64 {
    let s = c.x_scale();
    let k = s.map(1.0) - s.map(0.0);
    if k.abs() > 0.0 { k.abs() } else { 1.0 }
}

/// A grid of values drawn as coloured cells.
#[derive(Debug, Clone, Copy)]
pub struct Grid<'a> {
    /// Screen-reader label.
    pub aria: &'a str,
    /// Name of the column variable (x).
    pub x_name: &'a str,
    /// Name of the row variable (y).
    pub y_name: &'a str,
    /// Column labels, left to right.
    pub x_labels: &'a [String],
    /// Row labels, top to bottom.
    pub y_labels: &'a [String],
    /// `values[row * x_labels.len() + col]`; non-finite = no value (drawn hatched).
    pub values: &'a [f64],
    /// How values are written.
    pub fmt: Fmt,
    /// Cell colours.
    pub scale: ColourScale,
    /// A cell (col, row) to outline, e.g. the best candidate.
    pub highlight: Option<(usize, usize)>,
}

/// The heatmap of `g`, at most `width` wide: a cell per value with a `<title>` naming x, y and the
/// value, values written in cells large enough, hatched empty cells, and a colour legend.
pub fn heatmap(g: &Grid, width: f64) -> String {
    let (nx, ny) = (g.x_labels.len().max(1), g.y_labels.len().max(1));
    let ylw = g.y_labels.iter().map(|s| text_px(s)).fold(4.0, f64::max);
    let left = 24.0 + ylw + 8.0;
    let cw = ((width - left - 12.0) / nx as f64).clamp(4.0, 90.0);
    let ch = (cw * 0.5).clamp(12.0, 28.0);
    let (top, grid_w, grid_h) = (8.0, cw * nx as f64, ch * ny as f64);
    let w = (left + grid_w + 12.0).max(420.0);
    let h = top + grid_h + 20.0 + 20.0 + 44.0;
    let mut out = String::with_capacity(nx * ny * 90 + 4096);
    open_svg(&mut out, w, h, g.aria);
    let show_values = cw >= 40.0 && ch >= 15.0;
    let mut title = String::new();
    for row in 0..ny {
        for col in 0..nx {
            let v = g.values.get(row * nx + col).copied().unwrap_or(f64::NAN);
            let (x, y) = (left + col as f64 * cw, top + row as f64 * ch);
            title.clear();
            let lab = |l: &[String], i: usize| l.get(i).cloned().unwrap_or_default();
            let _ = write!(
                title,
                "{}={}, {}={}: {}",
                g.x_name,
                lab(g.x_labels, col),
                g.y_name,
                lab(g.y_labels, row),
                if v.is_finite() {
                    value_text(v, g.fmt)
                } else {
                    "no value".into()
                }
            );
            let label = (show_values && v.is_finite()).then(|| short_value(v, g.fmt));
            cell(
                &mut out,
                (x, y, cw, ch),
                v,
                &g.scale,
                &title,
                label.as_deref(),
            );
        }
    }
    if let Some((c, r)) = g.highlight.filter(|&(c, r)| c < nx && r < ny) {
        out.push_str("<rect fill=\"none\" stroke=\"#000\" stroke-width=\"2.5\" x=\"");
        num(&mut out, left + c as f64 * cw + 1.0);
        out.push_str("\" y=\"");
        num(&mut out, top + r as f64 * ch + 1.0);
        let _ = write!(
            out,
            "\" width=\"{:.1}\" height=\"{:.1}\"/>",
            cw - 2.0,
            ch - 2.0
        );
    }
    grid_labels(&mut out, g, (left, top, cw, ch));
    let has_nan = g.values.iter().take(nx * ny).any(|v| !v.is_finite()) || g.values.len() < nx * ny;
    colour_legend(
        &mut out,
        &g.scale,
        g.fmt,
        (left, top + grid_h + 46.0),
        has_nan,
    );
    out.push_str("</svg>");
    out
}

/// One heatmap cell at (x, y, w, h) with its title; a non-finite value is a pale hatched cell.
fn cell(
    out: &mut String,
    r: (f64, f64, f64, f64),
    v: f64,
    scale: &ColourScale,
    title: &str,
    label: Option<&str>,
) {
    let (x, y, w, h) = r;
    let rgb = if v.is_finite() {
        Some(scale.colour(v))
    } else {
        None
    };
    let fill = rgb.map_or_else(|| "#f3f3f3".to_string(), |c| c.hex());
    out.push_str("<g class=\"mk\"><title>");
    escape_into(out, title);
    let _ = write!(out, "</title><rect fill=\"{fill}\" stroke=\"#fff\" x=\"");
    num(out, x);
    out.push_str("\" y=\"");
    num(out, y);
    out.push_str("\" width=\"");
    num(out, w);
    out.push_str("\" height=\"");
    num(out, h);
    out.push_str("\"/>");
    match rgb {
        None => {
            out.push_str("<path stroke=\"#c4c4c4\" d=\"M");
            num(out, x + 2.0);
            out.push(' ');
            num(out, y + h - 2.0);
            out.push('L');
            num(out, x + w - 2.0);
            out.push(' ');
            num(out, y + 2.0);
            out.push_str("\"/>");
        }
        Some(c) if label.is_some() => {
            let cls = if c.is_dark() { "cv w" } else { "cv" };
            let _ = write!(
                out,
                "<text class=\"{cls}\" text-anchor=\"middle\" dy=\".32em\" x=\""
            );
            num(out, x + w / 2.0);
            out.push_str("\" y=\"");
            num(out, y + h / 2.0);
            out.push_str("\">");
            escape_into(out, label.unwrap_or_default());
            out.push_str("</text>");
        }
        Some(_) => {}
    }
    out.push_str("</g>");
}

/// A value short enough for a cell: 3 significant digits or 2 decimals, `k`/`M` for large numbers.
pub fn short_value(v: f64, fmt: Fmt) -> String {
    let a = v.abs();
    let s = if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if fmt == Fmt::Pct { format!("{s}%") } else { s }
}

/// Row and column labels (thinned so they never overlap) and the two axis names.
fn grid_labels(out: &mut String, g: &Grid, r: (f64, f64, f64, f64)) {
    let (left, top, cw, ch) = r;
    let (nx, ny) = (g.x_labels.len(), g.y_labels.len());
    let xlw = g.x_labels.iter().map(|s| text_px(s)).fold(4.0, f64::max);
    let every_x = ((xlw + 8.0) / cw).ceil().max(1.0) as usize;
    let every_y = (14.0 / ch).ceil().max(1.0) as usize;
    let base = top + ch * ny as f64;
    for (i, l) in g
        .x_labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every_x == 0)
    {
        out.push_str("<text class=\"tl\" text-anchor=\"middle\" x=\"");
        num(out, left + (i as f64 + 0.5) * cw);
        out.push_str("\" y=\"");
        num(out, base + 15.0);
        out.push_str("\">");
        escape_into(out, l);
        out.push_str("</text>");
    }
    for (i, l) in g
        .y_labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every_y == 0)
    {
        out.push_str("<text class=\"tl\" text-anchor=\"end\" dy=\".32em\" x=\"");
        num(out, left - 6.0);
        out.push_str("\" y=\"");
        num(out, top + (i as f64 + 0.5) * ch);
        out.push_str("\">");
        escape_into(out, l);
        out.push_str("</text>");
    }
    out.push_str("<text class=\"al\" text-anchor=\"middle\" x=\"");
    num(out, left + cw * nx as f64 / 2.0);
    out.push_str("\" y=\"");
    num(out, base + 34.0);
    out.push_str("\">");
    escape_into(out, g.x_name);
    out.push_str("</text><text class=\"al\" text-anchor=\"middle\" transform=\"rotate(-90)\" x=\"");
    num(out, -(top + ch * ny as f64 / 2.0));
    out.push_str("\" y=\"14\">");
    escape_into(out, g.y_name);
    out.push_str("</text>");
}

/// A horizontal colour bar 240 px wide at (x, y) with values at its stops, and a "no value" swatch.
fn colour_legend(out: &mut String, scale: &ColourScale, fmt: Fmt, at: (f64, f64), nan: bool) {
    let (x, y) = at;
    let stops = scale.stops();
    let (lo, hi) = (stops[0], stops[stops.len() - 1]);
    const STEPS: usize = 40;
    const BAR: f64 = 240.0;
    for i in 0..STEPS {
        let v = lo + (hi - lo) * (i as f64 + 0.5) / STEPS as f64;
        let _ = write!(out, "<rect fill=\"{}\" x=\"", scale.colour(v).hex());
        num(out, x + BAR * i as f64 / STEPS as f64);
        out.push_str("\" y=\"");
        num(out, y);
        let _ = write!(
            out,
            "\" width=\"{:.1}\" height=\"10\"/>",
            BAR / STEPS as f64 + 0.3
        );
    }
    for &s in &stops {
        let t = if hi > lo { (s - lo) / (hi - lo) } else { 0.5 };
        let anchor = if t <= 0.0 {
            "start"
        } else if t >= 1.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(out, "<text class=\"tl\" text-anchor=\"{anchor}\" x=\"");
        num(out, x + BAR * t);
        out.push_str("\" y=\"");
        num(out, y + 24.0);
        out.push_str("\">");
        escape_into(out, &short_value(s, fmt));
        out.push_str("</text>");
    }
    if nan {
        let nx = x + BAR + 24.0;
        out.push_str("<rect fill=\"#f3f3f3\" stroke=\"#c4c4c4\" x=\"");
        num(out, nx);
        out.push_str("\" y=\"");
        num(out, y - 2.0);
        out.push_str("\" width=\"14\" height=\"14\"/><path stroke=\"#c4c4c4\" d=\"M");
        num(out, nx + 2.0);
        out.push(' ');
        num(out, y + 10.0);
        out.push_str("l10 -10\"/><text class=\"lg\" x=\"");
        num(out, nx + 20.0);
        out.push_str("\" y=\"");
        num(out, y + 10.0);
        out.push_str("\">no value</text>");
    }
}

/// One calendar year of monthly returns (percent; non-finite = no data that month).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YearRow {
    /// Calendar year (UTC).
    pub year: i32,
    /// January … December.
    pub months: [f64; 12],
    /// Compounded return of the year's months with data.
    pub total: f64,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Years × months heatmap of returns with a yearly total column (coloured on its own scale, since
/// years move more than months). Values are written in every cell; titles name month and year.
pub fn monthly_returns(rows: &[YearRow], width: f64) -> String {
    let (left, top, gap, ch) = (48.0, 22.0, 14.0, 24.0);
    let cw = ((width - left - gap - 8.0) / 13.0).clamp(30.0, 64.0);
    let w = left + 13.0 * cw + gap + 8.0;
    let h = top + rows.len() as f64 * ch + 6.0;
    let mut out = String::with_capacity(rows.len() * 13 * 120 + 1024);
    open_svg(&mut out, w, h, "monthly returns heatmap");
    let months: Vec<f64> = rows.iter().flat_map(|r| r.months).collect();
    let years: Vec<f64> = rows.iter().map(|r| r.total).collect();
    let ms = ColourScale::for_values(&months, 0.0);
    let ys = ColourScale::for_values(&years, 0.0);
    for (i, m) in MONTHS.iter().chain(["Year"].iter()).enumerate() {
        let x = left + i as f64 * cw + if i == 12 { gap } else { 0.0 } + cw / 2.0;
        out.push_str("<text class=\"al\" text-anchor=\"middle\" x=\"");
        num(&mut out, x);
        let _ = write!(out, "\" y=\"15\">{m}</text>");
    }
    let mut title = String::new();
    for (r, row) in rows.iter().enumerate() {
        let y = top + r as f64 * ch;
        let _ = write!(
            out,
            "<text class=\"al\" text-anchor=\"end\" dy=\".32em\" x=\"{:.0}\" y=\"",
            left - 8.0
        );
        num(&mut out, y + ch / 2.0);
        let _ = write!(out, "\">{}</text>", row.year);
        for (i, &v) in row.months.iter().chain([row.total].iter()).enumerate() {
            title.clear();
            let what = if i == 12 {
                "Year".to_string()
            } else {
                MONTHS[i].to_string()
            };
            let val = if v.is_finite() {
                format!("{v:+.2}%")
            } else {
                "no data".into()
            };
            let _ = write!(title, "{what} {}: {val}", row.year);
            let x = left + i as f64 * cw + if i == 12 { gap } else { 0.0 };
            let scale = if i == 12 { &ys } else { &ms };
            month_cell(&mut out, (x, y, cw, ch), v, scale, &title);
        }
    }
    out.push_str("</svg>");
    out
}

/// A monthly-returns cell: coloured with its value written, or pale and empty without data.
fn month_cell(out: &mut String, r: (f64, f64, f64, f64), v: f64, scale: &ColourScale, title: &str) {
    if v.is_finite() {
        // 1234.5 → "1235", 56789 → "57k": fits the cell
        let text = if v.abs() < 100.0 {
            format!("{v:.1}")
        } else {
            short_value(v, Fmt::Num)
        };
        cell(out, r, v, scale, title, Some(&text));
        return;
    }
    let (x, y, w, h) = r;
    out.push_str("<rect fill=\"#fafafa\" stroke=\"#fff\" x=\"");
    num(out, x);
    out.push_str("\" y=\"");
    num(out, y);
    let _ = write!(out, "\" width=\"{w:.1}\" height=\"{h:.1}\"><title>");
    escape_into(out, title);
    out.push_str("</title></rect>");
}
