//! Count-model reference curves: the held-out cross-entropy of interpolated n-gram models, a
//! yardstick for learning curves on the synthetic corpus (used by the tests and the probe).

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
    let m = CountModel::new(train, order, vocab);
    let mut sum = 0.0;
    let start = order - 1;
    for i in start..heldout.len() {
        let w = heldout[i];
        let p = match order {
            1 => m.p1(w),
            2 => m.p2(heldout[i - 1], w),
            _ => m.p3(heldout[i - 2], heldout[i - 1], w),
        };
        sum -= p.ln();
    }
    Ok(sum / (heldout.len() - start).max(1) as f64)
}

/// Discount of the interpolated absolute discounting.
const D: f64 = 0.75;

/// Unigram, bigram and trigram counts of a training stream (the latter two only up to the
/// model's order).
struct CountModel {
    /// Vocabulary size: n-gram keys are numbers in base `v`.
    v: u64,
    uni: Vec<u64>,
    /// Denominator of the add-½ unigram: `n + 0.5 * vocab`.
    uni_denominator: f64,
    bi: Level,
    tri: Level,
}

impl CountModel {
    fn new(train: &[u32], order: usize, vocab: usize) -> Self {
        let v = vocab as u64;
        let mut uni = vec![0u64; vocab];
        for &x in train {
            uni[x as usize] += 1;
        }
        let n = train.len() as f64;
        let level = |k: usize| if order >= k { Level::new(train, k, v) } else { Level::default() };
        Self { v, uni, uni_denominator: n + 0.5 * vocab as f64, bi: level(2), tri: level(3) }
    }

    fn p1(&self, w: u32) -> f64 {
        (self.uni[w as usize] as f64 + 0.5) / self.uni_denominator
    }

    fn p2(&self, a: u32, w: u32) -> f64 {
        self.bi.p(a as u64, w, self.v, self.p1(w))
    }

    fn p3(&self, a: u32, b: u32, w: u32) -> f64 {
        self.tri.p(a as u64 * self.v + b as u64, w, self.v, self.p2(b, w))
    }
}

/// The `k`-grams of one order: sorted keys with their counts, and each context's statistics
/// (count, distinct successors).
#[derive(Default)]
struct Level {
    grams: Vec<(u64, u32)>,
    contexts: Vec<(u64, u32, u32)>,
}

impl Level {
    /// Sorted `k`-gram keys, counted by runs; then their contexts, also by runs.
    fn new(train: &[u32], k: usize, v: u64) -> Self {
        let mut keys: Vec<u64> =
            train.windows(k).map(|w| w.iter().fold(0u64, |acc, &x| acc * v + x as u64)).collect();
        keys.sort_unstable();
        let mut grams: Vec<(u64, u32)> = Vec::new();
        for key in keys {
            match grams.last_mut() {
                Some((k2, c)) if *k2 == key => *c += 1,
                _ => grams.push((key, 1)),
            }
        }
        let mut contexts: Vec<(u64, u32, u32)> = Vec::new();
        for &(key, c) in &grams {
            let ctx = key / v;
            match contexts.last_mut() {
                Some((k2, total, types)) if *k2 == ctx => {
                    *total += c;
                    *types += 1;
                }
                _ => contexts.push((ctx, c, 1)),
            }
        }
        Self { grams, contexts }
    }

    /// `P(w | ctx)`, discounted and interpolated with the lower order's `base` (`base` alone
    /// for a context never seen in training).
    fn p(&self, ctx: u64, w: u32, v: u64, base: f64) -> f64 {
        match self.contexts.binary_search_by_key(&ctx, |e| e.0) {
            Ok(i) => {
                let (total, types) = (self.contexts[i].1 as f64, self.contexts[i].2 as f64);
                let key = ctx * v + w as u64;
                let c = match self.grams.binary_search_by_key(&key, |e| e.0) {
                    Ok(j) => self.grams[j].1 as f64,
                    Err(_) => 0.0,
                };
                ((c - D).max(0.0) + D * types * base) / total
            }
            Err(_) => base,
        }
    }
}
