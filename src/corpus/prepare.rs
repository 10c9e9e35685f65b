//! `corpus prepare`: text files → tokenizer, token files and manifest.
//!
//! Steps: read and split the sources into documents (`corpus::sources`), choose validation
//! documents (`corpus::split`), train the tokenizer on the training documents only, encode
//! every document, and write `tokenizer.json`, `train.bin`, `val.bin` and finally
//! `manifest.json`, each atomically. Since the manifest comes last, an interrupted prepare
//! never leaves a folder that `corpus info` or training would accept.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::corpus::manifest::{
    Manifest, SourceInfo, SplitFile, SplitInfo, TokenizerInfo, MANIFEST_FILE, MANIFEST_FORMAT,
    MANIFEST_VERSION,
};
use crate::corpus::shards::{sha256_hex, write_tokens, Dtype};
use crate::corpus::sources::{collect_files, read_source, SourceText, EOT};
use crate::corpus::split::{choose_validation, SPLIT_METHOD};
use crate::corpus::tokenizer::{tokenizer_configs, CorpusTokenizer, TokenizerKind, BYTE_VOCAB_SIZE};
use crate::input_bail;
use crate::results::{write_atomic, write_json_atomic};

/// File names inside a prepared corpus folder.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Training tokens (see `corpus::shards` for the format).
pub const TRAIN_FILE: &str = "train.bin";
/// Validation tokens.
pub const VAL_FILE: &str = "val.bin";

/// Everything `corpus prepare` needs (the CLI flags, resolved).
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// `.txt` / `.jsonl` files or folders of them.
    pub text: Vec<PathBuf>,
    /// Output folder (created if missing; files in it are replaced).
    pub out: PathBuf,
    /// bpe | byte.
    pub tokenizer: TokenizerKind,
    /// BPE vocabulary size including `<|endoftext|>`; must be 257 for `byte`.
    pub vocab_size: usize,
    /// Target share of document bytes held out for validation, in (0, 1).
    pub val_fraction: f64,
    /// JSONL field with the text.
    pub jsonl_field: String,
    /// Target document size for `.txt` files, bytes.
    pub doc_bytes: usize,
    /// Seed of the validation split.
    pub seed: u64,
    /// Reuse the tokenizer of this prepared corpus instead of making one (`tokenizer` and
    /// `vocab_size` are then taken from it), so models compare across corpora (`eval`).
    pub tokenizer_from: Option<PathBuf>,
}

/// The tokenizer of a prepared corpus (`--tokenizer-from`), checked against its manifest.
fn tokenizer_of(dir: &std::path::Path) -> Result<CorpusTokenizer> {
    let m = crate::corpus::manifest::Manifest::read(dir)?;
    let path = dir.join(&m.tokenizer.file);
    let json = std::fs::read_to_string(&path).map_err(|e| {
        crate::error::input_err(format!(
            "--tokenizer-from {}: cannot read {} ({e}); fix: point at a folder written by `corpus prepare`",
            dir.display(),
            path.display()
        ))
    })?;
    if sha256_hex(json.as_bytes()) != m.tokenizer.sha256 {
        input_bail!(
            "--tokenizer-from {}: {} does not match the sha256 in its manifest; fix: re-prepare that corpus",
            dir.display(),
            path.display()
        );
    }
    eprintln!(
        "corpus: tokenizer from {} ({}, vocab {})",
        path.display(),
        m.tokenizer.kind.as_str(),
        m.tokenizer.vocab_size
    );
    CorpusTokenizer::from_json(m.tokenizer.kind, &json)
}

