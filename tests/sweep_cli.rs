//! Issue #3 through the CLI: the smoke sweep, resume after SIGKILL, concurrent sweeps, WSD
//! branching equality, bad grids.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn sweep(dir: &std::path::Path, cfg: &str, extra: &[&str]) -> std::process::Output {
    let r = rd(dir);
    let mut args = vec!["sweep", cfg, "-q", "--jobs", "2", "--set", &r];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn smoke_sweep_end_to_end_then_nothing_to_do() {
    let d = tempfile::tempdir().unwrap();
    let out = sweep(d.path(), "configs/smoke.toml", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = d.path().join("smoke");
    let rs = results(&store);
    assert_eq!(rs.len(), 8);
    assert!(rs.iter().all(|r| r["status"] == "ok"));
    // Per-size hyperparameters are logged in every result.
    assert!(rs.iter().all(|r| r["spec"]["learning_rate"].is_f64() && r["spec"]["lr_rule"] == "sqrt"));
    let csv = std::fs::read_to_string(store.join("runs.csv")).unwrap();
    assert!(csv.starts_with(
        "id,index,status,reason,params_total,params_nonembedding,tokens,epochs,flops_6nd,flops_exact"
    ));
    assert_eq!(csv.lines().count(), 9);
    let again = sweep(d.path(), "configs/smoke.toml", &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done; nothing to train"));
    assert_eq!(losses(&store), losses(&d.path().join("smoke")));
}

#[test]
fn sigkill_mid_sweep_then_resume_matches_uninterrupted() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ck = "train.checkpoint_interval=5";
    assert!(sweep(a.path(), "configs/smoke.toml", &["--set", ck]).status.success());
    let mut child = bin()
        .args(["sweep", "configs/smoke.toml", "-q", "--jobs", "2", "--set", &rd(b.path()), "--set", ck])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0) // so the whole sweep (children too) can be killed at once
        .spawn()
        .unwrap();
    let store = b.path().join("smoke");
    let t0 = Instant::now();
    // Wait until some runs are done and others have checkpoints, then SIGKILL everything.
    loop {
        let done = results(&store).len();
        let ckpts = std::fs::read_dir(store.join("checkpoints"))
            .map(|rd| rd.flatten().filter(|e| e.path().to_string_lossy().ends_with(".state.json")).count())
            .unwrap_or(0);
        if done >= 1 && ckpts >= 1 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "sweep made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child's process group.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    child.wait().unwrap();
    assert!(results(&store).len() < 8, "finished before the kill");
    let out = sweep(b.path(), "configs/smoke.toml", &["--set", ck]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(results(&store).iter().any(|r| r["resumed_from_step"].as_u64().unwrap() > 0), "nothing resumed");
    assert_eq!(losses(&a.path().join("smoke")), losses(&store));
    let csv_a = std::fs::read_to_string(a.path().join("smoke/runs.csv")).unwrap();
    let csv_b = std::fs::read_to_string(store.join("runs.csv")).unwrap();
    let cols = |csv: &str| -> Vec<String> {
        csv.lines().map(|l| l.split(',').take(10).collect::<Vec<_>>().join(",")).collect()
    };
    assert_eq!(cols(&csv_a), cols(&csv_b), "runs.csv losses differ");
}

#[test]
fn two_concurrent_sweeps_run_every_run_once() {
    let d = tempfile::tempdir().unwrap();
    let spawn = || {
        bin()
            .args(["sweep", "configs/smoke.toml", "-q", "--jobs", "1", "--set", &rd(d.path())])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(oa.status.success() && ob.status.success());
    let trained = |o: &std::process::Output| -> usize {
        let e = String::from_utf8_lossy(&o.stderr);
        let line = e.lines().find(|l| l.contains("trained ok")).unwrap_or_else(|| panic!("{e}"));
        line.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(trained(&oa) + trained(&ob), 8, "each run trained exactly once");
    assert_eq!(results(&d.path().join("smoke")).len(), 8);
    // Every run's log shows one training process (locked duplicates exit early).
    for r in results(&d.path().join("smoke")) {
        assert_eq!(r["resumed_from_step"], 0);
    }
}

#[test]
fn wsd_branching_equals_training_alone() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = sweep(a.path(), "tests/fixtures/wsd.toml", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let branched = results(&a.path().join("wsd"));
    let short = branched.iter().find(|r| r["index"] == 0).unwrap();
    assert!(short["resumed_from_step"].as_u64().unwrap() > 0, "the short run did not branch");
    // Alone, from scratch: the short run first in an empty folder, then the long one.
    for i in ["0", "1"] {
        let o = run(&["run", "tests/fixtures/wsd.toml", "--index", i, "-q", "--set", &rd(b.path())]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let alone = results(&b.path().join("wsd"));
    assert!(alone.iter().all(|r| r["resumed_from_step"] == 0));
    assert_eq!(losses(&a.path().join("wsd")), losses(&b.path().join("wsd")));
    let plan = run(&["plan", "tests/fixtures/wsd.toml", "--no-measure"]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("WSD branching saves"));
}

#[test]
fn plan_simulate_fits_data_drawn_on_the_planned_cells() {
    // Two widths (N spans under 2x), three budgets, two seeds: the heuristic warnings name the
    // narrow N range, and the simulation shows what it costs: α never determined, a wide.
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("narrow.toml");
    let grid = "[grid]\nn_embd = [32, 48]\ntokens = [1e5, 2e5, 4e5]\nseed = [0, 1]\n";
    std::fs::write(
        &cfg,
        format!("name = \"narrow\"\n[train]\nbatch_size = 4\n[model]\nblock_size = 16\n{grid}"),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let o = run(&["plan", &cfg, "--no-measure", "--simulate", "3", "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let lines: Vec<String> = j["simulation"]
        .as_array()
        .expect("simulation")
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(
        lines[0].contains("3 data sets") && lines.iter().any(|l| l.contains("alpha (truth 0.340)")),
        "{lines:?}"
    );
    let warns = j["warnings"].to_string();
    assert!(warns.contains("simulation: alpha is determined in only 0/3"), "{warns}");
    assert_input_error(
        &run(&["plan", &cfg, "--no-measure", "--simulate", "2", "--assume", "gamma=1"]),
        "unknown key `gamma`",
    );
}

#[test]
fn bad_grids_exit_2_naming_the_key() {
    let d = tempfile::tempdir().unwrap();
    let cfg = |grid: &str| {
        let p = d.path().join(format!("g{}.toml", grid.len()));
        std::fs::write(
            &p,
            format!("name = \"g\"\n[train]\nbatch_size = 4\n[model]\nblock_size = 16\n[grid]\n{grid}\n"),
        )
        .unwrap();
        p.display().to_string()
    };
    assert_input_error(&run(&["plan", &cfg("n_embd = []"), "--no-measure"]), "n_embd is empty");
    assert_input_error(&run(&["plan", &cfg("bogus_key = [1, 2]"), "--no-measure"]), "bogus_key");
    assert_input_error(&run(&["plan", &cfg("tokens = [10]"), "--no-measure"]), "below one batch");
    assert_input_error(&run(&["plan", &cfg("tokens = [-5.0]"), "--no-measure"]), "tokens value -5");
    assert_input_error(&run(&["plan", &cfg("n_embd = [0]"), "--no-measure"]), "n_embd = 0");
    assert_input_error(&run(&["run", "configs/smoke.toml", "--index", "99"]), "--index 99");
}

#[test]
fn ctrl_c_stops_cleanly_keeps_checkpoints_and_says_how_to_resume() {
    let d = tempfile::tempdir().unwrap();
    // Runs long enough (a few seconds each) that two are seen training: a run writes its
    // progress file only after 0.5 s, and the smoke grid's own runs now finish faster than that.
    const LONGER: &str = "grid.tokens=[4e5, 8e5]";
    let child = bin()
        .args(["sweep", "configs/smoke.toml", "-q", "--jobs", "2", "--set", &rd(d.path()), "--set", LONGER])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let store = d.path().join("smoke");
    let t0 = Instant::now();
    // Wait until two runs are training (their progress files exist).
    loop {
        let running = std::fs::read_dir(store.join("locks"))
            .map(|rd| rd.flatten().filter(|e| e.path().to_string_lossy().ends_with(".progress")).count())
            .unwrap_or(0);
        if running >= 2 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no run started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group.
    // SAFETY: signalling our own child's process group.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("resume with `scalinglab sweep configs/smoke.toml"), "{err}");
    assert!(results(&store).iter().all(|r| r["status"] == "ok"), "an interrupted run was recorded as failed");
    let ckpts = std::fs::read_dir(store.join("checkpoints"))
        .map(|rd| rd.flatten().filter(|e| e.path().to_string_lossy().ends_with(".state.json")).count())
        .unwrap_or(0);
    assert!(ckpts >= 1, "no checkpoint kept");
    let again = sweep(d.path(), "configs/smoke.toml", &["--set", LONGER]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(results(&store).len(), 8);
    assert!(results(&store).iter().any(|r| r["resumed_from_step"].as_u64().unwrap() > 0));
}

/// Issue #24: with stderr a log file (no bars), a sweep still says what it did: one plain line
/// per finished run, with its shape, tokens, status and loss.
#[test]
fn sweep_into_a_log_file_prints_a_line_per_finished_run() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("sweep.log");
    let r = rd(d.path());
    let status = bin()
        .args(["sweep", "tests/fixtures/wsd.toml", "--jobs", "2", "--set", &r])
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> =
        text.lines().filter(|l| l.contains(" run #") && l.contains(": ok, val loss ")).collect();
    assert_eq!(lines.len(), results(&d.path().join("wsd")).len(), "{text}");
    assert!(lines.iter().all(|l| l.starts_with('[') && l.contains("32x1") && l.contains("runs")), "{text}");
}

/// Processes (other than `except`) whose command line names `dir`: the sweep's children.
fn processes_naming(dir: &std::path::Path, except: u32) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| *pid != except && *pid != std::process::id())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Zombies (state Z) have exited; only live processes count.
            String::from_utf8_lossy(&cmd).contains(&needle) && !stat.contains(") Z ")
        })
        .collect()
}

/// Starts the longer smoke sweep and waits until two runs are training. The caller signals and
/// waits for the returned child (the lint cannot see past the return).
#[allow(clippy::zombie_processes)]
fn sweep_until_two_train(dir: &std::path::Path) -> std::process::Child {
    let mut child = bin()
        .args(["sweep", "configs/smoke.toml", "-q", "--jobs", "2", "--set", &rd(dir), "--set", LONGER])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let running = std::fs::read_dir(dir.join("smoke/locks"))
            .map(|rd| rd.flatten().filter(|e| e.path().to_string_lossy().ends_with(".progress")).count())
            .unwrap_or(0);
        if running >= 2 {
            return child;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no run started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LONGER: &str = "grid.tokens=[4e5, 8e5]";

/// Issue #19: SIGTERM (Slurm, `timeout`, docker) and SIGHUP sent to the sweep's pid alone stop
/// it like Ctrl-C: the children are told, checkpoint and exit, the sweep waits for them and
/// exits 130, no child is left training, and the resumed sweep gives the uninterrupted losses.
#[test]
fn sigterm_and_sighup_to_the_sweep_alone_stop_its_children_and_resume_bit_identically() {
    let reference = tempfile::tempdir().unwrap();
    let out = sweep(reference.path(), "configs/smoke.toml", &["--set", LONGER]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let d = tempfile::tempdir().unwrap();
        let child = sweep_until_two_train(d.path());
        let pid = child.id();
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(pid as i32, sig);
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "signal {sig}: {err}");
        assert!(processes_naming(d.path(), pid).is_empty(), "signal {sig}: children left training");
        assert!(results(&d.path().join("smoke")).iter().all(|r| r["status"] == "ok"), "signal {sig}");
        let again = sweep(d.path(), "configs/smoke.toml", &["--set", LONGER]);
        assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
        assert!(results(&d.path().join("smoke"))
            .iter()
            .any(|r| r["resumed_from_step"].as_u64().unwrap() > 0));
        assert_eq!(losses(&d.path().join("smoke")), losses(&reference.path().join("smoke")), "signal {sig}");
    }
}

/// Issue #19: a sweep killed outright (SIGKILL: nothing to forward) leaves no orphan training:
/// each child gets SIGTERM from the kernel (PR_SET_PDEATHSIG), checkpoints and exits.
#[test]
fn children_of_a_killed_sweep_checkpoint_and_stop() {
    let d = tempfile::tempdir().unwrap();
    let mut child = sweep_until_two_train(d.path());
    let pid = child.id();
    let done_before = results(&d.path().join("smoke")).len();
    child.kill().unwrap();
    child.wait().unwrap();
    let t0 = Instant::now();
    while !processes_naming(d.path(), pid).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "orphans still training after 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ckpts = std::fs::read_dir(d.path().join("smoke/checkpoints"))
        .map(|rd| rd.flatten().filter(|e| e.path().to_string_lossy().ends_with(".state.json")).count())
        .unwrap_or(0);
    assert!(ckpts >= 1, "the stopped children kept no checkpoint");
    // They stopped where they were: an orphan would have trained its run to the end.
    assert_eq!(
        results(&d.path().join("smoke")).len(),
        done_before,
        "a child finished its run after the kill"
    );
}

/// Issue #19: a truncated `runs/ID.json` is not "done": the sweep moves it aside (named in a
/// warning), trains that run again, and ends with the same results as before.
#[test]
fn a_truncated_result_is_moved_aside_and_retrained() {
    let d = tempfile::tempdir().unwrap();
    let out = sweep(d.path(), "tests/fixtures/wsd.toml", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = d.path().join("wsd");
    let before = losses(&store);
    let id = before[0].0.clone();
    let path = store.join("runs").join(format!("{id}.json"));
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let again = sweep(d.path(), "tests/fixtures/wsd.toml", &[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains(&format!("{id}.json is not a run result")) && err.contains("corrupt-"), "{err}");
    assert_eq!(losses(&store), before, "the retrained run has the same losses");
    let aside = std::fs::read_dir(store.join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{id}.json.corrupt-")));
    assert_eq!(aside.count(), 1, "the truncated file is kept, aside");
}

/// Issue #19: `--threads 0` and `--jobs 0` are usage errors (exit 2), not a division by zero.
#[test]
fn zero_threads_or_jobs_exit_2() {
    let d = tempfile::tempdir().unwrap();
    assert_input_error(&sweep(d.path(), "configs/smoke.toml", &["--threads", "0"]), "--threads");
    let r = rd(d.path());
    assert_input_error(&run(&["sweep", "configs/smoke.toml", "-q", "--jobs", "0", "--set", &r]), "--jobs");
}
