//! The Markov grammar of Markov sentences (opt-in, `p_markov`): a dense low-rank or a sparse
//! transition matrix over the Markov state tokens, with its stationary distribution and its
//! entropy rate. Built from its own random stream, so the rest of the world does not depend
//! on whether it exists. Module docs of `corpus::synthetic`: why it makes loss fall with width.

use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::SyntheticConfig;
use super::dist::{normalise, seeded, zipf, Dist};

/// The Markov grammar of Markov sentences: transition rows and their stationary distribution.
#[derive(Clone, Debug)]
pub(super) struct Markov {
    /// Transition law out of each state.
    pub(super) rows: Vec<Dist>,
    /// Stationary distribution (a sentence's first state is drawn from it, so every state of a
    /// Markov sentence has this marginal).
    pub(super) start: Dist,
}

impl Markov {
    /// The grammar of a validated config (`None` without Markov states): sparse when
    /// `markov_successors > 0`, else dense of rank `markov_rank` (0 = full rank).
    pub(super) fn for_config(cfg: &SyntheticConfig, seed: u64) -> Option<Self> {
        (cfg.markov_states > 0).then(|| {
            let rank = if cfg.markov_rank == 0 { cfg.markov_states } else { cfg.markov_rank };
            let mut r = seeded(seed, 0, *b"markov\0\0");
            if cfg.markov_successors > 0 {
                Markov::sparse(
                    &mut r,
                    cfg.markov_states,
                    cfg.markov_successors,
                    cfg.markov_decay,
                    cfg.markov_noise,
                )
            } else {
                Markov::new(&mut r, cfg.markov_states, rank, cfg.markov_decay, cfg.markov_scale)
            }
        })
    }

    /// Transition logits `scale * U diag(s) V^T / |s|` with Gaussian `U`, `V` (`n x rank`) and
    /// singular-value profile `s_i = i^-decay`: every logit has standard deviation `scale`.
    fn new(rng: &mut ChaCha8Rng, n: usize, rank: usize, decay: f64, scale: f64) -> Self {
        let mut gauss = || {
            // Box-Muller (one value per pair of uniforms; portable and reproducible).
            let u1: f64 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let u: Vec<f64> = (0..n * rank).map(|_| gauss()).collect();
        let v: Vec<f64> = (0..n * rank).map(|_| gauss()).collect();
        let sv: Vec<f64> = (1..=rank).map(|i| (i as f64).powf(-decay)).collect();
        let norm = sv.iter().map(|x| x * x).sum::<f64>().sqrt();
        let rows: Vec<Dist> = (0..n)
            .map(|i| {
                let logits: Vec<f64> = (0..n)
                    .map(|j| {
                        scale / norm
                            * (0..rank).map(|k| u[i * rank + k] * sv[k] * v[j * rank + k]).sum::<f64>()
                    })
                    .collect();
                let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                Dist::new(&logits.iter().map(|l| (l - m).exp()).collect::<Vec<_>>())
            })
            .collect();
        Self::from_rows(rows)
    }

    /// Each state moves to one of `k` random successors (probabilities `i^-decay`) with
    /// probability `1 - noise`, else to a uniformly random state. Log-probability matrices of
    /// random sparse patterns have high rank, so a narrow model cannot represent them.
    fn sparse(rng: &mut ChaCha8Rng, n: usize, k: usize, decay: f64, noise: f64) -> Self {
        let mut w = zipf(k, decay);
        normalise(&mut w);
        let rows = (0..n)
            .map(|_| {
                let mut p = vec![noise / n as f64; n];
                for (j, &wj) in index::sample(rng, n, k).iter().zip(&w) {
                    p[j] += (1.0 - noise) * wj;
                }
                Dist::new(&p)
            })
            .collect();
        Self::from_rows(rows)
    }

    fn from_rows(rows: Vec<Dist>) -> Self {
        let n = rows.len();
        // Stationary distribution by power iteration (the chain is irreducible and aperiodic:
        // every transition has positive probability).
        let mut pi = vec![1.0 / n as f64; n];
        for _ in 0..100_000 {
            let mut next = vec![0.0; n];
            for (i, row) in rows.iter().enumerate() {
                for (j, x) in next.iter_mut().enumerate() {
                    *x += pi[i] * row.p(j);
                }
            }
            normalise(&mut next);
            let diff: f64 = next.iter().zip(&pi).map(|(a, b)| (a - b).abs()).sum();
            pi = next;
            if diff < 1e-15 {
                break;
            }
        }
        Self { start: Dist::new(&pi), rows }
    }

    /// Entropy of the next state given the current one, averaged over the stationary law.
    pub(super) fn transition_entropy(&self) -> f64 {
        self.rows.iter().enumerate().map(|(i, r)| self.start.p(i) * r.entropy).sum()
    }
}
