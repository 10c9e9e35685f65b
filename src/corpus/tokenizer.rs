//! Tokenizers: byte-level BPE trained with the `tokenizers` crate, or raw bytes.
//!
//! Both kinds are saved as a Hugging Face `tokenizer.json` (loadable with Python's
//! `tokenizers.Tokenizer.from_file`), with GPT-2's byte-level pre-tokenizer and decoder, no
//! normalizer, and `<|endoftext|>` as an added special token:
//!
//! - `bpe`: ids `0` = `<|endoftext|>`, then the 256 byte symbols, then the merges, up to
//!   `--vocab-size` in all. Trained on the training documents only, so validation text never
//!   shapes the vocabulary.
//! - `byte`: id = byte value (0..=255) and `<|endoftext|>` = 256, so the vocabulary is 257.
//!   The `tokenizer.json` is a BPE model with no merges whose vocabulary maps GPT-2's byte
//!   symbol for byte `b` to id `b`; prepare encodes bytes directly (same ids, no library call).
//!
//! Decoding is lossless: `decode(encode(s)) == s` for any UTF-8 string.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, Vocab, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::corpus::sources::EOT;
use crate::input_bail;

/// Which tokenizer a corpus uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// Byte-level BPE trained on the training documents (`--vocab-size` tokens).
    Bpe,
    /// Raw UTF-8 bytes plus `<|endoftext|>`: vocabulary 257, nothing to train.
    Byte,
}

impl TokenizerKind {
    /// Lowercase name as written in the manifest and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenizerKind::Bpe => "bpe",
            TokenizerKind::Byte => "byte",
        }
    }
}

/// Vocabulary of the byte tokenizer: 256 bytes + `<|endoftext|>`.
pub const BYTE_VOCAB_SIZE: usize = 257;

/// Smallest `--vocab-size` for byte-level BPE: the 256 byte symbols + `<|endoftext|>`.
pub const MIN_BPE_VOCAB: usize = 257;

/// A tokenizer of either kind with its end-of-text id.
pub struct CorpusTokenizer {
    kind: TokenizerKind,
    inner: Tokenizer,
    eot_id: u32,
}

/// GPT-2's reversible byte → printable-character map (what `ByteLevel` uses internally).
fn byte_symbols() -> Vec<char> {
    let mut bs: Vec<u32> = (b'!'..=b'~').chain(0xA1..=0xAC).chain(0xAE..=0xFF).map(u32::from).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..=255u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut out = vec!['\0'; 256];
    for (b, c) in bs.into_iter().zip(cs) {
        out[b as usize] = char::from_u32(c).unwrap_or('\0');
    }
    out
}

fn base_tokenizer(model: BPE) -> Tokenizer {
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    tok
}

fn tk_err(e: tokenizers::Error) -> anyhow::Error {
    anyhow!("tokenizers: {e}")
}

impl CorpusTokenizer {
    /// The byte tokenizer (id = byte value, `<|endoftext|>` = 256).
    pub fn byte() -> Result<Self> {
        let vocab: Vocab =
            byte_symbols().into_iter().enumerate().map(|(b, c)| (c.to_string(), b as u32)).collect();
        let model = BPE::builder().vocab_and_merges(vocab, Vec::new()).build().map_err(tk_err)?;
        let mut inner = base_tokenizer(model);
        inner.add_special_tokens(&[AddedToken::from(EOT, true)]);
        Self::wrap(TokenizerKind::Byte, inner)
    }

