//! The entropy floor: the exact entropy rate of the stream in closed form
//! ([`entropy_rate`](SyntheticCorpus::entropy_rate), by the renewal-reward theorem: expected
//! entropy of a document over its expected length) and its Monte-Carlo estimate
//! ([`entropy_floor`](SyntheticCorpus::entropy_floor), the mean recorded `-ln p`). Module docs
//! of `corpus::synthetic`: why it is a tight lower bound for the fitted irreducible loss.

use super::config::SyntheticConfig;
use super::dist::h2;
use super::world::SyntheticCorpus;

/// Stream seed used by [`SyntheticCorpus::entropy_floor`] (distinct from any small seed).
pub const FLOOR_STREAM_SEED: u64 = 0xF100_5EED_0000_0001;

/// Entropy (nats) and mean of a count `k` in `first..=last` that goes on past each value with
/// probability `q` and stops at `last`: a truncated geometric law.
struct Count {
    h: f64,
    mean: f64,
}

impl Count {
    fn truncated_geometric(q: f64, first: usize, last: usize) -> Self {
        let (mut h, mut mean) = (0.0, 0.0);
        for k in first..=last {
            let p =
                if k < last { q.powi((k - first) as i32) * (1.0 - q) } else { q.powi((last - first) as i32) };
            if p > 0.0 {
                h -= p * p.ln();
            }
            mean += k as f64 * p;
        }
        Self { h, mean }
    }
}

/// Entropy (nats) of a list of probabilities.
fn entropy_of(w: &[f64]) -> f64 {
    -w.iter().filter(|&&p| p > 0.0).map(|p| p * p.ln()).sum::<f64>()
}

/// The law of sentence kinds.
struct Kinds {
    /// Share of copies among the sentences after the first.
    pc: f64,
    /// Entropy of the kind of a later sentence (fact, prose, copy, Markov, key).
    h_later: f64,
    /// Shares of fact, prose, Markov and key sentences among original (non-copy) sentences.
    f1: f64,
    o_p: f64,
    o_m: f64,
    o_k: f64,
    /// Entropy of the kind of an original sentence (the first of a document is one).
    h_first: f64,
}

impl Kinds {
    fn new(c: &SyntheticConfig) -> Self {
        let tot = c.p_fact + c.p_prose + c.p_copy + c.p_markov + c.p_keys;
        let (pf, pp, pc) = (c.p_fact / tot, c.p_prose / tot, c.p_copy / tot);
        let (pm, pk) = (c.p_markov / tot, c.p_keys / tot);
        // Kind of an original (non-copy) sentence: fact, prose, Markov, key.
        let orig = c.p_fact + c.p_prose + c.p_markov + c.p_keys;
        let (f1, o_p, o_m, o_k) = (c.p_fact / orig, c.p_prose / orig, c.p_markov / orig, c.p_keys / orig);
        let h_first = if o_m + o_k > 0.0 { entropy_of(&[f1, o_p, o_m, o_k]) } else { h2(f1) };
        Self { pc, h_later: entropy_of(&[pf, pp, pc, pm, pk]), f1, o_p, o_m, o_k, h_first }
    }

    /// Whether Markov or key sentences occur (they join the mixture; without them the
    /// formulas keep the form, and the rounding, they had before those kinds existed).
    fn additive(&self) -> bool {
        self.o_m + self.o_k > 0.0
    }
}

