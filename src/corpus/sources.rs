//! Reading `--text` inputs (`.txt` files, folders of them, `.jsonl`) into documents.
//!
//! A *document* is the unit of the train/validation split and is followed by the end-of-text
//! token in the token stream (see [`crate::corpus`]). Rules:
//!
//! - Everywhere, a literal `<|endoftext|>` ([`EOT`]) ends a document (TinyStories and most text
//!   dumps use it); it is removed from the text and becomes the end-of-text token. This keeps
//!   the BPE and byte tokenizers consistent (the BPE tokenizer would otherwise turn it into the
//!   special token while the byte tokenizer would spell it out).
//! - `.txt` (and any file given explicitly that is not `.jsonl`): whole paragraphs (blocks
//!   separated by blank lines) are grouped into documents of about `doc_bytes` bytes: a
//!   document ends at the first blank line after it reaches `doc_bytes`, or, when no blank line
//!   comes, at the line boundary before it would exceed `4 × doc_bytes`. Lines are never cut.
//! - `.jsonl`: one JSON object per line; the string under `--jsonl-field` (default `text`) is
//!   one document. Blank lines are skipped.
//! - Each document is trimmed of leading blank lines and trailing whitespace; empty documents
//!   are dropped. A UTF-8 byte-order mark at the start of a file is ignored.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::corpus::shards::sha256_hex;
use crate::error::input_err;
use crate::input_bail;

/// The end-of-text marker: the special token's string and the document separator in text.
pub const EOT: &str = "<|endoftext|>";

/// Default target document size for `.txt` files, in bytes (`--doc-bytes`).
pub const DEFAULT_DOC_BYTES: usize = 4096;

/// How a source file is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// Plain UTF-8 text, split into paragraph-aligned documents.
    Txt,
    /// JSON Lines: one object per line, one document per object.
    Jsonl,
}

/// One input file after reading: its identity for the manifest and its documents.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// The path as found (given on the command line or under a given folder).
    pub path: PathBuf,
    /// How it was parsed.
    pub format: SourceFormat,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Its documents, in file order (non-empty, trimmed).
    pub documents: Vec<String>,
}

/// Expands `--text` paths into files: folders are walked recursively (sorted, hidden entries
/// skipped) for `*.txt` and `*.jsonl`; files are taken as given (`.jsonl` by extension, any
/// other extension as text). A file reached twice is read once.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, SourceFormat)>> {
    if paths.is_empty() {
        input_bail!("no --text given; fix: pass --text FILE_OR_FOLDER (one or more)");
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in paths {
        let meta = fs::metadata(p).map_err(|e| {
            input_err(format!("{}: cannot read ({e}); fix: check the --text path", p.display()))
        })?;
        let mut found = Vec::new();
        if meta.is_dir() {
            walk(p, &mut found)?;
            if found.is_empty() {
                input_bail!(
                    "{}: folder has no .txt or .jsonl files; fix: point --text at a folder \
                     with text files, or at the files themselves",
                    p.display()
                );
            }
        } else {
            found.push((p.clone(), format_of(p)));
        }
        for (f, fmt) in found {
            let key = fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.insert(key) {
                out.push((f, fmt));
            }
        }
    }
    Ok(out)
}

fn format_of(p: &Path) -> SourceFormat {
    match p.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("jsonl") => SourceFormat::Jsonl,
        _ => SourceFormat::Txt,
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, SourceFormat)>) -> Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading folder {}", dir.display()))?;
    entries.sort();
    for p in entries {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext.eq_ignore_ascii_case("txt") || ext.eq_ignore_ascii_case("jsonl") {
                let fmt = format_of(&p);
                out.push((p, fmt));
            }
        }
    }
    Ok(())
}

