//! The synthetic corpus: the embedded default data source (`[corpus] source = "synthetic"`).
//!
//! A seeded stochastic "world" (lexicon, topics, grammar, a large table of facts) is built once
//! from `(SyntheticConfig, seed)`; token streams are then sampled from it with a second
//! `stream_seed`, so train and validation share the world but not the text. The generator emits
//! token ids directly (its lexicon *is* the vocabulary), so every number it reports is in the
//! model's units (nats per token), and it knows the probability of every token it emits.
//!
//! # The generative process
//!
//! The vocabulary is cut into disjoint classes ([`TokenKind`]), laid out in this order:
//! `BOS` (0, document separator), `.` (1, end of sentence), `COPY` (2), copy distances,
//! topic markers, singular determiners, plural determiners, prepositions, relations,
//! first names, last names, attribute values, Markov states, keys, key values (these three
//! only when enabled, see below), and then the content words that fill the rest of
//! `vocab_size`: nouns, adjectives and verbs (each verb lemma has a singular and a plural form).
//!
//! A **document** is `BOS`, a topic marker, then one or more sentences. The topic
//! `t ~ Zipf(n_topics, topic_zipf)` is drawn per document and printed as its marker token, so a
//! model that sees the document start knows it. After every sentence the document ends with
//! probability `1 / mean_sentences` (the next token is then the next document's `BOS`).
//!
//! Each **sentence** is one of three kinds (weights `p_fact`, `p_prose`, `p_copy`; the first
//! sentence of a document cannot be a copy):
//!
//! * **Fact sentence** `FIRST LAST (REL ATTR)+ .` — a subject is drawn from the topic's subject
//!   distribution `P(s | t) = (1 - topic_subject_weight) G(s) + topic_subject_weight T_t(s)`,
//!   where `G` is a global Zipf law over the `n_subjects` subjects (exponent `subject_zipf`) and
//!   `T_t` the same law restricted to the subjects whose home topic is `t`. Subjects are
//!   two-token names (a first name and a last name; distinct subjects have distinct pairs).
//!   Then 1 to `max_facts_per_sentence` relations are drawn i.i.d. from a Zipf law over
//!   `n_relations` (exponent `relation_zipf`), another one following with probability
//!   `p_more_facts`; each relation is followed by the subject's attribute for it, a
//!   *deterministic* entry of the fact table `(subject, relation) -> attribute`. The table has
//!   `n_subjects * n_relations` facts; each relation has its own pool of `values_per_relation`
//!   attribute tokens, and table entries were drawn from a Zipf law (`value_zipf`) over the pool
//!   when the world was built. Fact frequencies are thus a product of Zipf laws: a long,
//!   heavy tail of facts that can only be memorised one by one.
//! * **Prose sentence** `SUBJ VERB [OBJ] [PREP NP] .` from a small grammar with agreement. The
//!   subject is either a name (as above, with probability `p_name_subject`; singular) or a noun
//!   phrase `DET ADJ* NOUN [PREP NP]` whose number (singular/plural, 1/2 each) is carried by the
//!   determiner class; the optional prepositional phrase inside the subject is an *attractor*
//!   with its own number. The verb lemma comes from the topic's verb distribution and its form
//!   must agree with the subject head's number (a dependency spanning up to ~8 tokens). The
//!   optional object `DET ADJ* NOUN` draws its noun from a verb-specific mixture
//!   (`verb_object_affinity` of the time uniformly among `verb_favourites` favourite nouns of
//!   that verb, otherwise from the topic's noun distribution). Nouns, adjectives and verbs each
//!   follow a per-topic distribution `(1 - topic_word_weight) Zipf(global order) +
//!   topic_word_weight Zipf(topic's own order)` with exponent `word_zipf`.
//! * **Copy sentence** `COPY d <span> .` repeats verbatim the `d`-th most recent non-copy
//!   sentence of the current document (`d` uniform in `1..=max_copy_distance`, clamped to the
//!   oldest available one): an in-context retrieval task (induction heads) whose tokens are free
//!   once the mechanism is learned.
//!
//! Two more kinds are opt-in (weights `p_markov` and `p_keys`, 0 by default; their ids come
//! after the attribute values and exist only when `markov_states`, `n_keys` and
//! `n_key_values` are positive). They are meant to make the loss *additive* in model size and
//! data (`L = E + A/N^α + B/D^β`, issue #8) by putting the size-limited and the data-limited
//! parts on different tokens:
//!
//! * **Markov sentence** `STATE+ .` — a walk of a first-order Markov chain over
//!   `markov_states` dedicated tokens, started from its stationary distribution, continuing
//!   after each state with probability `markov_continue`. The transition logits are a fixed
//!   random matrix `markov_scale * U diag(s) V^T / |s|` (Gaussian `U`, `V` of rank
//!   `markov_rank`, singular values `s_i = i^-markov_decay`). A model of width `d` predicts the
//!   next state through a `d`-dimensional unembedding, so its logits from one state have rank
//!   at most `d`: the best achievable loss falls with width, while the few states and strong
//!   signal make the chain cheap to estimate from data. *Capacity-limited.* Measured (numpy,
//!   best rank-`d` softmax fit by Adam): random Gaussian low-rank logits are *easy* for a
//!   softmax (128 states, full rank, decay 0.5, scale 3: excess 0.065 / 0.008 / 0.000 nats per
//!   transition at `d` = 16 / 32 / 64), so `markov_successors = k > 0` selects a *sparse*
//!   grammar instead: each state has `k` random successors with probabilities
//!   `∝ i^-markov_decay`, plus `markov_noise` of the mass spread uniformly (256 states, k = 16,
//!   noise 0.05: 0.47 / 0.090 / 0.041 / 0.025 at `d` = 16 / 32 / 48 / 64).
//!   Random sparse log-probability patterns have high rank (the softmax bottleneck).
//! * **Key sentence** `(KEY VALUE)+ .` — keys drawn from a Zipf law (exponent `key_zipf`) over
//!   `n_keys` dedicated tokens, each followed by its fixed value (one of `n_key_values` value
//!   tokens, drawn uniformly per key when the world is built), another pair following with
//!   probability `keys_continue`. Any model can store a key's value in the key's embedding row,
//!   so the loss on values depends on how often each key was seen, not on `N`. *Data-limited.*
//!
//! Copies may repeat Markov and key sentences like any other original sentence.
//!
//! # Why this yields power-law learning curves
//!
//! The stream mixes mechanisms of very different difficulty: unigram frequencies, local
//! grammar (classes, agreement across attractors), verb–object selection, document-level topic,
//! in-context copying, and a large memorisation task. Each mechanism with many parts has
//! Zipf-distributed part frequencies (words, subjects, relations, facts). In the quantization
//! model of neural scaling (Michaud, Liu, Girit & Tegmark 2023) and Hutter's learning-curve
//! theory (Hutter 2021), when a learner must acquire discrete "quanta" (here: facts, word
//! associations) whose use frequencies fall as `k^-(1+a)`, and a model of a given size (or a
//! given amount of data) acquires roughly the most frequent ones first, the remaining loss
//! (the mass of the unlearned tail) falls as a power law: `~ N^-a` when capacity bounds how many
//! quanta are stored, and `~ D^-a/(1+a)` when the rarest facts have not been seen often enough.
//! With the defaults the fact table has 131,072 facts; for a learner that needs ~10 sightings
//! to store a fact, the unlearned tail still carries 0.28 nats/token at 2·10^5 training tokens
//! and 0.036 at 2·10^7, and storing the 1.6·10^4 most frequent facts still leaves 0.07, so
//! both model size and data keep helping across the target grid (models of 10^4–2·10^6
//! parameters, 2·10^5–2·10^7 tokens). Real networks need more sightings than that, which moves
//! the curves to the right. The other mechanisms (grammar, topics, copying) are learned early
//! by large models but are where small models lose most. See the `ngram_probe` test for the
//! count-model curves and for the loss of an ideal fact memoriser vs data and vs capacity.
//!
//! # Measured with the defaults (world seed 7; `ngram_probe` test, release build)
//!
//! * Floor ([`entropy_rate`](SyntheticCorpus::entropy_rate)): 2.028 nats/token; the Monte-Carlo
//!   mean over 2·10^7 tokens is 2.028. Mean document length 64 tokens; 131,072 facts
//!   (106,688 distinct ones occur in 2·10^7 tokens).
//! * Held-out cross-entropy of count models (interpolated absolute discounting) trained on
//!   10^5 / 10^6 / 10^7 / 2·10^7 tokens: unigram 5.28 at every size; bigram 3.45 / 3.16 / 3.11 /
//!   3.11; trigram 3.53 / 3.13 / 3.00 / 2.98: diminishing returns, ~0.95 nats above the floor.
//! * Ideal fact memoriser (exact everywhere except on attribute tokens; memorises a fact once
//!   seen 10 times, else predicts the relation's value marginal), excess over the floor at
//!   2·10^5 / 6·10^5 / 2·10^6 / 6·10^6 / 2·10^7 tokens: 0.28 / 0.21 / 0.14 / 0.080 / 0.036.
//!   Memorising only the K most frequent facts: K = 250 / 10^3 / 4·10^3 / 1.6·10^4 / 4.8·10^4
//!   leaves 0.30 / 0.23 / 0.15 / 0.070 / 0.023 nats/token. Both curves are power-law-like over
//!   the grid (local exponents ~0.25–0.6, steepening as the finite table is exhausted).
//! * Window cost ([`windowed_entropy`](SyntheticCorpus::windowed_entropy)): +0.064 / +0.035 /
//!   +0.017 nats/token for `block_size` 32 / 64 / 128.
//!
//! # The entropy floor, and why it is a (tight) lower bound
//!
//! For every emitted token the generator records `-ln p(token | hidden state)`, where every
//! latent choice is charged to the first token that reveals it (branch probabilities times
//! word probabilities). The token classes are disjoint and every optional constituent starts
//! with a token class that cannot occur at that point otherwise, so the hidden state (topic,
//! position in the derivation, the subject number, which sentence a copy refers to, the verb
//! whose object is being drawn, ...) is a *deterministic function of the tokens since the last
//! `BOS`*. The one choice not revealed by its next token — whether a sentence starting with a
//! name is a fact or prose — is charged to the third token, which reveals it (`REL` vs `VERB`),
//! using the exact posterior. Hence `p(token | hidden state) = p(token | all previous tokens)`
//! exactly, and the mean of the recorded `-ln p` is the entropy rate of the stream: the
//! smallest cross-entropy any predictor of the tokens can achieve (with enough context and
//! perfect knowledge of the world), so it is a lower bound for the fitted irreducible loss `E`.
//!
//! It is tight for a model that sees back to the document's `BOS`; a model with a finite window
//! (`block_size` 64–128) loses a little on tokens whose document began before the window (it
//! must infer the topic from the words; copies are within ~30 tokens).
//! [`SyntheticCorpus::windowed_entropy`] estimates that price by exact Bayes filtering over the
//! topic: with the defaults +0.035 nats/token at `block_size` 64 and +0.017 at 128 (under 2%
//! of the floor), so the floor is a close bound for the fitted `E`. Everything else in the gap
//! between a trained model and the floor is learnable in principle: grammar, topic word
//! distributions, copying, and above all the fact table.
//!
//! [`SyntheticCorpus::entropy_rate`] computes the floor *exactly* (in closed form, by the
//! renewal-reward theorem: expected entropy of a document over its expected length, with the
//! entropies of all the distributions computed exactly); [`SyntheticCorpus::entropy_floor`]
//! estimates it as the mean recorded `-ln p` over a long sample. The tests check that the two
//! agree within sampling error (which checks the per-token bookkeeping), and that count-based
//! models trained on 4·10^6 tokens (2·10^7 in the probe) stay well above it.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Document separator; each document starts with it.
const BOS: u32 = 0;
/// End of sentence.
const PERIOD: u32 = 1;
/// Start of a copy sentence.
const COPY: u32 = 2;
/// Number of special ids before the copy distances.
const N_SPECIAL: usize = 3;
/// Smallest number of content-word ids (nouns, adjectives, verb forms) that the layout accepts.
const MIN_CONTENT_IDS: usize = 24;
/// Stream seed used by [`SyntheticCorpus::entropy_floor`] (distinct from any small seed).
pub const FLOOR_STREAM_SEED: u64 = 0xF100_5EED_0000_0001;

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

