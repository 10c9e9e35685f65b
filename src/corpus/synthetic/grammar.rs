//! The sentence grammar: how each kind of sentence is emitted token by token, with every
//! latent choice charged to the token that reveals it — fact sentences (`subject`,
//! `fact_body`), prose (`noun_phrase`, `prep_phrase`, `predicate`, with agreement and verb
//! objects), Markov sentences and key sentences. Module docs of `corpus::synthetic`: the
//! grammar in full.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::dist::ln;
use super::emission::Sink;
use super::vocabulary::PERIOD;
use super::world::SyntheticCorpus;

/// What a noun phrase is for.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum NpRole {
    /// Sentence subject: may carry a prepositional phrase.
    Subject,
    /// Object of the given verb lemma.
    Object(usize),
    /// Inside a prepositional phrase.
    Plain,
}

impl SyntheticCorpus {
    /// `FIRST LAST`: a subject drawn from topic `t`'s subject law; returns the subject.
    pub(super) fn subject(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize) -> usize {
        let s = self.facts.subjects[t].sample(rng);
        let f = self.facts.subj_first[s];
        let lf = self.facts.first_ln[t * self.cfg.n_first_names + f as usize];
        sink.emit(self.layout.id_first + f, lf);
        sink.emit(self.layout.id_last + self.facts.subj_last[s], self.facts.subjects[t].ln_p[s] - lf);
        s
    }

    /// `(REL ATTR)+ .` for subject `s`: relations from their Zipf law, attributes from the table.
    pub(super) fn fact_body(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, s: usize) {
        let nr = self.cfg.n_relations;
        for k in 0..self.cfg.max_facts_per_sentence {
            let r = self.facts.rel.sample(rng);
            sink.emit(self.layout.id_rel + r as u32, self.facts.rel.ln_p[r]);
            sink.emit(self.facts.table[s * nr + r], 0.0);
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
    pub(super) fn markov_sentence(&self, rng: &mut ChaCha8Rng, sink: &mut Sink) {
        let m = self.markov.as_ref().expect("p_markov > 0 implies a Markov grammar");
        let mut x = m.start.sample(rng);
        sink.emit(self.layout.id_markov + x as u32, m.start.ln_p[x]);
        let pc = self.cfg.markov_continue;
        loop {
            if rng.gen::<f64>() < pc {
                sink.decide(ln(pc));
                let row = &m.rows[x];
                x = row.sample(rng);
                sink.emit(self.layout.id_markov + x as u32, row.ln_p[x]);
            } else {
                sink.decide(ln(1.0 - pc));
                break;
            }
        }
        sink.emit(PERIOD, 0.0);
    }

    /// `(KEY VALUE)+ .`: keys from a Zipf law, each followed by its fixed value.
    pub(super) fn key_sentence(&self, rng: &mut ChaCha8Rng, sink: &mut Sink) {
        let pc = self.cfg.keys_continue;
        loop {
            let k = self.key_dist.sample(rng);
            sink.emit(self.layout.id_key + k as u32, self.key_dist.ln_p[k]);
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
    pub(super) fn noun_phrase(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize, role: NpRole) -> bool {
        let plural: bool = rng.gen();
        let d = rng.gen_range(0..self.cfg.n_determiners) as u32;
        let base = if plural { self.layout.id_det_pl } else { self.layout.id_det_sg };
        sink.emit(base + d, self.ln_det);
        let pa = self.cfg.p_adjective;
        for _ in 0..self.cfg.max_adjectives {
            if rng.gen::<f64>() < pa {
                sink.decide(ln(pa));
                let a = self.lex.adjs[t].sample(rng);
                sink.emit(self.layout.id_adj + a as u32, self.lex.adjs[t].ln_p[a]);
            } else {
                sink.decide(ln(1.0 - pa));
                break;
            }
        }
        let nd = &self.lex.nouns[t];
        let (n, lnp) = match role {
            NpRole::Object(v) => {
                let fav = &self.lex.favourites[v];
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
        sink.emit(self.layout.id_noun + n as u32, lnp);
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

    /// `PREP NP`.
    fn prep_phrase(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize) {
        let p = self.lex.preps.sample(rng);
        sink.emit(self.layout.id_prep + p as u32, self.lex.preps.ln_p[p]);
        self.noun_phrase(rng, sink, t, NpRole::Plain);
    }

    /// `VERB [OBJ] [PREP NP] .` with the verb agreeing with the subject's number.
    pub(super) fn predicate(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, t: usize, plural: bool) {
        let v = self.lex.verbs[t].sample(rng);
        sink.emit(self.layout.id_verb + 2 * v as u32 + u32::from(plural), self.lex.verbs[t].ln_p[v]);
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
