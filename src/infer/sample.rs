//! `scalinglab sample`: autoregressive sampling from a kept model, streamed to a writer.
//!
//! Each new token: the logits of the last position for the last ≤ block_size ids, divided by
//! the temperature, cut to the `top_k` largest (ties at the k-th value kept), softmax in f64,
//! and one draw u ~ U[0, 1) from ChaCha8 seeded with `seed` (the first id whose cumulative
//! probability exceeds u). Temperature 0 is greedy (argmax, lowest id on ties). Same model,
//! prompt and seed ⇒ the same tokens, on any machine with the same kernels (nanoGPT's
//! `sample.py`, without its multinomial).

use std::io::Write;

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::corpus::tokenizer::CorpusTokenizer;
use crate::error::input_err;
use crate::model::Gpt;
use crate::train::keep::KeptModel;

/// Id the synthetic corpus starts each document with (`BOS`, `corpus::synthetic`).
const SYNTHETIC_BOS: u32 = 0;

/// What to sample.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Text to continue (text models only).
    pub prompt: Option<String>,
    /// Token ids to continue (any model; replaces `prompt`).
    pub prompt_ids: Option<Vec<u32>>,
    /// New tokens to generate.
    pub tokens: usize,
    /// Softmax temperature; 0 = greedy.
    pub temperature: f64,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Sampling seed.
    pub seed: u64,
}

/// Picks the next id from one row of logits (module docs).
pub fn pick(logits: &[f32], temperature: f64, top_k: usize, rng: &mut ChaCha8Rng) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let cut = if top_k > 0 && top_k < logits.len() {
        let mut sorted: Vec<f32> = logits.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        sorted[top_k - 1]
    } else {
        f32::NEG_INFINITY
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> =
        logits.iter().map(|&l| if l >= cut { ((l as f64 - max) / temperature).exp() } else { 0.0 }).collect();
    let total: f64 = w.iter().sum();
    let u: f64 = rng.gen::<f64>() * total;
    let mut acc = 0.0;
    for (i, x) in w.iter().enumerate() {
        acc += x;
        if acc > u {
            return i as u32;
        }
    }
    argmax()
}

/// Writes UTF-8 text as bytes arrive, holding back an incomplete character.
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.write_all(s.as_bytes())?;
                    self.pending.clear();
                    return Ok(());
                }
                Err(e) => {
                    let ok = e.valid_up_to();
                    out.write_all(&self.pending[..ok])?;
                    match e.error_len() {
                        // Not UTF-8 at all: a replacement character, then go on.
                        Some(n) => {
                            out.write_all("\u{FFFD}".as_bytes())?;
                            self.pending.drain(..ok + n);
                        }
                        // An incomplete character: wait for its next bytes.
                        None => {
                            self.pending.drain(..ok);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            out.write_all(String::from_utf8_lossy(&self.pending).as_bytes())?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// The prompt as ids, checked against the vocabulary.
fn prompt_ids(m: &KeptModel, tok: Option<&CorpusTokenizer>, opts: &SampleOptions) -> Result<Vec<u32>> {
    let v = m.file.cfg.vocab_size;
    let ids = match (&opts.prompt_ids, &opts.prompt, tok) {
        (Some(ids), _, _) => ids.clone(),
        (None, Some(p), Some(t)) if !p.is_empty() => t.encode(p)?,
        (None, Some(p), None) if !p.is_empty() => {
            return Err(input_err(format!(
                "model {} was trained on the synthetic corpus (token ids, no tokenizer), so a text --prompt \
                 has no meaning; fix: pass --prompt-ids \"0 17 42\" (ids below {v})",
                m.path.display()
            )))
        }
        (None, _, Some(t)) => vec![t.eot_id()],
        (None, _, None) => vec![SYNTHETIC_BOS],
    };
    if let Some(bad) = ids.iter().find(|&&i| i as usize >= v) {
        return Err(input_err(format!(
            "prompt token {bad} is outside the vocabulary of model {} (ids 0..{}); fix: use ids below {v}",
            m.path.display(),
            v - 1
        )));
    }
    if ids.is_empty() {
        return Err(input_err("--prompt-ids is empty; fix: give at least one id, or leave it out"));
    }
    Ok(ids)
}

/// Samples `opts.tokens` new tokens and streams the prompt and the continuation to `out`:
/// decoded text for a text model, space-separated ids for a synthetic one. Returns every id
/// (prompt first).
pub fn sample(
    m: &KeptModel,
    tok: Option<&CorpusTokenizer>,
    opts: &SampleOptions,
    out: &mut dyn Write,
) -> Result<Vec<u32>> {
    let cfg = &m.file.cfg;
    let device = Device::Cpu;
    let gpt = Gpt::from_values(cfg, m.file.values.clone(), &device)?;
    let mut ids = prompt_ids(m, tok, opts)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut text = Utf8Stream { pending: vec![] };
    let emit = |id: u32, text: &mut Utf8Stream, out: &mut dyn Write, first: bool| -> Result<()> {
        match tok {
            Some(t) => text.push(&t.token_bytes(id).unwrap_or_default(), out)?,
            None => write!(out, "{}{id}", if first { "" } else { " " })?,
        }
        out.flush()?;
        Ok(())
    };
    let explicit_prompt = opts.prompt_ids.is_some() || opts.prompt.as_deref().is_some_and(|p| !p.is_empty());
    if explicit_prompt || tok.is_none() {
        for (i, &id) in ids.iter().enumerate() {
            emit(id, &mut text, out, i == 0)?;
        }
    }
    for _ in 0..opts.tokens {
        let start = ids.len().saturating_sub(cfg.block_size);
        let ctx = &ids[start..];
        let x = Tensor::from_slice(ctx, (1, ctx.len()), &device)?;
        let logits = gpt.forward(&x)?.get(ctx.len() - 1)?.to_vec1::<f32>()?;
        let next = pick(&logits, opts.temperature, opts.top_k, &mut rng);
        ids.push(next);
        emit(next, &mut text, out, false)?;
    }
    text.finish(out)?;
    writeln!(out)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_is_greedy_at_zero_and_respects_top_k() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let l = [0.1f32, 3.0, 2.9, -1.0];
        assert_eq!(pick(&l, 0.0, 0, &mut rng), 1);
        for _ in 0..200 {
            let i = pick(&l, 5.0, 2, &mut rng);
            assert!(i == 1 || i == 2, "top-2 drew {i}");
        }
        // A high temperature over all four reaches the unlikely ones too.
        let seen: std::collections::BTreeSet<u32> = (0..400).map(|_| pick(&l, 50.0, 0, &mut rng)).collect();
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn utf8_stream_holds_split_characters() {
        let mut s = Utf8Stream { pending: vec![] };
        let mut out = Vec::new();
        let bytes = "é東".as_bytes();
        for b in bytes {
            s.push(&[*b], &mut out).unwrap();
        }
        s.push(&[0xFF, b'a'], &mut out).unwrap();
        s.finish(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "é東\u{FFFD}a");
    }
}