/// Reads one file: checks UTF-8 (naming the byte offset and line of the first bad byte),
/// hashes it and splits it into documents. A file with no text is an input error.
pub fn read_source(
    path: &Path,
    format: SourceFormat,
    jsonl_field: &str,
    doc_bytes: usize,
) -> Result<SourceText> {
    let raw = fs::read(path).map_err(|e| {
        input_err(format!("{}: cannot read ({e}); fix: check the --text path", path.display()))
    })?;
    let sha256 = sha256_hex(&raw);
    let text = match std::str::from_utf8(&raw) {
        Ok(t) => t,
        Err(e) => {
            let off = e.valid_up_to();
            let line = raw[..off].iter().filter(|&&b| b == b'\n').count() + 1;
            input_bail!(
                "{}: not UTF-8 at byte offset {off} (line {line}); fix: convert the file to \
                 UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                path.display()
            );
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let documents = match format {
        SourceFormat::Txt => split_txt(text, doc_bytes),
        SourceFormat::Jsonl => split_jsonl(path, text, jsonl_field)?,
    };
    if documents.is_empty() {
        input_bail!(
            "{}: no text (the file is empty or only whitespace); fix: remove it from --text",
            path.display()
        );
    }
    Ok(SourceText { path: path.to_path_buf(), format, sha256, bytes: raw.len() as u64, documents })
}

/// Trims a document: leading blank lines and trailing whitespace go; indentation stays.
fn clean(doc: &str) -> Option<String> {
    let d = doc.trim_start_matches(['\n', '\r']).trim_end();
    if d.trim().is_empty() {
        None
    } else {
        Some(d.to_string())
    }
}

/// Splits plain text into paragraph-aligned documents of about `doc_bytes` (module docs).
pub fn split_txt(text: &str, doc_bytes: usize) -> Vec<String> {
    let target = doc_bytes.max(1);
    let max = target.saturating_mul(4);
    let mut docs = Vec::new();
    for piece in text.split(EOT) {
        let mut start = 0;
        let mut pos = 0;
        for line in piece.split_inclusive('\n') {
            let len = pos - start;
            if len > 0 && len + line.len() > max {
                docs.extend(clean(&piece[start..pos]));
                start = pos;
            }
            pos += line.len();
            if line.trim().is_empty() && pos - start >= target {
                docs.extend(clean(&piece[start..pos]));
                start = pos;
            }
        }
        docs.extend(clean(&piece[start..]));
    }
    docs
}

fn split_jsonl(path: &Path, text: &str, field: &str) -> Result<Vec<String>> {
    let mut docs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            input_err(format!("{}:{n}: not valid JSON ({e}); fix: one JSON object per line", path.display()))
        })?;
        let Some(obj) = v.as_object() else {
            input_bail!(
                "{}:{n}: not a JSON object; fix: one object per line, text under \"{field}\"",
                path.display()
            );
        };
        match obj.get(field) {
            Some(serde_json::Value::String(s)) => {
                docs.extend(s.split(EOT).filter_map(clean));
            }
            Some(other) => input_bail!(
                "{}:{n}: field \"{field}\" is not a string (it is {}); fix: pass \
                 --jsonl-field with the name of the text field",
                path.display(),
                json_kind(other)
            ),
            None => {
                let keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
                input_bail!(
                    "{}:{n}: no \"{field}\" field (keys: {}); fix: pass --jsonl-field NAME \
                     or add the field to every line",
                    path.display(),
                    keys.join(", ")
                );
            }
        }
    }
    Ok(docs)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_documents_are_whole_paragraphs_of_about_target_size() {
        let para = |i: usize| format!("para {i} line one\nline two of {i}\n");
        let text: String = (0..20).map(|i| para(i) + "\n").collect();
        let docs = split_txt(&text, 60);
        assert!(docs.len() > 3, "{docs:?}");
        for d in &docs {
            assert!(d.starts_with("para "), "{d:?}");
            assert!(d.ends_with(|c: char| c.is_ascii_digit()), "{d:?}");
        }
        // Every paragraph appears exactly once, in order.
        let joined = docs.join("\n\n") + "\n\n";
        assert_eq!(joined, text);
    }

    #[test]
    fn txt_without_blank_lines_is_cut_at_line_boundaries() {
        let text: String = (0..100).map(|i| format!("verse {i:03}\n")).collect();
        let docs = split_txt(&text, 10);
        assert!(docs.len() > 5);
        for d in &docs {
            assert!(d.len() <= 40, "{}", d.len());
            for l in d.lines() {
                assert!(l.starts_with("verse ") && l.len() == 9, "{l:?}");
            }
        }
    }

    #[test]
    fn eot_marker_separates_documents() {
        let docs = split_txt("One story.\n<|endoftext|>\nTwo story.\n<|endoftext|>\n", 4096);
        assert_eq!(docs, vec!["One story.", "Two story."]);
    }
}
