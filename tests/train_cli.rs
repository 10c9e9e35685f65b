//! Issue #2 through the CLI: one deterministic, resumable training run; bad input exits 2.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn tiny(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "tests/fixtures/tiny.toml", "-q", "--set"];
    let r = rd(dir);
    args.push(&r);
    for e in extra {
        args.push("--set");
        args.push(e);
    }
    run(&args)
}

#[test]
fn smoke_train_learns_and_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = tiny(a.path(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // stdout is the result record (data only).
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ln_v = (r["spec"]["vocab_size"].as_f64().unwrap()).ln();
    let val = r["final_val_loss"].as_f64().unwrap();
    assert!(val < ln_v - 1.0, "val loss {val} vs ln V {ln_v}");
    assert!(val > r["corpus_entropy_floor"].as_f64().unwrap());
    // The curve: one JSONL line per eval, and the loss falls.
    let curve = std::fs::read_to_string(
        a.path().join("tiny/curves").join(format!("{}.jsonl", r["id"].as_str().unwrap())),
    )
    .unwrap();
    let pts: Vec<serde_json::Value> = curve.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(pts.len() >= 5);
    assert!(pts.last().unwrap()["val_loss"].as_f64().unwrap() < pts[0]["val_loss"].as_f64().unwrap() - 0.5);
    // Same config and seed ⇒ bit-identical losses.
    assert!(tiny(b.path(), &[]).status.success());
    assert_eq!(losses(&a.path().join("tiny")), losses(&b.path().join("tiny")));
    // A second invocation trains nothing.
    let again = tiny(a.path(), &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done"));
}

#[test]
fn sigkill_and_resume_is_bit_identical() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ck = ["train.checkpoint_interval=10", "train.tokens=1.2e5"];
    assert!(tiny(a.path(), &ck).status.success());
    // Start, wait for a checkpoint, SIGKILL, resume.
    let mut child = bin()
        .args([
            "train",
            "tests/fixtures/tiny.toml",
            "-q",
            "--set",
            &rd(b.path()),
            "--set",
            ck[0],
            "--set",
            ck[1],
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckdir = b.path().join("tiny/checkpoints");
    let t0 = Instant::now();
    let state_written = || {
        std::fs::read_dir(&ckdir)
            .map(|rd| rd.flatten().any(|e| e.path().to_string_lossy().ends_with(".state.json")))
            .unwrap_or(false)
    };
    while !state_written() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        results(&b.path().join("tiny")).is_empty(),
        "the run finished before it was killed; lower the interval"
    );
    let out = tiny(b.path(), &ck);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = &results(&b.path().join("tiny"))[0];
    assert!(r["resumed_from_step"].as_u64().unwrap() > 0, "the rerun did not resume");
    assert_eq!(losses(&a.path().join("tiny")), losses(&b.path().join("tiny")));
}

#[test]
fn bad_config_inputs_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let malformed = write("m.toml", "name = \"x\"\n[model\n");
    assert_input_error(&run(&["train", &malformed]), "m.toml");
    let unknown = write("u.toml", "name = \"x\"\n[model]\nn_embed = 3\n");
    assert_input_error(&run(&["train", &unknown]), "n_embed");
    let heads = write("h.toml", "name = \"x\"\n[model]\nn_embd = 64\nn_head = 6\n");
    assert_input_error(&run(&["train", &heads]), "n_head = 6 does not divide n_embd = 64");
    let nocorpus =
        write("c.toml", "name = \"x\"\n[corpus]\nsource = \"prepared\"\npath = \"/nonexistent/corpus\"\n");
    assert_input_error(&run(&["train", &nocorpus]), "/nonexistent/corpus");
    assert_input_error(&run(&["train", "/nonexistent.toml"]), "/nonexistent.toml");
    // Issue #19: [grid] and [tune] are validated too, though `train` uses neither.
    let grid = write("g.toml", "name = \"x\"\n[grid]\nshapez = [\"32x1\"]\n");
    assert_input_error(&run(&["train", &grid]), "shapez");
    let tune = write("t.toml", "name = \"x\"\n[tune]\ntokens = 1e5\nlr_factorz = [0.5, 1, 2]\n");
    assert_input_error(&run(&["train", &tune]), "lr_factorz");
    assert_input_error(&run(&["train", "tests/fixtures/tiny.toml", "--device", "cuda"]), "cuda");
}

/// Issue #19: impossible sizes are refused before anything is allocated (exit 2 with the
/// numbers, in seconds, not "memory allocation failed" / exit 134 or a silent minute), and
/// `--force` is the way past the check.
#[test]
fn preflight_refuses_impossible_runs_before_allocating() {
    let d = tempfile::tempdir().unwrap();
    for (sets, needle) in [
        (&["train.tokens=1e15"][..], "pre-flight"),
        (&["model.n_embd=100000"][..], "of memory"),
        (&["train.batch_size=100000000", "train.tokens=4e9"][..], "of memory"),
        (&["train.eval_sequences=1000000000"][..], "of memory"),
        (&["model.block_size=1000000", "train.tokens=1e7"][..], "of memory"),
        (&["model.n_layer=100000"][..], "of memory"),
    ] {
        let t = Instant::now();
        let out = tiny(d.path(), sets);
        assert_input_error(&out, needle);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("pre-flight") && err.contains("--force"), "{sets:?}: {err}");
        assert!(t.elapsed() < Duration::from_secs(20), "{sets:?}: {:?}", t.elapsed());
    }
    assert!(!d.path().join("tiny/runs").exists(), "nothing written");
}

