//! `scalinglab corpus prepare|info|get`: the corpus subcommands' flags, their runner and the
//! summary `corpus info` prints. The corpus library (`crate::corpus`) takes the plain
//! [`PrepareOptions`] built here and knows nothing of the command line.
//!
//! stdout carries data (the corpus summary); progress goes to stderr.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::corpus::load::verify_prepared;
use crate::corpus::manifest::Manifest;
use crate::corpus::prepare::{prepare, PrepareOptions};
use crate::corpus::recipes::{find_recipe, get_corpus, DEFAULT_VAL_FRACTION, DEFAULT_VOCAB_SIZE};
use crate::corpus::sources::DEFAULT_DOC_BYTES;
use crate::corpus::tokenizer::{TokenizerKind, BYTE_VOCAB_SIZE};

/// `scalinglab corpus ...`: prepare, inspect and download text corpora.
#[derive(Debug, clap::Args)]
pub struct CorpusArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CorpusCommand,
}

/// The corpus subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CorpusCommand {
    /// Tokenize text into DIR: tokenizer.json, train.bin, val.bin, manifest.json.
    Prepare(PrepareArgs),
    /// Print a prepared corpus's summary and verify its file hashes.
    Info(InfoArgs),
    /// Download a corpus named by a recipe, check its sha256, and prepare it.
    Get(GetArgs),
}

/// `corpus prepare` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct PrepareArgs {
    /// Text to read: .txt files, .jsonl files (one JSON object per line), or folders searched
    /// recursively for both. A literal <|endoftext|> in the text ends a document.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub text: Vec<PathBuf>,
    /// Output folder (created if missing; corpus files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Tokenizer: `bpe` (byte-level BPE trained on the training documents) or `byte` (raw
    /// UTF-8 bytes, vocabulary 257 with <|endoftext|>).
    #[arg(long, value_enum, value_name = "KIND", default_value_t = TokenizerKind::Bpe)]
    pub tokenizer: TokenizerKind,
    /// BPE vocabulary size including <|endoftext|>; at least 257. [default: 2048 for bpe;
    /// byte is always 257]
    #[arg(long, value_name = "N")]
    pub vocab_size: Option<usize>,
    /// Share of document bytes held out for validation, as random whole documents.
    #[arg(long, value_name = "F", default_value_t = DEFAULT_VAL_FRACTION, allow_negative_numbers = true)]
    pub val_fraction: f64,
    /// JSONL field that holds each document's text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub jsonl_field: String,
    /// Target document size for .txt files, in bytes: documents are runs of whole paragraphs
    /// (blank-line separated) of about this size; the unit of the validation split.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_DOC_BYTES)]
    pub doc_bytes: usize,
    /// Seed of the random choice of validation documents.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,
    /// Reuse the tokenizer of another prepared corpus (its kind and vocabulary too), so a
    /// model trained on one can be evaluated on the other (`scalinglab eval`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["tokenizer", "vocab_size"])]
    pub tokenizer_from: Option<PathBuf>,
}

/// `corpus info` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct InfoArgs {
    /// A folder written by `corpus prepare` or `corpus get`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `corpus get` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct GetArgs {
    /// Recipe name (built-in: tinyshakespeare, tinystories; more with --recipes).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Output folder: the download goes to DIR/raw/, the prepared corpus to DIR.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Extra folder of recipe files (NAME.toml); they replace built-ins of the same name.
    #[arg(long, value_name = "DIR")]
    pub recipes: Option<PathBuf>,
}

/// `--tokenizer bpe|byte`: the command-line names of [`TokenizerKind`] (what
/// `#[derive(clap::ValueEnum)]` generated when the derive sat on the library type; each help
/// line is the variant's doc comment there).
impl ValueEnum for TokenizerKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[TokenizerKind::Bpe, TokenizerKind::Byte]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            TokenizerKind::Bpe => PossibleValue::new(self.as_str())
                .help("Byte-level BPE trained on the training documents (`--vocab-size` tokens)"),
            TokenizerKind::Byte => PossibleValue::new(self.as_str())
                .help("Raw UTF-8 bytes plus `<|endoftext|>`: vocabulary 257, nothing to train"),
        })
    }
}

impl PrepareArgs {
    /// The resolved options (defaults filled in per tokenizer kind).
    pub fn options(&self) -> PrepareOptions {
        let vocab_size = match self.tokenizer {
            TokenizerKind::Bpe => self.vocab_size.unwrap_or(DEFAULT_VOCAB_SIZE),
            TokenizerKind::Byte => self.vocab_size.unwrap_or(BYTE_VOCAB_SIZE),
        };
        PrepareOptions {
            text: self.text.clone(),
            out: self.out.clone(),
            tokenizer: self.tokenizer,
            vocab_size,
            val_fraction: self.val_fraction,
            jsonl_field: self.jsonl_field.clone(),
            doc_bytes: self.doc_bytes,
            seed: self.seed,
            tokenizer_from: self.tokenizer_from.clone(),
        }
    }
}

/// Runs one corpus subcommand. User-fixable problems are `InputError`s (exit code 2).
pub fn run_corpus(cmd: &CorpusCommand) -> Result<()> {
    let (dir, manifest) = match cmd {
        CorpusCommand::Prepare(a) => (a.out.clone(), prepare(&a.options())?),
        CorpusCommand::Info(a) => (a.dir.clone(), verify_prepared(&a.dir)?),
        CorpusCommand::Get(a) => {
            let recipe = find_recipe(&a.name, a.recipes.as_deref())?;
            (a.out.clone(), get_corpus(&recipe, &a.out)?)
        }
    };
    print!("{}", summary(&dir, &manifest));
    Ok(())
}

