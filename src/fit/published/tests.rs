//! Published-data regression tests (issue #21): each paper's own fit reproduced from its
//! released data (`../shared/validation/`, read at test time, never copied here) with the
//! paper's procedure, compared at the precision the paper prints, ours printed next to theirs
//! (`cargo test --release --lib fit::published::tests -- --nocapture`). Where scalinglab's
//! default procedure differs, both are shown. Without the folder the tests skip loudly (and
//! fail under CI=true, `crate::test_skip`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::akima::akima_argmin;
use super::datasets::{gemstones_flops_per_token, read_gemstones, validation_dir, Table};
use super::frontier::resource_hull;
use super::huber_mle::fit_huber_mle;
use super::overtrain::fit_overtrain;
use crate::fit::input::data::{make_cells, Obs, RunPoint};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::allocation::approach2;
use crate::fit::laws::approach3::{fit_approach3, Approach3Options};
use crate::fit::solve::multistart::FitOptions;
use crate::fit::stats::{ols, wls_slope};

/// The data file `rel` under the validation folder, or `None` after a loud skip.
fn data(test: &str, rel: &str) -> Option<PathBuf> {
    let p = validation_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    crate::test_skip::skip(test, &format!("{} is absent (the shared validation data sets)", p.display()));
    None
}

/// Compares ours with the paper's printed value, within one unit of its last printed digit
/// (`ulp`); prints both and returns whether they agree.
fn agree(what: &str, ours: f64, paper: f64, ulp: f64) -> bool {
    let ok = (ours - paper).abs() <= ulp * (1.0 + 1e-9);
    eprintln!("  {what:<32} ours {:<16} paper {paper:<14} {}", sig(ours), if ok { "ok" } else { "DIFFERS" });
    ok
}

/// `x` to 8 significant figures (small objectives in e-notation).
fn sig(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.7e}")
    } else {
        format!("{:.*}", (7 - x.abs().log10().floor() as i64).max(0) as usize, x)
    }
}

fn point(id: String, n: f64, d: f64, c: f64, loss: f64) -> RunPoint {
    RunPoint {
        id,
        n,
        d,
        c,
        loss,
        seed: None,
        group: None,
        flops_budget: Some(c),
        schedule: None,
        run: None,
        unique_tokens: None,
    }
}

fn law_lines(tag: &str, law: &ChinchillaLaw, paper: [(f64, f64); 5]) -> Vec<bool> {
    let ours = [law.e, law.a, law.b, law.alpha, law.beta];
    ["E", "A", "B", "alpha", "beta"]
        .iter()
        .zip(ours)
        .zip(paper)
        .map(|((name, o), (p, ulp))| agree(&format!("{tag} {name}"), o, p, ulp))
        .collect()
}

