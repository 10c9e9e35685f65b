//! Draws a [`Figure`] with plotters: to an SVG string (text as `<text>`, shown by the
//! browser) and to an RGB bitmap encoded as PNG. Text in bitmaps is rasterised by ab_glyph from
//! DejaVu Sans embedded in the binary (the `dejavu` crate), so no system font or fontconfig is
//! needed, and the same font measures text for the SVG layout.

use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use plotters_backend::{BackendCoord, DrawingErrorKind};

use super::figure::{tick_label, ticks, Corner, Figure, Panel, Rgb, Series, Style};

/// Font family every text element uses (registered from the embedded DejaVu Sans).
const FAMILY: &str = "sans-serif";

/// Registers DejaVu Sans (regular and bold) as `sans-serif`, once per process.
pub fn register_fonts() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font could not be loaded"))
    }
}

fn color(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// The figure as an SVG document.
pub fn svg(fig: &Figure) -> Result<String> {
    register_fonts()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, fig.size()).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(|e| anyhow!("{}: {e}", fig.name))?;
    }
    Ok(out)
}

/// The figure as 8-bit RGB pixels, row-major: `(width, height, pixels)`.
pub fn rgb(fig: &Figure) -> Result<(u32, u32, Vec<u8>)> {
    register_fonts()?;
    let (w, h) = fig.size();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root, fig)?;
        root.present().map_err(|e| anyhow!("{}: {e}", fig.name))?;
    }
    Ok((w, h, buf))
}

/// The figure as a PNG file's bytes.
pub fn png(fig: &Figure) -> Result<Vec<u8>> {
    let (w, h, pixels) = rgb(fig)?;
    encode_png(w, h, &pixels)
}

/// Encodes 8-bit RGB pixels as PNG.
pub fn encode_png(w: u32, h: u32, pixels: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header()?;
        writer.write_image_data(pixels)?;
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e}", fig.name);
    root.fill(&WHITE).map_err(err)?;
    let (cols, rows) = fig.grid();
    let areas = root.split_evenly((rows, cols));
    for (area, panel) in areas.iter().zip(&fig.panels) {
        draw_panel(area, panel).map_err(|e| anyhow!("drawing {} ({}): {e}", fig.name, panel.title))?;
    }
    Ok(())
}

/// A linear f64 axis (in log₁₀ units for log axes) whose ticks are exactly the given values.
struct TickedAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> TickedAxis {
        TickedAxis { lo, hi, ticks }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Legend symbol of a dashed series: two short strokes.
struct DashMark {
    at: BackendCoord,
    style: ShapeStyle,
}

impl<'a> PointCollection<'a, BackendCoord> for &'a DashMark {
    type Point = &'a BackendCoord;
    type IntoIter = std::iter::Once<&'a BackendCoord>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for DashMark {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        if let Some((x, y)) = pos.next() {
            backend.draw_line((x, y), (x + 8, y), &self.style)?;
            backend.draw_line((x + 13, y), (x + 21, y), &self.style)?;
        }
        Ok(())
    }
}

/// The legend symbol of a series style at (x, y).
fn legend_mark<DB: DrawingBackend>(
    style: Style,
    c: RGBColor,
    line: ShapeStyle,
    x: i32,
    y: i32,
) -> DynElement<'static, DB, BackendCoord> {
    match style {
        Style::Points | Style::ErrorBars => Circle::new((x + 10, y), 4, c.filled()).into_dyn(),
        Style::HollowPoints => Circle::new((x + 10, y), 4, c.stroke_width(2)).into_dyn(),
        Style::Dashed => DashMark { at: (x, y), style: line }.into_dyn(),
        Style::Line | Style::ThinLine => PathElement::new(vec![(x, y), (x + 20, y)], line).into_dyn(),
        Style::Band => Rectangle::new([(x, y - 5), (x + 20, y + 5)], c.mix(0.2).filled()).into_dyn(),
    }
}

/// A panel's chart: data coordinates (log₁₀ on log axes) with the ticks of [`ticks`].
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedAxis, TickedAxis>>;

/// A data value in chart coordinates (log₁₀ on a log axis).
fn to_axis(v: f64, log: bool) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

