//! End-to-end tests of `corpus prepare` / `info` / `load_prepared` on small generated fixtures
//! (and on the shared TinyShakespeare copy when it is there).

use std::fs;
use std::path::{Path, PathBuf};

use crate::corpus::load::{load_prepared, verify_prepared};
use crate::corpus::prepare::{prepare, PrepareOptions, TRAIN_FILE};
use crate::corpus::shards::Dtype;
use crate::corpus::sources::EOT;
use crate::corpus::tokenizer::{CorpusTokenizer, TokenizerKind};
use crate::error::is_input_error;

/// A text of `n` paragraphs, each unique, with some non-ASCII.
pub(crate) fn fixture_text(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Paragraph {i}: the quick brown fox {} jumps over the lazy dog.\nCafé line {i} — \
                 東京 🦀 naïve.\n\n",
                i * 7
            )
        })
        .collect()
}

pub(crate) fn opts(text: Vec<PathBuf>, out: &Path, kind: TokenizerKind, vocab: usize) -> PrepareOptions {
    PrepareOptions {
        text,
        out: out.to_path_buf(),
        tokenizer: kind,
        vocab_size: vocab,
        val_fraction: 0.2,
        jsonl_field: "text".into(),
        doc_bytes: 300,
        seed: 0,
        tokenizer_from: None,
    }
}

pub(crate) fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

/// The documents of a prepared split, decoded: the stream cut at every EOT.
fn decoded_docs(dir: &Path, val: bool) -> Vec<String> {
    let c = load_prepared(dir).unwrap();
    let json = fs::read_to_string(c.tokenizer_path()).unwrap();
    let tok = CorpusTokenizer::from_json(c.manifest.tokenizer.kind, &json).unwrap();
    let stream = if val { &c.val.tokens } else { &c.train.tokens };
    assert_eq!(stream.last(), Some(&c.eot_id()), "stream ends with EOT");
    stream.split(|&t| t == c.eot_id()).filter(|d| !d.is_empty()).map(|d| tok.decode(d).unwrap()).collect()
}

#[test]
fn prepare_writes_verified_corpus_with_whole_document_split() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write(tmp.path(), "in/a.txt", fixture_text(120));
    write(tmp.path(), "in/sub/b.txt", fixture_text(40).replace("Paragraph", "Absatz"));
    write(tmp.path(), "in/.hidden.txt", "ignored");
    write(tmp.path(), "in/notes.md", "ignored too");
    let out = tmp.path().join("out");
    let m = prepare(&opts(vec![tmp.path().join("in")], &out, TokenizerKind::Bpe, 400)).unwrap();
    assert_eq!(m.sources.len(), 2);
    assert_eq!(m.sources[0].sha256, crate::corpus::shards::sha256_hex(&fs::read(&src).unwrap()));
    assert_eq!(m.tokenizer.vocab_size, 400);
    assert_eq!(m.dtype, Dtype::U16);
    assert_eq!(m.train.bytes, m.train.tokens * 2);
    assert!(m.val.documents >= 2 && m.train.documents > m.val.documents);
    assert!((0.2..0.3).contains(&m.split.val_fraction_actual), "{}", m.split.val_fraction_actual);
    let doc_total: usize = m.sources.iter().map(|s| s.documents).sum();
    assert_eq!(doc_total, m.train.documents + m.val.documents);
    assert_eq!(m.compute_id().unwrap(), m.corpus_id);

    // The split is whole documents: every val and train document is a run of whole source
    // paragraphs, and no paragraph is in both.
    let val = decoded_docs(&out, true);
    let train = decoded_docs(&out, false);
    assert_eq!(val.len(), m.val.documents);
    let paras = |docs: &[String]| -> Vec<String> {
        docs.iter().flat_map(|d| d.split("\n\n").map(str::to_string)).collect()
    };
    let (vp, tp) = (paras(&val), paras(&train));
    let all = fs::read_to_string(&src).unwrap() + &fixture_text(40).replace("Paragraph", "Absatz");
    for p in vp.iter().chain(&tp) {
        assert!(all.contains(&format!("{p}\n\n")), "not a whole paragraph: {p:?}");
    }
    assert!(vp.iter().all(|p| !tp.contains(p)));
    assert_eq!(vp.len() + tp.len(), 160);

    // Deterministic: a second prepare gives the same bytes and id, wherever it is written.
    let out2 = tmp.path().join("out2");
    let m2 = prepare(&opts(vec![tmp.path().join("in")], &out2, TokenizerKind::Bpe, 400)).unwrap();
    assert_eq!(m2.corpus_id, m.corpus_id);
    assert_eq!(fs::read(out.join("val.bin")).unwrap(), fs::read(out2.join("val.bin")).unwrap());
    // A different seed picks different validation documents.
    let mut o3 = opts(vec![tmp.path().join("in")], &tmp.path().join("o3"), TokenizerKind::Bpe, 400);
    o3.seed = 1;
    assert_ne!(prepare(&o3).unwrap().val.sha256, m.val.sha256);
}

