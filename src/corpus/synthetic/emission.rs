//! Emission bookkeeping: [`Sink`] collects the tokens and, when asked, each token's exact
//! `-ln p` given the tokens before it, charging every latent decision to the first token that
//! reveals it; [`Start`] holds the probabilities of how a sentence starts and picks its
//! [`Opening`] from one uniform draw, with cuts that keep zero-probability branches
//! unreachable.

use super::dist::ln;

/// Probabilities (and their logs) of how a sentence starts, given whether copies are possible.
///
/// The branches are tried in the order copy, name, determiner, Markov, key on one uniform draw
/// `u`; a cut is infinite when every later branch has probability 0, so that rounding can never
/// select a zero-probability branch (and so that configs without Markov and key sentences make
/// exactly the draws and decisions they made before those kinds existed).
#[derive(Clone, Debug)]
pub(super) struct Start {
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

/// How a sentence starts: its kind, as far as its first token tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opening {
    /// `COPY`: a copy sentence.
    Copy,
    /// A first name: a fact, or prose with a name subject (the third token tells which).
    Name,
    /// A determiner: prose with a noun-phrase subject.
    Determiner,
    /// A Markov state: a Markov sentence.
    Markov,
    /// A key: a key sentence.
    Keys,
}

impl Start {
    /// From the relative weights of fact, prose, copy, Markov and key sentences and the share
    /// of prose subjects that are names.
    pub(super) fn new(w: [f64; 5], p_name_subject: f64) -> Self {
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

    /// The opening chosen by the uniform draw `u` (tried in the order copy, name, determiner,
    /// Markov, key), with its log-probability.
    pub(super) fn choose(&self, u: f64) -> (Opening, f64) {
        if u < self.p_copy {
            (Opening::Copy, self.ln_copy)
        } else if u < self.name_cut {
            (Opening::Name, self.ln_name)
        } else if u < self.det_cut {
            (Opening::Determiner, self.ln_det)
        } else if u < self.markov_cut {
            (Opening::Markov, self.ln_markov)
        } else {
            (Opening::Keys, self.ln_keys)
        }
    }

    /// After a name: whether the uniform draw `u` makes the sentence a fact (else prose), with
    /// the log-probability of that choice.
    pub(super) fn fact_after_name(&self, u: f64) -> (bool, f64) {
        if u < self.fact_given_name {
            (true, self.ln_fact_given_name)
        } else {
            (false, self.ln_prose_given_name)
        }
    }
}

/// Collects emitted tokens and their `-ln p`; branch decisions are charged to the next token.
pub(super) struct Sink {
    /// The tokens so far.
    pub(super) toks: Vec<u32>,
    /// Their `-ln p` (nats), when tracked.
    pub(super) nll: Vec<f64>,
    track: bool,
    pending: f64,
}

impl Sink {
    /// An empty sink with room for `n` tokens (and their `-ln p` when `track`).
    pub(super) fn new(n: usize, track: bool) -> Self {
        Self {
            toks: Vec::with_capacity(n + 256),
            nll: Vec::with_capacity(if track { n + 256 } else { 0 }),
            track,
            pending: 0.0,
        }
    }

    /// Records a latent decision of log-probability `lnp`, revealed by the next emitted token.
    #[inline]
    pub(super) fn decide(&mut self, lnp: f64) {
        self.pending += lnp;
    }

    /// Emits `tok` of log-probability `lnp` given the decisions since the last token.
    #[inline]
    pub(super) fn emit(&mut self, tok: u32, lnp: f64) {
        self.toks.push(tok);
        if self.track {
            self.nll.push(-(self.pending + lnp));
        }
        self.pending = 0.0;
    }
}
