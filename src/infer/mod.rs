//! Using the models a sweep trained (issue #17): `sample` (text or token ids out), `eval`
//! (loss in nats per token and bits per byte on any corpus with the same tokenizer) and
//! `export` (a Hugging Face `GPT2LMHeadModel` folder). The models are the files
//! `train::keep` writes when a run finishes; this module only reads them.

pub mod eval;
pub mod hf;
pub mod sample;

use std::path::Path;

use anyhow::Result;

use crate::corpus::shards::sha256_hex;
use crate::corpus::tokenizer::{CorpusTokenizer, TokenizerKind};
use crate::error::input_err;
use crate::train::keep::{KeptModel, TokenizerRef};

/// The text of the tokenizer a model was trained with, checked against its recorded sha256.
/// `file` overrides the recorded path (e.g. when the corpus folder has moved).
pub fn tokenizer_json(m: &KeptModel, t: &TokenizerRef, file: Option<&Path>) -> Result<String> {
    let path = file.map(Path::to_path_buf).unwrap_or_else(|| t.path.clone().into());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        input_err(format!(
            "{}: cannot read the tokenizer of model {} ({e}); fix: run from the folder the sweep ran in, \
             re-prepare that corpus, or pass --tokenizer PATH/tokenizer.json",
            path.display(),
            m.path.display()
        ))
    })?;
    let sha = sha256_hex(text.as_bytes());
    if sha != t.sha256 {
        return Err(input_err(format!(
            "{}: this tokenizer (sha256 {sha}) is not the one model {} was trained with ({}); fix: pass \
             --tokenizer with that corpus's tokenizer.json (re-prepare it with the same command)",
            path.display(),
            m.path.display(),
            t.sha256
        )));
    }
    Ok(text)
}

/// The model's tokenizer, loaded (None for a synthetic-corpus model).
pub fn tokenizer(m: &KeptModel, file: Option<&Path>) -> Result<Option<CorpusTokenizer>> {
    let Some(t) = &m.tokenizer else { return Ok(None) };
    let kind = if t.kind == "byte" { TokenizerKind::Byte } else { TokenizerKind::Bpe };
    Ok(Some(CorpusTokenizer::from_json(kind, &tokenizer_json(m, t, file)?)?))
}
