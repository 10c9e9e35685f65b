//! Profile likelihood of the Approach 3 fit: holding α, β or E at ±50% of its estimate and
//! refitting the rest ([`profile_theta`]) raises the sum of squared log residuals by less than
//! χ²₁(0.95)·σ̂² = 3.84·SS/(n−5) when the data do not pin it down, so an interval would be
//! wider than the value: a "flat profile" reason.

use crate::fit::laws::approach3::{profile_theta, sum_sq_log, Approach3Fit};
use crate::fit::solve::multistart::FitOptions;
use crate::fit::solve::objective::LogData;

/// Profile-likelihood check of α, β and E (θ indices 2, 3, 4): `[α, β, E]` reasons, `None`
/// where the profile is not flat at ±50%.
pub fn flat_profiles(data: &LogData, fit: &Approach3Fit, opts: &FitOptions) -> [Option<String>; 3] {
    let n = data.len();
    let ss_min = sum_sq_log(data, &fit.theta);
    if n <= 5 {
        let why = Some(format!("{n} points for 5 parameters: no degrees of freedom left"));
        return [why.clone(), why.clone(), why];
    }
    let sigma2 = ss_min / (n - 5) as f64;
    let threshold = 3.84 * sigma2;
    let names = ["α", "β", "E"];
    let mut out: [Option<String>; 3] = [None, None, None];
    for (slot, idx) in [2usize, 3, 4].into_iter().enumerate() {
        let v = fit.theta[idx];
        let probes: [f64; 2] = if idx == 4 { [v + 0.5f64.ln(), v + 1.5f64.ln()] } else { [0.5 * v, 1.5 * v] };
        let mut rises = Vec::new();
        for p in probes {
            // Under `--e-floor` an E below the floor is not a candidate: it cannot be flat there.
            if idx == 4 && opts.e_floor.is_some_and(|f| p < f.ln()) {
                rises.push(f64::INFINITY);
                continue;
            }
            let rise = profile_theta(data, fit, idx, p, opts)
                .map_or(f64::INFINITY, |th| sum_sq_log(data, &th) - ss_min);
            rises.push(rise);
        }
        let worst = rises.iter().cloned().fold(f64::INFINITY, f64::min);
        // The fit minimises a Huber loss, so a profiled refit can have a slightly *smaller*
        // squared error than the best fit: say so rather than print a negative "raise".
        if worst <= 0.0 {
            out[slot] = Some(format!(
                "flat profile: moving {} by ±50% and refitting fits as well (squared log error changes by {:.2e}; a real rise would exceed 3.84·σ̂² = {:.2e})",
                names[slot], worst, threshold
            ));
        } else if worst < threshold {
            out[slot] = Some(format!(
                "flat profile: moving {} by ±50% and refitting raises the squared log error by only {:.2e} (< 3.84·σ̂² = {:.2e})",
                names[slot], worst, threshold
            ));
        }
    }
    out
}
