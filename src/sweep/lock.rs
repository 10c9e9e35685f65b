//! Run locks: `results/NAME/locks/ID.lock`, created with O_EXCL and holding the owner's pid and
//! host, so two sweeps (or Slurm tasks) on one results folder never train the same run twice.
//! A lock whose owner was on this host and is no longer alive is stale (SIGKILL, OOM): it is
//! removed and retaken. Locks from other hosts are trusted (there is no way to check them
//! from here); delete them by hand if that host is gone.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What a lock file says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    /// Owner process id.
    pub pid: u32,
    /// Owner host name.
    pub host: String,
    /// Owner's start time (clock ticks since boot, /proc/PID/stat field 22), so a reused pid
    /// is not mistaken for the owner.
    #[serde(default)]
    pub start_time: Option<u64>,
}

/// A held lock; removed on drop.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// (state, start time) of process `pid` from /proc/PID/stat, None if it does not exist.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

/// True when process `pid` exists on this host and is not a zombie (a killed process whose
/// parent has not reaped it still has a /proc entry). With `start_time`, the process must
/// also be the same one (pids are reused).
pub fn pid_alive(pid: u32, start_time: Option<u64>) -> bool {
    match proc_stat(pid) {
        Some((state, started)) => state != 'Z' && state != 'X' && start_time.is_none_or(|t| t == started),
        None => Path::new(&format!("/proc/{pid}")).exists() && start_time.is_none(),
    }
}

/// Reads a lock file (None if absent or unreadable).
pub fn read_lock(path: &Path) -> Option<LockInfo> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// True when `info` names a live owner (or one on another host, which we cannot check).
pub fn is_live(info: &LockInfo) -> bool {
    info.host != hostname() || pid_alive(info.pid, info.start_time)
}

/// Takes the lock, or returns the live owner's info. A stale lock is removed and retaken.
pub fn acquire(path: &Path) -> Result<std::result::Result<LockGuard, LockInfo>> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let pid = std::process::id();
    let me = LockInfo { pid, host: hostname(), start_time: proc_stat(pid).map(|s| s.1) };
    // The lock appears with its content already in it: written to a private file first, then
    // hard-linked to `path` (which fails if `path` exists). Creating `path` empty and writing it
    // after left a window in which another process read an empty lock, took it for the
    // half-written lock of a dead owner and removed it: both then trained the run.
    let tmp = path.with_extension(format!("lock.{pid}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(serde_json::to_string(&me)?.as_bytes())?;
        f.sync_all().ok();
    }
    let taken = (|| {
        for _ in 0..3 {
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => return Ok(Ok(LockGuard { path: path.to_path_buf() })),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_lock(path) {
                    Some(info) if is_live(&info) => return Ok(Err(info)),
                    // Stale (owner gone) or unreadable (left by an older version that wrote
                    // the lock after creating it): take it over.
                    _ => {
                        let _ = std::fs::remove_file(path);
                    }
                },
                Err(e) => return Err(e).with_context(|| format!("creating lock {}", path.display())),
            }
        }
        anyhow::bail!("could not take lock {} (it keeps reappearing)", path.display())
    })();
    let _ = std::fs::remove_file(&tmp);
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_and_stale() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks/a.lock");
        let g = acquire(&p).unwrap().unwrap();
        let other = acquire(&p).unwrap().unwrap_err();
        assert_eq!(other.pid, std::process::id());
        drop(g);
        assert!(!p.exists());
        // A lock left by a dead process on this host is taken over.
        std::fs::write(
            &p,
            serde_json::to_string(&LockInfo { pid: 999_999_999, host: hostname(), start_time: None })
                .unwrap(),
        )
        .unwrap();
        assert!(acquire(&p).unwrap().is_ok());
        // Our own pid with another start time is a reused pid: stale.
        let me = std::process::id();
        let _ = std::fs::remove_file(&p);
        let reused = LockInfo { pid: me, host: hostname(), start_time: Some(1) };
        std::fs::write(&p, serde_json::to_string(&reused).unwrap()).unwrap();
        assert!(acquire(&p).unwrap().is_ok());
        assert!(pid_alive(me, proc_stat(me).map(|s| s.1)));
    }
}
