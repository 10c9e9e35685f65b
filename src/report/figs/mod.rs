//! The report's figures: a declarative model ([`figure`]) built from one group of a fit and
//! its runs ([`view`]) by the builders of each subject: losses against N, D and compute and the
//! training curves ([`loss`]), what the fits found (IsoFLOP profiles, allocation, residuals,
//! held-out forecast, the two conventions side by side: [`fitted`]), and the law's forecasts
//! ([`forecast`]), with shared helpers for families of runs, axis labels and bands
//! ([`families`]); drawn to SVG and PNG by [`render`]. [`figures`] lists them in report order.

pub mod families;
pub mod figure;
pub mod fitted;
pub mod forecast;
pub mod loss;
pub mod render;
pub mod view;

use anyhow::Result;
use rayon::prelude::*;

use figure::Figure;
use view::{Built, GroupView};

/// A figure builder.
pub type Builder = fn(&GroupView<'_>) -> Built;

/// One built figure or skip note, titled for the report.
pub struct Slot {
    /// The figure's title in the report's list of skipped figures.
    pub title: &'static str,
    /// The figure, or why it was skipped.
    pub built: Built,
}

/// Every figure of the report for each group of the fit (`views`), in report order, the last
/// one beside the same group under the other parameter convention (`alt`, empty when that fit
/// failed).
pub fn figures(views: &[GroupView<'_>], alt: &[GroupView<'_>]) -> Vec<Slot> {
    let mut out = Vec::new();
    for v in views {
        let f: [(&'static str, Builder); 10] = [
            ("Final loss vs N", loss::loss_vs_n),
            ("Final loss vs D", loss::loss_vs_d),
            ("Loss vs compute", loss::loss_vs_compute),
            ("IsoFLOP profiles", fitted::isoflop),
            ("Compute-optimal allocation", fitted::allocation),
            ("Training curves", loss::training_curves),
            ("Approach 3 residuals", fitted::residuals),
            ("Held-out forecast", fitted::holdout),
            ("Forecast on a compute axis", forecast::forecast),
            ("IsoLoss contours", forecast::isoloss),
        ];
        for (title, build) in f {
            out.push(Slot { title, built: build(v) });
        }
        let other = alt.iter().find(|a| a.group.value == v.group.value);
        let built = match other {
            Some(o) => fitted::conventions(&[v, o]),
            None => Err("the fit under the other parameter convention is not available (see above)".into()),
        };
        out.push(Slot { title: "Parameter conventions side by side", built });
    }
    out
}

/// Draws every built figure of `slots` as SVG and PNG, in parallel, in `slots` order.
pub fn draw(slots: &[Slot]) -> Vec<Result<(Figure, String, Vec<u8>)>> {
    slots
        .par_iter()
        .filter_map(|s| s.built.as_ref().ok())
        .map(|f| Ok((f.clone(), render::svg(f)?, render::png(f)?)))
        .collect()
}
