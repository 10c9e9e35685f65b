//! The report's section on a tuning's hyperparameter law, when the results folder's
//! `tune.json` has one (a `[tune]` whose `tokens` is a list): the law η* = c·N^p·D^q with its
//! 95% intervals beside Step Law's (Li et al. 2025), the batch-size law when the batch size was
//! tuned, and the optima they were fitted through ([`crate::fit::laws::hyper`]). A tune.json
//! without a law (a single budget, or written before the law existed) adds nothing, so such a
//! report is unchanged.

use std::path::Path;

use serde::Deserialize;

use super::Block;
use crate::fit::laws::hyper::{HyperLaw, PowerLaw, Published, STEP_LAW_BATCH, STEP_LAW_LR};
use crate::fmt::fmt_num;

/// The part of `tune.json` the report reads (serde skips the rest).
#[derive(Deserialize)]
struct TuneDoc {
    #[serde(default)]
    law: Option<HyperLaw>,
}

/// The law of `dir/tune.json`, if the file is there and has one.
pub fn read_law(dir: &Path) -> Option<HyperLaw> {
    let text = std::fs::read_to_string(dir.join("tune.json")).ok()?;
    serde_json::from_str::<TuneDoc>(&text).ok()?.law
}

/// The section, or nothing without a law.
pub fn tune_law_blocks(dir: &Path) -> Vec<Block> {
    let Some(law) = read_law(dir) else { return vec![] };
    let mut out = vec![
        Block::Heading(2, "Learning-rate law from [tune]".into()),
        Block::Para(format!(
            "Least squares in log space through the optimal learning rate of each tuned size and budget \
             (tune.json): ln lr* = ln c + p·ln N + q·ln D, N = {} parameters, D = tokens, with 95% t intervals. \
             {} fitted the same form over 3,700 runs; its c depends on its counting, tokenizer and models, so \
             only the exponents compare.",
            law.params, STEP_LAW_LR.source
        )),
    ];
    out.extend(law_table("lr*", &law.lr, &STEP_LAW_LR));
    if let Some(b) = &law.batch {
        out.push(Block::Para("Batch size (tuned jointly), B* in tokens per step:".into()));
        out.extend(law_table("B*", b, &STEP_LAW_BATCH));
    }
    let batch = law.optima.iter().any(|o| o.batch_tokens.is_some());
    let mut head = vec!["size".to_string(), "N".into(), "D (tokens)".into(), "lr*".into()];
    if batch {
        head.push("B* (tokens)".into());
    }
    let rows = law
        .optima
        .iter()
        .map(|o| {
            let mut r = vec![o.shape.clone(), o.n.to_string(), o.d.to_string(), fmt_num(o.lr)];
            if batch {
                r.push(o.batch_tokens.map(|b| b.to_string()).unwrap_or_else(|| "—".into()));
            }
            r
        })
        .collect();
    out.push(Block::Para("The optima (best trial, or parabola vertex with optimum = \"parabola\"):".into()));
    out.push(Block::Table(head, rows));
    out
}

/// One law's estimates beside the published ones, and its fit quality.
fn law_table(y: &str, f: &PowerLaw, published: &Published) -> Vec<Block> {
    let ci = |c: Option<[f64; 2]>| c.map(|[l, h]| format!("{} – {}", fmt_num(l), fmt_num(h)));
    let none = || "none (as many optima as coefficients)".to_string();
    let mut rows =
        vec![vec!["c".into(), fmt_num(f.c), ci(f.c_ci95).unwrap_or_else(none), fmt_num(published.c)]];
    for (name, v, c, pubd, why) in [
        ("p (on N)", f.p, f.p_ci95, published.p, "not identified (one N)"),
        ("q (on D)", f.q, f.q_ci95, published.q, "not identified (one tuning budget)"),
    ] {
        rows.push(match v {
            Some(e) => vec![name.into(), fmt_num(e), ci(c).unwrap_or_else(none), fmt_num(pubd)],
            None => vec![name.into(), why.into(), "—".into(), fmt_num(pubd)],
        });
    }
    vec![
        Block::Table(vec!["".into(), y.into(), "95% interval".into(), "Step Law".into()], rows),
        Block::Para(format!(
            "{y} = {}: {} optima, R² {} in log space{}.",
            f.formula(),
            f.points,
            fmt_num(f.r2),
            f.sigma_ln.map(|s| format!(", residual sd of ln {y} {}", fmt_num(s))).unwrap_or_default()
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::laws::hyper::Optimum;

    /// Optima on lr* = 0.05·N^−0.5·D^0.25 (times a small wobble, so the fit has residuals).
    fn law(budgets: &[u64]) -> HyperLaw {
        let mut optima = Vec::new();
        for (i, n) in [20_000u64, 80_000, 300_000].into_iter().enumerate() {
            for &d in budgets {
                let lr = 0.05 * (n as f64).powf(-0.5) * (d as f64).powf(0.25) * (1.0 + 0.01 * i as f64);
                optima.push(Optimum { shape: format!("{}x1", 16 << i), n, d, lr, batch_tokens: None });
            }
        }
        HyperLaw::fit(optima).expect("law")
    }

    fn text(blocks: &[Block]) -> String {
        super::super::to_markdown(blocks)
    }

    #[test]
    fn a_tune_json_with_a_law_gets_the_section_and_one_without_gets_nothing() {
        // A committed tune.json from before the law: the report is unchanged.
        let quick = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/quick");
        assert!(quick.join("tune.json").exists());
        assert!(tune_law_blocks(&quick).is_empty());
        let d = tempfile::tempdir().expect("tempdir");
        let two = law(&[1_000_000, 4_000_000]);
        let doc = serde_json::json!({ "tokens": 4_000_000u64, "apply": "law", "law": two });
        std::fs::write(d.path().join("tune.json"), doc.to_string()).expect("write");
        let md = text(&tune_law_blocks(d.path()));
        assert!(md.starts_with("## Learning-rate law from [tune]"), "{md}");
        // Our p and q with their intervals, beside Step Law's.
        let [lo, hi] = two.lr.p_ci95.expect("interval");
        let p_row = format!(
            "| p (on N) | {} | {} – {} | -0.713 |",
            fmt_num(two.lr.p.unwrap()),
            fmt_num(lo),
            fmt_num(hi)
        );
        assert!(md.contains(&p_row), "{p_row}\n{md}");
        assert!(
            md.contains(&format!("| q (on D) | {} |", fmt_num(two.lr.q.unwrap())))
                && md.contains("| 0.307 |"),
            "{md}"
        );
        assert!((two.lr.p.unwrap() + 0.5).abs() < 0.02, "{:?}", two.lr);
        assert_eq!(md.matches("| 80000 |").count(), 2, "{md}");
        // One budget: q is said to be not identified, never shown as a number.
        let one = serde_json::json!({ "law": law(&[4_000_000]) });
        std::fs::write(d.path().join("tune.json"), one.to_string()).expect("write");
        let md = text(&tune_law_blocks(d.path()));
        assert!(md.contains("| q (on D) | not identified (one tuning budget) | — | 0.307 |"), "{md}");
    }
}
