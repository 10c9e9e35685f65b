//! Tests that use resources outside the crate: Python's `tokenizers` package and the shared
//! TinyShakespeare copy (`../shared/corpora/`). Each skips loudly when its resource is absent,
//! and fails under `CI=true` (`crate::test_skip`).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::corpus::load::load_prepared;
use crate::corpus::prepare::prepare;
use crate::corpus::sources::EOT;
use crate::corpus::tests::{fixture_text, opts, write};
use crate::corpus::tokenizer::{CorpusTokenizer, TokenizerKind};

/// Loads our `tokenizer.json` with Python's `tokenizers` and checks it encodes and decodes
/// exactly as we do. Skips (with a note) when python3 or the package is missing.
#[test]
fn python_tokenizers_loads_our_tokenizer_json() {
    let probe = Command::new("python3").args(["-c", "import tokenizers"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        crate::test_skip::skip(
            "python_tokenizers_loads_our_tokenizer_json",
            "python3 with `tokenizers` not available (fix: pip install tokenizers)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "a.txt", fixture_text(80));
    let text = "Café 東京 🦀 naïve — Zürich ½ \u{200d} tabs\tand\nnewlines <|endoftext|> x";
    for (kind, vocab) in [(TokenizerKind::Bpe, 400), (TokenizerKind::Byte, 257)] {
        let out = tmp.path().join(kind.as_str());
        prepare(&opts(vec![f.clone()], &out, kind, vocab)).unwrap();
        let path = out.join("tokenizer.json");
        let tok = CorpusTokenizer::from_json(kind, &fs::read_to_string(&path).unwrap()).unwrap();
        let ours = tok.encode_with_library(text).unwrap();
        if kind == TokenizerKind::Byte {
            let mut bytes: Vec<u32> = text.split(EOT).next().unwrap().bytes().map(u32::from).collect();
            bytes.push(256);
            bytes.extend(" x".bytes().map(u32::from));
            assert_eq!(ours, bytes);
        }
        let script = "import sys, json\nfrom tokenizers import Tokenizer\n\
            t = Tokenizer.from_file(sys.argv[1])\ns = sys.stdin.read()\n\
            ids = t.encode(s, add_special_tokens=False).ids\n\
            print(json.dumps({'ids': ids, 'back': t.decode(ids, skip_special_tokens=False), \
            'vocab': t.get_vocab_size()}))";
        let mut child = Command::new("python3")
            .args(["-c", script, path.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let py: Vec<u32> = serde_json::from_value(v["ids"].clone()).unwrap();
        assert_eq!(py, ours, "{kind:?}");
        assert_eq!(v["back"], text, "{kind:?}");
        assert_eq!(v["vocab"], vocab, "{kind:?}");
    }
}

/// Prepare on the real TinyShakespeare (1.1 MB) with a 1024-token BPE; skips when absent.
#[test]
fn prepare_tinyshakespeare_bpe_1024() {
    let src = Path::new("../shared/corpora/tinyshakespeare/input.txt");
    if !src.exists() {
        let why = format!("{} absent (fix: clone with ../shared beside the repository)", src.display());
        crate::test_skip::skip("prepare_tinyshakespeare_bpe_1024", &why);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(vec![src.to_path_buf()], tmp.path(), TokenizerKind::Bpe, 1024);
    o.val_fraction = 0.1;
    o.doc_bytes = 4096;
    let t0 = Instant::now();
    let m = prepare(&o).unwrap();
    let prep = t0.elapsed();
    let t1 = Instant::now();
    let c = load_prepared(tmp.path()).unwrap();
    eprintln!(
        "tinyshakespeare: prepare {:.2}s, load+verify {:.3}s; {} train / {} val tokens, \
         {} docs, {:.3} bytes/token, val fraction {:.4}",
        prep.as_secs_f64(),
        t1.elapsed().as_secs_f64(),
        m.train.tokens,
        m.val.tokens,
        m.train.documents + m.val.documents,
        m.bytes_per_token,
        m.split.val_fraction_actual
    );
    assert_eq!(m.sources[0].bytes, 1_115_394);
    assert_eq!(c.vocab_size(), 1024);
    assert!((0.1..0.11).contains(&m.split.val_fraction_actual));
    // A 1024-token BPE on English gets well above 2 bytes per token.
    assert!(m.bytes_per_token > 2.0 && m.bytes_per_token < 4.0, "{}", m.bytes_per_token);
    assert_eq!(c.train.len() as u64, m.train.tokens);
}
