//! Command line (clap derive): one file per subcommand. stdout carries data, stderr progress,
//! logs and errors.

mod bench;
mod corpus;
mod design;
mod eval;
mod export;
mod fit;
mod plan;
mod predict;
mod report;
mod run;
mod sample;
mod status;
mod sweep;
mod train;

#[cfg(test)]
mod tests_a3_points;
#[cfg(test)]
mod tests_fit;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use bench::BenchArgs;
pub use train::{parse_device, TrainArgs};

/// scalinglab: scaling-law data at toy scale — train a grid of tiny GPTs, fit the laws.
#[derive(Debug, Parser)]
#[command(name = "scalinglab", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success; 1 a run failed or diverged (results are still written); \
2 bad usage, config or input.";

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one model from a config and write its result and training curve.
    #[command(after_help = "Example: scalinglab train configs/smoke.toml --set n_embd=96")]
    Train(TrainArgs),
    /// Prepare, inspect or download a text corpus (tokenizer + token files + manifest).
    #[command(
        after_help = "Example: scalinglab corpus prepare --text ../shared/corpora/tinyshakespeare/input.txt --vocab-size 1024 --out /tmp/ts"
    )]
    Corpus(corpus::CorpusArgs),
    /// Show the runs a config expands to: sizes, FLOPs, epochs, estimated time; or a Slurm script.
    #[command(
        after_help = "Examples:\n  scalinglab plan configs/quick.toml\n  scalinglab plan configs/quick.toml --slurm --partition cpu --time 01:00:00 > sweep.sbatch"
    )]
    Plan(plan::PlanArgs),
    /// Done / running / partial / pending per run, with an ETA.
    #[command(
        after_help = "Examples:\n  scalinglab status configs/quick.toml\n  scalinglab status results/quick"
    )]
    Status(status::StatusArgs),
    /// Propose a grid for a FLOP budget that can identify the fitted exponents (prints a config).
    #[command(after_help = "Example: scalinglab design --flops 1e14 --seeds 2 > configs/mine.toml")]
    Design(design::DesignArgs),
    /// Train every pending run of a grid, several at once; resumable.
    #[command(after_help = "Example: scalinglab sweep configs/quick.toml --jobs 2 --threads 1")]
    Sweep(sweep::SweepArgs),
    /// Train one run of a grid by index (what sweep children and Slurm array tasks run).
    #[command(after_help = "Example: scalinglab run configs/quick.toml --index 3")]
    Run(run::RunArgs),
    /// Fit Kaplan and Chinchilla (Approaches 1, 2, 3) laws to a results folder or a CSV.
    #[command(
        after_help = "Examples:\n  scalinglab fit results/quick --bootstrap 200 --holdout-top 3\n  scalinglab fit --csv points.csv --params total"
    )]
    Fit(fit::FitArgs),
    /// Forecast from a fit.json: compute-optimal N, D, loss; loss of a given (N, D); over-training cost.
    #[command(
        after_help = "Examples:\n  scalinglab predict results/quick/fit.json --flops 1e15\n  scalinglab predict fit.json --params 1e6 --tokens 2e7"
    )]
    Predict(predict::PredictArgs),
    /// Plots (SVG, PNG), report.md and a self-contained report.html for a results folder.
    #[command(after_help = "Example: scalinglab report results/quick --holdout-top 3")]
    Report(report::ReportArgs),
    /// Generate text (or token ids) from a trained model; deterministic for a seed.
    #[command(
        after_help = "Example: scalinglab sample results/text-quick/models/ID.safetensors --prompt \"ROMEO:\" --tokens 200 --seed 1"
    )]
    Sample(sample::SampleArgs),
    /// Loss (nats/token, bits/byte) of a trained model on a corpus with the same tokenizer.
    #[command(
        after_help = "Examples:\n  scalinglab eval results/quick/models/ID.safetensors\n  scalinglab eval MODEL --corpus corpora/prepared/ts-byte --json"
    )]
    Eval(eval::EvalArgs),
    /// Write a trained model as a Hugging Face GPT-2 folder (transformers loads it).
    #[command(
        after_help = "Example: scalinglab export results/quick/models/ID.safetensors --hf /tmp/gpt2-tiny"
    )]
    Export(export::ExportArgs),
    /// Time training steps on random tokens: tokens/s, model-FLOPs utilisation, peak RSS.
    #[command(after_help = "Example: scalinglab bench --shape 128x4x4 --threads 1 --steps 20")]
    Bench(BenchArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Fit(a) => fit::run(&a),
        Command::Predict(a) => predict::run(&a),
        Command::Run(a) => run::run(&a),
        Command::Sweep(a) => sweep::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Design(a) => design::run(&a),
        Command::Status(a) => status::run(&a),
        Command::Sample(a) => sample::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Corpus(a) => corpus::run_corpus(&a.command).map(|_| ExitCode::SUCCESS),
    }
}