    /// Trains byte-level BPE with `vocab_size` tokens (including `<|endoftext|>`) on `docs`.
    /// Too small a vocabulary, or one the text cannot fill (BPE runs out of pairs to merge),
    /// is an input error.
    pub fn train_bpe(docs: &[&str], vocab_size: usize) -> Result<Self> {
        if vocab_size < MIN_BPE_VOCAB {
            input_bail!(
                "--vocab-size {vocab_size} is too small for byte-level BPE: it needs at least \
                 {MIN_BPE_VOCAB} (256 bytes + {EOT}); fix: use --vocab-size {MIN_BPE_VOCAB} or \
                 more, or --tokenizer byte"
            );
        }
        let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(0)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(EOT, true)])
            .initial_alphabet(alphabet)
            .build()
            .into();
        let mut inner = base_tokenizer(BPE::default());
        inner.train(&mut trainer, docs.iter()).map_err(tk_err)?;
        let got = inner.get_vocab_size(true);
        if got < vocab_size {
            input_bail!(
                "--vocab-size {vocab_size} is too large for this text: BPE ran out of pairs to \
                 merge at {got} tokens; fix: use --vocab-size {got} or less, or add more text"
            );
        }
        Self::wrap(TokenizerKind::Bpe, inner)
    }

    /// Loads a `tokenizer.json` written by [`CorpusTokenizer::to_json`].
    pub fn from_json(kind: TokenizerKind, json: &str) -> Result<Self> {
        let inner: Tokenizer = json.parse().map_err(|e| anyhow!("parsing tokenizer.json: {e}"))?;
        Self::wrap(kind, inner)
    }

    fn wrap(kind: TokenizerKind, inner: Tokenizer) -> Result<Self> {
        let eot_id = inner.token_to_id(EOT).ok_or_else(|| anyhow!("tokenizer has no {EOT} token"))?;
        Ok(CorpusTokenizer { kind, inner, eot_id })
    }

    /// Which kind this is.
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Number of ids (all ids are `< vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Id of `<|endoftext|>`, the document separator.
    pub fn eot_id(&self) -> u32 {
        self.eot_id
    }

    /// Encodes one text (no end-of-text token added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self.kind {
            TokenizerKind::Byte => Ok(text.bytes().map(u32::from).collect()),
            TokenizerKind::Bpe => Ok(self.inner.encode(text, false).map_err(tk_err)?.get_ids().to_vec()),
        }
    }

    /// Encodes many documents (in parallel for BPE), each without an end-of-text token.
    pub fn encode_docs(&self, docs: &[&str]) -> Result<Vec<Vec<u32>>> {
        match self.kind {
            TokenizerKind::Byte => docs.iter().map(|d| self.encode(d)).collect(),
            TokenizerKind::Bpe => Ok(self
                .inner
                .encode_batch(docs.to_vec(), false)
                .map_err(tk_err)?
                .into_iter()
                .map(|e| e.get_ids().to_vec())
                .collect()),
        }
    }

    /// Decodes ids back to text (`<|endoftext|>` is kept as text).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tk_err)
    }

    /// The bytes of one token (`<|endoftext|>` as its text), for streaming a sample: a token
    /// of byte-level BPE may hold part of a UTF-8 character, so text is decoded from the
    /// concatenated bytes, never token by token. None for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        if id == self.eot_id {
            return Some(EOT.as_bytes().to_vec());
        }
        if self.kind == TokenizerKind::Byte {
            return (id < 256).then(|| vec![id as u8]);
        }
        let sym = self.inner.id_to_token(id)?;
        let table = byte_symbols();
        sym.chars().map(|c| table.iter().position(|&t| t == c).map(|b| b as u8)).collect()
    }

    /// The Hugging Face `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(tk_err)
    }

    /// Encodes through the `tokenizers` library even for the byte kind (tests check that the
    /// saved `tokenizer.json` and the direct byte path agree).
    pub fn encode_with_library(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.inner.encode(text, false).map_err(tk_err)?.get_ids().to_vec())
    }
}

