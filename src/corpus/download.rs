//! Verified downloads for `corpus get`.
//!
//! The body streams into a hidden temp file beside the destination while being hashed; only a
//! download whose sha256 (and size, when given) matches is renamed into place. On any failure
//! the temp file is removed, so nothing half-written is ever left under the final name.
//!
//! HTTP client: `ureq` (blocking, small), with rustls + webpki roots for https (recipe URLs are
//! GitHub and Hugging Face) and no OpenSSL or system dependencies; plain http serves the
//! loopback test server.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};

use crate::corpus::shards::hex;
use crate::error::input_err;

/// Largest body accepted (a guard against a wrong URL streaming forever): 8 GiB.
pub const MAX_DOWNLOAD_BYTES: u64 = 8 << 30;

/// Removes the temp file on drop unless [`TempFile::keep`] was called.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// What a download should be: an empty `sha256` means "not pinned" (accept and report).
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// Lowercase hex sha256, or "" when not pinned.
    pub sha256: &'a str,
    /// Size in bytes, when known.
    pub bytes: Option<u64>,
    /// Where the expectation comes from, for messages (e.g. `recipe tinyshakespeare`).
    pub origin: &'a str,
}

/// Downloads `url` to `dest` (parent folders created), checking it against `expected`.
/// Returns the sha256 of the bytes. A size or sha256 mismatch is an input error naming the
/// expected and actual values; an HTTP error status is an input error naming the URL.
pub fn download_verified(url: &str, dest: &Path, expected: &Expected) -> Result<String> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp_path = dir.join(format!(".{name}.part.{}", std::process::id()));
    let guard = TempFile(Some(tmp_path.clone()));

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .user_agent(concat!("scalinglab/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => input_err(format!(
            "downloading {url}: HTTP status {code}; fix: check the url in {}",
            expected.origin
        )),
        other => anyhow!("downloading {url}: {other}"),
    })?;
    let len = resp.body().content_length();
    eprintln!("corpus: downloading {url}{}", len.map(|n| format!(" ({n} bytes)")).unwrap_or_default());
    let mut reader = resp.into_body().into_with_config().limit(MAX_DOWNLOAD_BYTES).reader();
    let mut file = fs::File::create(&tmp_path).with_context(|| format!("creating {}", tmp_path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let mut next_report = 16u64 << 20;
    loop {
        let n = reader.read(&mut buf).with_context(|| format!("downloading {url} (after {total} bytes)"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).with_context(|| format!("writing {}", tmp_path.display()))?;
        total += n as u64;
        if total >= next_report {
            eprintln!("corpus:   {} MiB", total >> 20);
            next_report += 16 << 20;
        }
    }
    file.sync_all().ok();
    drop(file);
    let actual = hex(&hasher.finalize());
    if let Some(b) = expected.bytes {
        if b != total {
            return Err(input_err(format!(
                "{url}: expected {b} bytes ({}), got {total} (sha256 {actual}); nothing was \
                 kept; fix: retry, or if the file changed upstream update {} after checking it",
                expected.origin, expected.origin
            )));
        }
    }
    if expected.sha256.is_empty() {
        eprintln!(
            "corpus: sha256 of {url} is {actual} ({} does not pin it; add `sha256 = \"{actual}\"` \
             after checking the file)",
            expected.origin
        );
    } else if !actual.eq_ignore_ascii_case(expected.sha256) {
        return Err(input_err(format!(
            "{url}: sha256 mismatch: expected {} ({}), got {actual} ({total} bytes); nothing was \
             kept; fix: retry, or if the file changed upstream update {} after checking it",
            expected.sha256, expected.origin, expected.origin
        )));
    }
    fs::rename(&tmp_path, dest)
        .with_context(|| format!("renaming {} to {}", tmp_path.display(), dest.display()))?;
    guard.keep();
    Ok(actual)
}