#[test]
fn epoch_chinchilla_besiroglu_approach3() {
    let Some(path) = data("epoch_chinchilla_besiroglu_approach3", "epoch-chinchilla/epoch240_NDloss.csv")
    else {
        return;
    };
    let t = Table::read(&path).expect("csv");
    let (n, d, l) = (t.numbers("N").unwrap(), t.numbers("D").unwrap(), t.numbers("loss").unwrap());
    let obs: Vec<Obs> = (0..n.len()).map(|i| Obs::new(n[i], d[i], l[i])).collect();
    assert_eq!(obs.len(), 240, "Epoch's 240 runs after the 5-point outlier rule");
    // Besiroglu et al. 2024, headline estimate (their Table 1; data_analysis.ipynb cells
    // 24–25): Huber MLE, δ = 1e-3, BFGS from Hoffmann et al.'s unrounded values (cell 16).
    let hoffmann = ChinchillaLaw { e: 1.6934, a: 406.40, b: 410.72, alpha: 0.33917084, beta: 0.2849083 };
    let mle = fit_huber_mle(&obs, 1e-3, &hoffmann).expect("mle");
    eprintln!(
        "Besiroglu et al. 2024 Huber MLE (paper's procedure), σ = {:.2e}, NLL {:.2}",
        mle.sigma, mle.nll
    );
    let mut ok = law_lines(
        "MLE",
        &mle.law,
        [(1.8169, 1e-4), (482.01, 0.01), (2085.43, 0.01), (0.3478, 1e-4), (0.3658, 1e-4)],
    );
    ok.push(agree("MLE a = β/(α+β)", mle.law.exponent_a(), 0.513, 1e-3)); // cell 59
    ok.push(agree("MLE NLL", mle.nll, -879.77, 0.01)); // cell 48
                                                       // scalinglab's default: summed Huber δ = 1e-3 from the 4,500-start grid, tight L-BFGS
                                                       // (their grid replication, cell 18: objective 0.0010182740, E 1.8172, A 477.84,
                                                       // B 2143.86, α 0.34731, β 0.36718, a 0.514).
    let grid = fit_approach3(&obs, &Approach3Options::default()).expect("grid fit");
    eprintln!("scalinglab default (summed Huber, 4,500 starts), objective {:.10}", grid.objective);
    ok.push(agree("grid objective", grid.objective, 0.0010182740, 1e-10));
    // A and B of cell 18 come from scipy's default-tolerance stop along the flat A–B valley: our
    // objective equals theirs to the 10 printed digits, E, α, β agree to every printed digit,
    // and A, B agree to 4 significant figures (477.8, 2143; PROVENANCE.md's tight refit gives
    // B = 2143.2–2143.4 too), which is all that objective determines.
    ok.extend(law_lines(
        "grid",
        &grid.law,
        [(1.8172, 1e-4), (477.84, 0.05), (2143.86, 0.5), (0.34731, 1e-5), (0.36718, 1e-5)],
    ));
    ok.push(agree("grid a", grid.law.exponent_a(), 0.514, 1e-3));
    assert!(ok.iter().all(|&b| b), "Epoch/Chinchilla: some values differ from Besiroglu et al. (see above)");
}

#[test]
fn cs336_isoflops_approach2() {
    let Some(path) = data("cs336_isoflops_approach2", "cs336-isoflops/isoflops_NCloss.csv") else { return };
    let t = Table::read(&path).expect("csv");
    let (n, c, l) = (t.numbers("N").unwrap(), t.numbers("C").unwrap(), t.numbers("loss").unwrap());
    // The assignment's procedure (handout §2.1, `chinchilla_isoflops`): per budget the
    // minimum-loss run, then N_opt ∝ C^a by a fit of the (C, N_opt) pairs; D = C/(6N).
    let mut by_c: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    (0..n.len()).for_each(|i| by_c.entry(c[i].to_bits()).or_default().push(i));
    let argmins: Vec<(f64, f64)> = by_c
        .values()
        .map(|idx| {
            let &best = idx.iter().min_by(|&&a, &&b| l[a].total_cmp(&l[b])).expect("budget");
            (c[best], n[best])
        })
        .collect();
    // The minimum-loss run per budget as read from the file (PROVENANCE.md table; there is no
    // published fit to compare with: the repository prints none).
    let table = [
        762_093_419.0,
        806_647_749.0,
        1_536_852_354.0,
        1_952_041_776.0,
        3_253_402_960.0,
        5_903_836_027.0,
        6_971_055_968.0,
        6_859_328_563.0,
        12_148_905_329.0,
    ];
    let got: Vec<f64> = argmins.iter().map(|p| p.1).collect();
    assert_eq!(got, table, "minimum-loss N per budget");
    let lnc: Vec<f64> = argmins.iter().map(|p| p.0.ln()).collect();
    let lnn: Vec<f64> = argmins.iter().map(|p| p.1.ln()).collect();
    let lnd: Vec<f64> = argmins.iter().map(|p| (p.0 / (6.0 * p.1)).ln()).collect();
    let (fa, fb) = (ols(&lnc, &lnn).expect("a"), ols(&lnc, &lnd).expect("b"));
    // a + b = 1 exactly, since D = C/(6N): a check of the arithmetic, not of the data.
    assert!((fa.slope + fb.slope - 1.0).abs() < 1e-12);
    let at = |f: &crate::fit::stats::LineFit, cc: f64| (f.intercept + f.slope * cc.ln()).exp();
    eprintln!(
        "CS336 Approach 2, argmin per budget (the handout's procedure): a = {:.4} [{:.4}, {:.4}], b = {:.4}; \
         N_opt(1e23) = {:.3e}, D_opt(1e23) = {:.3e}; N_opt(1e24) = {:.3e}, D_opt(1e24) = {:.3e}",
        fa.slope,
        fa.slope_ci95().unwrap()[0],
        fa.slope_ci95().unwrap()[1],
        fb.slope,
        at(&fa, 1e23),
        at(&fb, 1e23),
        at(&fa, 1e24),
        at(&fb, 1e24)
    );
    // scalinglab's default Approach 2 (Hoffmann et al.'s parabola in ln N per budget).
    let pts: Vec<RunPoint> =
        (0..n.len()).map(|i| point(format!("row{i}"), n[i], c[i] / (6.0 * n[i]), c[i], l[i])).collect();
    let mut w = Vec::new();
    let a2 = approach2(&make_cells(&pts), 0.05, &mut w);
    assert_eq!(a2.levels.len(), 9, "{w:?}");
    assert!(a2.levels.iter().all(|lv| !lv.at_edge), "no minimum lies at an edge: {w:?}");
    let ci = a2.a.ci95.expect("9 budgets");
    eprintln!(
        "CS336, scalinglab default (parabola per budget): a = {:.4} [{:.4}, {:.4}]",
        a2.a.value, ci[0], ci[1]
    );
    // The two estimates are consistent: the parabola's a lies inside the argmin fit's 95%
    // interval (the argmin is quantised to the 1.6–1.7× size grid, hence its width; the
    // parabola interpolates between sizes, hence its narrow interval, which in turn excludes
    // the argmin's 0.469: the parabola's a is the better-determined of the two here).
    let ca = fa.slope_ci95().expect("9 budgets");
    assert!(
        ca[0] <= a2.a.value && a2.a.value <= ca[1],
        "parabola a {} outside the argmin's {ca:?}",
        a2.a.value
    );
}