#[test]
fn byte_tokenizer_corpus_and_bytes_per_token() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "a.txt", fixture_text(30));
    let out = tmp.path().join("out");
    let m = prepare(&opts(vec![f], &out, TokenizerKind::Byte, 257)).unwrap();
    assert_eq!((m.tokenizer.vocab_size, m.tokenizer.eot_id), (257, 256));
    // One token per byte plus one EOT per document.
    for s in [&m.train, &m.val] {
        assert_eq!(s.tokens, s.text_bytes + s.documents as u64);
        assert!((s.bytes_per_token - s.text_bytes as f64 / s.tokens as f64).abs() < 1e-12);
    }
    assert_eq!(m.bytes_per_token, m.val.bytes_per_token);
    let c = load_prepared(&out).unwrap();
    assert_eq!(c.val.len() as u64, m.val.tokens);
    assert!(c.train.tokens.iter().all(|&t| t <= 256));
    // --vocab-size other than 257 with the byte tokenizer is an input error.
    let e = prepare(&opts(vec![tmp.path().join("a.txt")], &out, TokenizerKind::Byte, 1000)).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("--tokenizer byte"), "{e}");
}

#[test]
fn jsonl_documents_and_eot_handling() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: String =
        (0..30).map(|i| format!("{{\"id\": {i}, \"body\": \"story {i} 🌟\\nends.\"}}\n")).collect();
    let f = write(tmp.path(), "s.jsonl", format!("{lines}\n{{\"body\": \"a{EOT}b\"}}\n"));
    let mut o = opts(vec![f], &tmp.path().join("out"), TokenizerKind::Byte, 257);
    o.jsonl_field = "body".into();
    let m = prepare(&o).unwrap();
    assert_eq!(m.sources[0].documents, 32, "30 lines + one line split at {EOT}");
    let docs: Vec<String> = decoded_docs(&tmp.path().join("out"), false)
        .into_iter()
        .chain(decoded_docs(&tmp.path().join("out"), true))
        .collect();
    assert!(docs.contains(&"story 7 🌟\nends.".to_string()));
    assert!(docs.contains(&"a".to_string()) && docs.contains(&"b".to_string()));
}

#[test]
fn info_detects_truncated_and_modified_bins() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "a.txt", fixture_text(60));
    let out = tmp.path().join("out");
    prepare(&opts(vec![f], &out, TokenizerKind::Bpe, 300)).unwrap();
    verify_prepared(&out).unwrap();
    let bin = out.join(TRAIN_FILE);
    let bytes = fs::read(&bin).unwrap();

    fs::write(&bin, &bytes[..bytes.len() - 2]).unwrap();
    for e in [verify_prepared(&out).unwrap_err(), load_prepared(&out).unwrap_err()] {
        let msg = e.to_string();
        assert!(is_input_error(&e), "{msg}");
        assert!(msg.contains("train.bin") && msg.contains("truncated"), "{msg}");
        assert!(msg.contains("re-run `scalinglab corpus prepare`"), "{msg}");
    }
    let mut edited = bytes.clone();
    edited[10] ^= 1;
    fs::write(&bin, &edited).unwrap();
    let e = verify_prepared(&out).unwrap_err();
    assert!(e.to_string().contains("train.bin: sha256"), "{e}");
    fs::write(&bin, &bytes).unwrap();
    verify_prepared(&out).unwrap();

    // An edited manifest no longer matches its id.
    let mp = out.join("manifest.json");
    let text = fs::read_to_string(&mp).unwrap();
    fs::write(&mp, text.replacen("\"seed\": 0", "\"seed\": 5", 1)).unwrap();
    let e = verify_prepared(&out).unwrap_err();
    assert!(e.to_string().contains("corpus_id"), "{e}");
    // A folder without a manifest.
    let e = verify_prepared(tmp.path()).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("not a prepared corpus"), "{e}");
}

