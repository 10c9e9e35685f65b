//! `manifest.json`: what a prepared corpus folder holds and how it was made.
//!
//! Written last by `corpus prepare` (so a folder without it is not a corpus), read by
//! `corpus info` and [`crate::corpus::load_prepared`]. `corpus_id` is the sha256 of the
//! manifest's *content fields*: the JSON of the manifest without `corpus_id`, `created_by`, the
//! source `path`s (provenance, not content) and the floating-point fields (derived from the
//! integer fields, or captured by the file hashes; see `strip_floats`), serialised compactly
//! with keys sorted. Two
//! preparations of the same bytes with the same settings get the same id wherever the files
//! live; any change to the text, tokenizer, split or token files changes it.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::corpus::shards::{sha256_hex, Dtype};
use crate::corpus::sources::SourceFormat;
use crate::corpus::tokenizer::TokenizerKind;
use crate::error::input_err;

/// Value of [`Manifest::format`].
pub const MANIFEST_FORMAT: &str = "scalinglab-corpus";
/// Version of the manifest schema and folder layout; bump on incompatible changes.
pub const MANIFEST_VERSION: u32 = 1;
/// File name of the manifest inside a corpus folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One prepared corpus folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`] at write time.
    pub format_version: u32,
    /// sha256 (hex) of the content fields (module docs).
    pub corpus_id: String,
    /// Tool and version that wrote it (not part of the id).
    pub created_by: String,
    /// The tokenizer and its file.
    pub tokenizer: TokenizerInfo,
    /// Storage type of `train.bin` and `val.bin`.
    pub dtype: Dtype,
    /// Input files in reading order.
    pub sources: Vec<SourceInfo>,
    /// How documents were made and split.
    pub split: SplitInfo,
    /// The training token file.
    pub train: SplitFile,
    /// The validation token file.
    pub val: SplitFile,
    /// `val.text_bytes / val.tokens`: converts validation loss in nats/token to bits per byte
    /// (`loss / ln 2 / bytes_per_token`), which compares runs across tokenizers.
    pub bytes_per_token: f64,
}

/// The tokenizer of a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// bpe | byte
    pub kind: TokenizerKind,
    /// Number of token ids (every id is below it), including `<|endoftext|>`.
    pub vocab_size: usize,
    /// Id of `<|endoftext|>`, which follows every document in the token streams.
    pub eot_id: u32,
    /// File name (`tokenizer.json`, Hugging Face format).
    pub file: String,
    /// sha256 of that file.
    pub sha256: String,
    /// Size of that file in bytes.
    pub bytes: u64,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Path as given or found (not part of the corpus id).
    pub path: String,
    /// txt | jsonl
    pub format: SourceFormat,
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Documents it produced.
    pub documents: usize,
    /// Documents of it that went to validation.
    pub val_documents: usize,
    /// Tokens of its documents (both splits, without the end-of-text tokens).
    pub tokens: u64,
}

/// How the text was cut into documents and split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// Always `random-documents` (see `corpus::split`).
    pub method: String,
    /// Seed of the document shuffle.
    pub seed: u64,
    /// `--val-fraction`: the target share of document bytes in validation.
    pub val_fraction: f64,
    /// The share actually reached (validation document bytes / all document bytes).
    pub val_fraction_actual: f64,
    /// `--doc-bytes`: target document size for `.txt` files.
    pub doc_bytes: usize,
    /// `--jsonl-field`: the JSONL field holding the text.
    pub jsonl_field: String,
    /// Where documents end and what separates them in the token streams.
    pub documents: String,
}

/// One token file (`train.bin` or `val.bin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitFile {
    /// File name inside the corpus folder.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// File size in bytes (`tokens × dtype size`).
    pub bytes: u64,
    /// Tokens in the file, end-of-text tokens included.
    pub tokens: u64,
    /// Documents in the file.
    pub documents: usize,
    /// UTF-8 bytes of those documents' text (end-of-text tokens count 0 bytes).
    pub text_bytes: u64,
    /// `text_bytes / tokens`.
    pub bytes_per_token: f64,
}

/// Removes every non-integer number: floats are either derived from integer fields
/// (`bytes_per_token`, `val_fraction_actual`) or settings whose effect the file hashes capture
/// (`val_fraction`), and float text does not round-trip bit-exactly through every JSON parser
/// (serde_json's default parser included), which would make a re-read id differ.
fn strip_floats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.retain(|_, x| !x.is_f64());
            o.values_mut().for_each(strip_floats);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_floats),
        _ => {}
    }
}

impl Manifest {
    /// sha256 (hex) of the content fields (module docs).
    pub fn compute_id(&self) -> Result<String> {
        let mut v = serde_json::to_value(self)?;
        if let Some(obj) = v.as_object_mut() {
            obj.remove("corpus_id");
            obj.remove("created_by");
            if let Some(serde_json::Value::Array(srcs)) = obj.get_mut("sources") {
                for s in srcs {
                    if let Some(o) = s.as_object_mut() {
                        o.remove("path");
                    }
                }
            }
        }
        strip_floats(&mut v);
        // serde_json's map is a BTreeMap (no `preserve_order`), so keys come out sorted.
        Ok(sha256_hex(serde_json::to_string(&v)?.as_bytes()))
    }

    /// Reads `DIR/manifest.json`, checking format, version and corpus id. Missing, unreadable
    /// or edited manifests are input errors naming the file and the fix.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let fix = "fix: run `scalinglab corpus prepare --out DIR` (or `corpus get`) first";
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(input_err(format!(
                    "{}: not found, so {} is not a prepared corpus; {fix}",
                    path.display(),
                    dir.display()
                )))
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            input_err(format!("{}: not a scalinglab corpus manifest ({e}); {fix}", path.display()))
        })?;
        if m.format != MANIFEST_FORMAT || m.format_version != MANIFEST_VERSION {
            return Err(input_err(format!(
                "{}: format {} v{}, this scalinglab reads {MANIFEST_FORMAT} v{MANIFEST_VERSION}; \
                 fix: re-run `scalinglab corpus prepare`",
                path.display(),
                m.format,
                m.format_version
            )));
        }
        let id = m.compute_id()?;
        if id != m.corpus_id {
            return Err(input_err(format!(
                "{}: corpus_id {} does not match its content (sha256 {id}): the manifest was \
                 edited; fix: re-run `scalinglab corpus prepare` into this folder",
                path.display(),
                m.corpus_id
            )));
        }
        Ok(m)
    }
}
