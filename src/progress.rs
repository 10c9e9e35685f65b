//! Progress bars on stderr (indicatif), hidden when stderr is not a terminal or with --quiet,
//! so logs and pipes stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// True when bars should be drawn.
pub fn bars_enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar for one run: tokens, loss, tokens/s, ETA.
pub fn run_bar(total_tokens: u64, label: &str, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total_tokens), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{prefix:>16} [{bar:30}] {human_pos}/{human_len} tok  {msg}  ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb
}
