//! Issue #3: the smoke sweep as a real Slurm job array (`plan --slurm` → `sbatch --wait`)
//! gives the same result files as the local executor (same ids, identical losses).
//!
//! Needs a Slurm cluster: it starts the one-node cluster of `../shared/slurm` (root, Debian's
//! packages) and stops it by pid afterwards. It runs when `CI=true` or `SCALINGLAB_SLURM=1`;
//! otherwise it prints why it skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn slurm_dir() -> PathBuf {
    repo("../shared/slurm")
}

fn sinfo_ok() -> bool {
    Command::new("sinfo").arg("-h").output().map(|o| o.status.success()).unwrap_or(false)
}

#[test]
fn slurm_array_matches_local_executor() {
    let wanted = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SCALINGLAB_SLURM").is_ok_and(|v| v == "1");
    if !wanted {
        eprintln!(
            "skipped: set SCALINGLAB_SLURM=1 (or CI=true) to run the Slurm test against ../shared/slurm"
        );
        return;
    }
    let started_here = !sinfo_ok();
    if started_here {
        let st =
            Command::new("bash").arg(slurm_dir().join("start-local-slurm.sh")).status().expect("bash runs");
        assert!(st.success(), "start-local-slurm.sh failed");
    }
    let result = std::panic::catch_unwind(|| {
        let (local, slurm) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let out = run(&["sweep", "configs/smoke.toml", "-q", "--jobs", "2", "--set", &rd(local.path())]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let plan = run(&[
            "plan",
            "configs/smoke.toml",
            "--slurm",
            "--max-parallel",
            "2",
            "--set",
            &rd(slurm.path()),
        ]);
        assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
        let script = slurm.path().join("sweep.sbatch");
        std::fs::write(&script, &plan.stdout).unwrap();
        let sb = Command::new("sbatch")
            .arg("--wait")
            .arg(&script)
            .current_dir(repo("."))
            .output()
            .expect("sbatch runs");
        assert!(
            sb.status.success(),
            "sbatch: {}{}",
            String::from_utf8_lossy(&sb.stdout),
            String::from_utf8_lossy(&sb.stderr)
        );
        let (a, b) = (losses(&local.path().join("smoke")), losses(&slurm.path().join("smoke")));
        assert_eq!(a.len(), 8);
        assert_eq!(a, b, "Slurm results differ from the local executor's");
    });
    if started_here {
        let _ = Command::new("bash").arg(slurm_dir().join("stop-local-slurm.sh")).status();
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
