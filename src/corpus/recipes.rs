//! Corpus recipes (`corpora/*.toml`) and `corpus get`.
//!
//! A recipe names one downloadable text file and how to prepare it:
//!
//! ```toml
//! name = "tinyshakespeare"            # what `corpus get NAME` takes
//! description = "..."
//! licence = "..."                     # of the text, with the source's attribution
//! url = "https://..."                 # pinned to a commit/revision where the host allows
//! sha256 = "86c4..."                  # "" = not pinned: the sha256 is printed, pin it
//! bytes = 1115394                     # optional size check
//! file = "input.txt"                  # saved as OUT/raw/FILE; .jsonl means JSON Lines
//!
//! [prepare]                           # the `corpus prepare` flags (all optional)
//! format = "txt"                      # txt | jsonl, must agree with `file`'s extension
//! tokenizer = "bpe"                   # bpe | byte
//! vocab_size = 1024
//! val_fraction = 0.1
//! doc_bytes = 4096
//! jsonl_field = "text"
//! seed = 0
//! ```
//!
//! The recipes in the repository's `corpora/` folder are compiled in; `--recipes DIR` adds the
//! `*.toml` files of DIR, replacing built-ins of the same name.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::corpus::download::{download_verified, Expected};
use crate::corpus::manifest::Manifest;
use crate::corpus::prepare::{prepare, PrepareOptions};
use crate::corpus::shards::sha256_file;
use crate::corpus::sources::{SourceFormat, DEFAULT_DOC_BYTES};
use crate::corpus::tokenizer::{TokenizerKind, BYTE_VOCAB_SIZE};
use crate::error::input_err;
use crate::input_bail;

/// The recipes shipped with scalinglab: (file name, TOML text).
pub const BUILTIN_RECIPES: &[(&str, &str)] = &[
    ("tinyshakespeare.toml", include_str!("../../corpora/tinyshakespeare.toml")),
    ("tinystories.toml", include_str!("../../corpora/tinystories.toml")),
];

/// Default BPE vocabulary when neither the flag nor the recipe sets one.
pub const DEFAULT_VOCAB_SIZE: usize = 2048;
/// Default validation share when neither the flag nor the recipe sets one.
pub const DEFAULT_VAL_FRACTION: f64 = 0.1;

/// One recipe file (module docs show the format).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// `corpus get NAME` key.
    pub name: String,
    /// One line on what the text is.
    pub description: String,
    /// Licence of the text and of its source.
    pub licence: String,
    /// Download URL (http or https).
    pub url: String,
    /// Expected sha256 (hex) of the download; "" = not pinned.
    pub sha256: String,
    /// Expected size in bytes, if known.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// File name to save the download as (under `OUT/raw/`).
    pub file: String,
    /// How to prepare it.
    #[serde(default)]
    pub prepare: PrepareRecipe,
}

/// The `[prepare]` table: `corpus prepare` settings (defaults as for the CLI).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareRecipe {
    /// txt | jsonl (checked against the file name's extension).
    pub format: Option<SourceFormat>,
    /// bpe | byte (default bpe).
    pub tokenizer: Option<TokenizerKind>,
    /// BPE vocabulary size (default [`DEFAULT_VOCAB_SIZE`]).
    pub vocab_size: Option<usize>,
    /// Validation share of document bytes (default [`DEFAULT_VAL_FRACTION`]).
    pub val_fraction: Option<f64>,
    /// Target `.txt` document size in bytes.
    pub doc_bytes: Option<usize>,
    /// JSONL text field (default `text`).
    pub jsonl_field: Option<String>,
    /// Split seed (default 0).
    pub seed: Option<u64>,
}

fn parse_recipe(origin: &str, text: &str) -> Result<Recipe> {
    let r: Recipe = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(" at line {}", text[..s.start.min(text.len())].matches('\n').count() + 1))
            .unwrap_or_default();
        input_err(format!(
            "{origin}: not a valid recipe{line} ({}); fix: see `corpora/*.toml` for the format",
            e.message().trim().replace('\n', " ")
        ))
    })?;
    let is_jsonl = Path::new(&r.file).extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let bad_name = r.file.is_empty() || r.file.contains(['/', '\\']) || r.file.starts_with('.');
    if bad_name {
        input_bail!(
            "{origin}: file = {:?} must be a plain file name; fix: e.g. file = \"input.txt\"",
            r.file
        );
    }
    if let Some(fmt) = r.prepare.format {
        if (fmt == SourceFormat::Jsonl) != is_jsonl {
            input_bail!(
                "{origin}: prepare.format = {fmt:?} but file = {:?}; fix: name JSON Lines files \
                 *.jsonl and text files anything else",
                r.file
            );
        }
    }
    let sha_ok =
        r.sha256.is_empty() || (r.sha256.len() == 64 && r.sha256.chars().all(|c| c.is_ascii_hexdigit()));
    if !sha_ok {
        input_bail!("{origin}: sha256 must be 64 hex digits or \"\" (not pinned); fix the recipe");
    }
    Ok(r)
}

