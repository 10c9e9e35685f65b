//! The memorisation tasks: the fact subjects (two-token names with a home topic each), their
//! per-topic distributions, the fact table `(subject, relation) -> attribute`, and the key
//! table of key sentences ("cheap facts", opt-in with `p_keys`).

use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::SyntheticConfig;
use super::dist::{normalise, seeded, zipf, Dist};
use super::vocabulary::Layout;

/// Subjects and the fact table.
#[derive(Clone, Debug)]
pub(super) struct Facts {
    /// Per topic: `P(s | t) = (1 - topic_subject_weight) G(s) + topic_subject_weight T_t(s)`.
    pub(super) subjects: Vec<Dist>,
    /// `ln P(first name = f | topic t)` at `t * n_first_names + f`.
    pub(super) first_ln: Vec<f64>,
    /// First and last name (offsets in their classes) of each subject.
    pub(super) subj_first: Vec<u32>,
    pub(super) subj_last: Vec<u32>,
    /// Relation law `Zipf(n_relations, relation_zipf)`.
    pub(super) rel: Dist,
    /// Attribute token of fact `(s, r)` at `s * n_relations + r`.
    pub(super) table: Vec<u32>,
}

impl Facts {
    /// Draws the subjects' names and home topics, then the table, from the world stream `rng`
    /// (after the lexicon's draws).
    pub(super) fn new(rng: &mut ChaCha8Rng, cfg: &SyntheticConfig, layout: &Layout) -> Self {
        let t_n = cfg.n_topics;
        // Subjects: distinct name pairs, global Zipf rank = index, a home topic each.
        let pairs = index::sample(rng, cfg.n_first_names * cfg.n_last_names, cfg.n_subjects);
        let subj_first: Vec<u32> = pairs.iter().map(|p| (p / cfg.n_last_names) as u32).collect();
        let subj_last: Vec<u32> = pairs.iter().map(|p| (p % cfg.n_last_names) as u32).collect();
        let home: Vec<usize> = (0..cfg.n_subjects).map(|_| rng.gen_range(0..t_n)).collect();
        let (subjects, first_ln) = topic_subjects(cfg, &home, &subj_first);

        let rel = Dist::new(&zipf(cfg.n_relations, cfg.relation_zipf));
        let value_dist = Dist::new(&zipf(cfg.values_per_relation, cfg.value_zipf));
        let pools: Vec<Vec<usize>> = (0..cfg.n_relations)
            .map(|_| index::sample(rng, cfg.n_attribute_tokens, cfg.values_per_relation).into_vec())
            .collect();
        let mut table = Vec::with_capacity(cfg.n_subjects * cfg.n_relations);
        for _ in 0..cfg.n_subjects {
            for pool in &pools {
                table.push(layout.id_attr + pool[value_dist.sample(rng)] as u32);
            }
        }
        Self { subjects, first_ln, subj_first, subj_last, rel, table }
    }
}

/// Each topic's subject distribution (the global Zipf law mixed with the same law over the
/// subjects at home in the topic) and the implied `ln P(first name | topic)`.
fn topic_subjects(cfg: &SyntheticConfig, home: &[usize], subj_first: &[u32]) -> (Vec<Dist>, Vec<f64>) {
    let t_n = cfg.n_topics;
    let mut global = zipf(cfg.n_subjects, cfg.subject_zipf);
    normalise(&mut global);
    let mut subjects = Vec::with_capacity(t_n);
    let mut first_ln = Vec::with_capacity(t_n * cfg.n_first_names);
    for t in 0..t_n {
        let members: Vec<usize> = (0..cfg.n_subjects).filter(|&s| home[s] == t).collect();
        let q = if members.is_empty() { 0.0 } else { cfg.topic_subject_weight };
        let mut w: Vec<f64> = global.iter().map(|g| (1.0 - q) * g).collect();
        let mut local = zipf(members.len(), cfg.subject_zipf);
        if !members.is_empty() {
            normalise(&mut local);
        }
        for (rank, &s) in members.iter().enumerate() {
            w[s] += q * local[rank];
        }
        let d = Dist::new(&w);
        let mut first = vec![0.0; cfg.n_first_names];
        for s in 0..cfg.n_subjects {
            first[subj_first[s] as usize] += d.p(s);
        }
        first_ln.extend(first.iter().map(|p| p.ln()));
        subjects.push(d);
    }
    (subjects, first_ln)
}

/// The key table: a Zipf law over the keys and each key's fixed value token, drawn from the
/// keys' own random stream (so the rest of the world does not depend on whether keys exist).
pub(super) fn key_table(cfg: &SyntheticConfig, seed: u64, layout: &Layout) -> (Dist, Vec<u32>) {
    let key_dist = Dist::new(&zipf(cfg.n_keys, cfg.key_zipf));
    let key_values: Vec<u32> = if cfg.n_key_values == 0 {
        Vec::new()
    } else {
        let mut r = seeded(seed, 0, *b"keys\0\0\0\0");
        (0..cfg.n_keys).map(|_| layout.id_key_value + r.gen_range(0..cfg.n_key_values) as u32).collect()
    };
    (key_dist, key_values)
}
