//! A small declarative figure model: panels with axes (linear or log₁₀), labelled with units,
//! holding line and marker series. Figures are built from the data by the `figs_*` modules and
//! drawn by `render` to SVG and PNG, so what is drawn can be tested without decoding images.
//! (The bottom of the report's figures: it names no other report module.)

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Categorical palette: Okabe & Ito's (2008) colour-blind-safe set without black and yellow
/// (they read badly on white or clash with the fits), plus brown and indigo; further series cycle.
pub const PALETTE: [Rgb; 8] = [
    Rgb(0, 114, 178),   // blue
    Rgb(213, 94, 0),    // vermillion
    Rgb(0, 158, 115),   // bluish green
    Rgb(204, 121, 167), // reddish purple
    Rgb(86, 180, 233),  // sky blue
    Rgb(230, 159, 0),   // orange
    Rgb(120, 80, 40),   // brown
    Rgb(75, 60, 160),   // indigo
];

/// Colour of fitted laws drawn over the data.
pub const FIT_BLACK: Rgb = Rgb(20, 20, 20);
/// Colour of reference lines (published laws, y = x, zero).
pub const REFERENCE_GREY: Rgb = Rgb(128, 128, 128);

/// The `i`-th palette colour.
pub fn palette(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A solid line, width 2.
    Line,
    /// A thin solid line (training curves), width 1.
    ThinLine,
    /// A dashed line (fits, references), width 2.
    Dashed,
    /// Filled circles.
    Points,
    /// Hollow circles (e.g. an IsoFLOP minimum at the edge of the sampled sizes).
    HollowPoints,
    /// Filled circles with vertical error bars (`Series::errors`).
    ErrorBars,
    /// A translucent filled area (a 95% bootstrap band): `points` is its outline, the upper
    /// edge left to right, then the lower edge right to left. Bands never widen the axes (an
    /// undetermined fit's band may span decades); they are clipped to the data's range.
    Band,
}

/// One data series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry; `None` keeps it out of the legend.
    pub label: Option<String>,
    /// Colour.
    pub color: Rgb,
    /// Line or markers.
    pub style: Style,
    /// (x, y) in data units (never log-transformed here).
    pub points: Vec<(f64, f64)>,
    /// (low, high) of y per point, for [`Style::ErrorBars`].
    pub errors: Vec<(f64, f64)>,
}

impl Series {
    /// A series without error bars.
    pub fn new(label: Option<String>, color: Rgb, style: Style, points: Vec<(f64, f64)>) -> Series {
        Series { label, color, style, points, errors: Vec::new() }
    }
}

/// One axis: label with unit, and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Label including the unit, e.g. `N (parameters)`.
    pub label: String,
    /// Log₁₀ scale.
    pub log: bool,
}

impl Axis {
    /// A log₁₀ axis.
    pub fn log(label: &str) -> Axis {
        Axis { label: label.into(), log: true }
    }
    /// A linear axis.
    pub fn linear(label: &str) -> Axis {
        Axis { label: label.into(), log: false }
    }
}

/// One set of axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title above the axes.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Series, drawn in order.
    pub series: Vec<Series>,
    /// Where the legend goes.
    pub legend: Corner,
}

/// A corner of the plotting area (legend placement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    /// Upper right (loss falls to the right, so it is usually empty there).
    UpperRight,
    /// Upper left.
    UpperLeft,
    /// Lower left.
    LowerLeft,
    /// Lower right.
    LowerRight,
}

impl Panel {
    /// An empty panel with the legend in the upper right.
    pub fn new(title: impl Into<String>, x: Axis, y: Axis) -> Panel {
        Panel { title: title.into(), x, y, series: Vec::new(), legend: Corner::UpperRight }
    }
    /// Points that can be drawn on this panel's axes (finite, positive on log axes).
    pub fn drawable(&self, s: &Series) -> Vec<(f64, f64)> {
        s.points.iter().copied().filter(|&(x, y)| self.ok_x(x) && self.ok_y(y)).collect()
    }
    fn ok_x(&self, x: f64) -> bool {
        x.is_finite() && (!self.x.log || x > 0.0)
    }
    fn ok_y(&self, y: f64) -> bool {
        y.is_finite() && (!self.y.log || y > 0.0)
    }
    /// True when some series (not a band) has a drawable point.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| s.style != Style::Band && !self.drawable(s).is_empty())
    }
    /// Data ranges `(x_lo, x_hi, y_lo, y_hi)` over drawable points and error bars, padded
    /// (5% of the span, in log space on log axes); `None` without data.
    pub fn ranges(&self) -> Option<(f64, f64, f64, f64)> {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for s in self.series.iter().filter(|s| s.style != Style::Band) {
            for (i, &(x, y)) in s.points.iter().enumerate() {
                if !self.ok_x(x) || !self.ok_y(y) {
                    continue;
                }
                xs.push(x);
                ys.push(y);
                if let Some(&(lo, hi)) = s.errors.get(i) {
                    ys.extend([lo, hi].into_iter().filter(|v| self.ok_y(*v)));
                }
            }
        }
        if xs.is_empty() {
            return None;
        }
        let (x0, x1) = padded(&xs, self.x.log);
        let (y0, y1) = padded(&ys, self.y.log);
        Some((x0, x1, y0, y1))
    }
}

fn padded(v: &[f64], log: bool) -> (f64, f64) {
    let t = |x: f64| if log { x.log10() } else { x };
    let lo = v.iter().map(|&x| t(x)).fold(f64::INFINITY, f64::min);
    let hi = v.iter().map(|&x| t(x)).fold(f64::NEG_INFINITY, f64::max);
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.05 * span
    } else if log {
        0.1
    } else {
        0.05 * lo.abs().max(1e-3)
    };
    let (lo, hi) = (lo - pad, hi + pad);
    if log {
        (10f64.powf(lo), 10f64.powf(hi))
    } else {
        (lo, hi)
    }
}

