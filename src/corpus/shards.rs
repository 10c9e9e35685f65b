//! Token files (`train.bin`, `val.bin`) and hashing.
//!
//! Format: the token ids, one after another, little-endian, no header — `u16` when every id
//! fits (vocabulary of at most 65,536), else `u32`; the manifest records which. This is the
//! nanoGPT/llm.c layout, so `numpy.memmap(path, dtype="<u2")` (or `"<u4"`) reads it directly.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::input_err;
use crate::results::write_atomic;

/// Storage type of token ids in a `.bin` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 2 bytes per token, little-endian; ids < 65,536.
    U16,
    /// 4 bytes per token, little-endian.
    U32,
}

impl Dtype {
    /// The smallest type that holds every id of a vocabulary of `vocab_size` tokens.
    pub fn for_vocab(vocab_size: usize) -> Dtype {
        if vocab_size <= 1 << 16 {
            Dtype::U16
        } else {
            Dtype::U32
        }
    }

    /// Bytes per token on disk.
    pub fn size(self) -> usize {
        match self {
            Dtype::U16 => 2,
            Dtype::U32 => 4,
        }
    }

    /// Lowercase name as written in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::U16 => "u16",
            Dtype::U32 => "u32",
        }
    }
}

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// sha256 of a file, streamed (lowercase hex).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Serialises tokens as `dtype` little-endian bytes. An id that does not fit `dtype` is a bug
/// in the caller (the dtype comes from the vocabulary size), reported as an error.
pub fn encode_tokens(tokens: &[u32], dtype: Dtype) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(tokens.len() * dtype.size());
    match dtype {
        Dtype::U16 => {
            for &t in tokens {
                let t = u16::try_from(t).map_err(|_| anyhow::anyhow!("token id {t} does not fit in u16"))?;
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
        Dtype::U32 => {
            for &t in tokens {
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// Decodes `dtype` little-endian bytes into ids (the length must be a multiple of the size).
pub fn decode_tokens(bytes: &[u8], dtype: Dtype) -> Vec<u32> {
    match dtype {
        Dtype::U16 => bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect(),
        Dtype::U32 => bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
    }
}

/// Writes a token file atomically; returns (sha256 hex of the file, its size in bytes).
pub fn write_tokens(path: &Path, tokens: &[u32], dtype: Dtype) -> Result<(String, u64)> {
    let bytes = encode_tokens(tokens, dtype)?;
    write_atomic(path, &bytes)?;
    Ok((sha256_hex(&bytes), bytes.len() as u64))
}

/// Reads a token file and checks it against the manifest: size first (cheap, catches
/// truncation), then sha256. Either mismatch is an input error naming the file and the fix.
pub fn read_tokens_verified(
    path: &Path,
    dtype: Dtype,
    expected_bytes: u64,
    expected_sha256: &str,
) -> Result<Vec<u32>> {
    let bytes = read_verified(path, expected_bytes, expected_sha256)?;
    Ok(decode_tokens(&bytes, dtype))
}

/// Reads a file whose size and sha256 the manifest records, failing with an input error that
/// names the file and says to re-run `corpus prepare` when either differs.
pub fn read_verified(path: &Path, expected_bytes: u64, expected_sha256: &str) -> Result<Vec<u8>> {
    let fix = "fix: re-run `scalinglab corpus prepare` (or `corpus get`) into this folder";
    let meta = fs::metadata(path)
        .map_err(|e| input_err(format!("{}: missing or unreadable ({e}); {fix}", path.display())))?;
    if meta.len() != expected_bytes {
        return Err(input_err(format!(
            "{}: {} bytes but the manifest says {expected_bytes} (truncated or modified); {fix}",
            path.display(),
            meta.len()
        )));
    }
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let actual = sha256_hex(&bytes);
    if actual != expected_sha256 {
        return Err(input_err(format!(
            "{}: sha256 {actual} but the manifest says {expected_sha256} (modified); {fix}",
            path.display()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_is_u16_exactly_when_every_id_fits() {
        assert_eq!(Dtype::for_vocab(257), Dtype::U16);
        assert_eq!(Dtype::for_vocab(65_536), Dtype::U16);
        assert_eq!(Dtype::for_vocab(65_537), Dtype::U32);
        assert_eq!(Dtype::for_vocab(200_000), Dtype::U32);
    }

    #[test]
    fn token_bytes_round_trip_little_endian() {
        let toks = vec![0u32, 1, 255, 256, 65_535];
        let b = encode_tokens(&toks, Dtype::U16).unwrap();
        assert_eq!(&b[..6], &[0, 0, 1, 0, 255, 0]);
        assert_eq!(&b[6..8], &[0, 1]);
        assert_eq!(decode_tokens(&b, Dtype::U16), toks);
        let big = vec![0u32, 65_536, 1_000_000, u32::MAX];
        let b = encode_tokens(&big, Dtype::U32).unwrap();
        assert_eq!(b.len(), 16);
        assert_eq!(&b[4..8], &[0, 0, 1, 0]);
        assert_eq!(decode_tokens(&b, Dtype::U32), big);
        assert!(encode_tokens(&[65_536], Dtype::U16).is_err());
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
