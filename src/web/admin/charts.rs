//! The dashboard's charts, drawn as SVG on the server: no script, no build
//! step, readable on a phone (they scale with their `viewBox`) and by a
//! screen reader (each has a title and its figures as text).

use std::fmt::Write;

/// Text for SVG: the five characters XML reserves, escaped.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A round number at or above `max` for an axis, with its four steps.
fn axis_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|top| *top >= max)
        .unwrap_or(10.0 * magnitude)
}

/// An amount for an axis label: 1200 → "1.2k".
fn short(value: f64) -> String {
    match value.abs() {
        v if v >= 1_000_000.0 => format!("{:.1}M", value / 1_000_000.0),
        v if v >= 10_000.0 => format!("{:.0}k", value / 1_000.0),
        v if v >= 1_000.0 => format!("{:.1}k", value / 1_000.0),
        v if v.fract() == 0.0 => format!("{value:.0}"),
        _ => format!("{value:.2}"),
    }
}

/// One week of a currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Week {
    pub label: String,
    pub failed: f64,
    pub recovered: f64,
    /// Recovered share by count, of the cases opened that week.
    pub rate: Option<f64>,
}

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
/// Room right of the plot, so the last label fits.
const RIGHT: f64 = 18.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 12.0;

fn frame(title: &str, body: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>{body}</svg>",
        t = esc(title)
    )
}

/// Horizontal grid lines and their labels from 0 to `top`.
fn grid(top: f64, label: impl Fn(f64) -> String) -> String {
    let mut out = String::new();
    let plot = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let value = top * f64::from(i) / 4.0;
        let y = TOP + plot - plot * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&label(value))
        );
    }
    out
}

/// Week labels under the plot, thinned so they never overlap.
fn week_labels(weeks: &[Week], slot: f64) -> String {
    let every = weeks.len().div_ceil(6).max(1);
    let mut out = String::new();
    for (i, w) in weeks.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let x = LEFT + slot * (i as f64 + 0.5);
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - 8.0,
            esc(&w.label)
        );
    }
    out
}

/// Failed and recovered money per week, side by side.
pub fn revenue(weeks: &[Week], currency: &str) -> String {
    let title = format!("Failed and recovered per week, {currency}");
    if weeks.is_empty() {
        return frame(
            &title,
            "<text class=\"empty\" x=\"240\" y=\"110\" text-anchor=\"middle\">No failed payments in this period</text>",
        );
    }
    let top = axis_top(
        weeks
            .iter()
            .map(|w| w.failed.max(w.recovered))
            .fold(0.0, f64::max),
    );
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / weeks.len() as f64;
    let bar = (slot * 0.36).min(22.0);
    let mut body = grid(top, short);
    // The axis's unit: its amounts are in the page's currency.
    let _ = write!(
        body,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"start\">{}</text>",
        LEFT + 4.0,
        TOP - 2.0,
        esc(currency)
    );
    for (i, w) in weeks.iter().enumerate() {
        let centre = LEFT + slot * (i as f64 + 0.5);
        for (value, class, dx) in [(w.failed, "failed", -bar), (w.recovered, "recovered", 0.0)] {
            let h = plot * value / top;
            let _ = write!(
                body,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" rx=\"2\">\
                 <title>{}: {class} {}</title></rect>",
                centre + dx,
                TOP + plot - h,
                esc(&w.label),
                esc(&format!(
                    "{} {currency}",
                    crate::domain::stats::grouped(&format!("{value:.2}"))
                ))
            );
        }
    }
    body.push_str(&week_labels(weeks, slot));
    frame(&title, &body)
}

/// The recovered share (by count) of each week's cases, as a line.
pub fn rate(weeks: &[Week]) -> String {
    let title = "Recovery rate per week (by count)";
    let points: Vec<(usize, f64)> = weeks
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.rate.map(|r| (i, r)))
        .collect();
    if points.is_empty() {
        return frame(
            title,
            "<text class=\"empty\" x=\"240\" y=\"110\" text-anchor=\"middle\">No cases in this period</text>",
        );
    }
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / weeks.len() as f64;
    let xy = |i: usize, r: f64| (LEFT + slot * (i as f64 + 0.5), TOP + plot - plot * r);
    let mut body = grid(1.0, |v| format!("{:.0}%", v * 100.0));
    let line: Vec<String> = points
        .iter()
        .map(|(i, r)| {
            let (x, y) = xy(*i, *r);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        body,
        "<polyline class=\"rate\" points=\"{}\"/>",
        line.join(" ")
    );
    for (i, r) in &points {
        let (x, y) = xy(*i, *r);
        let _ = write!(
            body,
            "<circle class=\"rate-dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\"><title>{}: {:.0}%</title></circle>",
            esc(&weeks[*i].label),
            r * 100.0
        );
    }
    body.push_str(&week_labels(weeks, slot));
    frame(title, &body)
}