/// Runs `corpus prepare` and returns the manifest it wrote. Progress goes to stderr.
pub fn prepare(opts: &PrepareOptions) -> Result<Manifest> {
    let t0 = Instant::now();
    check_options(opts)?;
    let sources = read_sources(opts)?;
    let docs: Vec<(usize, &str)> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.documents.iter().map(move |d| (i, d.as_str())))
        .collect();
    let sizes: Vec<usize> = docs.iter().map(|(_, d)| d.len()).collect();
    let is_val = choose_validation(&sizes, opts.val_fraction, opts.seed)?;

    let t_tok = Instant::now();
    let tokenizer = make_tokenizer(opts, &docs, &is_val)?;
    let t_enc = Instant::now();
    let texts: Vec<&str> = docs.iter().map(|(_, d)| *d).collect();
    let encoded = tokenizer.encode_docs(&texts)?;
    eprintln!(
        "corpus: tokenizer {:.2}s, encoding {:.2}s",
        (t_enc - t_tok).as_secs_f64(),
        t_enc.elapsed().as_secs_f64()
    );
    let eot = tokenizer.eot_id();
    let (streams, per_source) = split_streams(&docs, &encoded, &is_val, eot, sources.len());

    let tokenizer_info = write_tokenizer(opts, &tokenizer)?;
    let dtype = Dtype::for_vocab(tokenizer_info.vocab_size);
    let [train, val] = streams;
    let train = train.write(opts, TRAIN_FILE, dtype)?;
    let val = val.write(opts, VAL_FILE, dtype)?;
    let source_info = sources
        .iter()
        .zip(&per_source)
        .map(|(s, &(tokens, val_documents))| SourceInfo {
            path: s.path.display().to_string(),
            format: s.format,
            sha256: s.sha256.clone(),
            bytes: s.bytes,
            documents: s.documents.len(),
            val_documents,
            tokens,
        })
        .collect();
    let manifest = manifest_of(opts, tokenizer_info, dtype, source_info, train, val)?;
    write_json_atomic(&opts.out.join(MANIFEST_FILE), &manifest)?;
    eprintln!(
        "corpus: wrote {} ({} train + {} val tokens, {}, corpus {}) in {:.2}s",
        opts.out.display(),
        manifest.train.tokens,
        manifest.val.tokens,
        dtype.as_str(),
        &manifest.corpus_id[..16],
        t0.elapsed().as_secs_f64()
    );
    Ok(manifest)
}

/// The option checks that need no file: a validation share in (0, 1), a positive document
/// size, and no `--vocab-size` other than 257 for the byte tokenizer.
fn check_options(opts: &PrepareOptions) -> Result<()> {
    if !(opts.val_fraction > 0.0 && opts.val_fraction < 1.0) {
        input_bail!(
            "--val-fraction {} is out of range; fix: use a value between 0 and 1 (e.g. 0.1)",
            opts.val_fraction
        );
    }
    if opts.doc_bytes == 0 {
        input_bail!("--doc-bytes 0: documents need a positive size; fix: use e.g. 4096");
    }
    if opts.tokenizer_from.is_none()
        && opts.tokenizer == TokenizerKind::Byte
        && opts.vocab_size != BYTE_VOCAB_SIZE
    {
        input_bail!(
            "--vocab-size {} with --tokenizer byte: the byte tokenizer's vocabulary is always \
             {BYTE_VOCAB_SIZE} (256 bytes + {EOT}); fix: drop --vocab-size or use --tokenizer bpe",
            opts.vocab_size
        );
    }
    Ok(())
}

/// Every `--text` file, read and cut into documents, in order.
fn read_sources(opts: &PrepareOptions) -> Result<Vec<SourceText>> {
    let files = collect_files(&opts.text)?;
    let mut sources: Vec<SourceText> = Vec::with_capacity(files.len());
    for (path, fmt) in &files {
        let s = read_source(path, *fmt, &opts.jsonl_field, opts.doc_bytes)?;
        eprintln!("corpus: read {} ({} bytes, {} documents)", path.display(), s.bytes, s.documents.len());
        sources.push(s);
    }
    Ok(sources)
}

/// The tokenizer: another corpus's (`--tokenizer-from`), the byte tokenizer, or byte-level
/// BPE trained on the training documents only.
fn make_tokenizer(opts: &PrepareOptions, docs: &[(usize, &str)], is_val: &[bool]) -> Result<CorpusTokenizer> {
    match (&opts.tokenizer_from, opts.tokenizer) {
        (Some(dir), _) => tokenizer_of(dir),
        (None, TokenizerKind::Byte) => CorpusTokenizer::byte(),
        (None, TokenizerKind::Bpe) => {
            let train_docs: Vec<&str> =
                docs.iter().zip(is_val).filter(|(_, v)| !**v).map(|((_, d), _)| *d).collect();
            eprintln!(
                "corpus: training byte-level BPE (vocab {}) on {} training documents",
                opts.vocab_size,
                train_docs.len()
            );
            CorpusTokenizer::train_bpe(&train_docs, opts.vocab_size)
        }
    }
}

