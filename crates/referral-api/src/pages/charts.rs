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

/// The two drawings of every chart: one for desktops, one for phones (shown under 600 px
/// by the stylesheet). A phone's 640-unit drawing would shrink its text to 6 px; the narrow
/// one is drawn at the phone's own scale, with fewer ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frame {
    width: f64,
    font: f64,
    /// Most labels on the x axis.
    ticks: usize,
    /// The id suffix and class of this drawing.
    suffix: &'static str,
}

const WIDE: Frame = Frame {
    width: 640.0,
    font: 12.0,
    ticks: 8,
    suffix: "",
};

const NARROW: Frame = Frame {
    width: 340.0,
    font: 12.0,
    ticks: 4,
    suffix: "-narrow",
};

/// About how wide `text` is at `font` (the width of an average character of a sans-serif
/// face is about 0.6 of its size): enough to keep labels inside the drawing.
fn text_width(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * 0.6
}

/// Both drawings of a chart, side by side in the page (the stylesheet shows one).
fn pair(draw: impl Fn(Frame) -> String) -> String {
    format!(
        "<div class=\"chart-pair\">{}{}</div>",
        draw(WIDE),
        draw(NARROW)
    )
}

/// A line chart of `series` over `labels` (such as days), with axes, a legend and a title.
pub fn line_chart(id: &str, title: &str, labels: &[String], series: &[Series]) -> String {
    pair(|frame| line_drawing(frame, id, title, labels, series))
}