/// Porian et al.'s published fits (`porian_repo_fits.csv`, the repository's stored
/// `fit_results`: the values their `paper_tables.results_table` prints) by config.
fn porian_fits() -> Option<BTreeMap<String, (f64, f64, f64)>> {
    let path = data("porian_per_configuration_a", "porian-isoflops/porian_repo_fits.csv")?;
    let t = Table::read(&path).expect("csv");
    let ids = t.strings("config_id").unwrap();
    let (a, aw) = (t.numbers("a_bs_median_weighted").unwrap(), t.numbers("a_weighted_point").unwrap());
    let au = t.numbers("a_basic_unweighted").unwrap();
    Some(ids.into_iter().enumerate().map(|(i, id)| (id, (a[i], aw[i], au[i]))).collect())
}

#[test]
fn porian_per_configuration_a() {
    let Some(fits) = porian_fits() else { return };
    let Some(pairs) = data("porian_per_configuration_a", "porian-isoflops/porian_optimal_pairs.csv") else {
        return;
    };
    let Some(points) = data("porian_per_configuration_a", "porian-isoflops/porian_isoflop_points.csv") else {
        return;
    };
    // Porian et al. 2024, Table 2 / Figure 1 labels (as printed): the headline configurations.
    let paper = [
        ("rw-base-long-kaplan-kaplan-train", 0.8353),
        ("rw-base-long-kaplan-standard-val", 0.7065),
        ("rw-base-short-kaplan-standard-val", 0.6020),
        ("rw-base-short-chinchilla-standard-val", 0.5715),
        ("rw-tuned-short-const-standard-val", 0.4969),
        ("owt2-base-long-kaplan-kaplan-train", 0.8635),
        ("owt2-tuned-short-const-standard-val", 0.5185),
    ];
    let p = Table::read(&pairs).expect("pairs");
    let (pid, pc, pn) =
        (p.strings("config_id").unwrap(), p.numbers("flops").unwrap(), p.numbers("N_star").unwrap());
    let psd = p.numbers("log_N_star_sd").unwrap();
    let q = Table::read(&points).expect("points");
    let (qid, qc, qn, ql) = (
        q.strings("config_id").unwrap(),
        q.numbers("flops").unwrap(),
        q.numbers("N").unwrap(),
        q.numbers("loss").unwrap(),
    );
    let mut ok = Vec::new();
    for (id, &(a_pub, _, a_unw)) in &fits {
        // (i) Their last step on their own optima: weighted LS of ln N* on ln C, w = 1/sd².
        let rows: Vec<usize> = (0..pid.len()).filter(|&i| &pid[i] == id && pn[i].is_finite()).collect();
        let x: Vec<f64> = rows.iter().map(|&i| pc[i].ln()).collect();
        let y: Vec<f64> = rows.iter().map(|&i| pn[i].ln()).collect();
        let w: Vec<f64> = rows.iter().map(|&i| psd[i].powi(-2)).collect();
        let a_w = wls_slope(&x, &y, &w).expect("slope");
        // (ii) From the raw points: Akima argmin per budget, edge budgets dropped, OLS (their
        // procedure without the seed-noise bootstrap, which needs their noise model).
        let mut budgets: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for i in (0..qid.len()).filter(|&i| &qid[i] == id) {
            let e = budgets.entry(qc[i].to_bits()).or_default();
            e.0.push(qn[i]);
            e.1.push(ql[i]);
        }
        let opt: Vec<(f64, f64)> = budgets
            .iter()
            .filter_map(|(cb, (n, l))| akima_argmin(n, l).map(|(ns, _)| (f64::from_bits(*cb).ln(), ns.ln())))
            .collect();
        let (ox, oy): (Vec<f64>, Vec<f64>) = opt.into_iter().unzip();
        let a_raw = ols(&ox, &oy).expect("raw").slope;
        // (iii) scalinglab's default Approach 2: parabolas on the same points.
        let pts: Vec<RunPoint> = (0..qid.len())
            .filter(|&i| &qid[i] == id)
            .map(|i| point(format!("{id}:{i}"), qn[i], qc[i] / (6.0 * qn[i]), qc[i], ql[i]))
            .collect();
        let a_par = approach2(&make_cells(&pts), 0.05, &mut Vec::new()).a.value;
        let a_u = ols(&x, &y).expect("unweighted").slope;
        eprintln!("{id}: published a = {a_pub:.4}");
        ok.push(agree("  weighted LS on their optima", a_w, a_pub, 1e-4));
        ok.push(agree("  unweighted LS on their optima", a_u, a_unw, 1e-4));
        if let Some((_, v)) = paper.iter().find(|(p, _)| p == id) {
            ok.push(agree("  weighted LS vs paper table", a_w, *v, 1e-4));
        }
        // Without their seed-noise bootstrap (its noise model is not released), the raw-point
        // path is an approximation of their procedure: within 0.01 of every published a (the
        // largest gap, 0.0072, is owt2-base-short-chinchilla-standard-val).
        ok.push(agree("  Akima argmin + OLS, raw points", a_raw, a_pub, 0.01));
        eprintln!("    scalinglab default (parabola)    ours {a_par:.4}");
    }
    assert_eq!(fits.len(), 15);
    assert!(ok.iter().all(|&b| b), "Porian: some values differ (see above)");
}

