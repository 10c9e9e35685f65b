//! The vocabulary: the disjoint token classes ([`TokenKind`]), the special ids, and the layout
//! that gives each class a contiguous block of ids in a fixed order (module docs of
//! `corpus::synthetic`). The grammar is unambiguous given the classes, which is what makes
//! the recorded `-ln p` of every token exact.

use serde::{Deserialize, Serialize};

use super::config::SyntheticConfig;

/// Document separator; each document starts with it.
pub(super) const BOS: u32 = 0;
/// End of sentence.
pub(super) const PERIOD: u32 = 1;
/// Start of a copy sentence.
pub(super) const COPY: u32 = 2;
/// Number of special ids before the copy distances.
const N_SPECIAL: usize = 3;
/// Smallest number of content-word ids (nouns, adjectives, verb forms) that the layout accepts.
pub(super) const MIN_CONTENT_IDS: usize = 24;

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

/// Sizes of the content-word classes for a given number of content ids.
pub(super) fn content_split(content: usize) -> (usize, usize, usize) {
    let verbs = (content * 3 / 20).max(2);
    let adjs = (content / 5).max(4);
    let nouns = content.saturating_sub(2 * verbs + adjs);
    (nouns, adjs, verbs)
}

impl SyntheticConfig {
    /// Number of ids used by everything except the content words.
    pub(super) fn fixed_ids(&self) -> usize {
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
}

/// Where each token class starts, how many content words of each kind there are, and the
/// class of every id.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub(super) kinds: Vec<TokenKind>,
    // First id of each class.
    pub(super) id_copy_dist: u32,
    pub(super) id_topic: u32,
    pub(super) id_det_sg: u32,
    pub(super) id_det_pl: u32,
    pub(super) id_prep: u32,
    pub(super) id_rel: u32,
    pub(super) id_first: u32,
    pub(super) id_last: u32,
    pub(super) id_attr: u32,
    pub(super) id_markov: u32,
    pub(super) id_key: u32,
    pub(super) id_key_value: u32,
    pub(super) id_noun: u32,
    pub(super) id_adj: u32,
    /// Verb lemma `v` has its singular form at `id_verb + 2v` and its plural at `id_verb + 2v + 1`.
    pub(super) id_verb: u32,
    pub(super) n_nouns: usize,
    pub(super) n_adjs: usize,
    /// Number of verb lemmas.
    pub(super) n_verbs: usize,
}

impl Layout {
    /// The layout of a validated config: the classes in the order of the module docs, then the
    /// content words that fill the rest of `vocab_size`.
    pub(super) fn new(cfg: &SyntheticConfig) -> Self {
        let fixed = cfg.fixed_ids();
        let (n_nouns, n_adjs, n_verbs) = content_split(cfg.vocab_size - fixed);
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
        Self {
            kinds,
            id_copy_dist,
            id_topic,
            id_det_sg,
            id_det_pl,
            id_prep,
            id_rel,
            id_first,
            id_last,
            id_attr,
            id_markov,
            id_key,
            id_key_value,
            id_noun,
            id_adj,
            id_verb,
            n_nouns,
            n_adjs,
            n_verbs,
        }
    }
}
