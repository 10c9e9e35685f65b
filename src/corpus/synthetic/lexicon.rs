//! Topics and content words: the topic prior, each topic's distributions over nouns,
//! adjectives and verb lemmas (a global Zipf order mixed with the topic's own), the
//! prepositions, and each verb's favourite object nouns.

use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use super::config::SyntheticConfig;
use super::dist::{topic_mixture, zipf, Dist};
use super::vocabulary::Layout;

/// The word-level part of the world.
#[derive(Clone, Debug)]
pub(super) struct Lexicon {
    /// Topic prior `Zipf(n_topics, topic_zipf)`.
    pub(super) topic: Dist,
    /// Per topic: nouns, adjectives, verb lemmas.
    pub(super) nouns: Vec<Dist>,
    pub(super) adjs: Vec<Dist>,
    pub(super) verbs: Vec<Dist>,
    pub(super) preps: Dist,
    /// Favourite object nouns of each verb lemma.
    pub(super) favourites: Vec<Vec<usize>>,
    /// Entropy of the object noun given (topic, verb), `t * n_verbs + v`.
    pub(super) obj_entropy: Vec<f64>,
}

impl Lexicon {
    /// Draws the topic word orders and the verbs' favourites from the world stream `rng` (the
    /// first draws of the world, in this order).
    pub(super) fn new(rng: &mut ChaCha8Rng, cfg: &SyntheticConfig, layout: &Layout) -> Self {
        let (n_nouns, n_adjs, n_verbs) = (layout.n_nouns, layout.n_adjs, layout.n_verbs);
        let topic = Dist::new(&zipf(cfg.n_topics, cfg.topic_zipf));
        let (t_n, s_w, lam) = (cfg.n_topics, cfg.word_zipf, cfg.topic_word_weight);
        let nouns = topic_mixture(rng, n_nouns, t_n, s_w, lam);
        let adjs = topic_mixture(rng, n_adjs, t_n, s_w, lam);
        let verbs = topic_mixture(rng, n_verbs, t_n, s_w, lam);
        let preps = Dist::new(&zipf(cfg.n_prepositions, 1.0));
        let favourites: Vec<Vec<usize>> =
            (0..n_verbs).map(|_| index::sample(rng, n_nouns, cfg.verb_favourites).into_vec()).collect();
        let beta = cfg.verb_object_affinity;
        let mut obj_entropy = Vec::with_capacity(t_n * n_verbs);
        for nd in &nouns {
            for fav in &favourites {
                let mut q: Vec<f64> = (0..n_nouns).map(|n| (1.0 - beta) * nd.p(n)).collect();
                for &n in fav {
                    q[n] += beta / fav.len() as f64;
                }
                obj_entropy.push(Dist::new(&q).entropy);
            }
        }
        Self { topic, nouns, adjs, verbs, preps, favourites, obj_entropy }
    }
}
