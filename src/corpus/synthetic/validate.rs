//! Checks of a [`SyntheticConfig`]: every error names the key as `corpus.synthetic.KEY`, its
//! value, and how to fix it. The checks run in a fixed order and the first failure is
//! reported, so a config with several problems always gets the same message.

use super::config::SyntheticConfig;
use super::vocabulary::{content_split, MIN_CONTENT_IDS};

/// The key as written in a config: `corpus.synthetic.KEY`.
fn key(k: &str) -> String {
    format!("corpus.synthetic.{k}")
}

/// `[("KEY", cfg.KEY), ...]` for the named fields of `cfg`: each key is spelled once, so the
/// error always names the field that was checked.
macro_rules! keyed {
    ($cfg:ident: $($k:ident)*) => { [$((stringify!($k), $cfg.$k)),*] };
}

/// The first `(key, value)` of `items` whose value fails `ok`, as the error
/// `corpus.synthetic.KEY = VALUE: WHY`.
fn check_each<T: Copy + std::fmt::Display>(
    items: &[(&str, T)],
    ok: impl Fn(T) -> bool,
    why: &str,
) -> Result<(), String> {
    match items.iter().find(|&&(_, v)| !ok(v)) {
        Some(&(k, v)) => Err(format!("{} = {v}: {why}", key(k))),
        None => Ok(()),
    }
}

/// A number in `[0, 10]`.
fn is_exponent(v: f64) -> bool {
    v.is_finite() && (0.0..=10.0).contains(&v)
}

/// `KEY = v exceeds LIMIT_KEY = limit: FIX`.
fn exceeds(k: &str, v: usize, limit_key: &str, limit: usize, fix: &str) -> String {
    format!("{} = {v} exceeds {} = {limit}: {fix}", key(k), key(limit_key))
}

