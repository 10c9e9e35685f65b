//! Times the full 4,500-start Approach 3 fit on 250 points and a 200-replicate bootstrap.
//! Run: `cargo bench --bench fit_bench` (RAYON_NUM_THREADS sets the threads used).
//!
//! Prints wall time and process CPU time (user + system, from /proc/self/stat on Linux): on a
//! shared machine the wall time depends on other load, while CPU time / threads is what the
//! fit would take with the cores to itself.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use scalinglab::fit::input::data::{make_cells, RunPoint};
use scalinglab::fit::input::synth::{normal, point, random_law};
use scalinglab::fit::laws::approach3::{fit_approach3, Approach3Options};
use scalinglab::fit::uncertainty::bootstrap::{bootstrap_approach3, BootstrapOptions};

/// Process CPU seconds (user + system); NaN where /proc is unavailable.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    // Fields after the command name (which is in parentheses): utime is the 14th field overall.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return f64::NAN };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0 // CLK_TCK is 100 on Linux
}

fn main() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
    let law = random_law(&mut rng, 1e6, 1e8);
    let points: Vec<RunPoint> = (0..250)
        .map(|i| {
            let n = 10f64.powf(4.0 + 4.0 * rng.gen::<f64>());
            let d = 10f64.powf(6.0 + 4.0 * rng.gen::<f64>());
            point(format!("r{i}"), n, d, law.loss(n, d) * (1.0 + 0.005 * normal(&mut rng)), None)
        })
        .collect();
    let cells = make_cells(&points);
    let obs: Vec<_> = cells.iter().map(|c| c.obs()).collect();
    let threads = rayon::current_num_threads();
    let opts = Approach3Options::default();
    let _ = fit_approach3(&obs, &opts); // warm the thread pool
    let mut runs = Vec::new();
    let mut fit = None;
    for _ in 0..3 {
        let (t, c) = (Instant::now(), cpu_seconds());
        fit = Some(fit_approach3(&obs, &opts).expect("fit"));
        runs.push((t.elapsed().as_secs_f64(), cpu_seconds() - c));
    }
    let fit = fit.expect("ran");
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "approach3: 4500 starts, {} points, {threads} threads: wall median {:.3} s (min {:.3}); CPU {:.3} s = {:.3} s per thread; {}/{} starts converged",
        obs.len(),
        runs[1].0,
        runs[0].0,
        runs[1].1,
        runs[1].1 / threads as f64,
        fit.converged_starts,
        fit.starts
    );
    println!("  truth {law:?}\n  fit   {:?}", fit.law);
    let (t, c) = (Instant::now(), cpu_seconds());
    let boot = bootstrap_approach3(
        &cells,
        &fit,
        &opts.fit,
        &BootstrapOptions { reps: 200, seed: 1, within_cell: true },
    );
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    println!(
        "bootstrap: 200 reps, {} converged: wall {wall:.2} s; CPU {cpu:.2} s = {:.2} s per thread",
        boot.len(),
        cpu / threads as f64
    );
}
