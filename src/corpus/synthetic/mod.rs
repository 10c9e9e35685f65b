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
//!
//! # Where the code is
//!
//! Bottom to top: `config` (the `[corpus.synthetic]` keys and their defaults) and `validate`
//! (their checks); `vocabulary` (token classes and the id layout); `dist` (categorical
//! distributions, Zipf laws, seeded random streams); the parts of the world — `lexicon`
//! (topics and content words), `facts` (subjects, the fact table, the key table) and `markov`
//! (the Markov grammar); `world` ([`SyntheticCorpus`]: builds them from a config and a seed);
//! `emission` (per-token `-ln p` bookkeeping and sentence-start probabilities), `grammar`
//! (how each kind of sentence is emitted) and `stream` (documents and token streams); and the
//! measurements: `entropy` (the exact floor and its Monte-Carlo estimate), `window` (the
//! finite-window estimate) and `ngram` (count-model reference curves).

mod config;
mod dist;
mod emission;
mod entropy;
mod facts;
mod grammar;
mod lexicon;
mod markov;
mod ngram;
mod stream;
mod validate;
mod vocabulary;
mod window;
mod world;

#[cfg(test)]
mod probe;
#[cfg(test)]
mod tests;

pub use config::SyntheticConfig;
pub use entropy::FLOOR_STREAM_SEED;
pub use ngram::ngram_cross_entropy;
pub use vocabulary::TokenKind;
pub use world::SyntheticCorpus;
