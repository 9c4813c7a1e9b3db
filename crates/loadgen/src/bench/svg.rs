//! Inline SVG charts, written by hand so the report needs no script and no external asset: line charts
//! (linear or log axes) and horizontal bar charts.

use std::fmt::Write;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 330.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

pub struct Axis {
    pub label: String,
    pub log: bool,
    /// Fixed ticks (value, label); computed when `None`.
    pub ticks: Option<Vec<(f64, String)>>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn linear_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<(f64, String)>) {
    let span = (hi - lo).max(1e-9);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(mag * 10.0);
    let lo = (lo / step).floor() * step;
    let hi = (hi / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut v = lo;
    while v <= hi + step * 0.01 {
        ticks.push((v, short(v)));
        v += step;
    }
    (lo, hi, ticks)
}

fn log_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<(f64, String)>) {
    let lo = 10f64.powf(lo.max(1e-9).log10().floor());
    let hi = 10f64.powf(hi.max(lo * 10.0).log10().ceil());
    let mut ticks = Vec::new();
    let mut decade = lo;
    let few = (hi / lo).log10() > 4.0;
    while decade <= hi * 1.0001 {
        ticks.push((decade, short(decade)));
        if !few && decade * 2.0 < hi {
            ticks.push((decade * 2.0, short(decade * 2.0)));
            ticks.push((decade * 5.0, short(decade * 5.0)));
        }
        decade *= 10.0;
    }
    (lo, hi, ticks)
}

struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.max(self.lo).log10() - self.lo.log10())
                / (self.hi.log10() - self.lo.log10()).max(1e-9)
        } else {
            (v - self.lo) / (self.hi - self.lo).max(1e-9)
        };
        self.from + t.clamp(0.0, 1.0) * (self.to - self.from)
    }
}

fn frame(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}" font-family="system-ui, sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="20" font-size="14" font-weight="600">{t}</text>"#,
        t = esc(title)
    );
}

pub fn line_chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(px, py) in points {
        if (y.log && py <= 0.0) || (x.log && px <= 0.0) {
            continue;
        }
        xlo = xlo.min(px);
        xhi = xhi.max(px);
        ylo = ylo.min(py);
        yhi = yhi.max(py);
    }
    let mut out = String::new();
    frame(&mut out, title);
    if xlo > xhi {
        let _ = write!(out, r#"<text x="{LEFT}" y="80">no data</text></svg>"#);
        return out;
    }
    if !y.log {
        ylo = ylo.min(0.0);
    }
    let (xlo, xhi, xticks) = match &x.ticks {
        Some(t) => (
            t.first().map_or(xlo, |f| f.0.min(xlo)),
            t.last().map_or(xhi, |l| l.0.max(xhi)),
            t.clone(),
        ),
        None if x.log => log_ticks(xlo, xhi),
        None => linear_ticks(xlo, xhi),
    };
    let (ylo, yhi, yticks) = if y.log {
        log_ticks(ylo, yhi)
    } else {
        linear_ticks(ylo, yhi.max(ylo + 1.0))
    };
    let sx = Scale {
        lo: xlo,
        hi: xhi,
        log: x.log,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let sy = Scale {
        lo: ylo,
        hi: yhi,
        log: y.log,
        from: HEIGHT - BOTTOM,
        to: TOP,
    };
    axes(&mut out, &sx, &sy, &xticks, &yticks, x, y);
    for s in series {
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|(px, py)| !(y.log && *py <= 0.0 || x.log && *px <= 0.0))
            .map(|&(px, py)| format!("{:.1},{:.1}", sx.at(px), sy.at(py)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round" points="{}"/>"#,
            s.color,
            path.join(" ")
        );
        for p in &path {
            if let Some((cx, cy)) = p.split_once(',') {
                let _ = write!(
                    out,
                    r#"<circle cx="{cx}" cy="{cy}" r="2.5" fill="{}"/>"#,
                    s.color
                );
            }
        }
    }
    legend(&mut out, series.iter().map(|s| (s.name.as_str(), s.color)));
    out.push_str("</svg>");
    out
}

fn axes(
    out: &mut String,
    sx: &Scale,
    sy: &Scale,
    xticks: &[(f64, String)],
    yticks: &[(f64, String)],
    x: &Axis,
    y: &Axis,
) {
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    for (v, label) in yticks {
        let py = sy.at(*v);
        let _ = write!(
            out,
            r##"<line x1="{x0}" x2="{x1}" y1="{py:.1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{}</text>"##,
            x0 - 6.0,
            py + 4.0,
            esc(label)
        );
    }
    for (v, label) in xticks {
        let px = sx.at(*v);
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{y0}" y2="{:.1}" stroke="#999"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            y0 + 4.0,
            y0 + 17.0,
            esc(label)
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}" stroke="#333"/><line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#222">{}</text><text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="#222">{}</text>"##,
        (x0 + x1) / 2.0,
        HEIGHT - 10.0,
        esc(&x.label),
        (y0 + y1) / 2.0,
        esc(&y.label)
    );
}

