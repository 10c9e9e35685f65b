//! Grid design for a FLOP budget: proposes a config whose grid can identify what will be
//! fitted (issue #8): N spanning at least 10× at a fixed aspect ratio (n_embd / n_layer, so
//! the N axis is clean), several token budgets ×2 apart at every size (the largest size still
//! seeing ≥ 2 tokens per parameter), optional seed replicates; or IsoFLOP profiles whose sizes
//! bracket the expected optimum at every budget.

use crate::model::{count, GptConfig};

/// What to design.
#[derive(Debug, Clone)]
pub struct DesignRequest {
    /// Total training FLOPs to spend (6·N·D convention).
    pub flops: f64,
    /// `nd` (sizes × tokens-per-parameter) or `isoflop`.
    pub isoflop: bool,
    /// n_embd / n_layer.
    pub aspect: usize,
    /// Width per head.
    pub head_dim: usize,
    /// Number of sizes.
    pub sizes: usize,
    /// Token budgets per size (nd) or compute budgets (isoflop).
    pub budgets: usize,
    /// Seeds per cell.
    pub seeds: usize,
    /// Vocabulary (for N).
    pub vocab_size: usize,
    /// Context length.
    pub block_size: usize,
}

/// A proposed grid.
#[derive(Debug, Clone)]
pub struct Design {
    /// "n_embd x n_layer" shapes.
    pub shapes: Vec<String>,
    /// N_total of each shape.
    pub params: Vec<u64>,
    /// Token budgets (nd) or compute budgets (isoflop).
    pub axis: Vec<f64>,
    /// Estimated training FLOPs (6ND, without WSD savings).
    pub flops: f64,
}

/// The shape of width `c`: n_layer = c / aspect exactly (`widths` only offers such c).
fn shape_cfg(r: &DesignRequest, c: usize) -> GptConfig {
    GptConfig {
        vocab_size: r.vocab_size,
        block_size: r.block_size,
        n_layer: (c / r.aspect).max(1),
        n_head: (c / r.head_dim).max(1),
        n_embd: c,
        tie_embeddings: true,
        bias: true,
        init: Default::default(),
    }
}

fn geometric(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    if k == 1 {
        return vec![(lo * hi).sqrt()];
    }
    (0..k).map(|i| lo * (hi / lo).powf(i as f64 / (k - 1) as f64)).collect()
}

/// Widths at exactly the requested aspect ratio: n_embd = aspect · n_layer, a multiple of
/// head_dim, each at least 1.3× the previous (so the sizes are spread in log N), up to 4096.
/// Rounding n_layer instead would break the ratio the design promises (aspect 32 gave 48x2
/// and 112x4, issue #24).
fn widths(r: &DesignRequest) -> Vec<usize> {
    let mut w: Vec<usize> = vec![];
    for layers in 1.. {
        let c = r.aspect * layers;
        if c > 4096 {
            break;
        }
        let grows = w.last().is_none_or(|&p| c as f64 >= 1.3 * p as f64);
        if c.is_multiple_of(r.head_dim) && grows {
            w.push(c);
        }
    }
    w
}

/// Proposes the largest grid of the requested shape that fits the budget; Err with the
/// minimum budget when even the smallest does not.
pub fn design(r: &DesignRequest) -> Result<Design, String> {
    if r.aspect == 0 || r.head_dim == 0 {
        return Err("--aspect and --head-dim must be at least 1".into());
    }
    let ws = widths(r);
    if r.sizes < 2 || r.budgets < 1 || r.sizes > ws.len() {
        return Err(format!("--sizes must be 2..{} and --budgets at least 1", ws.len()));
    }
    let mut best: Option<Design> = None;
    let mut min_cost = f64::INFINITY;
    // The smallest size is fixed; the largest grows while the budget allows (every size gets
    // the same set of budgets; sizes evenly spaced in log width between).
    for top in (r.sizes - 1)..ws.len() {
        let idx: Vec<usize> = (0..r.sizes).map(|i| (i * top + (r.sizes - 1) / 2) / (r.sizes - 1)).collect();
        let cfgs: Vec<GptConfig> = idx.iter().map(|&i| shape_cfg(r, ws[i])).collect();
        let params: Vec<u64> = cfgs.iter().map(count::params_total).collect();
        let (axis, flops) = if r.isoflop {
            // Budgets such that the middle size is compute-optimal (≈20 tokens/param) at the
            // middle budget; ×3 between budgets.
            let n_mid = params[params.len() / 2] as f64;
            let c_mid = 6.0 * n_mid * 20.0 * n_mid;
            let cs: Vec<f64> =
                (0..r.budgets).map(|k| c_mid * 3f64.powf(k as f64 - (r.budgets - 1) as f64 / 2.0)).collect();
            let f = cs.iter().sum::<f64>() * r.sizes as f64 * r.seeds as f64;
            (cs, f)
        } else {
            // Token budgets ×2 apart; the largest D such that the whole grid fits the budget.
            let rel = geometric(1.0 / 2f64.powi(r.budgets as i32 - 1), 1.0, r.budgets);
            let n_sum: f64 = params.iter().map(|&n| n as f64).sum();
            let d_max = r.flops / (6.0 * n_sum * rel.iter().sum::<f64>() * r.seeds as f64);
            // The largest model must see at least 2 tokens per parameter at the top budget,
            // else the grid is all data-limited and α, E are not determined.
            let d_need = 2.0 * *params.last().unwrap_or(&1) as f64;
            let d = d_max.max(d_need);
            let ds: Vec<f64> = rel.iter().map(|x| (x * d).round()).collect();
            let f = 6.0 * n_sum * ds.iter().sum::<f64>() * r.seeds as f64;
            (ds, f)
        };
        min_cost = min_cost.min(flops);
        if flops <= r.flops * 1.0001 {
            let shapes = cfgs.iter().map(|c| format!("{}x{}", c.n_embd, c.n_layer)).collect();
            best = Some(Design { shapes, params, axis, flops });
        }
    }
    best.ok_or_else(|| {
        format!(
            "a budget of {:.3e} FLOPs is too small for this design; the smallest needs {min_cost:.3e}",
            r.flops
        )
    })
}