fn line_drawing(
    frame: Frame,
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
) -> String {
    let font = frame.font;
    // The legend flows onto as many rows as it needs.
    let mut legend = Vec::new();
    let (mut x, mut row) = (8.0, 0.0_f64);
    for s in series {
        let item = 40.0 + text_width(&s.name, font);
        if x + item > frame.width - 8.0 && x > 8.0 {
            x = 8.0;
            row += 1.0;
        }
        legend.push((x, 16.0 + row * (font + 6.0), s));
        x += item + 12.0;
    }
    let height = 240.0 + row * (font + 6.0);
    let (left, right, top, bottom) = (44.0, 12.0, 30.0 + row * (font + 6.0), 36.0);
    let plot_w = frame.width - left - right;
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
    let full_id = format!("{id}{}", frame.suffix);
    let mut svg = open(
        &full_id,
        frame,
        title,
        height,
        &describe_lines(labels, series),
    );
    // Grid and y axis labels.
    for step in 0..=4 {
        let v = ceiling * f64::from(step) / 4.0;
        let y = y_of(v);
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d1d5db\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"{font}\" fill=\"#374151\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            format_number(v)
        );
    }
    // X labels: thinned to the frame's ticks; the first starts at its point and the last
    // ends at its point, so that none leaves the drawing.
    for i in x_ticks(n, frame.ticks) {
        let Some(label) = labels.get(i) else { continue };
        let half = text_width(label, font) / 2.0;
        let at = x_of(i);
        let anchor = if at - half < 0.0 {
            "start"
        } else if at + half > frame.width {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            "<text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"{font}\" fill=\"#374151\">{}</text>",
            height - bottom + 18.0,
            escape(label)
        );
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
    for (x, y, s) in legend {
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"2\"{}/>{}\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{font}\" fill=\"#111827\">{}</text>",
            x + 28.0,
            s.style.colour(),
            s.style.dash(),
            s.style.marker(x + 14.0, y),
            x + 34.0,
            y + 4.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Which of `n` points carry a label: at most `most`, evenly spread, the last always.
fn x_ticks(n: usize, most: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let every = n.div_ceil(most.max(1)).max(1);
    let mut ticks: Vec<usize> = (0..n).filter(|i| i % every == 0).collect();
    if ticks.last() != Some(&(n - 1)) {
        // The last point's label replaces a neighbour that would overlap it.
        if ticks.len() >= most {
            ticks.pop();
        }
        ticks.push(n - 1);
    }
    ticks
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
    pair(|frame| bar_drawing(frame, id, title, bars))
}

fn bar_drawing(frame: Frame, id: &str, title: &str, bars: &[Bar]) -> String {
    let font = frame.font;
    let narrow = frame == NARROW;
    // Wide: the name left of its bar. Narrow: the name above its bar, full width.
    let row = if narrow { 2.0 * font + 16.0 } else { 30.0 };
    let top = 8.0;
    let height = top * 2.0 + row * bars.len().max(1) as f64;
    let max = bars
        .iter()
        .map(|b| b.value)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let widest_text = bars
        .iter()
        .map(|b| text_width(&b.text, font))
        .fold(0.0_f64, f64::max);
    let left = if narrow { 8.0 } else { 170.0 };
    let plot_w = (frame.width - left - widest_text - 16.0).max(40.0);
    // As many characters of the name as fit its column (the rest becomes "…").
    let room = if narrow {
        frame.width - 16.0
    } else {
        left - 16.0
    };
    let name_chars = ((room / (font * 0.6)) as usize).max(8);
    let description = bars
        .iter()
        .map(|b| format!("{}: {}", b.label, b.text))
        .collect::<Vec<_>>()
        .join("; ");
    let full_id = format!("{id}{}", frame.suffix);
    let mut svg = open(&full_id, frame, title, height, &description);
    if bars.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"8\" y=\"24\" font-size=\"{font}\" fill=\"#374151\">No data yet</text>"
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let w = (plot_w * bar.value / max).max(if bar.value > 0.0 { 2.0 } else { 0.0 });
        let mut label: String = bar.label.chars().take(name_chars).collect();
        if bar.label.chars().count() > name_chars {
            label.pop();
            label.push('…');
        }
        let (name_x, name_y, anchor, bar_y) = if narrow {
            (left, y + font, "start", y + font + 6.0)
        } else {
            (left - 8.0, y + 14.0, "end", y + 2.0)
        };
        let _ = write!(
            svg,
            "<text x=\"{name_x:.1}\" y=\"{name_y:.1}\" text-anchor=\"{anchor}\" font-size=\"{font}\" fill=\"#111827\">{}</text>\
             <rect x=\"{left}\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"#1d4ed8\" stroke=\"#1e3a8a\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{font}\" fill=\"#111827\">{}</text>",
            escape(&label),
            left + w + 6.0,
            bar_y + 13.0,
            escape(&bar.text)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(id: &str, frame: Frame, title: &str, height: f64, description: &str) -> String {
    let id = escape(id);
    let width = frame.width;
    let class = if frame == NARROW {
        "chart chart-narrow"
    } else {
        "chart chart-wide"
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{class}\" viewBox=\"0 0 {width} {height}\" \
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

    /// Every text of a drawing, as (x, anchor, text, font).
    fn texts(svg: &str) -> Vec<(f64, String, String, f64)> {
        svg.split("<text ")
            .skip(1)
            .map(|chunk| {
                let attr = |name: &str| {
                    chunk
                        .split(&format!("{name}=\""))
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_default()
                        .to_owned()
                };
                let text = chunk
                    .split('>')
                    .nth(1)
                    .and_then(|t| t.split('<').next())
                    .unwrap_or_default()
                    .to_owned();
                let anchor = attr("text-anchor");
                (
                    attr("x").parse().unwrap(),
                    if anchor.is_empty() {
                        "start".into()
                    } else {
                        anchor
                    },
                    text,
                    attr("font-size").parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn every_label_stays_inside_both_drawings_with_thinned_ticks() {
        let labels: Vec<String> = (1..=30).map(|d| format!("2026-11-{d:02}")).collect();
        let chart = line_chart(
            "t",
            "Trend",
            &labels,
            &[
                Series {
                    name: "Referrals created".into(),
                    values: vec![3.0; 30],
                    style: Style::SolidCircles,
                },
                Series {
                    name: "Friends who joined".into(),
                    values: vec![2.0; 30],
                    style: Style::DashedSquares,
                },
                Series {
                    name: "Converted".into(),
                    values: vec![1.0; 30],
                    style: Style::DottedDiamonds,
                },
            ],
        );
        let bars = bar_chart(
            "b",
            "Programs",
            &[Bar {
                label: "A program with a rather long name for a phone".into(),
                value: 7.0,
                text: "7 of 20 converted (35.0%)".into(),
            }],
        );
        for svg in [chart, bars] {
            for (drawing, width) in [(0, WIDE.width), (1, NARROW.width)] {
                let part = svg.split("<svg ").nth(drawing + 1).unwrap();
                let mut dates = 0;
                for (x, anchor, text, font) in texts(part) {
                    let w = text_width(&text, font);
                    let (from, to) = match anchor.as_str() {
                        "end" => (x - w, x),
                        "middle" => (x - w / 2.0, x + w / 2.0),
                        _ => (x, x + w),
                    };
                    assert!(
                        from >= 0.0 && to <= width,
                        "{text:?} at {from}..{to} leaves 0..{width}"
                    );
                    assert!(font >= 12.0);
                    dates += usize::from(text.starts_with("2026-"));
                }
                assert!(
                    dates <= if drawing == 0 { 8 } else { 4 },
                    "{dates} date labels"
                );
            }
        }
    }

    #[test]
    fn the_last_tick_is_always_labelled_and_never_crowds_its_neighbour() {
        assert_eq!(x_ticks(30, 4), vec![0, 8, 16, 29]);
        assert_eq!(x_ticks(3, 8), vec![0, 1, 2]);
        assert_eq!(x_ticks(1, 4), vec![0]);
        assert!(x_ticks(0, 4).is_empty());
    }

    #[test]
    fn ceilings_are_round_numbers() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(2300.0), 2500.0);
    }
}