impl SyntheticCorpus {
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
        // Number of adjectives: truncated geometric; number of REL ATTR pairs: 1 + that.
        let adj = Count::truncated_geometric(c.p_adjective, 0, c.max_adjectives);
        let pairs = Count::truncated_geometric(c.p_more_facts, 1, c.max_facts_per_sentence);
        let kinds = Kinds::new(c);
        let (h_markov, len_markov) = self.markov_sentence_law();
        let (h_keys, len_keys) = self.key_sentence_law();
        let len_doc = self.mean_document_len(adj.mean, pairs.mean, &kinds, len_markov, len_keys);
        let em = c.mean_sentences;
        let (mut h_doc, mut l_doc) = (self.lex.topic.entropy, 0.0);
        for t in 0..c.n_topics {
            let pt = self.lex.topic.p(t);
            let content = self.original_sentence_entropy(t, &adj, &pairs, &kinds, h_markov, h_keys);
            let h_first = kinds.h_first + content;
            let h_later = kinds.h_later + (1.0 - kinds.pc) * content + kinds.pc * (-self.ln_copy_dist);
            let h = h_first + (em - 1.0) * h_later + em * h2(self.p_end);
            h_doc += pt * h;
            l_doc += pt * len_doc;
        }
        h_doc / l_doc
    }

    /// Entropy and mean length of a Markov sentence: a stationary walk of geometric length,
    /// then `.` (zero without a Markov grammar).
    fn markov_sentence_law(&self) -> (f64, f64) {
        let c = &self.cfg;
        match &self.markov {
            Some(m) => {
                let e_states = 1.0 / (1.0 - c.markov_continue);
                let h = m.start.entropy
                    + e_states * h2(c.markov_continue)
                    + (e_states - 1.0) * m.transition_entropy();
                (h, e_states + 1.0)
            }
            None => (0.0, 0.0),
        }
    }

    /// Entropy and mean length of a key sentence: a geometric number of `KEY VALUE` pairs
    /// (values are free), then `.`.
    fn key_sentence_law(&self) -> (f64, f64) {
        let c = &self.cfg;
        let e_pairs = 1.0 / (1.0 - c.keys_continue);
        (e_pairs * (self.key_dist.entropy + h2(c.keys_continue)), 2.0 * e_pairs + 1.0)
    }

    /// Expected document length in tokens (the same in every topic), given the expected
    /// numbers of adjectives before a noun and of `REL ATTR` pairs in a fact sentence.
    fn mean_document_len(&self, e_adj: f64, e_k: f64, k: &Kinds, len_markov: f64, len_keys: f64) -> f64 {
        let c = &self.cfg;
        let (p_spp, p_obj, p_vpp, pn) = (c.p_subject_pp, c.p_object, c.p_verb_pp, c.p_name_subject);
        let len_plain = 2.0 + e_adj;
        let len_pp = 1.0 + len_plain;
        let len_subj = len_plain + p_spp * len_pp;
        let len_vp = 1.0 + p_obj * len_plain + p_vpp * len_pp + 1.0;
        let len_fact = 2.0 + 2.0 * e_k + 1.0;
        let len_prose = pn * (2.0 + len_vp) + (1.0 - pn) * (len_subj + len_vp);
        let len_orig = if k.additive() {
            k.f1 * len_fact + k.o_p * len_prose + k.o_m * len_markov + k.o_k * len_keys
        } else {
            k.f1 * len_fact + (1.0 - k.f1) * len_prose
        };
        let len_later = (1.0 - k.pc) * len_orig + k.pc * (2.0 + len_orig);
        2.0 + len_orig + (c.mean_sentences - 1.0) * len_later
    }

    /// Entropy of an original (non-copy) sentence in topic `t` once its kind is known, mixed
    /// over the kinds: fact, prose, Markov, key.
    fn original_sentence_entropy(
        &self,
        t: usize,
        adj: &Count,
        pairs: &Count,
        k: &Kinds,
        h_markov: f64,
        h_keys: f64,
    ) -> f64 {
        let c = &self.cfg;
        let (p_spp, p_obj, p_vpp, pn) = (c.p_subject_pp, c.p_object, c.p_verb_pp, c.p_name_subject);
        let (lex, n_verbs) = (&self.lex, self.layout.n_verbs);
        let ln_det = -self.ln_det; // entropy of number + determiner
        let np_plain = |hn: f64| ln_det + adj.h + adj.mean * lex.adjs[t].entropy + hn;
        let h_noun = lex.nouns[t].entropy;
        let h_pp = lex.preps.entropy + np_plain(h_noun);
        let np_subj = np_plain(h_noun) + h2(p_spp) + p_spp * h_pp;
        let h_obj: f64 = (0..n_verbs).map(|v| lex.verbs[t].p(v) * lex.obj_entropy[t * n_verbs + v]).sum();
        let vp = lex.verbs[t].entropy + h2(p_obj) + p_obj * np_plain(h_obj) + h2(p_vpp) + p_vpp * h_pp;
        let h_subj = self.facts.subjects[t].entropy;
        let h_prose = h2(pn) + pn * (h_subj + vp) + (1.0 - pn) * (np_subj + vp);
        let h_fact = h_subj + pairs.h + pairs.mean * self.facts.rel.entropy;
        if k.additive() {
            k.f1 * h_fact + k.o_p * h_prose + k.o_m * h_markov + k.o_k * h_keys
        } else {
            k.f1 * h_fact + (1.0 - k.f1) * h_prose
        }
    }
}