/// The proposed config as TOML text (with comments saying what was chosen and why).
pub fn to_toml(r: &DesignRequest, d: &Design, name: &str, corpus: Option<&str>) -> String {
    let span = *d.params.last().unwrap_or(&1) as f64 / *d.params.first().unwrap_or(&1) as f64;
    let mut s = format!(
        "# Designed by `scalinglab design` for {:.3e} FLOPs: {} sizes ({} to {} parameters, N spans {span:.1}×)\n\
         # at aspect ratio n_embd/n_layer = {}, {} {} per size{}; estimated {:.3e} FLOPs (6ND).\n",
        r.flops,
        d.shapes.len(),
        d.params[0],
        d.params[d.params.len() - 1],
        r.aspect,
        d.axis.len(),
        if r.isoflop { "compute budgets" } else { "token budgets" },
        if r.seeds > 1 { format!(", {} seeds per cell", r.seeds) } else { String::new() },
        d.flops
    );
    if span < 10.0 {
        s.push_str(
            "# warning: N spans under 10×: α and the compute-optimal exponents may not be determined.\n",
        );
    }
    s.push_str(&format!("name = \"{name}\"\n\n[corpus]\n"));
    match corpus {
        Some(p) => s.push_str(&format!("source = \"prepared\"\npath = \"{p}\"\n\n")),
        None => s.push_str("source = \"synthetic\"\n\n"),
    }
    s.push_str(&format!("[model]\nhead_dim = {}\nblock_size = {}\n\n", r.head_dim, r.block_size));
    s.push_str(
        "[train]\nbatch_size = 32\nlearning_rate = 3.5e-3\nlr_rule = \"sqrt\"        # per-size LR: 3.5e-3 · √(64 / n_embd)\n\
         lr_base_width = 64\n",
    );
    if r.isoflop {
        s.push_str("schedule = \"cosine\"\n\n");
    } else {
        s.push_str("schedule = \"wsd\"         # shorter runs branch off the longest (fewer FLOPs)\ncooldown_fraction = 0.2\n\n");
    }
    let shapes: Vec<String> = d.shapes.iter().map(|x| format!("\"{x}\"")).collect();
    s.push_str(&format!("[grid]\nshapes = [{}]\n", shapes.join(", ")));
    let axis: Vec<String> = d.axis.iter().map(|x| format!("{x:.3e}")).collect();
    if r.isoflop {
        s.push_str(&format!("flops = [{}]\nskip_invalid = true\n", axis.join(", ")));
    } else {
        s.push_str(&format!("tokens = [{}]\n", axis.join(", ")));
    }
    if r.seeds > 1 {
        let seeds: Vec<String> = (0..r.seeds).map(|i| i.to_string()).collect();
        s.push_str(&format!("seed = [{}]\n", seeds.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(flops: f64, isoflop: bool) -> DesignRequest {
        DesignRequest {
            flops,
            isoflop,
            aspect: 32,
            head_dim: 16,
            sizes: 5,
            budgets: 4,
            seeds: 1,
            vocab_size: 512,
            block_size: 64,
        }
    }

    #[test]
    fn fits_the_budget_and_grows_with_it() {
        let small = design(&req(3e14, false)).unwrap();
        let big = design(&req(1e16, false)).unwrap();
        assert!(small.flops <= 3e14 * 1.001 && big.flops <= 1e16 * 1.001);
        let n_span = *small.params.last().unwrap() as f64 / small.params[0] as f64;
        assert!(n_span >= 10.0, "N spans {n_span}");
        assert!(big.params.last() > small.params.last());
        assert_eq!(small.shapes.len(), 5);
        assert_eq!(small.axis.len(), 4);
        assert!(design(&req(1e6, false)).is_err());
        let iso = design(&req(1e15, true)).unwrap();
        assert!(iso.flops <= 1e15 && iso.axis.len() == 4);
    }

    #[test]
    fn every_proposed_shape_has_the_requested_aspect_ratio() {
        for (aspect, head_dim) in [(32, 16), (16, 8), (64, 16), (24, 16)] {
            for isoflop in [false, true] {
                let r = DesignRequest { aspect, head_dim, ..req(1e17, isoflop) };
                let d = design(&r).unwrap();
                for s in &d.shapes {
                    let (c, l) = s.split_once('x').unwrap();
                    let (c, l): (usize, usize) = (c.parse().unwrap(), l.parse().unwrap());
                    assert_eq!(c, aspect * l, "{s} at aspect {aspect}");
                    assert_eq!(c % head_dim, 0, "{s} with head_dim {head_dim}");
                }
                let n: Vec<u64> = d.params.clone();
                assert!(n.windows(2).all(|w| w[1] > w[0]), "{:?}", d.shapes);
            }
        }
    }

    #[test]
    fn proposal_is_a_valid_config() {
        let r = req(1e15, false);
        let d = design(&r).unwrap();
        let text = to_toml(&r, &d, "designed", None);
        let raw: crate::config::raw::RawConfig = toml::from_str(&text).unwrap();
        assert!(raw.grid.unwrap().contains_key("tokens"));
    }
}
