//! Charts as server-rendered SVG: no script, no download. Each one is readable without
//! colour: series differ by line pattern and marker shape, every bar carries its value as
//! text, and pages show the same figures in a table beside the chart.

use std::fmt::Write;

/// Escapes text for SVG/XML content and attributes.
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

/// How a series is drawn, so that it can be told apart in black and white.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A solid line with round markers.
    SolidCircles,
    /// A dashed line with square markers.
    DashedSquares,
    /// A dotted line with diamond markers.
    DottedDiamonds,
}

impl Style {
    fn dash(self) -> &'static str {
        match self {
            Style::SolidCircles => "",
            Style::DashedSquares => " stroke-dasharray=\"8 4\"",
            Style::DottedDiamonds => " stroke-dasharray=\"2 3\"",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Style::SolidCircles => "#1d4ed8",
            Style::DashedSquares => "#047857",
            Style::DottedDiamonds => "#b45309",
        }
    }

    fn marker(self, x: f64, y: f64) -> String {
        let c = self.colour();
        match self {
            Style::SolidCircles => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{c}\"/>"),
            Style::DashedSquares => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{c}\"/>",
                x - 3.5,
                y - 3.5
            ),
            Style::DottedDiamonds => format!(
                "<path d=\"M{x:.1} {:.1} L{:.1} {y:.1} L{x:.1} {:.1} L{:.1} {y:.1} Z\" fill=\"{c}\"/>",
                y - 4.5,
                x + 4.5,
                y + 4.5,
                x - 4.5
            ),
        }
    }
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// One value a label.
    pub values: Vec<f64>,
    /// How it is drawn.
    pub style: Style,
}

const WIDTH: f64 = 640.0;

/// A line chart of `series` over `labels` (such as days), with axes, a legend and a title.
pub fn line_chart(id: &str, title: &str, labels: &[String], series: &[Series]) -> String {
    let height = 260.0;
    let (left, right, top, bottom) = (48.0, 16.0, 36.0, 40.0);
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let ceiling = nice_ceiling(max);
    let n = labels.len().max(1);
    let x_of = |i: usize| {
        if n == 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y_of = |v: f64| top + plot_h - plot_h * v / ceiling;
    let mut svg = open(id, title, WIDTH, height, &describe_lines(labels, series));
    // Grid and y axis labels.
    for step in 0..=4 {
        let v = ceiling * f64::from(step) / 4.0;
        let y = y_of(v);
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d1d5db\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#374151\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            format_number(v)
        );
    }
    // X labels: at most 8, evenly spread.
    let every = n.div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every == 0 || i + 1 == n {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#374151\">{}</text>",
                x_of(i),
                height - bottom + 16.0,
                escape(label)
            );
        }
    }
    for s in series {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"{}\"/>",
            s.style.colour(),
            s.style.dash(),
            points.join(" ")
        );
        if s.values.len() <= 60 {
            for (i, v) in s.values.iter().enumerate() {
                svg.push_str(&s.style.marker(x_of(i), y_of(*v)));
            }
        }
    }
    // Legend: the pattern and marker beside each name.
    let mut x = left;
    for s in series {
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"16\" y2=\"16\" stroke=\"{}\" stroke-width=\"2\"{}/>{}\
             <text x=\"{:.1}\" y=\"20\" font-size=\"12\" fill=\"#111827\">{}</text>",
            x + 28.0,
            s.style.colour(),
            s.style.dash(),
            s.style.marker(x + 14.0, 16.0),
            x + 34.0,
            escape(&s.name)
        );
        x += 44.0 + 7.0 * s.name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// One bar of a bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// What it is.
    pub label: String,
    /// Its length.
    pub value: f64,
    /// The text shown at its end (the value, formatted).
    pub text: String,
}

/// A horizontal bar chart: each bar labelled with its name and value.
pub fn bar_chart(id: &str, title: &str, bars: &[Bar]) -> String {
    let row = 30.0;
    let (left, top) = (170.0, 8.0);
    let height = top * 2.0 + row * bars.len().max(1) as f64;
    let max = bars
        .iter()
        .map(|b| b.value)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let plot_w = WIDTH - left - 230.0;
    let description = bars
        .iter()
        .map(|b| format!("{}: {}", b.label, b.text))
        .collect::<Vec<_>>()
        .join("; ");
    let mut svg = open(id, title, WIDTH, height, &description);
    if bars.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"8\" y=\"24\" font-size=\"13\" fill=\"#374151\">No data yet</text>"
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let w = (plot_w * bar.value / max).max(if bar.value > 0.0 { 2.0 } else { 0.0 });
        let label: String = bar.label.chars().take(24).collect();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\" fill=\"#111827\">{}</text>\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"#1d4ed8\" stroke=\"#1e3a8a\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#111827\">{}</text>",
            left - 8.0,
            y + 14.0,
            escape(&label),
            y + 2.0,
            left + w + 6.0,
            y + 14.0,
            escape(&bar.text)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(id: &str, title: &str, width: f64, height: f64, description: &str) -> String {
    let id = escape(id);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"system-ui, sans-serif\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(description)
    )
}

fn describe_lines(labels: &[String], series: &[Series]) -> String {
    let mut text = String::new();
    for s in series {
        let total: f64 = s.values.iter().sum();
        let _ = write!(text, "{}: {} in all", s.name, format_number(total));
        if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
            let _ = write!(text, " from {first} to {last}");
        }
        text.push_str(". ");
    }
    text
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn format_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = bar_chart(
            "c",
            "Programs",
            &[Bar {
                label: "<script>alert(1)</script>".into(),
                value: 3.0,
                text: "3".into(),
            }],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn every_bar_says_its_value_in_text() {
        let svg = bar_chart(
            "c",
            "Funnel",
            &[
                Bar {
                    label: "Created".into(),
                    value: 10.0,
                    text: "10".into(),
                },
                Bar {
                    label: "Converted".into(),
                    value: 4.0,
                    text: "4 (40.0%)".into(),
                },
            ],
        );
        assert!(svg.contains(">10</text>"));
        assert!(svg.contains(">4 (40.0%)</text>"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"c-title\">Funnel</title>"));
    }

    #[test]
    fn series_differ_by_pattern_not_only_colour() {
        let svg = line_chart(
            "t",
            "Trend",
            &["2026-01-01".into(), "2026-01-02".into()],
            &[
                Series {
                    name: "Referrals".into(),
                    values: vec![3.0, 5.0],
                    style: Style::SolidCircles,
                },
                Series {
                    name: "Converted".into(),
                    values: vec![1.0, 2.0],
                    style: Style::DashedSquares,
                },
            ],
        );
        assert!(svg.contains("stroke-dasharray=\"8 4\""));
        assert!(svg.contains("<circle"));
        assert!(svg.contains("<rect"));
        assert!(svg.contains("Referrals: 8 in all from 2026-01-01 to 2026-01-02"));
    }

    #[test]
    fn ceilings_are_round_numbers() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(2300.0), 2500.0);
    }
}
