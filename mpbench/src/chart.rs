//! A dependency-free SVG chart: per workload, three horizontal bars (multiproc, CPython, the
//! bare limit) on one logarithmic axis of time per operation, so that workloads measured in
//! nanoseconds and in milliseconds share a picture. Shorter is better.

use std::fmt::Write;

/// One bar: its length in seconds per operation and the text written after it.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) seconds: f64,
    pub(crate) label: String,
}

/// One workload.
#[derive(Debug, Clone)]
pub(crate) struct ChartRow {
    pub(crate) name: String,
    /// "per process", "per MiB", ...
    pub(crate) per: String,
    pub(crate) ours: Option<Bar>,
    pub(crate) python: Option<Bar>,
    pub(crate) limit: Option<Bar>,
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 250.0;
const PLOT_RIGHT: f64 = 760.0;
const BAR: f64 = 11.0;
const GAP: f64 = 3.0;
const BLOCK_GAP: f64 = 14.0;
const SERIES: [(&str, &str); 3] = [("multiproc", "#e8590c"), ("CPython", "#3572a5"), ("bare limit", "#868e96")];

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// "1 ns", "10 us", "1 s" for a power of ten of seconds.
fn decade_label(exp: i32) -> String {
    let (unit, base) = match exp {
        e if e < -6 => ("ns", -9),
        e if e < -3 => ("us", -6),
        e if e < 0 => ("ms", -3),
        _ => ("s", 0),
    };
    format!("{} {unit}", 10u64.pow((exp - base) as u32))
}

/// The chart as an SVG document.
pub(crate) fn render(rows: &[ChartRow], title: &str, subtitle: &[String]) -> String {
    let secs: Vec<f64> = rows
        .iter()
        .flat_map(|r| [&r.ours, &r.python, &r.limit])
        .filter_map(|b| b.as_ref().map(|b| b.seconds))
        .filter(|s| s.is_finite() && *s > 0.0)
        .collect();
    let lo = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = secs.iter().copied().fold(0.0, f64::max);
    let (lo_exp, hi_exp) = if secs.is_empty() {
        (-9, 0)
    } else {
        (lo.log10().floor() as i32, (hi.log10().ceil() as i32).max(lo.log10().floor() as i32 + 1))
    };
    let x = |s: f64| LEFT + (s.log10() - lo_exp as f64) / (hi_exp - lo_exp) as f64 * (PLOT_RIGHT - LEFT);

    let top = 40.0 + 16.0 * subtitle.len() as f64 + 44.0;
    let block = 3.0 * BAR + 2.0 * GAP + BLOCK_GAP;
    let plot_bottom = top + block * rows.len() as f64;
    let height = plot_bottom + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="20" y="28" font-size="17" font-weight="bold">{}</text>"#, esc(title));
    for (i, line) in subtitle.iter().enumerate() {
        let _ = writeln!(s, r##"<text x="20" y="{}" fill="#495057">{}</text>"##, 48.0 + 16.0 * i as f64, esc(line));
    }
    // Legend.
    let ly = top - 30.0;
    let mut lx = LEFT;
    for (name, color) in SERIES {
        let _ = writeln!(s, r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{color}"/>"#, ly - 10.0);
        let _ = writeln!(s, r#"<text x="{}" y="{ly}">{name}</text>"#, lx + 16.0);
        lx += 110.0;
    }
    let _ = writeln!(
        s,
        r##"<text x="{lx}" y="{ly}" fill="#495057">time per operation, log scale: shorter is better</text>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" fill="#495057" font-size="11">beside multiproc: against the best CPython, and its time over the bare limit's (the same work on bare syscalls or atomics)</text>"##,
        ly + 16.0
    );
    // Decades.
    for e in lo_exp..=hi_exp {
        let gx = x(10f64.powi(e));
        let _ = writeln!(s, r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{plot_bottom}" stroke="#dee2e6"/>"##);
        let _ = writeln!(
            s,
            r##"<text x="{gx:.1}" y="{}" text-anchor="middle" fill="#495057">{}</text>"##,
            plot_bottom + 16.0,
            decade_label(e)
        );
    }
    // Workloads.
    for (i, r) in rows.iter().enumerate() {
        let y0 = top + block * i as f64 + BLOCK_GAP / 2.0;
        let mid = y0 + 1.5 * BAR + GAP;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{}</text>"#,
            LEFT - 8.0,
            mid - 2.0,
            esc(&r.name)
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#495057">{}</text>"##,
            LEFT - 8.0,
            mid + 12.0,
            esc(&r.per)
        );
        for (j, (bar, (series, color))) in [&r.ours, &r.python, &r.limit].into_iter().zip(SERIES).enumerate() {
            let y = y0 + j as f64 * (BAR + GAP);
            match bar {
                Some(b) if b.seconds.is_finite() && b.seconds > 0.0 => {
                    let w = (x(b.seconds) - LEFT).max(1.0);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{LEFT}" y="{y:.1}" width="{w:.1}" height="{BAR}" fill="{color}"><title>{series}: {}</title></rect>"#,
                        esc(&b.label)
                    );
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
                        LEFT + w + 4.0,
                        y + BAR - 1.5,
                        esc(&b.label)
                    );
                }
                _ if j == 0 => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{}" y="{:.1}" font-size="11" fill="#868e96">no multiproc row yet</text>"##,
                        LEFT + 4.0,
                        y + BAR - 1.5
                    );
                }
                _ => {}
            }
        }
    }
    let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{plot_bottom}" stroke="#495057"/>"##);
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades() {
        assert_eq!(decade_label(-9), "1 ns");
        assert_eq!(decade_label(-5), "10 us");
        assert_eq!(decade_label(-1), "100 ms");
        assert_eq!(decade_label(0), "1 s");
    }

    #[test]
    fn renders_every_row() {
        let bar = |s: f64| Some(Bar { seconds: s, label: format!("{s} & more") });
        let rows = vec![
            ChartRow { name: "a".into(), per: "per x".into(), ours: bar(1e-8), python: bar(1e-6), limit: bar(5e-9) },
            ChartRow { name: "b".into(), per: "per y".into(), ours: None, python: bar(1e-3), limit: None },
        ];
        let svg = render(&rows, "t", &["line".into()]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("</title></rect>").count(), 4);
        assert!(svg.contains("no multiproc row yet") && svg.contains("&amp; more"));
    }
}