fn plot_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("{e}")
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    let Some((x0, x1, y0, y1)) = p.ranges() else {
        return Err(anyhow!("no data to draw"));
    };
    let (tx, ty) = (|v: f64| to_axis(v, p.x.log), |v: f64| to_axis(v, p.y.log));
    let ix = |v: f64| if p.x.log { 10f64.powf(v) } else { v };
    let iy = |v: f64| if p.y.log { 10f64.powf(v) } else { v };
    let xr = TickedAxis::new(tx(x0), tx(x1), ticks(x0, x1, p.x.log).into_iter().map(tx).collect());
    let yr = TickedAxis::new(ty(y0), ty(y1), ticks(y0, y1, p.y.log).into_iter().map(ty).collect());
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 21))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(78)
        .build_cartesian_2d(xr, yr)
        .map_err(plot_err)?;
    let xf = |v: &f64| tick_label(ix(*v));
    let yf = |v: &f64| tick_label(iy(*v));
    chart
        .configure_mesh()
        .x_desc(p.x.label.as_str())
        .y_desc(p.y.label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(plot_err)?;
    let mut labelled = false;
    for s in &p.series {
        labelled |= draw_series(&mut chart, p, s, (ty(y0), ty(y1)))?;
    }
    if labelled {
        draw_legend(&mut chart, p.legend)?;
    }
    Ok(())
}

/// Draws one series in its style (a band clipped to the y range `ys` in chart coordinates);
/// true when it has a legend entry.
fn draw_series<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    p: &Panel,
    s: &Series,
    ys: (f64, f64),
) -> Result<bool> {
    let (tx, ty) = (|v: f64| to_axis(v, p.x.log), |v: f64| to_axis(v, p.y.log));
    let c = color(s.color);
    let line = ShapeStyle { color: c.to_rgba(), filled: true, stroke_width: 2 };
    let idx: Vec<usize> = (0..s.points.len())
        .filter(|&i| {
            let (x, y) = s.points[i];
            x.is_finite() && y.is_finite() && (!p.x.log || x > 0.0) && (!p.y.log || y > 0.0)
        })
        .collect();
    if idx.is_empty() && s.label.is_none() {
        return Ok(false);
    }
    let pts: Vec<(f64, f64)> = idx.iter().map(|&i| (tx(s.points[i].0), ty(s.points[i].1))).collect();
    let anno = match s.style {
        Style::Band => {
            let (ylo, yhi) = ys;
            let outline: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, y.clamp(ylo, yhi))).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled())))
                .map_err(plot_err)?
        }
        Style::Line => chart.draw_series(LineSeries::new(pts, line)).map_err(plot_err)?,
        Style::ThinLine => chart
            .draw_series(LineSeries::new(pts, ShapeStyle { stroke_width: 1, ..line }))
            .map_err(plot_err)?,
        Style::Dashed => chart.draw_series(DashedLineSeries::new(pts, 9, 6, line)).map_err(plot_err)?,
        Style::Points => {
            chart.draw_series(pts.into_iter().map(|q| Circle::new(q, 4, c.filled()))).map_err(plot_err)?
        }
        Style::HollowPoints => chart
            .draw_series(pts.into_iter().map(|q| Circle::new(q, 6, c.stroke_width(2))))
            .map_err(plot_err)?,
        Style::ErrorBars => {
            let bars: Vec<(f64, f64, f64)> = idx
                .iter()
                .filter_map(|&i| {
                    let (lo, hi) = *s.errors.get(i)?;
                    let ok = |v: f64| v.is_finite() && (!p.y.log || v > 0.0);
                    (ok(lo) && ok(hi)).then(|| (tx(s.points[i].0), ty(lo), ty(hi)))
                })
                .collect();
            chart
                .draw_series(
                    bars.into_iter().map(|(x, lo, hi)| PathElement::new(vec![(x, lo), (x, hi)], line)),
                )
                .map_err(plot_err)?;
            chart.draw_series(pts.into_iter().map(|q| Circle::new(q, 5, c.filled()))).map_err(plot_err)?
        }
    };
    let Some(label) = &s.label else { return Ok(false) };
    let style = s.style;
    anno.label(label.as_str()).legend(move |(x, y)| legend_mark(style, c, line, x, y));
    Ok(true)
}

/// The legend box in corner `at`.
fn draw_legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>, at: Corner) -> Result<()> {
    let pos = match at {
        Corner::UpperRight => SeriesLabelPosition::UpperRight,
        Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
        Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
        Corner::LowerRight => SeriesLabelPosition::LowerRight,
    };
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.88))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FAMILY, 13))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}