/// Issue #19: a corpus whose manifest and shards agree on sha256 (written together by another
/// tool) but whose ids are not below its vocabulary, or whose eot id is out of range, is refused
/// at load and by `corpus info`, naming the file, not mid-training.
#[test]
fn ids_outside_the_vocabulary_are_refused_at_load() {
    use crate::corpus::manifest::Manifest;
    use crate::corpus::shards::{decode_tokens, write_tokens};
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "a.txt", fixture_text(60));
    let out = tmp.path().join("out");
    prepare(&opts(vec![f], &out, TokenizerKind::Byte, 257)).unwrap();
    let good = Manifest::read(&out).unwrap();
    let rewrite = |edit: &dyn Fn(&mut Vec<u32>, &mut Manifest)| {
        let mut m = good.clone();
        let bin = out.join(TRAIN_FILE);
        let mut tokens = decode_tokens(&fs::read(&bin).unwrap(), m.dtype);
        edit(&mut tokens, &mut m);
        let (sha, bytes) = write_tokens(&bin, &tokens, m.dtype).unwrap();
        (m.train.sha256, m.train.bytes) = (sha, bytes);
        m.corpus_id = m.compute_id().unwrap();
        fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
    };
    rewrite(&|t, _| t[5] = 300);
    for e in [verify_prepared(&out).unwrap_err(), load_prepared(&out).unwrap_err()] {
        let msg = e.to_string();
        assert!(is_input_error(&e), "{msg}");
        assert!(msg.contains("train.bin: token 5 is id 300") && msg.contains("257"), "{msg}");
    }
    rewrite(&|t, _| t[5] = 65);
    verify_prepared(&out).unwrap();
    rewrite(&|_, m| m.tokenizer.eot_id = 257);
    let e = verify_prepared(&out).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("eot_id 257"), "{e}");
    rewrite(&|t, _| {
        t.pop();
    });
    let e = verify_prepared(&out).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("tokens but the manifest says"), "{e}");
}

#[test]
fn bad_inputs_are_single_line_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let good = write(t, "good.txt", fixture_text(20));
    let out = t.join("out");
    let mut bad_utf8 = b"fine line\nsecond ".to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    let cases: Vec<(Vec<PathBuf>, &str)> = vec![
        (vec![t.join("missing.txt")], "missing.txt: cannot read"),
        (vec![write(t, "empty.txt", "")], "empty.txt: no text"),
        (vec![write(t, "blank.txt", " \n\n\t\n")], "blank.txt: no text"),
        (vec![write(t, "latin1.txt", &bad_utf8)], "latin1.txt: not UTF-8 at byte offset 17 (line 2)"),
        (
            {
                fs::create_dir_all(t.join("emptydir/sub")).unwrap();
                vec![t.join("emptydir")]
            },
            "emptydir: folder has no .txt or .jsonl",
        ),
        (
            vec![write(t, "nofield.jsonl", "{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n")],
            "nofield.jsonl:3: no \"text\" field (keys: txt)",
        ),
        (vec![write(t, "num.jsonl", "{\"text\": 5}\n")], "num.jsonl:1: field \"text\" is not a string"),
        (vec![write(t, "broken.jsonl", "{\"text\": \n")], "broken.jsonl:1: not valid JSON"),
        (vec![write(t, "one.txt", "just one short document\n")], "only 1 document"),
    ];
    for (paths, needle) in cases {
        let e = prepare(&opts(paths, &out, TokenizerKind::Bpe, 300)).unwrap_err();
        let msg = e.to_string();
        assert!(is_input_error(&e), "{msg}");
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
        assert!(msg.contains("fix:") && !msg.contains('\n'), "{msg:?}");
    }
    for (vocab, needle) in [(256, "too small"), (100_000, "too large for this text")] {
        let e = prepare(&opts(vec![good.clone()], &out, TokenizerKind::Bpe, vocab)).unwrap_err();
        assert!(is_input_error(&e) && e.to_string().contains(needle), "{e}");
    }
    let mut o = opts(vec![good], &out, TokenizerKind::Bpe, 300);
    o.val_fraction = 1.5;
    let e = prepare(&o).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("--val-fraction 1.5"), "{e}");
    assert!(!out.join("manifest.json").exists(), "failed prepares write no manifest");
}