/// Sizes of the content-word classes for a given number of content ids.
fn content_split(content: usize) -> (usize, usize, usize) {
    let verbs = (content * 3 / 20).max(2);
    let adjs = (content / 5).max(4);
    let nouns = content.saturating_sub(2 * verbs + adjs);
    (nouns, adjs, verbs)
}

impl SyntheticConfig {
    /// Number of ids used by everything except the content words.
    fn fixed_ids(&self) -> usize {
        [
            N_SPECIAL,
            self.max_copy_distance,
            self.n_topics,
            self.n_determiners,
            self.n_determiners,
            self.n_prepositions,
            self.n_relations,
            self.n_first_names,
            self.n_last_names,
            self.n_attribute_tokens,
            self.markov_states,
            self.n_keys,
            self.n_key_values,
        ]
        .iter()
        .fold(0usize, |a, &b| a.saturating_add(b))
    }

    /// Checks that the configuration describes a valid generator; the error names the key
    /// (as `corpus.synthetic.KEY`) and says how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        let key = |k: &str| format!("corpus.synthetic.{k}");
        let at_least_one = [
            ("n_topics", self.n_topics),
            ("n_first_names", self.n_first_names),
            ("n_last_names", self.n_last_names),
            ("n_subjects", self.n_subjects),
            ("n_relations", self.n_relations),
            ("n_attribute_tokens", self.n_attribute_tokens),
            ("values_per_relation", self.values_per_relation),
            ("max_facts_per_sentence", self.max_facts_per_sentence),
            ("n_determiners", self.n_determiners),
            ("n_prepositions", self.n_prepositions),
            ("max_copy_distance", self.max_copy_distance),
            ("verb_favourites", self.verb_favourites),
        ];
        for (k, v) in at_least_one {
            if v == 0 {
                return Err(format!("{} = 0: it must be at least 1", key(k)));
            }
        }
        let exponents = [
            ("topic_zipf", self.topic_zipf),
            ("word_zipf", self.word_zipf),
            ("subject_zipf", self.subject_zipf),
            ("relation_zipf", self.relation_zipf),
            ("value_zipf", self.value_zipf),
        ];
        for (k, v) in exponents {
            if !(v.is_finite() && (0.0..=10.0).contains(&v)) {
                return Err(format!(
                    "{} = {v}: a Zipf exponent must be a number in [0, 10] (typically 0.5-1.5)",
                    key(k)
                ));
            }
        }
        let probabilities = [
            ("topic_word_weight", self.topic_word_weight),
            ("topic_subject_weight", self.topic_subject_weight),
            ("p_more_facts", self.p_more_facts),
            ("p_name_subject", self.p_name_subject),
            ("p_adjective", self.p_adjective),
            ("p_subject_pp", self.p_subject_pp),
            ("p_object", self.p_object),
            ("p_verb_pp", self.p_verb_pp),
            ("verb_object_affinity", self.verb_object_affinity),
        ];
        for (k, v) in probabilities {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(format!("{} = {v}: it is a probability, so it must be in [0, 1]", key(k)));
            }
        }
        let weights = [
            ("p_fact", self.p_fact),
            ("p_prose", self.p_prose),
            ("p_copy", self.p_copy),
            ("p_markov", self.p_markov),
            ("p_keys", self.p_keys),
        ];
        for (k, v) in weights {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{} = {v}: sentence-kind weights must be finite and >= 0", key(k)));
            }
        }
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
            return Err(format!(
                "{} = {} exceeds {} = {}: lower it (0 = full rank)",
                key("markov_rank"),
                self.markov_rank,
                key("markov_states"),
                self.markov_states
            ));
        }
        if self.markov_successors > self.markov_states {
            return Err(format!(
                "{} = {} exceeds {} = {}: lower it (0 = dense grammar)",
                key("markov_successors"),
                self.markov_successors,
                key("markov_states"),
                self.markov_states
            ));
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
        if self.p_keys > 0.0 && (self.n_keys == 0 || self.n_key_values == 0) {
            return Err(format!(
                "{} = {} needs {} and {} >= 1 (e.g. 1000 and 16)",
                key("p_keys"),
                self.p_keys,
                key("n_keys"),
                key("n_key_values")
            ));
        }
        for (k, v) in [("markov_continue", self.markov_continue), ("keys_continue", self.keys_continue)] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return Err(format!(
                    "{} = {v}: it is a probability below 1, so it must be in [0, 1)",
                    key(k)
                ));
            }
        }
        for (k, v) in [("markov_decay", self.markov_decay), ("key_zipf", self.key_zipf)] {
            if !(v.is_finite() && (0.0..=10.0).contains(&v)) {
                return Err(format!("{} = {v}: an exponent must be a number in [0, 10]", key(k)));
            }
        }
        if !(self.markov_scale.is_finite() && (0.0..=50.0).contains(&self.markov_scale)) {
            return Err(format!(
                "{} = {}: a logit scale must be in [0, 50] (e.g. 3)",
                key("markov_scale"),
                self.markov_scale
            ));
        }
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
            return Err(format!(
                "{} = {} exceeds {} = {}: lower it or raise the latter",
                key("values_per_relation"),
                self.values_per_relation,
                key("n_attribute_tokens"),
                self.n_attribute_tokens
            ));
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

/// The class of a token id. Classes are disjoint; the grammar is unambiguous given them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// Document separator (`BOS`).
    Bos,
    /// End of sentence.
    Period,
    /// Start of a copy sentence.
    Copy,
    /// Which earlier sentence a copy repeats.
    CopyDistance,
    /// Document topic marker.
    Topic,
    /// Singular determiner.
    DetSingular,
    /// Plural determiner.
    DetPlural,
    /// Preposition.
    Preposition,
    /// Fact relation.
    Relation,
    /// First token of a subject name.
    FirstName,
    /// Second token of a subject name.
    LastName,
    /// Fact attribute value (deterministic given subject and relation).
    Attribute,
    /// Noun.
    Noun,
    /// Adjective.
    Adjective,
    /// Verb, singular form.
    VerbSingular,
    /// Verb, plural form.
    VerbPlural,
    /// State of the Markov grammar (Markov sentences only).
    MarkovState,
    /// Key of a key sentence ("cheap fact").
    Key,
    /// Value of a key (deterministic given the key).
    KeyValue,
}

/// A normalised categorical distribution with a CDF for sampling and exact log-probabilities.
#[derive(Clone, Debug)]
struct Dist {
    cdf: Vec<f64>,
    ln_p: Vec<f64>,
    entropy: f64,
}

impl Dist {
    /// From non-negative weights with a positive sum (guaranteed by construction).
    fn new(weights: &[f64]) -> Self {
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

    fn p(&self, i: usize) -> f64 {
        self.ln_p[i].exp()
    }

    #[inline]
    fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        let u: f64 = rng.gen();
        // `u < 1 = cdf[last]`, so the index is in range; zero-mass entries are never returned.
        self.cdf.partition_point(|&c| c <= u)
    }
}

fn zipf(n: usize, s: f64) -> Vec<f64> {
    (1..=n).map(|k| (k as f64).powf(-s)).collect()
}

fn normalise(w: &mut [f64]) {
    let t: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= t);
}

/// Binary entropy in nats.
fn h2(p: f64) -> f64 {
    let f = |x: f64| if x > 0.0 { -x * x.ln() } else { 0.0 };
    f(p) + f(1.0 - p)
}

/// `ln` of a branch probability: `-inf` for 0, which is fine because a branch of probability 0
/// is never taken (the sampling thresholds guarantee it), so `-inf` is never charged.
fn ln(p: f64) -> f64 {
    p.ln()
}

