//! [`SyntheticCorpus`]: the generator's world, built once from `(SyntheticConfig, seed)` —
//! vocabulary layout, lexicon, facts, the Markov grammar and the key table, and the sentence
//! and document probabilities that sampling and the entropy computations share. Sampling is
//! in `stream` and `grammar`, the measurements in `entropy`, `window` and `ngram`.

use super::config::SyntheticConfig;
use super::dist::{ln, seeded, Dist};
use super::emission::Start;
use super::facts::{key_table, Facts};
use super::lexicon::Lexicon;
use super::markov::Markov;
use super::vocabulary::{Layout, TokenKind};

/// The generator's world: lexicon layout, topics, grammar and fact table.
#[derive(Clone, Debug)]
pub struct SyntheticCorpus {
    pub(super) cfg: SyntheticConfig,
    pub(super) seed: u64,
    /// Token classes and where each starts.
    pub(super) layout: Layout,
    /// Topics and content words.
    pub(super) lex: Lexicon,
    /// Subjects and the fact table.
    pub(super) facts: Facts,
    /// The Markov grammar, when `markov_states > 0`.
    pub(super) markov: Option<Markov>,
    /// Zipf law over the keys.
    pub(super) key_dist: Dist,
    /// Value token of each key.
    pub(super) key_values: Vec<u32>,
    /// How the first sentence of a document starts (never a copy), and how later ones do.
    pub(super) start_first: Start,
    pub(super) start_later: Start,
    /// A document ends after each sentence with probability `p_end = 1 / mean_sentences`.
    pub(super) p_end: f64,
    pub(super) ln_p_end: f64,
    pub(super) ln_continue: f64,
    /// `ln` of one (number, determiner) choice: `ln(0.5 / n_determiners)`.
    pub(super) ln_det: f64,
    /// `ln` of one copy distance: `-ln max_copy_distance`.
    pub(super) ln_copy_dist: f64,
}

impl SyntheticCorpus {
    /// Builds the world from a validated config and a world seed. Deterministic in both.
    pub fn new(cfg: &SyntheticConfig, seed: u64) -> Result<Self, String> {
        cfg.validate()?;
        let mut rng = seeded(seed, 0, *b"world\0\0\0");
        let layout = Layout::new(cfg);
        // The world stream's draws: the lexicon's first, then the facts'. The Markov grammar
        // and the keys come from their own streams.
        let lex = Lexicon::new(&mut rng, cfg, &layout);
        let facts = Facts::new(&mut rng, cfg, &layout);
        let markov = Markov::for_config(cfg, seed);
        let (key_dist, key_values) = key_table(cfg, seed, &layout);
        let p_end = 1.0 / cfg.mean_sentences;
        Ok(Self {
            cfg: cfg.clone(),
            seed,
            layout,
            lex,
            facts,
            markov,
            key_dist,
            key_values,
            start_first: Start::new(
                [cfg.p_fact, cfg.p_prose, 0.0, cfg.p_markov, cfg.p_keys],
                cfg.p_name_subject,
            ),
            start_later: Start::new(
                [cfg.p_fact, cfg.p_prose, cfg.p_copy, cfg.p_markov, cfg.p_keys],
                cfg.p_name_subject,
            ),
            p_end,
            ln_p_end: ln(p_end),
            ln_continue: ln(1.0 - p_end),
            ln_det: ln(0.5 / cfg.n_determiners as f64),
            ln_copy_dist: -(cfg.max_copy_distance as f64).ln(),
        })
    }

    /// Number of token ids (every emitted id is below it).
    pub fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    /// The configuration the world was built from.
    pub fn config(&self) -> &SyntheticConfig {
        &self.cfg
    }

    /// The world seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of facts in the table (`n_subjects * n_relations`).
    pub fn n_facts(&self) -> usize {
        self.facts.table.len()
    }

    /// Sizes of the content-word classes: (nouns, adjectives, verb lemmas).
    pub fn content_words(&self) -> (usize, usize, usize) {
        (self.layout.n_nouns, self.layout.n_adjs, self.layout.n_verbs)
    }

    /// The class of a token id (`None` if out of range).
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.layout.kinds.get(id as usize).copied()
    }
}