/// Human-readable summary of a corpus folder (what `corpus info` prints).
pub fn summary(dir: &Path, m: &Manifest) -> String {
    let mut s = String::new();
    let t = &m.tokenizer;
    let _ = writeln!(s, "corpus      {}", m.corpus_id);
    let _ = writeln!(s, "folder      {}", dir.display());
    let _ = writeln!(
        s,
        "tokenizer   {}, vocab {}, <|endoftext|> = {} ({})",
        t.kind.as_str(),
        t.vocab_size,
        t.eot_id,
        t.file
    );
    let _ = writeln!(s, "dtype       {}", m.dtype.as_str());
    let total: u64 = m.sources.iter().map(|x| x.bytes).sum();
    let _ = writeln!(s, "sources     {} file(s), {total} bytes", m.sources.len());
    for x in &m.sources {
        let _ = writeln!(
            s,
            "  {}  {:?}  {} bytes  {} docs ({} val)  {} tokens  sha256 {}",
            x.path, x.format, x.bytes, x.documents, x.val_documents, x.tokens, x.sha256
        );
    }
    for (name, f) in [("train", &m.train), ("val", &m.val)] {
        let _ = writeln!(
            s,
            "{name:<11} {} tokens, {} documents, {} text bytes, {:.4} bytes/token ({})",
            f.tokens, f.documents, f.text_bytes, f.bytes_per_token, f.file
        );
    }
    let _ = writeln!(
        s,
        "split       {} (seed {}), val fraction {} requested, {:.4} actual (bytes)",
        m.split.method, m.split.seed, m.split.val_fraction, m.split.val_fraction_actual
    );
    let _ = writeln!(s, "bits/byte   val_loss / ln 2 / {:.6}", m.bytes_per_token);
    let _ =
        writeln!(s, "verified    {}, {}, {} (size + sha256), manifest id", t.file, m.train.file, m.val.file);
    s
}

#[cfg(test)]
mod tests {
    //! The corpus command line: `corpus get` end to end through [`run_corpus`] (loopback HTTP
    //! server, no internet) and the flags' documented defaults.

    use std::fs;

    use clap::{CommandFactory, Parser};

    use super::{run_corpus, summary, CorpusCommand, GetArgs, InfoArgs};
    use crate::corpus::load::verify_prepared;
    use crate::corpus::shards::sha256_hex;
    use crate::corpus::tests::fixture_text;
    use crate::corpus::tests_get::{recipe, serve};

    #[test]
    fn get_downloads_verifies_prepares_and_reuses() {
        let body = fixture_text(50).into_bytes();
        let sha = sha256_hex(&body);
        let (base, server) = serve(body.clone(), 1);
        let tmp = tempfile::tempdir().unwrap();
        let recipes = tmp.path().join("recipes");
        recipe(&recipes, "mini", &format!("{base}/corpus.txt"), &sha);
        let out = tmp.path().join("out");
        let args = GetArgs { name: "mini".into(), out: out.clone(), recipes: Some(recipes.clone()) };
        run_corpus(&CorpusCommand::Get(args.clone())).unwrap();
        assert_eq!(server.join().unwrap(), vec!["/corpus.txt"]);
        assert_eq!(fs::read(out.join("raw/corpus.txt")).unwrap(), body);
        let m = verify_prepared(&out).unwrap();
        assert_eq!(m.sources[0].sha256, sha);
        assert_eq!(m.tokenizer.vocab_size, 300);
        let text = summary(&out, &m);
        assert!(text.contains(&m.corpus_id), "{text}");
        assert!(text.contains(&format!("sha256 {sha}")), "{text}");
        assert!(text.contains("random-documents") && text.contains("bits/byte"), "{text}");
        // The server is gone: a second get must reuse the verified download.
        run_corpus(&CorpusCommand::Get(args)).unwrap();
        run_corpus(&CorpusCommand::Info(InfoArgs { dir: out })).unwrap();
    }

    #[derive(Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: CorpusCommand,
    }

    #[test]
    fn cli_parses_with_documented_defaults() {
        TestCli::command().debug_assert();
        let cli = TestCli::try_parse_from(["t", "prepare", "--text", "a.txt", "b", "--out", "d"]).unwrap();
        let CorpusCommand::Prepare(a) = cli.cmd else { panic!("not prepare") };
        let o = a.options();
        assert_eq!(o.text.len(), 2);
        assert_eq!((o.vocab_size, o.val_fraction, o.doc_bytes, o.seed), (2048, 0.1, 4096, 0));
        assert_eq!(o.jsonl_field, "text");
        let cli =
            TestCli::try_parse_from(["t", "prepare", "--text", "a", "--out", "d", "--tokenizer", "byte"])
                .unwrap();
        let CorpusCommand::Prepare(a) = cli.cmd else { panic!("not prepare") };
        assert_eq!(a.options().vocab_size, 257);
        assert!(TestCli::try_parse_from(["t", "prepare", "--out", "d"]).is_err());
        assert!(TestCli::try_parse_from([
            "t",
            "prepare",
            "--text",
            "a",
            "--out",
            "d",
            "--tokenizer",
            "wordpiece"
        ])
        .is_err());
        let help = TestCli::command().render_long_help().to_string();
        assert!(help.contains("prepare") && help.contains("info") && help.contains("get"));
    }
}
