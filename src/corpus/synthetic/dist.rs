//! Distributions and random streams: a categorical law that samples by its CDF and knows its
//! exact log-probabilities and entropy ([`Dist`]), Zipf weights, the per-topic mixtures of a
//! global and a topic order, and the seeded ChaCha8 streams every random choice comes from.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A normalised categorical distribution with a CDF for sampling and exact log-probabilities.
#[derive(Clone, Debug)]
pub(super) struct Dist {
    cdf: Vec<f64>,
    pub(super) ln_p: Vec<f64>,
    pub(super) entropy: f64,
}

impl Dist {
    /// From non-negative weights with a positive sum (guaranteed by construction).
    pub(super) fn new(weights: &[f64]) -> Self {
        let total: f64 = weights.iter().sum();
        let mut cdf = Vec::with_capacity(weights.len());
        let mut ln_p = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        let mut entropy = 0.0;
        for &w in weights {
            let p = w / total;
            acc += p;
            cdf.push(acc);
            ln_p.push(p.ln());
            if p > 0.0 {
                entropy -= p * p.ln();
            }
        }
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Self { cdf, ln_p, entropy }
    }

    pub(super) fn p(&self, i: usize) -> f64 {
        self.ln_p[i].exp()
    }

    #[inline]
    pub(super) fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        let u: f64 = rng.gen();
        // `u < 1 = cdf[last]`, so the index is in range; zero-mass entries are never returned.
        self.cdf.partition_point(|&c| c <= u)
    }
}

pub(super) fn zipf(n: usize, s: f64) -> Vec<f64> {
    (1..=n).map(|k| (k as f64).powf(-s)).collect()
}

pub(super) fn normalise(w: &mut [f64]) {
    let t: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= t);
}

/// Binary entropy in nats.
pub(super) fn h2(p: f64) -> f64 {
    let f = |x: f64| if x > 0.0 { -x * x.ln() } else { 0.0 };
    f(p) + f(1.0 - p)
}

/// `ln` of a branch probability: `-inf` for 0, which is fine because a branch of probability 0
/// is never taken (the sampling thresholds guarantee it), so `-inf` is never charged.
pub(super) fn ln(p: f64) -> f64 {
    p.ln()
}

/// Mixture of a global Zipf order and a per-topic Zipf order over `n` items, one Dist per topic.
pub(super) fn topic_mixture(rng: &mut ChaCha8Rng, n: usize, topics: usize, s: f64, lambda: f64) -> Vec<Dist> {
    let z = {
        let mut z = zipf(n, s);
        normalise(&mut z);
        z
    };
    let global = index::sample(rng, n, n).into_vec();
    (0..topics)
        .map(|_| {
            let own = index::sample(rng, n, n).into_vec();
            let mut w = vec![0.0; n];
            for r in 0..n {
                w[global[r]] += (1.0 - lambda) * z[r];
                w[own[r]] += lambda * z[r];
            }
            Dist::new(&w)
        })
        .collect()
}

/// A ChaCha8 stream keyed by (world seed, stream seed, purpose): portable and reproducible.
pub(super) fn seeded(world: u64, stream: u64, tag: [u8; 8]) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&world.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    key[16..24].copy_from_slice(&tag);
    ChaCha8Rng::from_seed(key)
}