// Long on purpose (issue #20): both Gemstones fits share one read of the data and print side by
// side with the paper's numbers; split, the comparison table would be torn in two.
#[test]
fn gemstones_approach3_and_approach1() {
    let Some(hot) = data("gemstones_approach3_and_approach1", "gemstones/wandb_df_for_fitting_hot.jsonl")
    else {
        return;
    };
    let Some(hot477) =
        data("gemstones_approach3_and_approach1", "gemstones/wandb_df_for_fitting_hot_477.jsonl")
    else {
        return;
    };
    // Approach 3 (repository depth_width.py): summed Huber on log loss, all 220 rows,
    // N = params_active_precise, D = tokens, the 4,500-start grid: scalinglab's default procedure.
    let rows = read_gemstones(&hot).expect("hot");
    assert_eq!(rows.len(), 220);
    let obs: Vec<Obs> =
        rows.iter().map(|r| Obs::new(r.params_active_precise, r.tokens, r.final_loss)).collect();
    let mut ok = Vec::new();
    // Published: the repository's fit outputs behind McLeish et al. 2025's Approach 3 figures
    // (parameters_delta-3/ and parameters_delta-4/approach_3_parameters_grid_search_0_hot.json),
    // read here, compared to 4 decimals (PROVENANCE.md prints α, β, E to 4 decimals).
    for (delta, dir) in [(1e-3, "parameters_delta-3"), (1e-4, "parameters_delta-4")] {
        let Some(pj) = data(
            "gemstones_approach3_and_approach1",
            &format!("gemstones/{dir}/approach_3_parameters_grid_search_0_hot.json"),
        ) else {
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pj).unwrap()).unwrap();
        let num = |a: &str, i: Option<usize>| {
            let x = &v[a]["0"];
            i.map_or(x, |i| &x[i]).as_f64().expect("number")
        };
        let theirs = [
            num("coefficients", Some(0)),
            num("coefficients", Some(1)),
            num("exponents", Some(0)),
            num("exponents", Some(1)),
            num("irreducible_error", None),
        ];
        let their_obj = num("loss", None);
        let opts = Approach3Options { fit: FitOptions { delta, ..Default::default() }, ..Default::default() };
        let f = fit_approach3(&obs, &opts).expect("fit");
        let data_log = crate::fit::solve::objective::LogData::from_obs(&obs);
        let packed = crate::fit::solve::objective::PackedData::new(
            crate::fit::solve::objective::PowerSum::CHINCHILLA,
            &data_log,
        );
        let at_theirs = packed.objective(&theirs, &mut [0.0; 5], delta);
        let their_law = ChinchillaLaw::from_theta(&theirs);
        eprintln!(
            "Gemstones hot, δ = {delta:e}: ours A = {:.1}, B = {:.4e}; theirs A = {:.1}, B = {:.4e}",
            f.law.a, f.law.b, their_law.a, their_law.b
        );
        // Same estimator: our objective at their parameters is their objective.
        // (The file prints the objective to 10 decimals.)
        ok.push(agree(&format!("δ={delta:e} objective at theirs"), at_theirs, their_obj, 1e-10));
        if delta == 1e-3 {
            // Ours is lower by ~1e-10 (the file's scipy stop sits one step short): α agrees to 4
            // decimals, β and E to 1 in the 4th (ours 0.7130, 2.1432, as PROVENANCE.md's tight
            // refit), the precision this objective gives them.
            ok.push(agree(&format!("δ={delta:e} objective"), f.objective, their_obj, 1e-10));
            ok.push(f.objective <= their_obj);
            ok.push(agree(&format!("δ={delta:e} alpha"), f.law.alpha, their_law.alpha, 1e-4));
            ok.push(agree(&format!("δ={delta:e} beta"), f.law.beta, their_law.beta, 1.5e-4));
            ok.push(agree(&format!("δ={delta:e} E"), f.law.e, their_law.e, 1.5e-4));
        } else {
            // δ = 1e-4: our fit reaches a lower objective than the published one, so theirs
            // (scipy L-BFGS-B, default tolerances, numerical gradients) stopped early; shown, and
            // the test asserts only that ours is the better optimum of the same objective.
            eprintln!(
                "  δ=1e-4: ours objective {} < published {}: α {:.4} (published {:.4}), β {:.4} ({:.4}), E {:.4} ({:.4})",
                sig(f.objective), sig(their_obj), f.law.alpha, their_law.alpha, f.law.beta, their_law.beta, f.law.e, their_law.e
            );
            ok.push(f.objective < their_obj);
        }
        eprintln!(
            "  δ={delta:e} a = β/(α+β)                ours {:.4}  published {:.4}",
            f.law.exponent_a(),
            their_law.exponent_a()
        );
    }
    // Approach 1 (approach_1.py): every hot checkpoint up to 100B tokens (step > 0), C with
    // Gemstones' FLOP count, the lower convex hull of (ln C, ln L), ln N and ln D on ln C.
    let rows = read_gemstones(&hot477).expect("hot_477");
    let rows: Vec<_> = rows.into_iter().filter(|r| r.step > 0.0).collect();
    let c: Vec<f64> = rows.iter().map(|r| gemstones_flops_per_token(r.width, r.depth) * r.tokens).collect();
    let l: Vec<f64> = rows.iter().map(|r| r.final_loss).collect();
    let hull = resource_hull(&c, &l);
    let lnc: Vec<f64> = hull.iter().map(|&i| c[i].ln()).collect();
    let lnn: Vec<f64> = hull.iter().map(|&i| rows[i].params_active_precise.ln()).collect();
    let lnd: Vec<f64> = hull.iter().map(|&i| rows[i].tokens.ln()).collect();
    let (fa, fb) = (ols(&lnc, &lnn).expect("a"), ols(&lnc, &lnd).expect("b"));
    eprintln!("Gemstones Approach 1: {} hull points of {} checkpoints", hull.len(), rows.len());
    // Published: parameters/approach_1_linear_regression_{params,tokens}.json (read here),
    // compared to 4 decimals as PROVENANCE.md prints them (a 0.4994, b 0.4810).
    for (what, fit, file) in [("a (N_opt ∝ C^a)", fa, "params"), ("b (D_opt ∝ C^b)", fb, "tokens")] {
        let Some(pj) = data(
            "gemstones_approach3_and_approach1",
            &format!("gemstones/parameters/approach_1_linear_regression_{file}.json"),
        ) else {
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pj).unwrap()).unwrap();
        ok.push(agree(&format!("A1 {what}"), fit.slope, v["coef"][0].as_f64().expect("coef"), 1e-4));
        ok.push(agree(
            &format!("A1 {what} intercept (ln)"),
            fit.intercept,
            v["intercept"].as_f64().expect("intercept"),
            1e-3,
        ));
    }
    assert!(ok.iter().all(|&b| b), "Gemstones: some values differ (see above)");
}