fn legend<'a>(out: &mut String, entries: impl Iterator<Item = (&'a str, &'a str)>) {
    for (i, (name, color)) in entries.enumerate() {
        let y = TOP + 8.0 + i as f64 * 20.0;
        let x = WIDTH - RIGHT + 14.0;
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 2.0,
            x + 20.0,
            y + 4.0,
            esc(name)
        );
    }
}

/// Horizontal bars on a log axis (the rows span orders of magnitude), each labelled with its value.
pub fn bar_chart(title: &str, unit: &str, bars: &[(String, f64, &'static str)]) -> String {
    let label_width = 230.0;
    let row = 24.0;
    let height = TOP + 16.0 + row * bars.len() as f64 + 36.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{t}" font-family="system-ui, sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="600">{t}</text>"#,
        t = esc(title)
    );
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max);
    let min = bars
        .iter()
        .map(|b| b.1)
        .filter(|v| *v > 0.0)
        .fold(max, f64::min);
    let (lo, hi, ticks) = log_ticks(min / 2.0, max);
    let scale = Scale {
        lo,
        hi,
        log: true,
        from: label_width,
        to: WIDTH - 70.0,
    };
    let bottom = TOP + 8.0 + row * bars.len() as f64;
    for (v, label) in &ticks {
        let px = scale.at(*v);
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{bottom:.1}" stroke="#e5e5e5"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            bottom + 14.0,
            esc(label)
        );
    }
    for (i, (name, value, color)) in bars.iter().enumerate() {
        let y = TOP + 8.0 + i as f64 * row;
        let end = scale.at(value.max(lo));
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{label_width}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            label_width - 8.0,
            y + 15.0,
            esc(name),
            y + 4.0,
            (end - label_width).max(1.0),
            row - 8.0,
            end + 4.0,
            y + 15.0,
            short(*value)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#222">{} (log scale)</text></svg>"##,
        (label_width + WIDTH - 70.0) / 2.0,
        bottom + 30.0,
        esc(unit)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_a_self_contained_svg() {
        let chart = line_chart(
            "t <1>",
            &Axis {
                label: "s".into(),
                log: false,
                ticks: None,
            },
            &Axis {
                label: "req/s".into(),
                log: true,
                ticks: None,
            },
            &[Series {
                name: "a".into(),
                color: "red",
                points: vec![(1.0, 10.0), (2.0, 1000.0)],
            }],
        );
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
        assert!(chart.contains("t &lt;1&gt;"));
        assert!(!chart.contains("href"));
    }

    #[test]
    fn short_numbers_read_well() {
        assert_eq!(short(20_000.0), "20k");
        assert_eq!(short(1_500.0), "1.5k");
        assert_eq!(short(0.5), "0.5");
    }
}