/// A figure: one or more panels side by side (two per row), written as `NAME.svg` and
/// `NAME.png`.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem, e.g. `loss_vs_n`.
    pub name: String,
    /// Caption for report.md and report.html.
    pub caption: String,
    /// Panels, left to right, then top to bottom.
    pub panels: Vec<Panel>,
}

impl Figure {
    /// (columns, rows) of the panel grid.
    pub fn grid(&self) -> (usize, usize) {
        let cols = self.panels.len().clamp(1, 2);
        (cols, self.panels.len().div_ceil(cols).max(1))
    }
    /// Pixel size: 800×560 per panel column and row, 1,400 wide for two columns.
    pub fn size(&self) -> (u32, u32) {
        let (c, r) = self.grid();
        (if c == 1 { 820 } else { 1400 }, 560 * r as u32)
    }
}

/// Tick positions of an axis from `lo` to `hi` (data units): on log axes the powers of ten
/// inside, adding 3× under six decades and 2×, 5× under 2.5; round linear steps under 0.8
/// decades; on linear axes 4–10 round steps.
pub fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    if log {
        let decades = hi.log10() - lo.log10();
        if decades < 0.8 {
            // Under a decade (typical for losses): round linear steps, placed on the log axis.
            return ticks(lo, hi, false);
        }
        let mults: &[f64] = if decades > 6.0 {
            &[1.0]
        } else if decades >= 2.5 {
            &[1.0, 3.0]
        } else {
            &[1.0, 2.0, 5.0]
        };
        let step = if decades > 12.0 { (decades / 6.0).ceil() as i32 } else { 1 };
        let mut out = Vec::new();
        let mut k = lo.log10().floor() as i32 - 1;
        while (k as f64) <= hi.log10() + 1.0 {
            if k.rem_euclid(step) == 0 {
                for m in mults {
                    let v = m * 10f64.powi(k);
                    if v >= lo && v <= hi {
                        out.push(v);
                    }
                }
            }
            k += 1;
        }
        if out.len() < 2 {
            // Less than one tick inside: label the ends.
            return vec![lo, hi];
        }
        out
    } else {
        let raw = (hi - lo) / 6.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw);
        let (k0, k1) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
        // Integer multiples of the step, rounded to 12 significant digits (no 0.30000000000000004).
        let out: Vec<f64> =
            (k0..=k1).map(|k| format!("{:.11e}", k as f64 * step).parse().unwrap_or(0.0)).collect();
        out
    }
}

/// Superscript digits and minus, for powers of ten (DejaVu Sans has every glyph).
fn superscript(e: i32) -> String {
    e.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect()
}

/// Tick label: plain for 0.001–9,999 (up to 3 significant digits), else a power of ten as
/// printed in papers, `10⁵` or `2×10⁷` (issue #18: `1e5` read as code).
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let s = format!("{:.*}", (2 - a.log10().floor() as i32).max(0) as usize, v);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        let m = (m * 100.0).round() / 100.0;
        let (m, e) = if m.abs() >= 10.0 { (m / 10.0, e + 1) } else { (m, e) };
        if (m - 1.0).abs() < 1e-9 {
            format!("10{}", superscript(e))
        } else if (m + 1.0).abs() < 1e-9 {
            format!("-10{}", superscript(e))
        } else {
            format!("{}×10{}", tick_label(m), superscript(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_round_and_inside() {
        let t = ticks(3e4, 2e6, true);
        assert_eq!(t, vec![5e4, 1e5, 2e5, 5e5, 1e6, 2e6]);
        let t = ticks(1e3, 1e12, true);
        assert!(t.iter().all(|v| (v.log10() - v.log10().round()).abs() < 1e-12), "{t:?}");
        assert_eq!(ticks(3.2, 3.9, true), vec![3.2, 3.4, 3.6, 3.8]);
    }

    #[test]
    fn linear_ticks_and_labels() {
        assert_eq!(ticks(-0.013, 0.021, false), vec![-0.01, 0.0, 0.01, 0.02]);
        assert_eq!(ticks(2.85, 3.05, false), vec![2.85, 2.9, 2.95, 3.0, 3.05]);
        assert_eq!(tick_label(2e7), "2×10⁷");
        assert_eq!(tick_label(1e9), "10⁹");
        assert_eq!(tick_label(1e4), "10⁴");
        assert_eq!(tick_label(3.5), "3.5");
        assert_eq!(tick_label(5000.0), "5000");
        assert_eq!(tick_label(50000.0), "5×10⁴");
        assert_eq!(tick_label(0.005), "0.005");
        assert_eq!(tick_label(-0.015), "-0.015");
        assert_eq!(tick_label(5e-4), "5×10⁻⁴");
        assert_eq!(tick_label(1.5e12), "1.5×10¹²");
    }

    #[test]
    fn ranges_skip_non_positive_points_on_log_axes() {
        let mut p = Panel::new("t", Axis::log("x"), Axis::linear("y"));
        p.series.push(Series::new(
            None,
            palette(0),
            Style::Points,
            vec![(0.0, 1.0), (10.0, 2.0), (100.0, 3.0)],
        ));
        let (x0, x1, y0, y1) = p.ranges().expect("data");
        assert!(x0 < 10.0 && x0 > 8.0 && x1 > 100.0 && x1 < 130.0, "{x0} {x1}");
        assert!(y0 < 2.0 && y1 > 3.0);
        assert_eq!(p.drawable(&p.series[0]).len(), 2);
    }
}