/// `tokenizer_config.json` and `special_tokens_map.json` for a scalinglab `tokenizer.json`
/// (`AutoTokenizer` then builds a `PreTrainedTokenizerFast` with `<|endoftext|>` as its
/// bos, eos and unk token). `corpus prepare` writes them too (with no length limit), `export` with the model's
/// block size.
pub fn tokenizer_configs(model_max_length: Option<usize>) -> (String, String) {
    let mut cfg = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOT,
        "eos_token": EOT,
        "unk_token": EOT,
        "add_prefix_space": false,
        "clean_up_tokenization_spaces": false,
    });
    if let Some(n) = model_max_length {
        cfg["model_max_length"] = n.into();
    }
    let map = serde_json::json!({ "bos_token": EOT, "eos_token": EOT, "unk_token": EOT });
    (serde_json::to_string_pretty(&cfg).expect("json"), serde_json::to_string_pretty(&map).expect("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNICODE: &str = "Café naïve — 東京の夜 🚀🦀 résumé\n\tZürich ½ ﬁ \u{200d}👩‍👩‍👧 <|endoftext|> end";

    fn training_docs() -> Vec<String> {
        (0..200)
            .map(|i| format!("The cat {i} sat on the mat. Café {i}! 東京 🚀 naïve words again.\n"))
            .collect()
    }

    #[test]
    fn bpe_round_trips_unicode() {
        let docs = training_docs();
        let refs: Vec<&str> = docs.iter().map(|s| s.as_str()).collect();
        let tok = CorpusTokenizer::train_bpe(&refs, 300).unwrap();
        assert_eq!(tok.vocab_size(), 300);
        assert_eq!(tok.eot_id(), 0);
        for s in [UNICODE, "", " leading space", "a\u{0}b\u{7f}\u{10ffff}"] {
            let ids = tok.encode(s).unwrap();
            assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
            assert_eq!(tok.decode(&ids).unwrap(), s);
        }
        // Merges happened: common text is shorter than its bytes.
        let ids = tok.encode(&docs[3]).unwrap();
        assert!(ids.len() * 2 < docs[3].len(), "{} vs {}", ids.len(), docs[3].len());
        // The saved JSON loads back and encodes identically.
        let back = CorpusTokenizer::from_json(TokenizerKind::Bpe, &tok.to_json().unwrap()).unwrap();
        assert_eq!(back.encode(UNICODE).unwrap(), tok.encode(UNICODE).unwrap());
    }

    #[test]
    fn byte_tokenizer_ids_are_bytes_and_json_agrees() {
        let tok = CorpusTokenizer::byte().unwrap();
        assert_eq!(tok.vocab_size(), BYTE_VOCAB_SIZE);
        assert_eq!(tok.eot_id(), 256);
        let plain = "Café 東京 🚀 \u{0}\u{7f} tab\t";
        let ids = tok.encode(plain).unwrap();
        assert_eq!(ids, plain.bytes().map(u32::from).collect::<Vec<_>>());
        assert_eq!(tok.encode_with_library(plain).unwrap(), ids);
        assert_eq!(tok.decode(&ids).unwrap(), plain);
        let back = CorpusTokenizer::from_json(TokenizerKind::Byte, &tok.to_json().unwrap()).unwrap();
        assert_eq!(back.encode_with_library(plain).unwrap(), ids);
        let mut with_eot = ids.clone();
        with_eot.push(256);
        assert_eq!(tok.decode(&with_eot).unwrap(), format!("{plain}{EOT}"));
    }

    #[test]
    fn byte_symbols_are_a_bijection_matching_the_library_alphabet() {
        let syms = byte_symbols();
        let set: HashSet<char> = syms.iter().copied().collect();
        assert_eq!(set.len(), 256);
        let lib: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
        assert_eq!(set, lib);
        assert_eq!(syms[b'A' as usize], 'A');
        assert_eq!(syms[b' ' as usize], 'Ġ');
    }

    #[test]
    fn vocab_size_limits_are_input_errors() {
        let docs = training_docs();
        let refs: Vec<&str> = docs.iter().map(|s| s.as_str()).collect();
        let e = CorpusTokenizer::train_bpe(&refs, 200).err().unwrap();
        assert!(crate::error::is_input_error(&e));
        assert!(e.to_string().contains("too small"), "{e}");
        let e = CorpusTokenizer::train_bpe(&["ab ab"], 5000).err().unwrap();
        assert!(crate::error::is_input_error(&e));
        assert!(e.to_string().contains("too large"), "{e}");
    }
}
