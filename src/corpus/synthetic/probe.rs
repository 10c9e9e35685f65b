//! The probe (`#[ignore]`d; run by hand): generation speed, the floor by token kind, the
//! windowed floor, count-model curves, and the loss of an ideal fact memoriser against data
//! and against capacity — the numbers quoted in the module docs of `corpus::synthetic`.

use std::collections::{HashMap, HashSet};

use super::entropy::FLOOR_STREAM_SEED;
use super::ngram::ngram_cross_entropy;
use super::vocabulary::{TokenKind, BOS};
use super::{SyntheticConfig, SyntheticCorpus};

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
    let (big, exact) = speed_and_floor(&c);
    floor_by_kind_and_window(&c);
    count_model_curves(&c, &big, exact);
    fact_memoriser_curves(&c, &big);
}

/// Generation speed, the exact floor against the Monte-Carlo mean over 2·10^7 tokens;
/// returns those tokens and the exact floor.
fn speed_and_floor(c: &SyntheticCorpus) -> (Vec<u32>, f64) {
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
    (big, exact)
}

/// The floor by token kind, the windowed floor, and how often a window hides the topic.
fn floor_by_kind_and_window(c: &SyntheticCorpus) {
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
}

/// Held-out cross-entropy of unigram, bigram and trigram count models trained on prefixes of
/// `big`.
fn count_model_curves(c: &SyntheticCorpus, big: &[u32], exact: f64) {
    let v = c.vocab_size();
    let held = c.generate(1_000_001, 200_000);
    println!("\nheld-out CE (nats/token) of count models, floor {exact:.3}");
    println!("{:>10} {:>8} {:>8} {:>8}", "tokens", "unigram", "bigram", "trigram");
    for n in [100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 20_000_000] {
        let r: Vec<f64> =
            (1..=3).map(|o| ngram_cross_entropy(&big[..n], &held, o, v).expect("valid")).collect();
        println!("{n:>10} {:>8.4} {:>8.4} {:>8.4}", r[0], r[1], r[2]);
    }
}

/// `(position of attribute, fact key, relation, in copy)` of every `REL ATTR` in `toks`.
fn facts_in(c: &SyntheticCorpus, toks: &[u32]) -> Vec<(usize, u64, u32, bool)> {
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
}

/// What a memoriser learns from training facts: how often each fact was seen, and each
/// relation's value marginal (for the facts it did not memorise).
#[derive(Default)]
struct FactStats {
    seen: HashMap<u64, u32>,
    marg: HashMap<(u32, u32), f64>,
    rel_tot: HashMap<u32, f64>,
}

impl FactStats {
    fn new<'a>(facts: impl Iterator<Item = &'a (usize, u64, u32, bool)>, big: &[u32]) -> Self {
        let mut s = Self::default();
        for &(i, key, r, _) in facts {
            *s.seen.entry(key).or_default() += 1;
            *s.marg.entry((r, big[i])).or_default() += 1.0;
            *s.rel_tot.entry(r).or_default() += 1.0;
        }
        s
    }
}

/// A held-out sample with its exact per-token `-ln p` and its facts.
struct Heldout {
    toks: Vec<u32>,
    facts: Vec<(usize, u64, u32, bool)>,
    base: f64,
    vocab: usize,
}

impl Heldout {
    fn new(c: &SyntheticCorpus) -> Self {
        let (toks, nll) = c.generate_with_logprobs(1_000_003, 1_000_000);
        let facts = facts_in(c, &toks);
        Self { base: nll.iter().sum(), toks, facts, vocab: c.vocab_size() }
    }

    /// Excess over the floor (nats/token) of the ideal fact memoriser: exact generator
    /// probabilities everywhere except on attribute tokens of original fact sentences, which
    /// it predicts perfectly if it `known` the fact and with the training marginal of the
    /// relation's values otherwise.
    fn excess(&self, known: &dyn Fn(u64) -> bool, stats: &FactStats) -> f64 {
        let sample_floor = self.base / self.toks.len() as f64;
        let mut sum = self.base;
        for &(_i, key, r, in_copy) in &self.facts {
            if in_copy || known(key) {
                continue;
            }
            let a = self.toks[_i];
            let num = stats.marg.get(&(r, a)).copied().unwrap_or(0.0) + 0.1;
            let den = stats.rel_tot.get(&r).copied().unwrap_or(0.0) + 0.1 * self.vocab as f64;
            sum += -(num / den).ln();
        }
        sum / self.toks.len() as f64 - sample_floor
    }
}

/// The ideal fact memoriser's excess over the floor, data-limited (memorises every fact seen
/// at least m times in the first n tokens) and capacity-limited (memorises only the K most
/// frequent facts of 2·10^7 tokens).
fn fact_memoriser_curves(c: &SyntheticCorpus, big: &[u32]) {
    let held = Heldout::new(c);
    let train_facts = facts_in(c, big);
    println!(
        "\nideal fact memoriser: excess over the floor (nats/token); data-limited \
         (memorises every fact seen >= m times)"
    );
    println!("{:>10} {:>9} {:>9} {:>9}", "tokens", "m=1", "m=3", "m=10");
    for n in [200_000, 600_000, 2_000_000, 6_000_000, 20_000_000] {
        let stats = FactStats::new(train_facts.iter().take_while(|f| f.0 < n), big);
        let r: Vec<f64> = [1, 3, 10]
            .iter()
            .map(|&m| held.excess(&|k| stats.seen.get(&k).is_some_and(|&c| c >= m), &stats))
            .collect();
        println!("{n:>10} {:>9.4} {:>9.4} {:>9.4}", r[0], r[1], r[2]);
    }
    let stats = FactStats::new(train_facts.iter(), big);
    let mut ranked: Vec<(u64, u32)> = stats.seen.iter().map(|(&k, &n)| (k, n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!(
        "capacity-limited (memorises the K most frequent facts; {} facts seen in 2e7 tokens)",
        ranked.len()
    );
    for k in [250, 1000, 4000, 16000, 48000] {
        let top: HashSet<u64> = ranked.iter().take(k).map(|e| e.0).collect();
        println!("K={k:>6} {:>9.4}", held.excess(&|key| top.contains(&key), &stats));
    }
}