/// All recipes: the built-ins, then `dir/*.toml` (replacing same-named built-ins), by name.
pub fn load_recipes(dir: Option<&Path>) -> Result<Vec<Recipe>> {
    let mut out: Vec<Recipe> = Vec::new();
    let mut add = |r: Recipe| {
        out.retain(|o| o.name != r.name);
        out.push(r);
    };
    for (file, text) in BUILTIN_RECIPES {
        add(parse_recipe(&format!("built-in corpora/{file}"), text)?);
    }
    if let Some(dir) = dir {
        let entries = fs::read_dir(dir).map_err(|e| {
            input_err(format!("{}: cannot read recipes folder ({e}); fix: check --recipes", dir.display()))
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let text = fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            add(parse_recipe(&p.display().to_string(), &text)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The recipe called `name`; unknown names are an input error listing the known ones.
pub fn find_recipe(name: &str, dir: Option<&Path>) -> Result<Recipe> {
    let all = load_recipes(dir)?;
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    match all.iter().find(|r| r.name == name) {
        Some(r) => Ok(r.clone()),
        None => Err(input_err(format!(
            "unknown corpus recipe {name:?}; known: {}; fix: use one of those, or add \
             NAME.toml to a folder passed as --recipes",
            names.join(", ")
        ))),
    }
}

/// `corpus get`: downloads the recipe's file to `out/raw/FILE` (reusing a verified copy
/// already there), then prepares it into `out`.
pub fn get_corpus(recipe: &Recipe, out: &Path) -> Result<Manifest> {
    let raw = out.join("raw").join(&recipe.file);
    let origin = format!("recipe {}", recipe.name);
    let cached = raw.is_file() && {
        let sha = sha256_file(&raw)?;
        let ok = recipe.sha256.is_empty() || sha.eq_ignore_ascii_case(&recipe.sha256);
        if ok {
            eprintln!("corpus: using {} (sha256 {sha})", raw.display());
        }
        ok
    };
    if !cached {
        let expected = Expected { sha256: &recipe.sha256, bytes: recipe.bytes, origin: &origin };
        download_verified(&recipe.url, &raw, &expected)?;
    }
    let p = &recipe.prepare;
    let tokenizer = p.tokenizer.unwrap_or(TokenizerKind::Bpe);
    let opts = PrepareOptions {
        text: vec![raw],
        out: out.to_path_buf(),
        tokenizer,
        vocab_size: match tokenizer {
            TokenizerKind::Byte => p.vocab_size.unwrap_or(BYTE_VOCAB_SIZE),
            TokenizerKind::Bpe => p.vocab_size.unwrap_or(DEFAULT_VOCAB_SIZE),
        },
        val_fraction: p.val_fraction.unwrap_or(DEFAULT_VAL_FRACTION),
        jsonl_field: p.jsonl_field.clone().unwrap_or_else(|| "text".into()),
        doc_bytes: p.doc_bytes.unwrap_or(DEFAULT_DOC_BYTES),
        seed: p.seed.unwrap_or(0),
        tokenizer_from: None,
    };
    prepare(&opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_recipes_parse_and_are_pinned() {
        let all = load_recipes(None).unwrap();
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["tinyshakespeare", "tinystories"]);
        for r in &all {
            assert_eq!(r.sha256.len(), 64, "{}", r.name);
            assert!(r.url.starts_with("https://"), "{}", r.url);
            assert!(!r.licence.is_empty() && !r.description.is_empty());
        }
    }

    #[test]
    fn tinyshakespeare_recipe_matches_the_shared_copy() {
        let path = Path::new("../shared/corpora/tinyshakespeare/input.txt");
        if !path.exists() {
            eprintln!("note: {} absent, skipping the sha256 check", path.display());
            return;
        }
        let r = find_recipe("tinyshakespeare", None).unwrap();
        assert_eq!(sha256_file(path).unwrap(), r.sha256);
        assert_eq!(fs::metadata(path).unwrap().len(), r.bytes.unwrap());
    }

    #[test]
    fn unknown_recipe_lists_known_ones() {
        let e = find_recipe("tinystorie", None).unwrap_err();
        assert!(crate::error::is_input_error(&e));
        let msg = e.to_string();
        assert!(msg.contains("\"tinystorie\""), "{msg}");
        assert!(msg.contains("tinyshakespeare, tinystories"), "{msg}");
    }

    #[test]
    fn bad_recipes_are_input_errors() {
        let base = "name='x'\ndescription='d'\nlicence='l'\nurl='http://h/x'\n";
        for (body, needle) in [
            ("sha256=''\nfile='a.txt'\ncolour='red'\n", "unknown field"),
            ("sha256='abc'\nfile='a.txt'\n", "64 hex"),
            ("sha256=''\nfile='../a.txt'\n", "plain file name"),
            ("sha256=''\nfile='a.txt'\n[prepare]\nformat='jsonl'\n", "prepare.format"),
        ] {
            let e = parse_recipe("r.toml", &format!("{base}{body}")).unwrap_err();
            assert!(crate::error::is_input_error(&e));
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