#[test]
fn gadre_overtraining_forecast() {
    let Some(path) = data("gadre_overtraining_forecast", "gadre-overtraining/gadre104_flat.csv") else {
        return;
    };
    let t = Table::read(&path).expect("csv");
    let (set, model) = (t.strings("dataset").unwrap(), t.strings("model").unwrap());
    let (n, m) = (t.numbers("N").unwrap(), t.numbers("M_tokens_per_param").unwrap());
    let (d, loss) = (t.numbers("D").unwrap(), t.numbers("loss_c4_val").unwrap());
    let small = ["d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8"];
    let find = |mo: &str, mm: f64| {
        (0..n.len()).find(|&i| set[i] == "rpj" && model[i] == mo && m[i] == mm).expect(mo)
    };
    // Gadre et al. 2024 (scaling_explorer.ipynb "Table 2 defaults"): RedPajama, C4-eval loss,
    // the 4 small sizes at M = 20 plus d=96 at M = 320; N with embeddings.
    let fit_rows: Vec<usize> = small.iter().map(|s| find(s, 20.0)).chain([find(small[0], 320.0)]).collect();
    let x: Vec<(f64, f64)> = fit_rows.iter().map(|&i| (n[i], m[i])).collect();
    let y: Vec<f64> = fit_rows.iter().map(|&i| loss[i]).collect();
    let law = fit_overtrain(&x, &y).expect("fit");
    eprintln!("Gadre et al. law on 5 small RPJ runs: {law:?}");
    let mut ok = Vec::new();
    // Stored output of scaling_explorer.ipynb cell 2: 0.7103% (1.4B, M = 640), 0.7320% (6.9B, M = 20).
    for (mo, mm, paper) in [("open_lm_1b", 640.0, 0.7103), ("open_lm_7b", 20.0, 0.7320)] {
        let i = find(mo, mm);
        let pred = law.loss(n[i], m[i]);
        let err = 100.0 * (pred - loss[i]).abs() / loss[i];
        eprintln!("  {mo} M={mm}: actual {:.4}, predicted {pred:.4}", loss[i]);
        ok.push(agree(&format!("{mo} rel. error %"), err, paper, 1e-4));
    }
    // scalinglab's Approach 3 on the 4 small sizes at every M (its over-training check), next
    // to theirs: no published number, so printed only.
    let small_obs: Vec<Obs> = (0..n.len())
        .filter(|&i| set[i] == "rpj" && small.contains(&model[i].as_str()))
        .map(|i| Obs::new(n[i], d[i], loss[i]))
        .collect();
    let a3 = fit_approach3(&small_obs, &Approach3Options::default()).expect("a3");
    for (mo, mm) in [("open_lm_1b", 640.0), ("open_lm_1b", 20.0), ("open_lm_7b", 20.0)] {
        let i = find(mo, mm);
        let pred = a3.law.loss(n[i], d[i]);
        eprintln!(
            "  scalinglab Approach 3 on {} small runs → {mo} M={mm}: predicted {pred:.4}, error {:+.2}%",
            small_obs.len(),
            100.0 * (pred - loss[i]) / loss[i]
        );
    }
    assert!(ok.iter().all(|&b| b), "Gadre: forecast errors differ from the paper's (see above)");
}

