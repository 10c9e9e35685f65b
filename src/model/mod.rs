//! The GPT (nanoGPT's `model.py` in candle), its seeded initialisation, and pure parameter /
//! FLOP counts.
//!
//! `config` and `count` have no candle types, so `fit` and `report` can use them.

pub mod config;
pub mod count;
pub mod file;
pub mod fused;
pub mod gpt;
pub mod init;
pub mod ops;

pub use config::GptConfig;
pub use gpt::Gpt;
