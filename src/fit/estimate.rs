//! A fitted or derived quantity and whether the data determine it: the [`Estimate`] record,
//! the bootstrap rule that can leave it undetermined ([`interval_reason`]), the builder that
//! gathers its reasons ([`estimate`]), and how it is written ([`shown`], with the parameter
//! [`symbol`]s and the [`Footnotes`] for reasons several estimates share). An undetermined
//! quantity is never a bare number: `fit`'s summary, the report's tables and `predict` show it
//! as "not determined" with its interval and reasons.

use serde::{Deserialize, Serialize};

use super::lossless;
use super::stats::interval95;
use crate::fmt::fmt_num;

/// A fitted or derived quantity and whether the data determine it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Name (`alpha`, `E`, `a`, `tokens_per_param`, ...).
    pub name: String,
    /// Point estimate (unit in `unit`).
    #[serde(with = "lossless")]
    pub value: f64,
    /// Unit, e.g. `nats/token`, `dimensionless`.
    pub unit: String,
    /// 95% interval (bootstrap percentiles or a t interval; see `interval_method`).
    #[serde(with = "lossless::pair")]
    pub ci95: Option<[f64; 2]>,
    /// How `ci95` was obtained, e.g. `bootstrap percentile (200 reps)`.
    pub interval_method: Option<String>,
    /// False when the data do not pin it down; never quote it as a point estimate then.
    pub determined: bool,
    /// Why it is not determined (design, flat profile, wide interval), empty when it is.
    pub reasons: Vec<String>,
}

#[cfg(test)]
impl Estimate {
    /// A test estimate of α = 0.34 (shared by the summary and report tests).
    pub fn sample(determined: bool, ci95: Option<[f64; 2]>, reasons: &[&str]) -> Estimate {
        Estimate {
            name: "alpha".into(),
            value: 0.34,
            unit: "dimensionless".into(),
            ci95,
            interval_method: None,
            determined,
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Bootstrap verdict: `Some(reason)` when the interval is too wide for the value. `log_scale`
/// for positive scale factors (interval must span under a decade).
pub fn interval_reason(value: f64, ci: [f64; 2], log_scale: bool) -> Option<String> {
    let [lo, hi] = ci;
    if !lo.is_finite() || !hi.is_finite() {
        return Some("bootstrap interval is not finite".into());
    }
    if log_scale {
        (lo <= 0.0 || hi / lo > 10.0)
            .then(|| format!("95% interval {} – {} spans more than a decade", fmt_num(lo), fmt_num(hi)))
    } else {
        (hi - lo > value.abs())
            .then(|| format!("95% interval {} – {} is wider than the value", fmt_num(lo), fmt_num(hi)))
    }
}

/// Builds an [`Estimate`]: design reasons, an optional extra reason (flat profile) and the
/// bootstrap interval rule.
pub fn estimate(
    name: &str,
    value: f64,
    unit: &str,
    samples: Option<&[f64]>,
    log_scale: bool,
    mut reasons: Vec<String>,
) -> Estimate {
    let ci = samples.filter(|s| s.len() >= 2).map(interval95);
    if let Some(ci) = ci {
        reasons.extend(interval_reason(value, ci, log_scale));
    }
    if !value.is_finite() {
        reasons.push("the estimate is not finite".into());
    }
    Estimate {
        name: name.into(),
        value,
        unit: unit.into(),
        ci95: ci,
        interval_method: samples.map(|s| format!("bootstrap percentile ({} converged reps)", s.len())),
        determined: reasons.is_empty(),
        reasons,
    }
}

/// Reasons shared by several estimates of one block (the same design reason or flat profile
/// explains α, A, a, b, G, ...), printed once as numbered notes and cited as `[k]`, so a
/// summary stays readable when most quantities are undetermined for the same cause.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Footnotes {
    /// The shared reasons, in first-seen order; `[k]` cites `notes[k - 1]`.
    pub notes: Vec<String>,
}

impl Footnotes {
    /// Numbers every reason that two or more of `estimates` give (interval reasons stay
    /// inline: they differ per quantity).
    pub fn collect<'a>(estimates: impl IntoIterator<Item = &'a Estimate>) -> Self {
        let mut seen: Vec<(String, usize)> = Vec::new();
        for e in estimates {
            for r in &e.reasons {
                match seen.iter_mut().find(|(s, _)| s == r) {
                    Some((_, n)) => *n += 1,
                    None => seen.push((r.clone(), 1)),
                }
            }
        }
        Self { notes: seen.into_iter().filter(|(_, n)| *n >= 2).map(|(r, _)| r).collect() }
    }
    /// The reasons of `e`, shared ones replaced by their `[k]` citation.
    pub fn why(&self, e: &Estimate) -> Vec<String> {
        let mut cites = Vec::new();
        let mut own = Vec::new();
        for r in &e.reasons {
            match self.notes.iter().position(|n| n == r) {
                Some(k) => cites.push(format!("[{}]", k + 1)),
                None => own.push(r.clone()),
            }
        }
        if !cites.is_empty() {
            own.push(format!("see {}", cites.join(" ")));
        }
        own
    }
}

/// The symbol a parameter is printed as: α, β and α_X for the exponents (fit.json's `alpha`,
/// `beta`, `alpha_N`, ...), other names as they are. The one map from fit.json's names to
/// what `fit`'s summary and the report show.
pub fn symbol(name: &str) -> String {
    match name {
        "alpha" => "α".into(),
        "beta" => "β".into(),
        other => other.replace("alpha_", "α_"),
    }
}

/// Where an estimate is written. A determined value is worded for its place (each output is
/// compared byte for byte with what earlier versions wrote); an undetermined one always reads
/// "not determined (95% interval …; reasons)", never as its point value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// A line of `fit`'s summary: `α = 0.34 (95% interval 0.3–0.38)`.
    Line,
    /// A cell of a report table: `0.34 (95% CI 0.3–0.38)`.
    Cell,
    /// A column of the summary's side-by-side table, narrow: `0.34 (0.3–0.38)`, or
    /// `undetermined (0.04–8.1)` without the reasons.
    Short,
}

