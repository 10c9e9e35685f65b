//! The GPT (nanoGPT's `model.py` in candle), its parameters as one typed struct (`params`,
//! llm.c's `ParameterTensors`, in the GPT-2 names and order of checkpoints and model files),
//! its seeded initialisation, and pure parameter / FLOP counts.
//!
//! `config` and `count` have no candle types, so `fit` and `report` can use them.

pub mod config;
pub mod count;
pub mod file;
pub mod fused;
pub mod gpt;
pub mod init;
pub mod ops;
pub mod params;

pub use config::{GptConfig, InitScheme};
pub use gpt::Gpt;
