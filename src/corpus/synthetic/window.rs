//! The price of a finite context window: an estimate of the floor for a model that sees only
//! the last `block_size` tokens, by exact Bayes filtering over the document topic when the
//! topic marker is out of view.

use super::entropy::FLOOR_STREAM_SEED;
use super::vocabulary::{TokenKind, BOS};
use super::world::SyntheticCorpus;

impl SyntheticCorpus {
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
        let ln_prior: Vec<f64> = self.lex.topic.ln_p.clone();
        let mut total = 0.0;
        let mut offset = 0usize; // tokens since the document's BOS
        let mut true_topic = 0usize;
        let mut logpost = vec![0.0f64; tn];
        for i in 0..toks.len() {
            offset = if toks[i] == BOS { 0 } else { offset + 1 };
            if offset == 1 {
                true_topic = (toks[i] - self.layout.id_topic) as usize;
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
        for s in 0..self.facts.subj_first.len() {
            let (f, l) = (self.facts.subj_first[s] as usize, self.facts.subj_last[s] as usize);
            subject_of[f * self.cfg.n_last_names + l] = s;
        }
        let mut ll = vec![0.0f32; toks.len() * tn];
        let mut dependent = vec![false; toks.len()];
        let (mut in_copy, mut verb, mut after_prep) = (false, None::<usize>, false);
        for (i, &tok) in toks.iter().enumerate() {
            let kind = self.layout.kinds[tok as usize];
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
                    let n = (tok - self.layout.id_noun) as usize;
                    match verb {
                        Some(v) if !after_prep => {
                            let fav = &self.lex.favourites[v];
                            let bonus = if fav.contains(&n) { beta / fav.len() as f64 } else { 0.0 };
                            Box::new(move |t| ((1.0 - beta) * self.lex.nouns[t].p(n) + bonus).ln())
                        }
                        _ => Box::new(move |t| self.lex.nouns[t].ln_p[n]),
                    }
                }
                TokenKind::Adjective => {
                    let a = (tok - self.layout.id_adj) as usize;
                    Box::new(move |t| self.lex.adjs[t].ln_p[a])
                }
                TokenKind::VerbSingular | TokenKind::VerbPlural => {
                    let v = ((tok - self.layout.id_verb) / 2) as usize;
                    verb = Some(v);
                    after_prep = false;
                    Box::new(move |t| self.lex.verbs[t].ln_p[v])
                }
                TokenKind::FirstName => {
                    let fi = (tok - self.layout.id_first) as usize;
                    Box::new(move |t| self.facts.first_ln[t * nf + fi])
                }
                TokenKind::LastName if i > 0 => {
                    let fi = (toks[i - 1] - self.layout.id_first) as usize;
                    let l = (tok - self.layout.id_last) as usize;
                    let s = subject_of[fi * self.cfg.n_last_names + l];
                    Box::new(move |t| self.facts.subjects[t].ln_p[s] - self.facts.first_ln[t * nf + fi])
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
}
