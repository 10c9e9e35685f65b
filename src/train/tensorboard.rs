//! TensorBoard event files for a live view of training (`--tensorboard DIR` on `train` and
//! `sweep`, or `train.tensorboard = "DIR"`; issue #18): one folder per run,
//! `DIR/{n_embd}x{n_layer}x{n_head}-{run id}/events.out.tfevents.{unix time}.scalinglab.{pid}`.
//!
//! Scalars: every step `train/loss` (that step's loss), `train/lr` and `train/tokens_per_s`
//! (tokens of the step over its wall time); at every curve point `val/loss` and
//! `train/loss_mean` (the same numbers as `curves/ID.jsonl`'s `val_loss` and `train_loss`, as
//! f32). x = the optimizer step.
//!
//! Format: TFRecord framing — u64 length (LE), masked CRC-32C of the length, the bytes, masked
//! CRC-32C of the bytes, with mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (TensorFlow's
//! `record_writer.cc`) — around `tensorflow.Event` protobuf messages (`event.proto`: wall_time
//! 1, step 2, file_version 3, summary 5, session_log 6; `summary.proto`: value 1 {tag 1,
//! simple_value 2}). The first event is `file_version = "brain.Event:2"`. A resumed run opens
//! a new file whose first event after the version is `SessionLog START` at the resume step,
//! which tells TensorBoard to drop the older file's points past that step (written after the
//! checkpoint and trained again). The buffer is flushed at each curve point and at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use prost::Message;

/// `tensorflow.Event`.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// Global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event carries.
    #[prost(oneof = "What", tags = "3, 5, 6")]
    pub what: Option<What>,
}

/// The `what` oneof of `tensorflow.Event`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// `file_version`, e.g. "brain.Event:2".
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// `summary`.
    #[prost(message, tag = "5")]
    Summary(Summary),
    /// `session_log`.
    #[prost(message, tag = "6")]
    SessionLog(SessionLog),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    /// Values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value` (only the scalar case).
#[derive(Clone, PartialEq, Message)]
pub struct SummaryValue {
    /// Tag, e.g. `train/loss`.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// The scalar.
    #[prost(float, tag = "2")]
    pub simple_value: f32,
}

/// `tensorflow.SessionLog` (status START = 1).
#[derive(Clone, PartialEq, Message)]
pub struct SessionLog {
    /// 1 = START.
    #[prost(int32, tag = "1")]
    pub status: i32,
}

/// TFRecord's masked CRC-32C.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length, its masked CRC, data, data's masked CRC.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// Writes one run's event file.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl EventWriter {
    /// A new event file in `dir/run_folder/`; `resumed_at` = the step a resumed run restarts
    /// from (0 for a fresh run).
    pub fn create(dir: &Path, run_folder: &str, resumed_at: u64) -> Result<Self> {
        let folder = dir.join(run_folder);
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let t = now();
        let path = folder.join(format!("events.out.tfevents.{}.scalinglab.{}", t as u64, std::process::id()));
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = EventWriter { out: BufWriter::new(f), path };
        w.event(Event { wall_time: t, step: 0, what: Some(What::FileVersion("brain.Event:2".into())) })?;
        if resumed_at > 0 {
            w.event(Event {
                wall_time: t,
                step: resumed_at as i64,
                what: Some(What::SessionLog(SessionLog { status: 1 })),
            })?;
        }
        w.flush()?;
        Ok(w)
    }

    fn event(&mut self, e: Event) -> Result<()> {
        self.out
            .write_all(&record(&e.encode_to_vec()))
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Scalars at `step`, one event.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let value = values
            .iter()
            .map(|(t, v)| SummaryValue { tag: t.to_string(), simple_value: *v as f32 })
            .collect();
        self.event(Event {
            wall_time: now(),
            step: step as i64,
            what: Some(What::Summary(Summary { value })),
        })
    }

    /// Pushes what is buffered to the file (TensorBoard reads it as it grows).
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRC-32C of "123456789" is 0xe3069283 (the standard check value), and a record
    /// decodes back to its event.
    #[test]
    fn records_frame_and_decode() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let e = Event {
            wall_time: 1.5,
            step: 7,
            what: Some(What::Summary(Summary {
                value: vec![SummaryValue { tag: "train/loss".into(), simple_value: 2.5 }],
            })),
        };
        let r = record(&e.encode_to_vec());
        let n = u64::from_le_bytes(r[..8].try_into().unwrap()) as usize;
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), masked_crc(&r[..8]));
        assert_eq!(u32::from_le_bytes(r[12 + n..16 + n].try_into().unwrap()), masked_crc(&r[12..12 + n]));
        assert_eq!(Event::decode(&r[12..12 + n]).unwrap(), e);
    }
}
