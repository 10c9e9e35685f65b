//! A fitted or derived quantity and whether the data determine it: the [`Estimate`] record,
//! the bootstrap rule that can leave it undetermined ([`interval_reason`]), and the builder
//! that gathers its reasons ([`estimate`]). An undetermined quantity is never quoted as a
//! point estimate.

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