/// One row of a horizontal bar chart: its parts (value, CSS class) and the
/// text to its right.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub parts: Vec<(f64, &'static str)>,
    pub note: String,
}

/// Horizontal stacked bars, all on one scale.
pub fn rows(title: &str, rows: &[Row]) -> String {
    let height = 36.0 * rows.len().max(1) as f64 + 8.0;
    // Room for the longest label (about 7 units a character at 13.5px).
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest as f64 * 7.2 + 8.0).max(150.0);
    let note_w = 110.0;
    let span = WIDTH - label_w - note_w - 12.0;
    let max = rows
        .iter()
        .map(|r| r.parts.iter().map(|p| p.0).sum::<f64>())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut body = String::new();
    for (i, row) in rows.iter().enumerate() {
        let y = 8.0 + 36.0 * i as f64;
        let _ = write!(
            body,
            "<text class=\"label\" x=\"0\" y=\"{:.1}\">{}</text>",
            y + 16.0,
            esc(&row.label)
        );
        let mut x = label_w;
        for (value, class) in &row.parts {
            let w = span * value / max;
            if w > 0.0 {
                let _ = write!(
                    body,
                    "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"22\" rx=\"2\"/>"
                );
            }
            x += w;
        }
        let _ = write!(
            body,
            "<text class=\"note\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 8.0,
            y + 16.0,
            esc(&row.note)
        );
    }
    format!(
        "<svg class=\"chart rows\" viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>{body}</svg>",
        t = esc(title)
    )
}

/// Which local weekday × hour slots recover: each cell's colour is its
/// share of paid attempts, its title the figures; empty slots stay pale.
pub fn slots(slots: &crate::domain::stats::Slots) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let title = "Retries by the customer's local weekday and hour: share paid";
    let (left, top, cell_w, cell_h) = (40.0, 6.0, (WIDTH - 44.0) / 24.0, 22.0);
    let height = top + cell_h * 7.0 + 22.0;
    let mut body = String::new();
    for (d, day) in DAYS.iter().enumerate() {
        let y = top + cell_h * d as f64;
        let _ = write!(
            body,
            "<text class=\"axis\" x=\"0\" y=\"{:.1}\">{day}</text>",
            y + 15.0
        );
        for (h, (attempts, paid)) in slots.cells[d].iter().enumerate() {
            let x = left + cell_w * h as f64;
            let (fill, tip) = if *attempts == 0 {
                ("#f3f4f6".to_owned(), format!("{day} {h:02}:00: no attempt"))
            } else {
                let share = f64::from(*paid) / f64::from(*attempts);
                (
                    // From pale to the full accent as more attempts pay.
                    format!("rgba(37, 99, 235, {:.2})", 0.12 + 0.88 * share),
                    format!("{day} {h:02}:00: {paid} paid of {attempts} attempts"),
                )
            };
            let _ = write!(
                body,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"><title>{}</title></rect>",
                cell_w - 2.0,
                cell_h - 2.0,
                esc(&tip)
            );
        }
    }
    for h in (0..24).step_by(3) {
        let _ = write!(
            body,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{h:02}</text>",
            left + cell_w * (h as f64 + 0.5),
            height - 6.0
        );
    }
    format!(
        "<svg class=\"chart heat\" viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>{body}</svg>",
        t = esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(axis_top(0.0), 1.0);
        assert_eq!(axis_top(83.0), 100.0);
        assert_eq!(axis_top(120.0), 200.0);
        assert_eq!(axis_top(2400.0), 2500.0);
        assert_eq!(short(1200.0), "1.2k");
        assert_eq!(short(49.0), "49");
    }

    #[test]
    fn labels_are_escaped_and_empty_charts_say_so() {
        let svg = revenue(
            &[Week {
                label: "<b>".into(),
                failed: 10.0,
                recovered: 5.0,
                rate: Some(0.5),
            }],
            "usd",
        );
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert!(revenue(&[], "usd").contains("No failed payments"));
        let bars = rows(
            "t",
            &[Row {
                label: "funds".into(),
                parts: vec![(3.0, "recovered"), (1.0, "lost")],
                note: "75%".into(),
            }],
        );
        assert!(bars.contains("class=\"recovered\"") && bars.contains("75%"));
    }
}
