//! Trained models are results too (issue #17): a finished run keeps its weights; `eval`
//! gives the run's own final validation loss bit for bit; `sample` is deterministic for a
//! seed; `export --hf` writes a GPT-2 folder that an independent numpy forward
//! (`tests/hf_check.py`) scores to the same loss within 1e-4 nats; bad input exits 2.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_input_error, rd, run};

const TS: &str = "../shared/corpora/tinyshakespeare/input.txt";

fn prepare(out: &Path, tokenizer: &[&str]) {
    let text = common::repo(TS);
    let mut args =
        vec!["corpus", "prepare", "--text", text.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(tokenizer);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn text_config(dir: &Path, corpus: &Path) -> std::path::PathBuf {
    let p = dir.join("ts.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"ts\"\n[corpus]\nsource = \"prepared\"\npath = \"{}\"\n[model]\nn_embd = 32\nn_layer = 2\n\
             head_dim = 16\nblock_size = 32\n[train]\ntokens = 1e5\nbatch_size = 16\nlearning_rate = 3e-3\n\
             final_eval_sequences = 64\n",
            corpus.display()
        ),
    )
    .unwrap();
    p
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The one model file of a results folder.
fn model_of(results: &Path) -> std::path::PathBuf {
    let files: Vec<_> =
        std::fs::read_dir(results.join("models")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Runs tests/hf_check.py; None (with a loud skip outside CI) when python3 or numpy is missing.
fn numpy_check(hf: &Path, corpus: &Path, spread: usize, used: usize) -> Option<serde_json::Value> {
    if !common::python_has("numpy", "the numpy check of export_matches_an_independent_numpy_forward") {
        return None;
    }
    let o = Command::new("python3")
        .arg(common::repo("tests/hf_check.py"))
        .args([hf.to_str().unwrap(), corpus.to_str().unwrap(), &spread.to_string(), &used.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "hf_check.py: {}", String::from_utf8_lossy(&o.stderr));
    Some(serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap())
}

#[test]
fn export_matches_an_independent_numpy_forward() {
    let d = tempfile::tempdir().unwrap();
    let corpus = d.path().join("ts-byte");
    prepare(&corpus, &["--tokenizer", "byte"]);
    // `corpus prepare` writes the files AutoTokenizer reads.
    assert!(corpus.join("tokenizer_config.json").exists() && corpus.join("special_tokens_map.json").exists());
    let cfg = text_config(d.path(), &corpus);
    let res = d.path().join("r");
    for (bias, tie) in [("true", "true"), ("false", "false")] {
        let _ = std::fs::remove_dir_all(&res);
        let (b, t) = (format!("model.bias={bias}"), format!("model.tie_embeddings={tie}"));
        let o = run(&["train", cfg.to_str().unwrap(), "--set", &rd(&res), "--set", &b, "--set", &t]);
        stdout(&o);
        let r = &common::results(&res.join("ts"))[0];
        let model = model_of(&res.join("ts"));
        assert_eq!(model.file_stem().unwrap().to_str().unwrap(), r["id"].as_str().unwrap());

        // eval on the run's own validation split: its final_val_loss, bit for bit.
        let e: serde_json::Value =
            serde_json::from_str(&stdout(&run(&["eval", model.to_str().unwrap(), "--json"]))).unwrap();
        assert_eq!(e["same_windows_as_run"], true);
        assert_eq!(e["loss"].as_f64().unwrap().to_bits(), r["final_val_loss"].as_f64().unwrap().to_bits());
        let text = stdout(&run(&["eval", model.to_str().unwrap()]));
        assert!(text.contains(&format!("{:.6} nats/token", r["final_val_loss"].as_f64().unwrap())), "{text}");
        assert!(text.contains("same windows: equal"), "{text}");

        let hf = d.path().join(format!("hf-{bias}"));
        stdout(&run(&["export", model.to_str().unwrap(), "--hf", hf.to_str().unwrap()]));
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            assert!(hf.join(f).exists(), "{f}");
        }
        // The run's final windows: the first 64 of val_starts(len, 32, max(64, 32)).
        if let Some(c) = numpy_check(&hf, &corpus, 64, 64) {
            let (ours, theirs) = (e["loss"].as_f64().unwrap(), c["loss_erf"].as_f64().unwrap());
            assert!(
                (ours - theirs).abs() < 1e-4,
                "eval {ours} vs numpy GPT-2 {theirs} (bias {bias}, tied {tie})"
            );
            eprintln!(
                "bias {bias}, tied {tie}: eval {ours:.7}, numpy {theirs:.7}, with tanh GELU {:.7}; tokenizer {}",
                c["loss_tanh"],
                c["tokenizer"]
            );
            if c["tokenizer"] != serde_json::Value::Null {
                assert_eq!(c["tokenizer"], true, "AutoTokenizer on the exported folder");
            }
        }
    }
}

#[test]
fn sample_is_deterministic_and_bad_input_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let corpus = d.path().join("ts-byte");
    prepare(&corpus, &["--tokenizer", "byte"]);
    let cfg = text_config(d.path(), &corpus);
    let res = d.path().join("r");
    stdout(&run(&["train", cfg.to_str().unwrap(), "--set", &rd(&res)]));
    let model = model_of(&res.join("ts"));
    let m = model.to_str().unwrap();
    let s = |seed: &str| stdout(&run(&["sample", m, "--prompt", "ROMEO:", "--tokens", "60", "--seed", seed]));
    let (a, b, c) = (s("1"), s("1"), s("2"));
    assert_eq!(a, b, "same seed, same text");
    assert_ne!(a, c, "another seed, other text");
    assert!(a.starts_with("ROMEO:") && a.len() > 40, "{a:?}");
    // `.safetensors` may be left out.
    let stem = model.with_extension("");
    assert_eq!(
        stdout(&run(&[
            "sample",
            stem.to_str().unwrap(),
            "--prompt",
            "ROMEO:",
            "--tokens",
            "60",
            "--seed",
            "1"
        ])),
        a
    );

    // Bad input: each exits 2 naming the file (or the flag) and the fix.
    let missing = d.path().join("nope.safetensors");
    assert_input_error(
        &run(&["sample", missing.to_str().unwrap()]),
        "nope.safetensors: cannot read the model file",
    );
    let bytes = std::fs::read(&model).unwrap();
    let cut = d.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    assert_input_error(
        &run(&["eval", cut.to_str().unwrap()]),
        "cut.safetensors: not a complete scalinglab model file",
    );
    assert_input_error(
        &run(&["sample", m, "--prompt-ids", "5 999"]),
        "prompt token 999 is outside the vocabulary",
    );
    assert_input_error(&run(&["sample", m, "--prompt-ids", "5 x"]), "--prompt-ids: `x` is not a token id");
    // A corpus with another tokenizer (BPE) is refused, naming it.
    let bpe = d.path().join("ts-bpe");
    prepare(&bpe, &["--tokenizer", "bpe", "--vocab-size", "300"]);
    assert_input_error(&run(&["eval", m, "--corpus", bpe.to_str().unwrap()]), "ts-bpe: its bpe tokenizer");
    // ... and a byte corpus of other text is evaluated (loss-to-loss), not on the run's windows.
    let other = d.path().join("other-byte");
    std::fs::create_dir_all(d.path().join("txt")).unwrap();
    let prose: String =
        (0..400).map(|i| format!("The {i}th line of some other text, in plain prose.\n\n")).collect();
    std::fs::write(d.path().join("txt/a.txt"), prose).unwrap();
    let o = run(&[
        "corpus",
        "prepare",
        "--text",
        d.path().join("txt").to_str().unwrap(),
        "--tokenizer",
        "byte",
        "--doc-bytes",
        "500",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["eval", m, "--corpus", other.to_str().unwrap(), "--json"])))
            .unwrap();
    assert_eq!(e["same_windows_as_run"], false);
    // `--tokenizer-from` gives another text the very BPE tokenizer of ts-bpe.
    let other_bpe = d.path().join("other-bpe");
    let o = run(&[
        "corpus",
        "prepare",
        "--text",
        d.path().join("txt").to_str().unwrap(),
        "--tokenizer-from",
        bpe.to_str().unwrap(),
        "--doc-bytes",
        "500",
        "--out",
        other_bpe.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let man = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p.join("manifest.json")).unwrap()).unwrap()
    };
    assert_eq!(man(&other_bpe)["tokenizer"], man(&bpe)["tokenizer"]);
    assert!(e["loss"].as_f64().unwrap().is_finite() && e["bits_per_byte"].as_f64().unwrap() > 0.0);
    // A tokenizer that moved is named with the fix; --tokenizer points at it.
    std::fs::rename(corpus.join("tokenizer.json"), d.path().join("tok.json")).unwrap();
    assert_input_error(&run(&["sample", m, "--tokens", "5"]), "cannot read the tokenizer of model");
    let tok = d.path().join("tok.json");
    stdout(&run(&["sample", m, "--tokens", "5", "--tokenizer", tok.to_str().unwrap()]));
}

#[test]
fn synthetic_models_keep_eval_and_sample_ids_and_keep_model_none_keeps_nothing() {
    let d = tempfile::tempdir().unwrap();
    let res = d.path().join("r");
    let smoke = common::repo("configs/smoke.toml");
    stdout(&run(&["train", smoke.to_str().unwrap(), "--set", &rd(&res), "--set", "tokens=2e4"]));
    let r = &common::results(&res.join("smoke"))[0];
    let model = model_of(&res.join("smoke"));
    let m = model.to_str().unwrap();
    let e: serde_json::Value = serde_json::from_str(&stdout(&run(&["eval", m, "--json"]))).unwrap();
    assert_eq!(e["corpus"], "synthetic");
    assert_eq!(e["loss"].as_f64().unwrap().to_bits(), r["final_val_loss"].as_f64().unwrap().to_bits());
    let ids = stdout(&run(&["sample", m, "--tokens", "10", "--seed", "3"]));
    let ids: Vec<u32> = ids.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(ids.len(), 11, "BOS + 10 ids");
    assert_input_error(&run(&["sample", m, "--prompt", "hello"]), "trained on the synthetic corpus");
    // export writes config + weights without tokenizer files.
    let hf = d.path().join("hf");
    stdout(&run(&["export", m, "--hf", hf.to_str().unwrap()]));
    assert!(hf.join("model.safetensors").exists() && !hf.join("tokenizer.json").exists());

    let res2 = d.path().join("r2");
    stdout(&run(&[
        "train",
        smoke.to_str().unwrap(),
        "--set",
        &rd(&res2),
        "--set",
        "tokens=2e4",
        "--set",
        "keep_model=none",
    ]));
    assert_eq!(common::results(&res2.join("smoke")).len(), 1);
    assert!(!res2.join("smoke/models").exists(), "keep_model = \"none\" keeps no weights");
    let o = run(&["train", smoke.to_str().unwrap(), "--set", &rd(&res2), "--set", "keep_model=all"]);
    assert_input_error(&o, "keep_model");
}