impl SyntheticConfig {
    /// Checks that the configuration describes a valid generator; the error names the key
    /// (as `corpus.synthetic.KEY`) and says how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        self.check_ranges()?;
        self.check_markov_grammar()?;
        self.check_additive_rates()?;
        self.check_sizes()
    }

    /// Counts that must be positive, Zipf exponents, probabilities and sentence-kind weights.
    fn check_ranges(&self) -> Result<(), String> {
        let counts = keyed!(self: n_topics n_first_names n_last_names n_subjects n_relations
            n_attribute_tokens values_per_relation max_facts_per_sentence n_determiners
            n_prepositions max_copy_distance verb_favourites);
        check_each(&counts, |v| v != 0, "it must be at least 1")?;
        let exponents = keyed!(self: topic_zipf word_zipf subject_zipf relation_zipf value_zipf);
        check_each(
            &exponents,
            is_exponent,
            "a Zipf exponent must be a number in [0, 10] (typically 0.5-1.5)",
        )?;
        let probabilities = keyed!(self: topic_word_weight topic_subject_weight p_more_facts
            p_name_subject p_adjective p_subject_pp p_object p_verb_pp verb_object_affinity);
        let is_probability = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        check_each(&probabilities, is_probability, "it is a probability, so it must be in [0, 1]")?;
        let weights = keyed!(self: p_fact p_prose p_copy p_markov p_keys);
        check_each(&weights, |v| v.is_finite() && v >= 0.0, "sentence-kind weights must be finite and >= 0")?;
        if self.p_fact + self.p_prose + self.p_markov + self.p_keys <= 0.0 {
            return Err(format!(
                "{}, {}, {} and {} are all 0: at least one must be positive (copies need an \
                 original sentence to copy)",
                key("p_fact"),
                key("p_prose"),
                key("p_markov"),
                key("p_keys")
            ));
        }
        Ok(())
    }

    /// The Markov grammar's shape: enough states, rank and successors within them, and a
    /// noise share that keeps every transition possible.
    fn check_markov_grammar(&self) -> Result<(), String> {
        if self.p_markov > 0.0 && self.markov_states < 2 {
            return Err(format!(
                "{} = {} but {} = {}: Markov sentences need at least 2 states (e.g. 128)",
                key("p_markov"),
                self.p_markov,
                key("markov_states"),
                self.markov_states
            ));
        }
        if self.markov_rank > self.markov_states.max(1) {
            let fix = "lower it (0 = full rank)";
            return Err(exceeds("markov_rank", self.markov_rank, "markov_states", self.markov_states, fix));
        }
        if self.markov_successors > self.markov_states {
            let (k, v) = ("markov_successors", self.markov_successors);
            return Err(exceeds(k, v, "markov_states", self.markov_states, "lower it (0 = dense grammar)"));
        }
        let noise_ok =
            if self.markov_successors > 0 { 0.0 < self.markov_noise } else { 0.0 <= self.markov_noise };
        if !(self.markov_noise.is_finite() && noise_ok && self.markov_noise <= 1.0) {
            return Err(format!(
                "{} = {}: it must be in (0, 1] (every transition needs a positive probability)",
                key("markov_noise"),
                self.markov_noise
            ));
        }
        Ok(())
    }

    /// Key sentences' tokens, the continuation probabilities of Markov and key sentences,
    /// their exponents and the Markov logit scale.
    fn check_additive_rates(&self) -> Result<(), String> {
        if self.p_keys > 0.0 && (self.n_keys == 0 || self.n_key_values == 0) {
            return Err(format!(
                "{} = {} needs {} and {} >= 1 (e.g. 1000 and 16)",
                key("p_keys"),
                self.p_keys,
                key("n_keys"),
                key("n_key_values")
            ));
        }
        let rates = keyed!(self: markov_continue keys_continue);
        let below_one = |v: f64| v.is_finite() && (0.0..1.0).contains(&v);
        check_each(&rates, below_one, "it is a probability below 1, so it must be in [0, 1)")?;
        let exponents = keyed!(self: markov_decay key_zipf);
        check_each(&exponents, is_exponent, "an exponent must be a number in [0, 10]")?;
        if !(self.markov_scale.is_finite() && (0.0..=50.0).contains(&self.markov_scale)) {
            return Err(format!(
                "{} = {}: a logit scale must be in [0, 50] (e.g. 3)",
                key("markov_scale"),
                self.markov_scale
            ));
        }
        Ok(())
    }

    /// Document length, name pairs, value pools, and a vocabulary large enough for the
    /// structure plus content words.
    fn check_sizes(&self) -> Result<(), String> {
        if !(self.mean_sentences.is_finite() && self.mean_sentences >= 1.0) {
            return Err(format!(
                "{} = {}: a document has at least one sentence, so it must be >= 1 (e.g. 8)",
                key("mean_sentences"),
                self.mean_sentences
            ));
        }
        let pairs = self.n_first_names.saturating_mul(self.n_last_names);
        if self.n_subjects > pairs {
            return Err(format!(
                "{} = {} exceeds n_first_names * n_last_names = {pairs} (distinct name pairs): \
                 lower it or raise {} / {}",
                key("n_subjects"),
                self.n_subjects,
                key("n_first_names"),
                key("n_last_names")
            ));
        }
        if self.values_per_relation > self.n_attribute_tokens {
            let (k, v) = ("values_per_relation", self.values_per_relation);
            let fix = "lower it or raise the latter";
            return Err(exceeds(k, v, "n_attribute_tokens", self.n_attribute_tokens, fix));
        }
        let fixed = self.fixed_ids();
        if self.vocab_size < fixed.saturating_add(MIN_CONTENT_IDS) {
            return Err(format!(
                "{} = {} is too small: the structure uses {fixed} ids (3 specials + \
                 max_copy_distance + n_topics + 2*n_determiners + n_prepositions + n_relations \
                 + n_first_names + n_last_names + n_attribute_tokens + markov_states + n_keys \
                 + n_key_values) and at least \
                 {MIN_CONTENT_IDS} more are needed for content words; raise vocab_size to at \
                 least {} or shrink those counts",
                key("vocab_size"),
                self.vocab_size,
                fixed + MIN_CONTENT_IDS
            ));
        }
        if self.vocab_size > u32::MAX as usize {
            return Err(format!("{} = {} does not fit in u32 token ids", key("vocab_size"), self.vocab_size));
        }
        let (nouns, _, _) = content_split(self.vocab_size - fixed);
        if self.verb_favourites > nouns {
            return Err(format!(
                "{} = {} exceeds the number of nouns ({nouns}) this vocab_size leaves: lower it",
                key("verb_favourites"),
                self.verb_favourites
            ));
        }
        Ok(())
    }
}