/// Issue #19: an unwritable results folder (here under a regular file: "Not a directory", the
/// same path as a read-only mount's "Read-only file system") is an error naming the path.
#[test]
fn an_unwritable_results_folder_names_the_path() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let out = run(&["train", "tests/fixtures/tiny.toml", "-q", "--set", &rd(&file)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}/tiny/", file.display())) && err.contains("Not a directory"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Issue #19: `plan` warns about a run the pre-flight check would refuse (it printed an ETA of
/// 2.2 million hours without a word).
#[test]
fn plan_warns_about_runs_preflight_would_refuse() {
    let d = tempfile::tempdir().unwrap();
    let out =
        run(&["plan", "tests/fixtures/tiny.toml", "--set", "train.tokens=1e15", "--set", &rd(d.path())]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("`sweep` will refuse it") && text.contains("over a week"), "{text}");
}

#[test]
fn bad_corpus_inputs_exit_2_and_delete_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).display().to_string();
    std::fs::write(d.path().join("empty.txt"), "").unwrap();
    assert_input_error(
        &run(&["corpus", "prepare", "--text", &p("empty.txt"), "--out", &p("o1")]),
        "empty.txt",
    );
    std::fs::write(d.path().join("latin1.txt"), b"caf\xe9 au lait\n").unwrap();
    assert_input_error(
        &run(&["corpus", "prepare", "--text", &p("latin1.txt"), "--out", &p("o2")]),
        "latin1.txt",
    );
    assert_input_error(
        &run(&["corpus", "prepare", "--text", &p("missing.txt"), "--out", &p("o3")]),
        "missing.txt",
    );
    // A truncated train.bin is caught by its hash, and the folder is left as it was.
    let text: String =
        (0..400).map(|i| format!("Line {i} of a small test corpus, with some words.\n\n")).collect();
    std::fs::write(d.path().join("ok.txt"), text).unwrap();
    let out = run(&["corpus", "prepare", "--text", &p("ok.txt"), "--out", &p("c"), "--tokenizer", "byte"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bin = d.path().join("c/train.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() / 2]).unwrap();
    assert_input_error(&run(&["corpus", "info", &p("c")]), "train.bin");
    assert!(d.path().join("c/manifest.json").exists() && bin.exists());
}

#[test]
fn corrupt_checkpoint_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args([
            "train",
            "tests/fixtures/tiny.toml",
            "-q",
            "--set",
            &rd(d.path()),
            "--set",
            "train.checkpoint_interval=5",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckdir = d.path().join("tiny/checkpoints");
    let t0 = Instant::now();
    let state = loop {
        let found = std::fs::read_dir(&ckdir).ok().and_then(|rd| {
            rd.flatten().map(|e| e.path()).find(|p| p.to_string_lossy().ends_with(".state.json"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(t0.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // The state file names the current model file: damage that one.
    let text = std::fs::read_to_string(&state).unwrap();
    let file =
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["model_file"].as_str().unwrap().to_string();
    let model = ckdir.join(file);
    std::fs::write(&model, b"not a safetensors file").unwrap();
    let out = run(&["train", "tests/fixtures/tiny.toml", "-q", "--set", &rd(d.path())]);
    assert_input_error(&out, "corrupt checkpoint");
    assert!(std::path::Path::new(&model).exists(), "nothing is deleted");
}

/// Issue #24: `train` with another corpus into a results folder that already holds runs, then
/// `fit`: the fit refuses to pool them (exit 2, naming the keys that differ) instead of mixing
/// the corpora silently; `--allow-mixed` pools them on request and fit.json records it.
#[test]
fn fit_refuses_to_pool_runs_of_another_corpus() {
    let d = tempfile::tempdir().unwrap();
    for (w, t) in
        [("32", "6e4"), ("16", "6e4"), ("48", "6e4"), ("32", "1.2e5"), ("16", "1.2e5"), ("48", "1.2e5")]
    {
        let out = tiny(d.path(), &[&format!("n_embd={w}"), &format!("tokens={t}")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let dir = d.path().join("tiny");
    let dir_s = dir.display().to_string();
    let same = run(&["fit", &dir_s, "--out", &d.path().join("ok.json").display().to_string()]);
    assert!(same.status.success(), "one corpus fits: {}", String::from_utf8_lossy(&same.stderr));
    let other = tiny(d.path(), &["corpus.seed=1"]);
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stderr));
    let mixed = run(&["fit", &dir_s]);
    assert_input_error(&mixed, "corpus_id");
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(err.contains("(6 runs)") && err.contains("(1 runs)") && err.contains("--allow-mixed"), "{err}");
    assert!(!dir.join("fit.json").exists(), "a refused fit writes nothing");
    let pooled = run(&["fit", &dir_s, "--allow-mixed"]);
    assert!(pooled.status.success(), "{}", String::from_utf8_lossy(&pooled.stderr));
    let fit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fit.json")).unwrap()).unwrap();
    assert_eq!(fit["conventions"]["allow_mixed"], serde_json::json!(true));
}
