//! The crate's number formatter for messages, summaries, tables and reports.
//!
//! One function, so every number a user reads (an error message, `fit`'s summary, a report
//! table, a plot label) is written the same way. Why its own module: it was defined in
//! `fit`'s identifiability code and imported from there by eleven files, which tied the
//! report and the error messages to a fitting stage (issue #20).

/// Compact number formatting for messages, tables and reports: 4 significant digits
/// (trailing zeros dropped), plain in 1e-3 ≤ |v| < 1e4 (`2.459`, `1522`, `0.01234`),
/// scientific outside (`6.244e4`, `3.309e5`). Issue #18: "62436.5455" was over-precise.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e4) {
        // Round to 4 significant digits first: 9999.6 becomes 1.000e4, not "10000".
        let r: f64 = format!("{v:.3e}").parse().unwrap_or(v);
        if r.abs() >= 1e4 {
            return format!("{r:.3e}");
        }
        let mag = if r == 0.0 { 0 } else { r.abs().log10().floor() as i32 };
        let s = format!("{r:.*}", (3 - mag).max(0) as usize);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_num_gives_four_significant_digits() {
        for (v, want) in [
            (62436.5455, "6.244e4"),
            (1522.414, "1522"),
            (53.4851, "53.49"),
            (2.4587, "2.459"),
            (0.012345, "0.01235"),
            (0.5, "0.5"),
            (9999.6, "1.000e4"),
            (0.0, "0"),
            (-3.21987, "-3.22"),
            (1.5e-5, "1.500e-5"),
            (330870.48, "3.309e5"),
        ] {
            assert_eq!(fmt_num(v), want, "{v}");
        }
    }
}