/// Mixture of a global Zipf order and a per-topic Zipf order over `n` items, one Dist per topic.
fn topic_mixture(rng: &mut ChaCha8Rng, n: usize, topics: usize, s: f64, lambda: f64) -> Vec<Dist> {
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

/// Probabilities (and their logs) of how a sentence starts, given whether copies are possible.
///
/// The branches are tried in the order copy, name, determiner, Markov, key on one uniform draw
/// `u`; a cut is infinite when every later branch has probability 0, so that rounding can never
/// select a zero-probability branch (and so that configs without Markov and key sentences make
/// exactly the draws and decisions they made before those kinds existed).
#[derive(Clone, Debug)]
struct Start {
    p_copy: f64,
    /// `u < name_cut` (and `>= p_copy`) starts with a name (a fact, or prose with a name
    /// subject); above it, a determiner (or a later kind).
    name_cut: f64,
    /// `u < det_cut` (and `>= name_cut`) starts with a determiner (a prose sentence).
    det_cut: f64,
    /// `u < markov_cut` (and `>= det_cut`) is a Markov sentence; above it, a key sentence.
    markov_cut: f64,
    ln_copy: f64,
    ln_name: f64,
    ln_det: f64,
    ln_markov: f64,
    ln_keys: f64,
    /// P(fact | starts with a name), revealed by the third token.
    fact_given_name: f64,
    ln_fact_given_name: f64,
    ln_prose_given_name: f64,
}

impl Start {
    fn new(w: [f64; 5], p_name_subject: f64) -> Self {
        let [pf, pp, pc, pm, pk] = w;
        let t = pf + pp + pc + pm + pk;
        let (pf, pp, pc, pm, pk) = (pf / t, pp / t, pc / t, pm / t, pk / t);
        let p_name = pf + pp * p_name_subject;
        let p_det = pp * (1.0 - p_name_subject);
        let fact_given_name = if p_name > 0.0 { pf / p_name } else { 0.0 };
        let cut = |c: f64, rest: f64| if rest > 0.0 { c } else { f64::INFINITY };
        Self {
            p_copy: pc,
            name_cut: cut(pc + p_name, p_det + pm + pk),
            det_cut: cut(pc + p_name + p_det, pm + pk),
            markov_cut: cut(pc + p_name + p_det + pm, pk),
            ln_copy: ln(pc),
            ln_name: ln(p_name),
            ln_det: ln(p_det),
            ln_markov: ln(pm),
            ln_keys: ln(pk),
            fact_given_name,
            ln_fact_given_name: ln(fact_given_name),
            ln_prose_given_name: ln(1.0 - fact_given_name),
        }
    }
}

/// Collects emitted tokens and their `-ln p`; branch decisions are charged to the next token.
struct Sink {
    toks: Vec<u32>,
    nll: Vec<f64>,
    track: bool,
    pending: f64,
}

impl Sink {
    /// Records a latent decision of log-probability `lnp`, revealed by the next emitted token.
    #[inline]
    fn decide(&mut self, lnp: f64) {
        self.pending += lnp;
    }

    #[inline]
    fn emit(&mut self, tok: u32, lnp: f64) {
        self.toks.push(tok);
        if self.track {
            self.nll.push(-(self.pending + lnp));
        }
        self.pending = 0.0;
    }
}

#[derive(Clone, Copy, PartialEq)]
enum NpRole {
    /// Sentence subject: may carry a prepositional phrase.
    Subject,
    /// Object of the given verb lemma.
    Object(usize),
    /// Inside a prepositional phrase.
    Plain,
}

/// The Markov grammar of Markov sentences: transition rows and their stationary distribution.
#[derive(Clone, Debug)]
struct Markov {
    rows: Vec<Dist>,
    /// Stationary distribution (a sentence's first state is drawn from it, so every state of a
    /// Markov sentence has this marginal).
    start: Dist,
}

impl Markov {
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
    fn transition_entropy(&self) -> f64 {
        self.rows.iter().enumerate().map(|(i, r)| self.start.p(i) * r.entropy).sum()
    }
}

/// The generator's world: lexicon layout, topics, grammar and fact table.
#[derive(Clone, Debug)]
pub struct SyntheticCorpus {
    cfg: SyntheticConfig,
    seed: u64,
    kinds: Vec<TokenKind>,
    // First id of each class.
    id_copy_dist: u32,
    id_topic: u32,
    id_det_sg: u32,
    id_det_pl: u32,
    id_prep: u32,
    id_rel: u32,
    id_first: u32,
    id_last: u32,
    id_noun: u32,
    id_adj: u32,
    id_verb: u32,
    n_nouns: usize,
    n_adjs: usize,
    n_verbs: usize,
    topic: Dist,
    nouns: Vec<Dist>,
    adjs: Vec<Dist>,
    verbs: Vec<Dist>,
    preps: Dist,
    rel: Dist,
    /// Favourite object nouns of each verb lemma.
    favourites: Vec<Vec<usize>>,
    /// Entropy of the object noun given (topic, verb), `t * n_verbs + v`.
    obj_entropy: Vec<f64>,
    subjects: Vec<Dist>,
    /// `ln P(first name = f | topic t)` at `t * n_first_names + f`.
    first_ln: Vec<f64>,
    subj_first: Vec<u32>,
    subj_last: Vec<u32>,
    /// Attribute token of fact `(s, r)` at `s * n_relations + r`.
    facts: Vec<u32>,
    /// First ids of the Markov states, keys and key values.
    id_markov: u32,
    id_key: u32,
    /// The Markov grammar, when `markov_states > 0`.
    markov: Option<Markov>,
    /// Zipf law over the keys.
    key_dist: Dist,
    /// Value token of each key.
    key_values: Vec<u32>,
    start_first: Start,
    start_later: Start,
    p_end: f64,
    ln_p_end: f64,
    ln_continue: f64,
    ln_det: f64,
    ln_copy_dist: f64,
}

impl SyntheticCorpus {
    /// Builds the world from a validated config and a world seed. Deterministic in both.
    pub fn new(cfg: &SyntheticConfig, seed: u64) -> Result<Self, String> {
        cfg.validate()?;
        let mut rng = seeded(seed, 0, *b"world\0\0\0");
        let fixed = cfg.fixed_ids();
        let (n_nouns, n_adjs, n_verbs) = content_split(cfg.vocab_size - fixed);

        // Layout.
        let mut kinds = Vec::with_capacity(cfg.vocab_size);
        let mut next = 0u32;
        let mut block = |kinds: &mut Vec<TokenKind>, k: TokenKind, n: usize| {
            let start = next;
            kinds.extend(std::iter::repeat_n(k, n));
            next += n as u32;
            start
        };
        block(&mut kinds, TokenKind::Bos, 1);
        block(&mut kinds, TokenKind::Period, 1);
        block(&mut kinds, TokenKind::Copy, 1);
        let id_copy_dist = block(&mut kinds, TokenKind::CopyDistance, cfg.max_copy_distance);
        let id_topic = block(&mut kinds, TokenKind::Topic, cfg.n_topics);
        let id_det_sg = block(&mut kinds, TokenKind::DetSingular, cfg.n_determiners);
        let id_det_pl = block(&mut kinds, TokenKind::DetPlural, cfg.n_determiners);
        let id_prep = block(&mut kinds, TokenKind::Preposition, cfg.n_prepositions);
        let id_rel = block(&mut kinds, TokenKind::Relation, cfg.n_relations);
        let id_first = block(&mut kinds, TokenKind::FirstName, cfg.n_first_names);
        let id_last = block(&mut kinds, TokenKind::LastName, cfg.n_last_names);
        let id_attr = block(&mut kinds, TokenKind::Attribute, cfg.n_attribute_tokens);
        let id_markov = block(&mut kinds, TokenKind::MarkovState, cfg.markov_states);
        let id_key = block(&mut kinds, TokenKind::Key, cfg.n_keys);
        let id_key_value = block(&mut kinds, TokenKind::KeyValue, cfg.n_key_values);
        let id_noun = block(&mut kinds, TokenKind::Noun, n_nouns);
        let id_adj = block(&mut kinds, TokenKind::Adjective, n_adjs);
        let id_verb = next;
        for _ in 0..n_verbs {
            kinds.push(TokenKind::VerbSingular);
            kinds.push(TokenKind::VerbPlural);
        }
        debug_assert_eq!(kinds.len(), cfg.vocab_size);

        // Topics and words.
        let topic = Dist::new(&zipf(cfg.n_topics, cfg.topic_zipf));
        let (t_n, s_w, lam) = (cfg.n_topics, cfg.word_zipf, cfg.topic_word_weight);
        let nouns = topic_mixture(&mut rng, n_nouns, t_n, s_w, lam);
        let adjs = topic_mixture(&mut rng, n_adjs, t_n, s_w, lam);
        let verbs = topic_mixture(&mut rng, n_verbs, t_n, s_w, lam);
        let preps = Dist::new(&zipf(cfg.n_prepositions, 1.0));
        let favourites: Vec<Vec<usize>> =
            (0..n_verbs).map(|_| index::sample(&mut rng, n_nouns, cfg.verb_favourites).into_vec()).collect();
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

        // Subjects: distinct name pairs, global Zipf rank = index, a home topic each.
        let pairs = index::sample(&mut rng, cfg.n_first_names * cfg.n_last_names, cfg.n_subjects);
        let subj_first: Vec<u32> = pairs.iter().map(|p| (p / cfg.n_last_names) as u32).collect();
        let subj_last: Vec<u32> = pairs.iter().map(|p| (p % cfg.n_last_names) as u32).collect();
        let home: Vec<usize> = (0..cfg.n_subjects).map(|_| rng.gen_range(0..t_n)).collect();
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

        // Facts.
        let rel = Dist::new(&zipf(cfg.n_relations, cfg.relation_zipf));
        let value_dist = Dist::new(&zipf(cfg.values_per_relation, cfg.value_zipf));
        let pools: Vec<Vec<usize>> = (0..cfg.n_relations)
            .map(|_| index::sample(&mut rng, cfg.n_attribute_tokens, cfg.values_per_relation).into_vec())
            .collect();
        let mut facts = Vec::with_capacity(cfg.n_subjects * cfg.n_relations);
        for _ in 0..cfg.n_subjects {
            for pool in &pools {
                facts.push(id_attr + pool[value_dist.sample(&mut rng)] as u32);
            }
        }

        // Markov grammar and keys, from their own random streams (the rest of the world does
        // not depend on whether they exist).
        let markov = (cfg.markov_states > 0).then(|| {
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
        });
        let key_dist = Dist::new(&zipf(cfg.n_keys, cfg.key_zipf));
        let key_values: Vec<u32> = if cfg.n_key_values == 0 {
            Vec::new()
        } else {
            let mut r = seeded(seed, 0, *b"keys\0\0\0\0");
            (0..cfg.n_keys).map(|_| id_key_value + r.gen_range(0..cfg.n_key_values) as u32).collect()
        };

        let p_end = 1.0 / cfg.mean_sentences;
        Ok(Self {
            id_markov,
            id_key,
            markov,
            key_dist,
            key_values,
            cfg: cfg.clone(),
            seed,
            kinds,
            id_copy_dist,
            id_topic,
            id_det_sg,
            id_det_pl,
            id_prep,
            id_rel,
            id_first,
            id_last,
            id_noun,
            id_adj,
            id_verb,
            n_nouns,
            n_adjs,
            n_verbs,
            topic,
            nouns,
            adjs,
            verbs,
            preps,
            rel,
            favourites,
            obj_entropy,
            subjects,
            first_ln,
            subj_first,
            subj_last,
            facts,
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
        self.facts.len()
    }

    /// Sizes of the content-word classes: (nouns, adjectives, verb lemmas).
    pub fn content_words(&self) -> (usize, usize, usize) {
        (self.n_nouns, self.n_adjs, self.n_verbs)
    }

    /// The class of a token id (`None` if out of range).
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// A token stream of exactly `n_tokens` ids: concatenated documents, each starting with
    /// `BOS` (the stream starts with one; the last document is cut). Deterministic in
    /// (world seed, `stream_seed`).
    pub fn generate(&self, stream_seed: u64, n_tokens: usize) -> Vec<u32> {
        self.run(stream_seed, n_tokens, false).0
    }

    /// Like [`generate`](Self::generate), also returning each token's `-ln p` (nats) under the
    /// generator given everything before it in the stream (see the module docs: this equals
    /// `-ln p(token | previous tokens)`). The stream's first `BOS` has `-ln p = 0`.
    pub fn generate_with_logprobs(&self, stream_seed: u64, n_tokens: usize) -> (Vec<u32>, Vec<f64>) {
        self.run(stream_seed, n_tokens, true)
    }

    /// Monte-Carlo estimate of the floor: the mean `-ln p` (nats/token) over `n_sample` tokens
    /// generated with [`FLOOR_STREAM_SEED`]. Its standard error is roughly `3 / sqrt(n_sample)`
    /// with the defaults (≈0.009 at 10^5 tokens); [`entropy_rate`](Self::entropy_rate) is the exact value, prefer it
    /// for manifests. Returns 0 for `n_sample == 0`.
    pub fn entropy_floor(&self, n_sample: usize) -> f64 {
        if n_sample == 0 {
            return 0.0;
        }
        let (_, nll) = self.generate_with_logprobs(FLOOR_STREAM_SEED, n_sample);
        nll.iter().sum::<f64>() / n_sample as f64
    }

    /// The exact entropy rate of the stream in nats/token (the floor; see module docs),
    /// computed in closed form: expected entropy of a document over its expected length.
    pub fn entropy_rate(&self) -> f64 {
        let c = &self.cfg;
        let (pa, amax) = (c.p_adjective, c.max_adjectives);
        // Number of adjectives: truncated geometric.
        let (mut h_adjc, mut e_adj) = (0.0, 0.0);
        for k in 0..=amax {
            let p = if k < amax { pa.powi(k as i32) * (1.0 - pa) } else { pa.powi(amax as i32) };
            if p > 0.0 {
                h_adjc -= p * p.ln();
            }
            e_adj += k as f64 * p;
        }
        // Number of REL ATTR pairs: 1 + truncated geometric.
        let (pm, kmax) = (c.p_more_facts, c.max_facts_per_sentence);
        let (mut h_k, mut e_k) = (0.0, 0.0);
        for k in 1..=kmax {
            let p = if k < kmax { pm.powi(k as i32 - 1) * (1.0 - pm) } else { pm.powi(kmax as i32 - 1) };
            if p > 0.0 {
                h_k -= p * p.ln();
            }
            e_k += k as f64 * p;
        }
        let ln_det = -self.ln_det; // entropy of number + determiner
        let (p_spp, p_obj, p_vpp, pn) = (c.p_subject_pp, c.p_object, c.p_verb_pp, c.p_name_subject);
        let tot = c.p_fact + c.p_prose + c.p_copy + c.p_markov + c.p_keys;
        let (pf, pp, pc) = (c.p_fact / tot, c.p_prose / tot, c.p_copy / tot);
        let (pm, pk) = (c.p_markov / tot, c.p_keys / tot);
        let h_list = |w: &[f64]| -w.iter().filter(|&&p| p > 0.0).map(|p| p * p.ln()).sum::<f64>();
        let h3 = h_list(&[pf, pp, pc, pm, pk]);
        // Kind of an original (non-copy) sentence: fact, prose, Markov, key.
        let orig = c.p_fact + c.p_prose + c.p_markov + c.p_keys;
        let (f1, o_p, o_m, o_k) = (c.p_fact / orig, c.p_prose / orig, c.p_markov / orig, c.p_keys / orig);
        let h_kind_first = if o_m + o_k > 0.0 { h_list(&[f1, o_p, o_m, o_k]) } else { h2(f1) };
        // Markov sentences: a stationary walk of geometric length, then `.`.
        let (h_markov, len_markov) = match &self.markov {
            Some(m) => {
                let e_states = 1.0 / (1.0 - c.markov_continue);
                let h = m.start.entropy
                    + e_states * h2(c.markov_continue)
                    + (e_states - 1.0) * m.transition_entropy();
                (h, e_states + 1.0)
            }
            None => (0.0, 0.0),
        };
        // Key sentences: a geometric number of `KEY VALUE` pairs (values are free), then `.`.
        let e_pairs = 1.0 / (1.0 - c.keys_continue);
        let (h_keys, len_keys) =
            (e_pairs * (self.key_dist.entropy + h2(c.keys_continue)), 2.0 * e_pairs + 1.0);
        let em = c.mean_sentences;
        let len_plain = 2.0 + e_adj;
        let len_pp = 1.0 + len_plain;
        let len_subj = len_plain + p_spp * len_pp;
        let len_vp = 1.0 + p_obj * len_plain + p_vpp * len_pp + 1.0;
        let len_fact = 2.0 + 2.0 * e_k + 1.0;
        let len_prose = pn * (2.0 + len_vp) + (1.0 - pn) * (len_subj + len_vp);
        let len_orig = if o_m + o_k > 0.0 {
            f1 * len_fact + o_p * len_prose + o_m * len_markov + o_k * len_keys
        } else {
            f1 * len_fact + (1.0 - f1) * len_prose
        };
        let len_later = (1.0 - pc) * len_orig + pc * (2.0 + len_orig);
        let len_doc = 2.0 + len_orig + (em - 1.0) * len_later;

        let (mut h_doc, mut l_doc) = (self.topic.entropy, 0.0);
        for t in 0..c.n_topics {
            let pt = self.topic.p(t);
            let np_plain = |hn: f64| ln_det + h_adjc + e_adj * self.adjs[t].entropy + hn;
            let h_noun = self.nouns[t].entropy;
            let h_pp = self.preps.entropy + np_plain(h_noun);
            let np_subj = np_plain(h_noun) + h2(p_spp) + p_spp * h_pp;
            let h_obj: f64 =
                (0..self.n_verbs).map(|v| self.verbs[t].p(v) * self.obj_entropy[t * self.n_verbs + v]).sum();
            let vp = self.verbs[t].entropy + h2(p_obj) + p_obj * np_plain(h_obj) + h2(p_vpp) + p_vpp * h_pp;
            let h_subj = self.subjects[t].entropy;
            let h_prose = h2(pn) + pn * (h_subj + vp) + (1.0 - pn) * (np_subj + vp);
            let h_fact = h_subj + h_k + e_k * self.rel.entropy;
            let content = if o_m + o_k > 0.0 {
                f1 * h_fact + o_p * h_prose + o_m * h_markov + o_k * h_keys
            } else {
                f1 * h_fact + (1.0 - f1) * h_prose
            };
            let h_first = h_kind_first + content;
            let h_later = h3 + (1.0 - pc) * content + pc * (-self.ln_copy_dist);
            let h = h_first + (em - 1.0) * h_later + em * h2(self.p_end);
            h_doc += pt * h;
            l_doc += pt * len_doc;
        }
        h_doc / l_doc
    }

    /// Estimated floor for a model that sees only the last `block_size` tokens (nats/token),
    /// averaged over window positions `0..block_size` as in training on random windows, from a
    /// sample of `n_sample` tokens (memory ~ `4 * n_topics * n_sample` bytes).
    ///
    /// When a token's document start (its topic marker) lies outside its view, the Bayes
    /// predictor must infer the topic from the visible words: this replaces the topic-dependent
    /// factor of the token's probability by its mixture over topics, weighted by the posterior
    /// given the visible content words and names (exact Bayes filtering over the topic). Two
    /// simplifications make it an estimate rather than a bound: the parse state at the window
    /// start is taken as known (slightly optimistic), and tokens inside copies are taken as
    /// free and not used as topic evidence (optimistic for copies whose source is out of view,
    /// slightly pessimistic for topic inference). Always `>=` [`entropy_rate`](Self::entropy_rate)
    /// up to sampling error; the difference is the price of the finite window.
    pub fn windowed_entropy(&self, n_sample: usize, block_size: usize) -> f64 {
        if n_sample == 0 || block_size == 0 {
            return 0.0;
        }
        let (toks, nll) = self.generate_with_logprobs(FLOOR_STREAM_SEED ^ 1, n_sample);
        let tn = self.cfg.n_topics;
        let (ll, dependent) = self.topic_loglik(&toks);
        let ln_prior: Vec<f64> = self.topic.ln_p.clone();
        let mut total = 0.0;
        let mut offset = 0usize; // tokens since the document's BOS
        let mut true_topic = 0usize;
        let mut logpost = vec![0.0f64; tn];
        for i in 0..toks.len() {
            offset = if toks[i] == BOS { 0 } else { offset + 1 };
            if offset == 1 {
                true_topic = (toks[i] - self.id_topic) as usize;
            }
            // Window positions p >= offset - 1 see the topic marker (or the token is the marker
            // or BOS): the generator's probability applies.
            let blind = offset.saturating_sub(1).min(block_size);
            total += nll[i] * (block_size - blind) as f64;
            if blind == 0 {
                continue;
            }
            if !dependent[i] {
                total += nll[i] * blind as f64;
                continue;
            }
            let here = &ll[i * tn..(i + 1) * tn];
            let own = here[true_topic] as f64;
            logpost.copy_from_slice(&ln_prior);
            for p in 0..blind {
                if p > 0 {
                    let prev = &ll[(i - p) * tn..(i - p + 1) * tn];
                    logpost.iter_mut().zip(prev).for_each(|(a, &b)| *a += b as f64);
                }
                let m = logpost.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let (mut z, mut mix) = (0.0, 0.0);
                for (lp, &h) in logpost.iter().zip(here) {
                    let w = (lp - m).exp();
                    z += w;
                    mix += w * (h as f64).exp();
                }
                total += nll[i] + own - (mix / z).ln();
            }
        }
        total / (toks.len() * block_size) as f64
    }

    /// For each token, `ln p_t(word)` under every topic `t` for the topic-dependent factor of its
    /// probability (nouns, adjectives, verbs, names; recovered from the tokens alone), and
    /// whether the token has such a factor. Tokens inside copies count as independent.
    fn topic_loglik(&self, toks: &[u32]) -> (Vec<f32>, Vec<bool>) {
        let tn = self.cfg.n_topics;
        let nf = self.cfg.n_first_names;
        let beta = self.cfg.verb_object_affinity;
        let mut subject_of = vec![usize::MAX; nf * self.cfg.n_last_names];
        for s in 0..self.subj_first.len() {
            let (f, l) = (self.subj_first[s] as usize, self.subj_last[s] as usize);
            subject_of[f * self.cfg.n_last_names + l] = s;
        }
        let mut ll = vec![0.0f32; toks.len() * tn];
        let mut dependent = vec![false; toks.len()];
        let (mut in_copy, mut verb, mut after_prep) = (false, None::<usize>, false);
        for (i, &tok) in toks.iter().enumerate() {
            let kind = self.kinds[tok as usize];
            let row = &mut ll[i * tn..(i + 1) * tn];
            match kind {
                TokenKind::Bos | TokenKind::Period => {
                    in_copy = false;
                    verb = None;
                    continue;
                }
                TokenKind::Copy => in_copy = true,
                TokenKind::Preposition => after_prep = true,
                _ => {}
            }
            if in_copy {
                continue;
            }
            let f: Box<dyn Fn(usize) -> f64 + '_> = match kind {
                TokenKind::Noun => {
                    let n = (tok - self.id_noun) as usize;
                    match verb {
                        Some(v) if !after_prep => {
                            let fav = &self.favourites[v];
                            let bonus = if fav.contains(&n) { beta / fav.len() as f64 } else { 0.0 };
                            Box::new(move |t| ((1.0 - beta) * self.nouns[t].p(n) + bonus).ln())
                        }
                        _ => Box::new(move |t| self.nouns[t].ln_p[n]),
                    }
                }
                TokenKind::Adjective => {
                    let a = (tok - self.id_adj) as usize;
                    Box::new(move |t| self.adjs[t].ln_p[a])
                }
                TokenKind::VerbSingular | TokenKind::VerbPlural => {
                    let v = ((tok - self.id_verb) / 2) as usize;
                    verb = Some(v);
                    after_prep = false;
                    Box::new(move |t| self.verbs[t].ln_p[v])
                }
                TokenKind::FirstName => {
                    let fi = (tok - self.id_first) as usize;
                    Box::new(move |t| self.first_ln[t * nf + fi])
                }
                TokenKind::LastName if i > 0 => {
                    let fi = (toks[i - 1] - self.id_first) as usize;
                    let l = (tok - self.id_last) as usize;
                    let s = subject_of[fi * self.cfg.n_last_names + l];
                    Box::new(move |t| self.subjects[t].ln_p[s] - self.first_ln[t * nf + fi])
                }
                _ => continue,
            };
            for (t, x) in row.iter_mut().enumerate() {
                *x = f(t) as f32;
            }
            dependent[i] = true;
        }
        (ll, dependent)
    }

    fn run(&self, stream_seed: u64, n: usize, track: bool) -> (Vec<u32>, Vec<f64>) {
        let mut rng = seeded(self.seed, stream_seed, *b"stream\0\0");
        let mut sink = Sink {
            toks: Vec::with_capacity(n + 256),
            nll: Vec::with_capacity(if track { n + 256 } else { 0 }),
            track,
            pending: 0.0,
        };
        let mut originals = Vec::new();
        while sink.toks.len() < n {
            self.document(&mut rng, &mut sink, &mut originals);
        }
        sink.toks.truncate(n);
        sink.nll.truncate(n);
        (sink.toks, sink.nll)
    }

    fn document(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, originals: &mut Vec<(usize, usize)>) {
        sink.emit(BOS, 0.0);
        let t = self.topic.sample(rng);
        sink.emit(self.id_topic + t as u32, self.topic.ln_p[t]);
        originals.clear();
        loop {
            let sp = if originals.is_empty() { &self.start_first } else { &self.start_later };
            let u: f64 = rng.gen();
            if u < sp.p_copy {
                sink.emit(COPY, sp.ln_copy);
                let d = rng.gen_range(0..self.cfg.max_copy_distance);
                sink.emit(self.id_copy_dist + d as u32, self.ln_copy_dist);
                let (a, b) = originals[originals.len() - 1 - d.min(originals.len() - 1)];
                for i in a..b {
                    let tok = sink.toks[i];
                    sink.emit(tok, 0.0);
                }
                sink.emit(PERIOD, 0.0);
            } else {
                let start = sink.toks.len();
                if u < sp.name_cut {
                    sink.decide(sp.ln_name);
                    let s = self.subject(rng, sink, t);
                    if rng.gen::<f64>() < sp.fact_given_name {
                        sink.decide(sp.ln_fact_given_name);
                        self.fact_body(rng, sink, s);
                    } else {
                        sink.decide(sp.ln_prose_given_name);
                        self.predicate(rng, sink, t, false);
                    }
                } else if u < sp.det_cut {
                    sink.decide(sp.ln_det);
                    let plural = self.noun_phrase(rng, sink, t, NpRole::Subject);
                    self.predicate(rng, sink, t, plural);
                } else if u < sp.markov_cut {
                    sink.decide(sp.ln_markov);
                    self.markov_sentence(rng, sink);
                } else {
                    sink.decide(sp.ln_keys);
                    self.key_sentence(rng, sink);
                }
                originals.push((start, sink.toks.len() - 1));
            }
            if rng.gen::<f64>() < self.p_end {
                sink.decide(self.ln_p_end);
                return;
            }
            sink.decide(self.ln_continue);
        }
    }

    fn subject(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize) -> usize {
        let s = self.subjects[t].sample(rng);
        let f = self.subj_first[s];
        let lf = self.first_ln[t * self.cfg.n_first_names + f as usize];
        sink.emit(self.id_first + f, lf);
        sink.emit(self.id_last + self.subj_last[s], self.subjects[t].ln_p[s] - lf);
        s
    }

    fn fact_body(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, s: usize) {
        let nr = self.cfg.n_relations;
        for k in 0..self.cfg.max_facts_per_sentence {
            let r = self.rel.sample(rng);
            sink.emit(self.id_rel + r as u32, self.rel.ln_p[r]);
            sink.emit(self.facts[s * nr + r], 0.0);
            if k + 1 == self.cfg.max_facts_per_sentence {
                break;
            }
            if rng.gen::<f64>() < self.cfg.p_more_facts {
                sink.decide(ln(self.cfg.p_more_facts));
            } else {
                sink.decide(ln(1.0 - self.cfg.p_more_facts));
                break;
            }
        }
        sink.emit(PERIOD, 0.0);
    }

    /// `STATE+ .`: a walk of the Markov grammar from its stationary distribution, continuing
    /// after each state with probability `markov_continue`.
    fn markov_sentence(&self, rng: &mut ChaCha8Rng, sink: &mut Sink) {
        let m = self.markov.as_ref().expect("p_markov > 0 implies a Markov grammar");
        let mut x = m.start.sample(rng);
        sink.emit(self.id_markov + x as u32, m.start.ln_p[x]);
        let pc = self.cfg.markov_continue;
        loop {
            if rng.gen::<f64>() < pc {
                sink.decide(ln(pc));
                let row = &m.rows[x];
                x = row.sample(rng);
                sink.emit(self.id_markov + x as u32, row.ln_p[x]);
            } else {
                sink.decide(ln(1.0 - pc));
                break;
            }
        }
        sink.emit(PERIOD, 0.0);
    }

    /// `(KEY VALUE)+ .`: keys from a Zipf law, each followed by its fixed value.
    fn key_sentence(&self, rng: &mut ChaCha8Rng, sink: &mut Sink) {
        let pc = self.cfg.keys_continue;
        loop {
            let k = self.key_dist.sample(rng);
            sink.emit(self.id_key + k as u32, self.key_dist.ln_p[k]);
            sink.emit(self.key_values[k], 0.0);
            if rng.gen::<f64>() < pc {
                sink.decide(ln(pc));
            } else {
                sink.decide(ln(1.0 - pc));
                break;
            }
        }
        sink.emit(PERIOD, 0.0);
    }

    /// `DET ADJ* NOUN [PREP NP]`; returns whether it is plural.
    fn noun_phrase(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize, role: NpRole) -> bool {
        let plural: bool = rng.gen();
        let d = rng.gen_range(0..self.cfg.n_determiners) as u32;
        let base = if plural { self.id_det_pl } else { self.id_det_sg };
        sink.emit(base + d, self.ln_det);
        let pa = self.cfg.p_adjective;
        for _ in 0..self.cfg.max_adjectives {
            if rng.gen::<f64>() < pa {
                sink.decide(ln(pa));
                let a = self.adjs[t].sample(rng);
                sink.emit(self.id_adj + a as u32, self.adjs[t].ln_p[a]);
            } else {
                sink.decide(ln(1.0 - pa));
                break;
            }
        }
        let nd = &self.nouns[t];
        let (n, lnp) = match role {
            NpRole::Object(v) => {
                let fav = &self.favourites[v];
                let beta = self.cfg.verb_object_affinity;
                let n =
                    if rng.gen::<f64>() < beta { fav[rng.gen_range(0..fav.len())] } else { nd.sample(rng) };
                let mut q = (1.0 - beta) * nd.p(n);
                if fav.contains(&n) {
                    q += beta / fav.len() as f64;
                }
                (n, q.ln())
            }
            _ => {
                let n = nd.sample(rng);
                (n, nd.ln_p[n])
            }
        };
        sink.emit(self.id_noun + n as u32, lnp);
        if role == NpRole::Subject {
            let p = self.cfg.p_subject_pp;
            if rng.gen::<f64>() < p {
                sink.decide(ln(p));
                self.prep_phrase(rng, sink, t);
            } else {
                sink.decide(ln(1.0 - p));
            }
        }
        plural
    }

    fn prep_phrase(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize) {
        let p = self.preps.sample(rng);
        sink.emit(self.id_prep + p as u32, self.preps.ln_p[p]);
        self.noun_phrase(rng, sink, t, NpRole::Plain);
    }

    /// `VERB [OBJ] [PREP NP] .` with the verb agreeing with the subject's number.
    fn predicate(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize, plural: bool) {
        let v = self.verbs[t].sample(rng);
        sink.emit(self.id_verb + 2 * v as u32 + u32::from(plural), self.verbs[t].ln_p[v]);
        let po = self.cfg.p_object;
        if rng.gen::<f64>() < po {
            sink.decide(ln(po));
            self.noun_phrase(rng, sink, t, NpRole::Object(v));
        } else {
            sink.decide(ln(1.0 - po));
        }
        let pv = self.cfg.p_verb_pp;
        if rng.gen::<f64>() < pv {
            sink.decide(ln(pv));
            self.prep_phrase(rng, sink, t);
        } else {
            sink.decide(ln(1.0 - pv));
        }
        sink.emit(PERIOD, 0.0);
    }
}

/// A ChaCha8 stream keyed by (world seed, stream seed, purpose): portable and reproducible.
fn seeded(world: u64, stream: u64, tag: [u8; 8]) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&world.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    key[16..24].copy_from_slice(&tag);
    ChaCha8Rng::from_seed(key)
}

/// Held-out cross-entropy (nats/token) of a count-based n-gram model (`order` 1, 2 or 3)
/// trained on `train`: interpolated absolute discounting (discount 0.75) down to an add-½
/// unigram. A reference point for learning curves (a model that only uses the last
/// `order - 1` tokens), not a competitive language model. Returns `Err` for an order outside
/// 1..=3 or a token id `>= vocab`.
pub fn ngram_cross_entropy(
    train: &[u32],
    heldout: &[u32],
    order: usize,
    vocab: usize,
) -> Result<f64, String> {
    if !(1..=3).contains(&order) {
        return Err(format!("n-gram order {order} is not supported (use 1, 2 or 3)"));
    }
    if let Some(&bad) = train.iter().chain(heldout).find(|&&x| x as usize >= vocab) {
        return Err(format!("token id {bad} is not below vocab size {vocab}"));
    }
    const D: f64 = 0.75;
    let v = vocab as u64;
    let mut uni = vec![0u64; vocab];
    for &x in train {
        uni[x as usize] += 1;
    }
    let n = train.len() as f64;
    let p1 = |w: u32| (uni[w as usize] as f64 + 0.5) / (n + 0.5 * vocab as f64);
    // Sorted n-gram keys, counted by runs; context statistics (count, distinct successors).
    let counts = |k: usize| -> Vec<(u64, u32)> {
        let mut keys: Vec<u64> =
            train.windows(k).map(|w| w.iter().fold(0u64, |acc, &x| acc * v + x as u64)).collect();
        keys.sort_unstable();
        let mut out: Vec<(u64, u32)> = Vec::new();
        for key in keys {
            match out.last_mut() {
                Some((k2, c)) if *k2 == key => *c += 1,
                _ => out.push((key, 1)),
            }
        }
        out
    };
    let contexts = |grams: &[(u64, u32)]| -> Vec<(u64, u32, u32)> {
        let mut out: Vec<(u64, u32, u32)> = Vec::new();
        for &(key, c) in grams {
            let ctx = key / v;
            match out.last_mut() {
                Some((k2, total, types)) if *k2 == ctx => {
                    *total += c;
                    *types += 1;
                }
                _ => out.push((ctx, c, 1)),
            }
        }
        out
    };
    let lookup = |g: &[(u64, u32)], key: u64| match g.binary_search_by_key(&key, |e| e.0) {
        Ok(i) => g[i].1 as f64,
        Err(_) => 0.0,
    };
    let ctx_lookup = |g: &[(u64, u32, u32)], key: u64| match g.binary_search_by_key(&key, |e| e.0) {
        Ok(i) => Some((g[i].1 as f64, g[i].2 as f64)),
        Err(_) => None,
    };
    let (bi, tri) =
        (if order >= 2 { counts(2) } else { Vec::new() }, if order >= 3 { counts(3) } else { Vec::new() });
    let (bi_ctx, tri_ctx) = (contexts(&bi), contexts(&tri));
    let p2 = |a: u32, w: u32| -> f64 {
        let base = p1(w);
        match ctx_lookup(&bi_ctx, a as u64) {
            Some((total, types)) => {
                let c = lookup(&bi, a as u64 * v + w as u64);
                ((c - D).max(0.0) + D * types * base) / total
            }
            None => base,
        }
    };
    let p3 = |a: u32, b: u32, w: u32| -> f64 {
        let base = p2(b, w);
        let ctx = a as u64 * v + b as u64;
        match ctx_lookup(&tri_ctx, ctx) {
            Some((total, types)) => {
                let c = lookup(&tri, ctx * v + w as u64);
                ((c - D).max(0.0) + D * types * base) / total
            }
            None => base,
        }
    };
    let mut sum = 0.0;
    let start = order - 1;
    for i in start..heldout.len() {
        let w = heldout[i];
        let p = match order {
            1 => p1(w),
            2 => p2(heldout[i - 1], w),
            _ => p3(heldout[i - 2], heldout[i - 1], w),
        };
        sum -= p.ln();
    }
    Ok(sum / (heldout.len() - start).max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> SyntheticCorpus {
        SyntheticCorpus::new(&SyntheticConfig::default(), 7).expect("default config is valid")
    }

    #[test]
    fn deterministic_and_in_range() {
        let c = world();
        let a = c.generate(1, 50_000);
        assert_eq!(a.len(), 50_000);
        assert_eq!(a, c.generate(1, 50_000));
        assert_eq!(a, c.generate_with_logprobs(1, 50_000).0);
        assert_eq!(&a[..1000], &c.generate(1, 1000)[..]);
        assert_ne!(a, c.generate(2, 50_000));
        let other = SyntheticCorpus::new(&SyntheticConfig::default(), 8).expect("valid");
        assert_ne!(a, other.generate(1, 50_000));
        assert!(a.iter().all(|&x| (x as usize) < c.vocab_size()));
        assert_eq!(a[0], BOS);
        assert!(c.generate(1, 0).is_empty());
        // Every class of token occurs.
        let mut seen = std::collections::HashSet::new();
        for &x in &a {
            seen.insert(c.token_kind(x).expect("in range"));
        }
        assert_eq!(seen.len(), 16, "kinds seen: {seen:?}");
    }

    #[test]
    fn logprobs_are_finite_and_deterministic_tokens_are_free() {
        let c = world();
        let (toks, nll) = c.generate_with_logprobs(3, 200_000);
        assert_eq!(nll.len(), toks.len());
        assert!(nll.iter().all(|x| x.is_finite() && *x >= -1e-12));
        for (i, (&t, &l)) in toks.iter().zip(&nll).enumerate() {
            let k = c.token_kind(t).expect("in range");
            // Attributes are determined by (subject, relation); verb forms by agreement.
            if k == TokenKind::Attribute {
                assert!(l.abs() < 1e-12, "attribute at {i} has nll {l}");
            }
            if k == TokenKind::Topic {
                assert_eq!(toks[i - 1], BOS);
            }
        }
    }

    #[test]
    fn facts_are_consistent_and_agreement_holds() {
        let c = world();
        let toks = c.generate(4, 300_000);
        let mut table = std::collections::HashMap::new();
        let mut subject = None;
        for w in toks.windows(2) {
            let k0 = c.token_kind(w[0]).expect("in range");
            if k0 == TokenKind::FirstName {
                subject = Some(w[0] * 10_000 + w[1]);
            }
            if k0 == TokenKind::Relation {
                let key = (subject.expect("relation after a name"), w[0]);
                let prev = table.insert(key, w[1]);
                assert!(prev.is_none() || prev == Some(w[1]), "fact changed");
            }
        }
        assert!(table.len() > 5_000, "only {} distinct facts seen", table.len());
        // Verb form agrees with the subject head: the first determiner or name of the sentence.
        let mut head: Option<bool> = None; // Some(plural)
        let mut checked = 0;
        for &x in &toks {
            match c.token_kind(x).expect("in range") {
                TokenKind::Period | TokenKind::Bos | TokenKind::Copy => head = None,
                TokenKind::FirstName if head.is_none() => head = Some(false),
                TokenKind::DetSingular if head.is_none() => head = Some(false),
                TokenKind::DetPlural if head.is_none() => head = Some(true),
                TokenKind::VerbSingular => {
                    assert_eq!(head, Some(false));
                    checked += 1;
                }
                TokenKind::VerbPlural => {
                    assert_eq!(head, Some(true));
                    checked += 1;
                }
                _ => {}
            }
        }
        assert!(checked > 5_000);
    }

    #[test]
    fn floor_matches_exact_entropy_rate() {
        let c = world();
        let exact = c.entropy_rate();
        let n = 2_000_000;
        let (_, nll) = c.generate_with_logprobs(11, n);
        // Standard error from batch means (batches of 20k tokens span hundreds of documents).
        let b = 20_000;
        let means: Vec<f64> = nll.chunks(b).map(|x| x.iter().sum::<f64>() / b as f64).collect();
        let m = means.iter().sum::<f64>() / means.len() as f64;
        let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
        let se = (var / means.len() as f64).sqrt();
        assert!((m - exact).abs() < 4.0 * se + 1e-3, "empirical {m} vs exact {exact} (se {se})");
        let floor = c.entropy_floor(500_000);
        assert!((floor - exact).abs() < 0.03, "floor {floor} vs exact {exact}");
        assert!(exact > 1.0 && exact < 4.0, "exact {exact}");
    }

    #[test]
    fn windowed_floor_is_above_the_floor_and_falls_with_context() {
        let c = world();
        let n = 50_000;
        let (_, nll) = c.generate_with_logprobs(FLOOR_STREAM_SEED ^ 1, n);
        let full = nll.iter().sum::<f64>() / n as f64;
        let w: Vec<f64> = [16, 64, 128].iter().map(|&b| c.windowed_entropy(n, b)).collect();
        assert!(w[0] > w[1] && w[1] > w[2] && w[2] > full, "{w:?} vs {full}");
        assert!(w[0] - full > 0.02, "topic inference should cost something: {w:?} vs {full}");
        assert!(w[1] - full < 0.1, "documents are short, the window costs little: {w:?}");
        // Averaged over a very long window, almost every position sees its topic marker.
        let long = c.windowed_entropy(n, 100_000);
        assert!(long > full && long - full < 1e-3, "{long} vs {full}");
    }

    #[test]
    fn exact_rate_tracks_config_changes() {
        // A different configuration (no copies, short documents, other exponents) still agrees.
        let cfg = SyntheticConfig {
            vocab_size: 300,
            n_topics: 5,
            n_first_names: 20,
            n_last_names: 10,
            n_subjects: 150,
            n_attribute_tokens: 30,
            values_per_relation: 5,
            p_copy: 0.0,
            p_fact: 0.2,
            mean_sentences: 1.5,
            max_adjectives: 0,
            max_facts_per_sentence: 1,
            p_name_subject: 1.0,
            ..SyntheticConfig::default()
        };
        let c = SyntheticCorpus::new(&cfg, 1).expect("valid");
        let exact = c.entropy_rate();
        let est = c.entropy_floor(1_000_000);
        assert!((est - exact).abs() < 0.02, "estimate {est} vs exact {exact}");
    }

    /// A world with Markov and key sentences (and a little of everything else).
    fn additive_world() -> SyntheticCorpus {
        let cfg = SyntheticConfig {
            vocab_size: 600,
            n_first_names: 16,
            n_last_names: 16,
            n_subjects: 64,
            n_relations: 8,
            n_attribute_tokens: 16,
            values_per_relation: 8,
            p_fact: 0.1,
            p_prose: 0.2,
            p_copy: 0.1,
            p_markov: 0.4,
            markov_states: 32,
            markov_rank: 24,
            markov_successors: 4,
            p_keys: 0.3,
            n_keys: 200,
            n_key_values: 8,
            ..SyntheticConfig::default()
        };
        SyntheticCorpus::new(&cfg, 3).expect("valid")
    }

    #[test]
    fn new_kinds_are_off_by_default_and_leave_ids_unchanged() {
        // Defaults are not serialized, so corpus ids (and run ids) of existing configs are those
        // of the generator before Markov and key sentences existed.
        let json = serde_json::to_string(&SyntheticConfig::default()).expect("serializes");
        for k in ["markov", "keys", "key_"] {
            assert!(!json.contains(k), "{k} in {json}");
        }
        let c = world();
        assert!(c.markov.is_none() && c.key_values.is_empty());
        let kinds: std::collections::HashSet<_> =
            c.generate(1, 50_000).iter().map(|&x| c.token_kind(x).expect("in range")).collect();
        assert!(!kinds.contains(&TokenKind::MarkovState) && !kinds.contains(&TokenKind::Key));
        // A non-default value is serialized and round-trips.
        let cfg = SyntheticConfig { p_keys: 0.5, n_keys: 10, n_key_values: 2, ..SyntheticConfig::default() };
        let json = serde_json::to_string(&cfg).expect("serializes");
        assert!(json.contains("\"p_keys\":0.5") && !json.contains("markov"), "{json}");
        assert_eq!(serde_json::from_str::<SyntheticConfig>(&json).expect("parses"), cfg);
    }

    #[test]
    fn markov_and_key_sentences_floor_and_structure() {
        let c = additive_world();
        let (toks, nll) = c.generate_with_logprobs(5, 2_000_000);
        let mut kinds = std::collections::HashSet::new();
        let mut value_of = std::collections::HashMap::new();
        for i in 1..toks.len() {
            let (k0, k1) = (c.token_kind(toks[i - 1]).expect("in range"), c.token_kind(toks[i]).expect("ok"));
            kinds.insert(k1);
            // A value follows every key, is fixed per key, and costs nothing.
            assert_eq!(k0 == TokenKind::Key, k1 == TokenKind::KeyValue, "at {i}");
            if k1 == TokenKind::KeyValue {
                assert_eq!(*value_of.entry(toks[i - 1]).or_insert(toks[i]), toks[i]);
                assert!(nll[i].abs() < 1e-12);
            }
            if k1 == TokenKind::MarkovState {
                assert!(
                    matches!(k0, TokenKind::MarkovState | TokenKind::Period | TokenKind::Topic)
                        || nll[i] == 0.0
                );
            }
        }
        assert_eq!(kinds.len(), 19, "kinds seen: {kinds:?}");
        assert!(value_of.len() > 150, "{} keys seen", value_of.len());
        // The exact rate agrees with the Monte-Carlo mean (batch-means standard error).
        let exact = c.entropy_rate();
        let b = 20_000;
        let means: Vec<f64> = nll.chunks(b).map(|x| x.iter().sum::<f64>() / b as f64).collect();
        let m = means.iter().sum::<f64>() / means.len() as f64;
        let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
        let se = (var / means.len() as f64).sqrt();
        assert!((m - exact).abs() < 4.0 * se + 1e-3, "empirical {m} vs exact {exact} (se {se})");
        // Markov only, keys only: still exact.
        for (pm, pk, succ) in [(1.0, 0.0, 0), (1.0, 0.0, 6), (0.0, 1.0, 0)] {
            let cfg = SyntheticConfig {
                p_fact: 0.0,
                p_prose: 0.0,
                p_markov: pm,
                p_keys: pk,
                markov_successors: succ,
                ..c.config().clone()
            };
            let c = SyntheticCorpus::new(&cfg, 4).expect("valid");
            let (exact, est) = (c.entropy_rate(), c.entropy_floor(1_000_000));
            assert!((est - exact).abs() < 0.02, "p_markov {pm}: estimate {est} vs exact {exact}");
        }
        // Windowed estimate still works (the new tokens carry no topic evidence).
        let w = c.windowed_entropy(50_000, 64);
        assert!(w.is_finite() && w > 0.0);
    }

    #[test]
    fn invalid_configs_are_rejected_with_the_key() {
        let bad = |f: &dyn Fn(&mut SyntheticConfig), needle: &str| {
            let mut cfg = SyntheticConfig::default();
            f(&mut cfg);
            let err = SyntheticCorpus::new(&cfg, 0).expect_err("should be rejected");
            assert!(err.contains(needle), "{err}");
        };
        bad(&|c| c.vocab_size = 200, "corpus.synthetic.vocab_size");
        bad(&|c| c.n_subjects = 10_000, "corpus.synthetic.n_subjects");
        bad(&|c| c.n_topics = 0, "corpus.synthetic.n_topics");
        bad(&|c| c.p_object = 1.5, "corpus.synthetic.p_object");
        bad(&|c| c.word_zipf = f64::NAN, "corpus.synthetic.word_zipf");
        bad(&|c| c.mean_sentences = 0.5, "corpus.synthetic.mean_sentences");
        bad(&|c| c.values_per_relation = 500, "values_per_relation");
        bad(&|c| c.p_markov = 1.0, "corpus.synthetic.markov_states");
        bad(&|c| c.p_keys = 1.0, "corpus.synthetic.n_keys");
        bad(&|c| c.markov_continue = 1.0, "corpus.synthetic.markov_continue");
        bad(
            &|c| {
                c.p_fact = 0.0;
                c.p_prose = 0.0
            },
            "corpus.synthetic.p_fact",
        );
        // Serde: defaults fill missing keys, unknown keys are rejected.
        let cfg: SyntheticConfig =
            serde_json::from_str(r#"{"vocab_size": 1024}"#).expect("partial config parses");
        assert_eq!(cfg.vocab_size, 1024);
        assert_eq!(cfg.n_topics, SyntheticConfig::default().n_topics);
        assert!(serde_json::from_str::<SyntheticConfig>(r#"{"vocab": 3}"#).is_err());
        // Larger and smaller vocabularies work.
        for v in [400, 2048] {
            let cfg = SyntheticConfig { vocab_size: v, ..SyntheticConfig::default() };
            let c = SyntheticCorpus::new(&cfg, 0).expect("valid");
            assert!(c.generate(0, 10_000).iter().all(|&x| (x as usize) < v));
        }
    }

    #[test]
    fn count_models_show_structure_and_stay_above_floor() {
        let c = world();
        let floor = c.entropy_rate();
        let v = c.vocab_size();
        let held = c.generate(1_000_001, 200_000);
        let train = c.generate(1_000_002, 4_000_000);
        let ce =
            |n: usize, order: usize| ngram_cross_entropy(&train[..n], &held, order, v).expect("valid input");
        let uni = ce(4_000_000, 1);
        let bi = ce(4_000_000, 2);
        let tri = ce(4_000_000, 3);
        assert!(bi < uni - 0.3, "bigram {bi} vs unigram {uni}");
        assert!(tri < bi, "trigram {tri} vs bigram {bi}");
        assert!(tri > floor + 0.2, "trigram {tri} vs floor {floor}");
        let curve: Vec<f64> = [40_000, 400_000, 4_000_000].iter().map(|&n| ce(n, 3)).collect();
        assert!(curve[0] > curve[1] && curve[1] > curve[2], "{curve:?}");
        // Diminishing returns: each decade helps less.
        assert!(curve[0] - curve[1] > curve[1] - curve[2], "{curve:?}");
        assert!(ngram_cross_entropy(&train, &held, 4, v).is_err());
        assert!(ngram_cross_entropy(&[9_999], &held, 1, v).is_err());
    }

    /// Prints generation speed, the floor, count-model curves and ideal fact-memoriser curves.
    /// Run with `cargo test --release -- --ignored --nocapture ngram_probe`.
    #[test]
    #[ignore = "probe: prints numbers, ~10 s in release"]
    fn ngram_probe() {
        // Optional overrides for tuning: SYNTH_CFG='{"n_subjects": 4000}'.
        let cfg: SyntheticConfig = match std::env::var("SYNTH_CFG") {
            Ok(json) => serde_json::from_str(&json).expect("SYNTH_CFG is a JSON config table"),
            Err(_) => SyntheticConfig::default(),
        };
        let c = SyntheticCorpus::new(&cfg, 7).expect("valid config");
        let v = c.vocab_size();
        let t0 = std::time::Instant::now();
        let big = c.generate(5, 20_000_000);
        let dt = t0.elapsed().as_secs_f64();
        println!("generate: {:.1} M tokens/s", big.len() as f64 / dt / 1e6);
        let t0 = std::time::Instant::now();
        let (_, nll) = c.generate_with_logprobs(5, 20_000_000);
        let dt = t0.elapsed().as_secs_f64();
        println!("generate_with_logprobs: {:.1} M tokens/s", nll.len() as f64 / dt / 1e6);
        let exact = c.entropy_rate();
        let mc = nll.iter().sum::<f64>() / nll.len() as f64;
        let b = 100_000;
        let means: Vec<f64> = nll.chunks(b).map(|x| x.iter().sum::<f64>() / b as f64).collect();
        let var = means.iter().map(|x| (x - mc).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
        println!(
            "floor: exact {exact:.4} nats/token, MC (2e7 tokens) {mc:.4}; \
             batch-means sd of a 1e5-token mean {:.4}",
            var.sqrt()
        );
        println!("facts: {}, content words (nouns, adjs, verbs) {:?}", c.n_facts(), c.content_words());

        // Floor by token kind.
        let (toks, nll) = c.generate_with_logprobs(6, 2_000_000);
        let mut by: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
        for (&t, &l) in toks.iter().zip(&nll) {
            let e = by.entry(format!("{:?}", c.token_kind(t).expect("in range"))).or_default();
            e.0 += 1;
            e.1 += l;
        }
        println!("{:<14} {:>7} {:>10} {:>12}", "kind", "share", "mean nll", "contrib");
        for (k, (n, s)) in &by {
            let share = *n as f64 / toks.len() as f64;
            println!("{k:<14} {share:>7.3} {:>10.3} {:>12.4}", s / *n as f64, s / toks.len() as f64);
        }

        // How often a training window hides the document start (topic marker) from a token:
        // a token at offset o in its document, at a uniformly random window position p < B,
        // misses it when p < o.
        let mut offset = 0usize;
        let mut hidden = [0.0f64; 2];
        for &t in &toks {
            offset = if t == BOS { 0 } else { offset + 1 };
            for (h, b) in hidden.iter_mut().zip([64usize, 128]) {
                *h += offset.min(b) as f64 / b as f64;
            }
        }
        let (_, wnll) = c.generate_with_logprobs(FLOOR_STREAM_SEED ^ 1, 200_000);
        let wmean = wnll.iter().sum::<f64>() / wnll.len() as f64;
        for b in [32, 64, 128] {
            let w = c.windowed_entropy(200_000, b);
            println!(
                "windowed floor estimate (block {b}): {w:.4} nats/token, +{:.4} over the \
                 full-context floor on the same sample",
                w - wmean
            );
        }
        println!(
            "mean document length {:.1} tokens; document start out of view for {:.1}% \
             (block 64) / {:.1}% (block 128) of (token, window position) pairs",
            toks.len() as f64 / toks.iter().filter(|&&t| t == BOS).count() as f64,
            100.0 * hidden[0] / toks.len() as f64,
            100.0 * hidden[1] / toks.len() as f64
        );

        let held = c.generate(1_000_001, 200_000);
        println!("\nheld-out CE (nats/token) of count models, floor {exact:.3}");
        println!("{:>10} {:>8} {:>8} {:>8}", "tokens", "unigram", "bigram", "trigram");
        for n in [100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 20_000_000] {
            let r: Vec<f64> =
                (1..=3).map(|o| ngram_cross_entropy(&big[..n], &held, o, v).expect("valid")).collect();
            println!("{n:>10} {:>8.4} {:>8.4} {:>8.4}", r[0], r[1], r[2]);
        }

        // Ideal fact memoriser: exact generator probabilities everywhere except on attribute
        // tokens of original fact sentences, which it predicts perfectly if it memorised the
        // fact and with the training marginal of the relation's values otherwise.
        let facts_in = |toks: &[u32]| {
            // (position of attribute, fact key, relation, in copy)
            let mut out = Vec::new();
            let (mut subj, mut in_copy) = (0u32, false);
            for i in 1..toks.len() {
                let (k0, k1) = (c.token_kind(toks[i - 1]), c.token_kind(toks[i]));
                match k0 {
                    Some(TokenKind::Copy) => in_copy = true,
                    Some(TokenKind::Period) | Some(TokenKind::Bos) => in_copy = false,
                    Some(TokenKind::FirstName) => subj = toks[i - 1] * 4096 + toks[i],
                    _ => {}
                }
                if k0 == Some(TokenKind::Relation) && k1 == Some(TokenKind::Attribute) {
                    let r = toks[i - 1];
                    out.push((i, (subj as u64) << 16 | r as u64, r, in_copy));
                }
            }
            out
        };
        let (htoks, hnll) = c.generate_with_logprobs(1_000_003, 1_000_000);
        let hfacts = facts_in(&htoks);
        let base: f64 = hnll.iter().sum();
        let sample_floor = base / htoks.len() as f64;
        let eval = |known: &dyn Fn(u64) -> bool,
                    marg: &std::collections::HashMap<(u32, u32), f64>,
                    rel_tot: &std::collections::HashMap<u32, f64>| {
            let mut sum = base;
            for &(_i, key, r, in_copy) in &hfacts {
                if in_copy || known(key) {
                    continue;
                }
                let a = htoks[_i];
                let num = marg.get(&(r, a)).copied().unwrap_or(0.0) + 0.1;
                let den = rel_tot.get(&r).copied().unwrap_or(0.0) + 0.1 * v as f64;
                sum += -(num / den).ln();
            }
            sum / htoks.len() as f64 - sample_floor
        };
        let train_facts = facts_in(&big);
        println!(
            "\nideal fact memoriser: excess over the floor (nats/token); data-limited \
             (memorises every fact seen >= m times)"
        );
        println!("{:>10} {:>9} {:>9} {:>9}", "tokens", "m=1", "m=3", "m=10");
        for n in [200_000, 600_000, 2_000_000, 6_000_000, 20_000_000] {
            let mut seen: std::collections::HashMap<u64, u32> = Default::default();
            let mut marg: std::collections::HashMap<(u32, u32), f64> = Default::default();
            let mut rel_tot: std::collections::HashMap<u32, f64> = Default::default();
            for &(i, key, r, _) in train_facts.iter().take_while(|f| f.0 < n) {
                *seen.entry(key).or_default() += 1;
                *marg.entry((r, big[i])).or_default() += 1.0;
                *rel_tot.entry(r).or_default() += 1.0;
            }
            let r: Vec<f64> = [1, 3, 10]
                .iter()
                .map(|&m| eval(&|k| seen.get(&k).is_some_and(|&c| c >= m), &marg, &rel_tot))
                .collect();
            println!("{n:>10} {:>9.4} {:>9.4} {:>9.4}", r[0], r[1], r[2]);
        }
        // Capacity-limited: memorises only the K most frequent facts (frequency from 2e7 tokens).
        let mut freq: std::collections::HashMap<u64, u32> = Default::default();
        let mut marg: std::collections::HashMap<(u32, u32), f64> = Default::default();
        let mut rel_tot: std::collections::HashMap<u32, f64> = Default::default();
        for &(i, key, r, _) in &train_facts {
            *freq.entry(key).or_default() += 1;
            *marg.entry((r, big[i])).or_default() += 1.0;
            *rel_tot.entry(r).or_default() += 1.0;
        }
        let mut ranked: Vec<(u64, u32)> = freq.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        println!(
            "capacity-limited (memorises the K most frequent facts; {} facts seen in 2e7 tokens)",
            ranked.len()
        );
        for k in [250, 1000, 4000, 16000, 48000] {
            let top: std::collections::HashSet<u64> = ranked.iter().take(k).map(|e| e.0).collect();
            println!("K={k:>6} {:>9.4}", eval(&|key| top.contains(&key), &marg, &rel_tot));
        }
    }
}