/// Gemstones checkpoints as `fit --csv` text: one row per checkpoint, the run named, C from
/// Gemstones' FLOP count (as their Approach 1 uses).
fn gemstones_csv(rows: &[super::datasets::GemstoneRow]) -> String {
    let mut s = String::from("run,N,D,C,loss\n");
    for r in rows.iter().filter(|r| r.step > 0.0) {
        let c = gemstones_flops_per_token(r.width, r.depth) * r.tokens;
        s.push_str(&format!(
            "{},{},{},{c},{}\n",
            r.run_name, r.params_active_precise, r.tokens, r.final_loss
        ));
    }
    s
}

// Issue #21 acceptance: on the Gemstones checkpoints the output shows Approaches 1 and 3
// disagreeing (McLeish et al. 2025: 0.50 vs 0.71) and says why.
#[test]
fn gemstones_approaches_disagree_and_say_why() {
    // hot_477: every constant-LR checkpoint to 100B tokens, Gemstones' Approach 1 input.
    let Some(hot) =
        data("gemstones_approaches_disagree_and_say_why", "gemstones/wandb_df_for_fitting_hot_477.jsonl")
    else {
        return;
    };
    // All 1,100 rows (~14 s on 2 loaded cores): thinning to every other checkpoint halves the
    // time but narrows the margin between the intervals (A1 0.566 [0.486, 0.645] vs A3
    // [0.665, 0.733]), and this is the acceptance test.
    let text = gemstones_csv(&read_gemstones(&hot).expect("hot"));
    let points = crate::fit::input::csv::parse_csv(&text, "gemstones-hot.csv").expect("csv");
    // The coarse start grid and 10 replicates keep this a few seconds; `scalinglab fit` with
    // the full grid and 20 replicates gives the same verdict (README).
    let opts = crate::fit::pipeline::group::PipelineOptions {
        a3: Approach3Options { grid: crate::fit::laws::approach3::StartGrid::Coarse, ..Default::default() },
        bootstrap: crate::fit::uncertainty::bootstrap::BootstrapOptions {
            reps: 10,
            seed: 0,
            within_cell: false,
        },
        ..Default::default()
    };
    let g = crate::fit::fit_group(None, None, &points, &[], &opts, &mut Vec::new()).expect("fit");
    let a = g.agreement.expect("agreement section");
    for l in crate::fit::uncertainty::agreement::lines(&a) {
        eprintln!("  {l}");
    }
    assert_eq!(a.verdict, "disagree", "{}", a.summary);
    let p13 = a.pairs.iter().find(|p| p.pair == ["approach1", "approach3"]).expect("A1 vs A3");
    assert_eq!(p13.beyond_intervals, Some(true), "{}", a.summary);
    assert!(
        a.reasons.iter().any(|r| r.starts_with("curve points before the end of the schedule")),
        "{:?}",
        a.reasons
    );
    assert!(a.reasons.iter().any(|r| r.starts_with("counting: C is not 6·N·D")), "{:?}", a.reasons);
}
