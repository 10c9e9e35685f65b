//! The generator's parameters: the `[corpus.synthetic]` table, its defaults, and which keys
//! are left out of the serialized config (the corpus id and every run id hash that JSON, so a
//! key added later must not appear while it has its default). Checks: `validate`.

use serde::{Deserialize, Serialize};

/// Parameters of the generator: the `[corpus.synthetic]` table. Every key has a default
/// ([`SyntheticConfig::default`]); unknown keys are rejected. See the module docs for the process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Total number of token ids (the model's vocabulary). Ids not used by the fixed structure
    /// (specials, topics, determiners, prepositions, relations, names, attributes) become
    /// content words: 30% verb forms (pairs), 20% adjectives, the rest nouns.
    pub vocab_size: usize,
    /// Number of document topics (one marker token each).
    pub n_topics: usize,
    /// Zipf exponent of the topic prior.
    pub topic_zipf: f64,
    /// Zipf exponent of content words (nouns, adjectives, verbs), globally and within a topic.
    pub word_zipf: f64,
    /// Weight in [0, 1] of the topic-specific word order (vs the global order) in a topic's
    /// word distribution: 0 makes topics irrelevant to prose, 1 makes them fully distinct.
    pub topic_word_weight: f64,
    /// Number of first-name tokens.
    pub n_first_names: usize,
    /// Number of last-name tokens.
    pub n_last_names: usize,
    /// Number of fact subjects (distinct first+last pairs; at most
    /// `n_first_names * n_last_names`).
    pub n_subjects: usize,
    /// Zipf exponent of subject frequencies (larger = shorter tail).
    pub subject_zipf: f64,
    /// Weight in [0, 1] of a subject's home topic in the subject distribution of a document.
    pub topic_subject_weight: f64,
    /// Number of relations (one token each); the fact table has `n_subjects * n_relations` facts.
    pub n_relations: usize,
    /// Zipf exponent of relation frequencies.
    pub relation_zipf: f64,
    /// Number of attribute-value tokens shared by all relations.
    pub n_attribute_tokens: usize,
    /// Size of each relation's pool of possible values (at most `n_attribute_tokens`).
    pub values_per_relation: usize,
    /// Zipf exponent of attribute values within a relation's pool (when the table is built).
    pub value_zipf: f64,
    /// Most `REL ATTR` pairs in one fact sentence (at least 1).
    pub max_facts_per_sentence: usize,
    /// Probability in [0, 1] that a fact sentence continues with another `REL ATTR` pair.
    pub p_more_facts: f64,
    /// Determiner tokens per grammatical number (singular and plural each get this many).
    pub n_determiners: usize,
    /// Number of preposition tokens.
    pub n_prepositions: usize,
    /// Mean number of sentences per document (at least 1); a document ends after each sentence
    /// with probability `1 / mean_sentences`.
    pub mean_sentences: f64,
    /// Relative weight of fact sentences.
    pub p_fact: f64,
    /// Relative weight of prose sentences.
    pub p_prose: f64,
    /// Relative weight of copy sentences (never the first sentence of a document).
    pub p_copy: f64,
    /// Largest copy distance (number of distance tokens).
    pub max_copy_distance: usize,
    /// Probability in [0, 1] that a prose subject is a name rather than a noun phrase.
    pub p_name_subject: f64,
    /// Probability in [0, 1] of (another) adjective before a noun.
    pub p_adjective: f64,
    /// Most adjectives before a noun.
    pub max_adjectives: usize,
    /// Probability in [0, 1] that a noun-phrase subject carries a prepositional phrase.
    pub p_subject_pp: f64,
    /// Probability in [0, 1] that a verb takes an object.
    pub p_object: f64,
    /// Probability in [0, 1] of a prepositional phrase at the end of a prose sentence.
    pub p_verb_pp: f64,
    /// Number of favourite object nouns per verb lemma (at least 1, at most the number of nouns).
    pub verb_favourites: usize,
    /// Probability in [0, 1] that an object noun is one of the verb's favourites.
    pub verb_object_affinity: f64,
    /// Relative weight of Markov sentences (0 = none, the default). Like every key below, it is
    /// left out of the serialized config while it has its default value, so configs that do
    /// not use the additive mechanisms keep their corpus ids and run ids.
    #[serde(skip_serializing_if = "is_zero_f")]
    pub p_markov: f64,
    /// Number of Markov state tokens (their own class; 0 = none).
    #[serde(skip_serializing_if = "is_zero_u")]
    pub markov_states: usize,
    /// Rank of the transition-logit matrix (0 = `markov_states`).
    #[serde(skip_serializing_if = "is_zero_u")]
    pub markov_rank: usize,
    /// Singular values of the transition-logit matrix decay as `i^-markov_decay`.
    #[serde(skip_serializing_if = "is_default_markov_decay")]
    pub markov_decay: f64,
    /// Standard deviation of a transition logit (larger = more predictable transitions).
    #[serde(skip_serializing_if = "is_default_markov_scale")]
    pub markov_scale: f64,
    /// Probability in [0, 1) that a Markov sentence continues with another state.
    #[serde(skip_serializing_if = "is_default_markov_continue")]
    pub markov_continue: f64,
    /// Sparse grammar: number of random successors of each state (0 = dense low-rank logits,
    /// the default). The successors' probabilities fall as `i^-markov_decay` and
    /// `markov_noise` of the mass is spread uniformly over all states; `markov_rank` and
    /// `markov_scale` are then unused.
    #[serde(skip_serializing_if = "is_zero_u")]
    pub markov_successors: usize,
    /// Sparse grammar: share of each transition row spread uniformly over all states.
    #[serde(skip_serializing_if = "is_default_markov_noise")]
    pub markov_noise: f64,
    /// Relative weight of key sentences ("cheap facts"; 0 = none, the default).
    #[serde(skip_serializing_if = "is_zero_f")]
    pub p_keys: f64,
    /// Number of key tokens (their own class; 0 = none).
    #[serde(skip_serializing_if = "is_zero_u")]
    pub n_keys: usize,
    /// Number of key-value tokens (their own class; each key has one fixed value).
    #[serde(skip_serializing_if = "is_zero_u")]
    pub n_key_values: usize,
    /// Zipf exponent of key frequencies.
    #[serde(skip_serializing_if = "is_default_key_zipf")]
    pub key_zipf: f64,
    /// Probability in [0, 1) that a key sentence continues with another `KEY VALUE` pair.
    #[serde(skip_serializing_if = "is_default_keys_continue")]
    pub keys_continue: f64,
}