/// An estimate as text for `how`, citing reasons shared with other estimates as `[k]` from
/// `notes` (module docs: an undetermined quantity is never a bare number).
pub fn shown(e: &Estimate, notes: &Footnotes, how: Shown) -> String {
    let range = e.ci95.map(|[lo, hi]| format!("{}–{}", fmt_num(lo), fmt_num(hi)));
    let v = fmt_num(e.value);
    if !e.determined {
        return match (how, range) {
            (Shown::Line, r) => format!("{}: {}", symbol(&e.name), not_determined(e, r, notes)),
            (Shown::Cell, r) => not_determined(e, r, notes),
            (Shown::Short, Some(r)) => format!("undetermined ({r})"),
            (Shown::Short, None) => "undetermined".into(),
        };
    }
    match (how, range) {
        (Shown::Line, Some(r)) => format!("{} = {v} (95% interval {r})", symbol(&e.name)),
        (Shown::Line, None) => format!("{} = {v} (no interval: run with --bootstrap K)", symbol(&e.name)),
        (Shown::Cell, Some(r)) => format!("{v} (95% CI {r})"),
        (Shown::Cell, None) => format!("{v} (no interval: fit with --bootstrap K)"),
        (Shown::Short, Some(r)) => format!("{v} ({r})"),
        (Shown::Short, None) => v,
    }
}

/// "not determined (95% interval lo–hi; reasons)": the interval `range` unless a reason
/// already quotes it, then the reasons, shared ones cited from `notes`.
fn not_determined(e: &Estimate, range: Option<String>, notes: &Footnotes) -> String {
    let quoted = e.reasons.iter().any(|r| r.starts_with("95% interval"));
    let mut why: Vec<String> =
        range.filter(|_| !quoted).map(|r| format!("95% interval {r}")).into_iter().collect();
    why.extend(notes.why(e));
    if why.is_empty() {
        why.push("no reason recorded".into());
    }
    format!("not determined ({})", why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_rules() {
        assert!(interval_reason(0.3, [0.04, 8.1], false).is_some());
        assert!(interval_reason(0.3, [0.25, 0.36], false).is_none());
        assert!(interval_reason(400.0, [100.0, 1200.0], true).is_some());
        assert!(interval_reason(400.0, [200.0, 900.0], true).is_none());
        assert_eq!(fmt_num(0.04), "0.04");
        assert_eq!(fmt_num(406.4), "406.4");
        assert_eq!(fmt_num(5.76e23), "5.760e23");
    }
}
