//! Token streams: a stream is documents back to back, each `BOS`, a topic marker and
//! sentences until the document ends; every sentence's kind is one draw against the
//! [`Start`](super::emission::Start) cuts (module docs of `corpus::synthetic`). The sentences
//! themselves are emitted by `grammar`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::dist::seeded;
use super::emission::{Opening, Sink, Start};
use super::grammar::NpRole;
use super::vocabulary::{BOS, COPY, PERIOD};
use super::world::SyntheticCorpus;

impl SyntheticCorpus {
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

    /// `n` tokens of stream `stream_seed`, with their `-ln p` when `track`.
    fn run(&self, stream_seed: u64, n: usize, track: bool) -> (Vec<u32>, Vec<f64>) {
        let mut rng = seeded(self.seed, stream_seed, *b"stream\0\0");
        let mut sink = Sink::new(n, track);
        let mut originals = Vec::new();
        while sink.toks.len() < n {
            self.document(&mut rng, &mut sink, &mut originals);
        }
        sink.toks.truncate(n);
        sink.nll.truncate(n);
        (sink.toks, sink.nll)
    }

    /// One document: `BOS`, its topic marker, then sentences until it ends. `originals` are
    /// the token spans `[start, end)` of its non-copy sentences without their period (a copy
    /// repeats one of them).
    fn document(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, originals: &mut Vec<(usize, usize)>) {
        sink.emit(BOS, 0.0);
        let t = self.lex.topic.sample(rng);
        sink.emit(self.layout.id_topic + t as u32, self.lex.topic.ln_p[t]);
        originals.clear();
        loop {
            let sp = if originals.is_empty() { &self.start_first } else { &self.start_later };
            let (opening, ln_p) = sp.choose(rng.gen());
            if opening == Opening::Copy {
                sink.emit(COPY, ln_p);
                self.copy_body(rng, sink, originals);
            } else {
                let start = sink.toks.len();
                sink.decide(ln_p);
                self.original_sentence(rng, sink, t, sp, opening);
                originals.push((start, sink.toks.len() - 1));
            }
            if rng.gen::<f64>() < self.p_end {
                sink.decide(self.ln_p_end);
                return;
            }
            sink.decide(self.ln_continue);
        }
    }

    /// `d <span> .` after `COPY`: the `d`-th most recent original sentence again (clamped to
    /// the oldest), its tokens free.
    fn copy_body(&self, rng: &mut ChaCha8Rng, sink: &mut Sink, originals: &[(usize, usize)]) {
        let d = rng.gen_range(0..self.cfg.max_copy_distance);
        sink.emit(self.layout.id_copy_dist + d as u32, self.ln_copy_dist);
        let (a, b) = originals[originals.len() - 1 - d.min(originals.len() - 1)];
        for i in a..b {
            let tok = sink.toks[i];
            sink.emit(tok, 0.0);
        }
        sink.emit(PERIOD, 0.0);
    }

    /// An original sentence of topic `t` whose `opening` (not a copy) is decided.
    fn original_sentence(
        &self,
        rng: &mut ChaCha8Rng,
        sink: &mut Sink,
        t: usize,
        sp: &Start,
        opening: Opening,
    ) {
        match opening {
            Opening::Name => {
                let s = self.subject(rng, sink, t);
                let (fact, ln_q) = sp.fact_after_name(rng.gen());
                sink.decide(ln_q);
                if fact {
                    self.fact_body(rng, sink, s);
                } else {
                    self.predicate(rng, sink, t, false);
                }
            }
            Opening::Determiner => {
                let plural = self.noun_phrase(rng, sink, t, NpRole::Subject);
                self.predicate(rng, sink, t, plural);
            }
            Opening::Markov => self.markov_sentence(rng, sink),
            Opening::Keys => self.key_sentence(rng, sink),
            Opening::Copy => unreachable!("a copy is not an original sentence"),
        }
    }
}