/// The training and validation streams (each document's tokens followed by `eot`), and per
/// source its token count and number of validation documents.
fn split_streams(
    docs: &[(usize, &str)],
    encoded: &[Vec<u32>],
    is_val: &[bool],
    eot: u32,
    n_sources: usize,
) -> ([Stream; 2], Vec<(u64, usize)>) {
    let mut streams = [Stream::default(), Stream::default()];
    let mut per_source = vec![(0u64, 0usize); n_sources];
    for (((src, text), ids), &val) in docs.iter().zip(encoded).zip(is_val) {
        let s = &mut streams[val as usize];
        s.tokens.extend_from_slice(ids);
        s.tokens.push(eot);
        s.documents += 1;
        s.text_bytes += text.len() as u64;
        per_source[*src].0 += ids.len() as u64;
        per_source[*src].1 += val as usize;
    }
    (streams, per_source)
}

/// Writes `tokenizer.json` and the two files `transformers.AutoTokenizer` also wants, and
/// describes the tokenizer for the manifest.
fn write_tokenizer(opts: &PrepareOptions, tokenizer: &CorpusTokenizer) -> Result<TokenizerInfo> {
    let json = tokenizer.to_json()?;
    write_atomic(&opts.out.join(TOKENIZER_FILE), json.as_bytes())?;
    // So the folder loads with `transformers.AutoTokenizer.from_pretrained` too (issue #17).
    let (tok_cfg, tok_map) = tokenizer_configs(None);
    write_atomic(&opts.out.join("tokenizer_config.json"), tok_cfg.as_bytes())?;
    write_atomic(&opts.out.join("special_tokens_map.json"), tok_map.as_bytes())?;
    Ok(TokenizerInfo {
        kind: tokenizer.kind(),
        vocab_size: tokenizer.vocab_size(),
        eot_id: tokenizer.eot_id(),
        file: TOKENIZER_FILE.to_string(),
        sha256: sha256_hex(json.as_bytes()),
        bytes: json.len() as u64,
    })
}

/// The manifest of the written files, with its corpus id.
fn manifest_of(
    opts: &PrepareOptions,
    tokenizer: TokenizerInfo,
    dtype: Dtype,
    sources: Vec<SourceInfo>,
    train: SplitFile,
    val: SplitFile,
) -> Result<Manifest> {
    let eot = tokenizer.eot_id;
    let total_text = (train.text_bytes + val.text_bytes) as f64;
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        format_version: MANIFEST_VERSION,
        corpus_id: String::new(),
        created_by: format!("scalinglab {}", env!("CARGO_PKG_VERSION")),
        tokenizer,
        dtype,
        sources,
        split: SplitInfo {
            method: SPLIT_METHOD.to_string(),
            seed: opts.seed,
            val_fraction: opts.val_fraction,
            val_fraction_actual: val.text_bytes as f64 / total_text,
            doc_bytes: opts.doc_bytes,
            jsonl_field: opts.jsonl_field.clone(),
            documents: format!(
                "txt: paragraph-aligned blocks of ~doc_bytes; jsonl: one per line; a literal \
                 {EOT} also ends a document. Each document is followed by {EOT} (id {eot}) in \
                 the token stream."
            ),
        },
        bytes_per_token: val.bytes_per_token,
        train,
        val,
    };
    manifest.corpus_id = manifest.compute_id()?;
    Ok(manifest)
}

#[derive(Default)]
struct Stream {
    tokens: Vec<u32>,
    documents: usize,
    text_bytes: u64,
}

impl Stream {
    fn write(self, opts: &PrepareOptions, file: &str, dtype: Dtype) -> Result<SplitFile> {
        let (sha256, bytes) = write_tokens(&opts.out.join(file), &self.tokens, dtype)?;
        let tokens = self.tokens.len() as u64;
        Ok(SplitFile {
            file: file.to_string(),
            sha256,
            bytes,
            tokens,
            documents: self.documents,
            text_bytes: self.text_bytes,
            bytes_per_token: self.text_bytes as f64 / tokens.max(1) as f64,
        })
    }
}