const DEFAULT_MARKOV_DECAY: f64 = 1.0;
const DEFAULT_MARKOV_SCALE: f64 = 3.0;
const DEFAULT_MARKOV_CONTINUE: f64 = 0.9;
const DEFAULT_MARKOV_NOISE: f64 = 0.05;
const DEFAULT_KEY_ZIPF: f64 = 1.5;
const DEFAULT_KEYS_CONTINUE: f64 = 0.8;

fn is_zero_f(x: &f64) -> bool {
    *x == 0.0
}
fn is_zero_u(x: &usize) -> bool {
    *x == 0
}
fn is_default_markov_decay(x: &f64) -> bool {
    *x == DEFAULT_MARKOV_DECAY
}
fn is_default_markov_scale(x: &f64) -> bool {
    *x == DEFAULT_MARKOV_SCALE
}
fn is_default_markov_continue(x: &f64) -> bool {
    *x == DEFAULT_MARKOV_CONTINUE
}
fn is_default_markov_noise(x: &f64) -> bool {
    *x == DEFAULT_MARKOV_NOISE
}
fn is_default_key_zipf(x: &f64) -> bool {
    *x == DEFAULT_KEY_ZIPF
}
fn is_default_keys_continue(x: &f64) -> bool {
    *x == DEFAULT_KEYS_CONTINUE
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            vocab_size: 512,
            n_topics: 32,
            topic_zipf: 1.0,
            word_zipf: 1.1,
            topic_word_weight: 0.7,
            n_first_names: 64,
            n_last_names: 64,
            n_subjects: 4096,
            subject_zipf: 1.0,
            topic_subject_weight: 0.6,
            n_relations: 32,
            relation_zipf: 1.2,
            n_attribute_tokens: 96,
            values_per_relation: 24,
            value_zipf: 0.6,
            max_facts_per_sentence: 4,
            p_more_facts: 0.6,
            n_determiners: 4,
            n_prepositions: 8,
            mean_sentences: 8.0,
            p_fact: 0.5,
            p_prose: 0.35,
            p_copy: 0.15,
            max_copy_distance: 3,
            p_name_subject: 0.25,
            p_adjective: 0.35,
            max_adjectives: 2,
            p_subject_pp: 0.3,
            p_object: 0.6,
            p_verb_pp: 0.3,
            verb_favourites: 4,
            verb_object_affinity: 0.5,
            p_markov: 0.0,
            markov_states: 0,
            markov_rank: 0,
            markov_decay: DEFAULT_MARKOV_DECAY,
            markov_scale: DEFAULT_MARKOV_SCALE,
            markov_continue: DEFAULT_MARKOV_CONTINUE,
            markov_successors: 0,
            markov_noise: DEFAULT_MARKOV_NOISE,
            p_keys: 0.0,
            n_keys: 0,
            n_key_values: 0,
            key_zipf: DEFAULT_KEY_ZIPF,
            keys_continue: DEFAULT_KEYS_CONTINUE,
        }
    }
}
