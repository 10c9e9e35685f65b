//! What the tuning's choice gives a main-grid shape (its learning rate, where that came from,
//! the other tuned keys), and the choice in words for `sweep`, `plan` and the report. With
//! several tuning budgets, a size's best and the rule come from its longest budget; the law's
//! learning rate per run is in `law`.

use super::choice::{TuneChoice, TunedSize};
use super::spec::Apply;
use crate::config::load::parse_value;
use crate::sweep::axes::Shape;

/// The tuned values of one shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// Peak learning rate (the run's `lr_rule` becomes "none").
    pub learning_rate: f64,
    /// Provenance recorded in the run's spec (`RunSpec::tuned`).
    pub source: String,
    /// The other tuned keys: this size's best, else those of the nearest tuned width.
    pub keys: Vec<(String, toml::Value)>,
}

impl TuneChoice {
    /// This shape's tuned values.
    pub fn for_shape(&self, shape: &Shape) -> Tuned {
        let label = shape.label();
        let width = shape.n_embd.max(1) as usize;
        let own = self.primary().find(|s| s.shape == label);
        let nearest = own.or_else(|| {
            self.primary().min_by(|a, b| {
                let d = |s: &TunedSize| (s.n_embd as f64 / width as f64).ln().abs();
                d(a).total_cmp(&d(b))
            })
        });
        let (learning_rate, source) = match (own, self.apply) {
            (Some(s), Apply::Best) => (
                s.lr(),
                match s.vertex {
                    Some(_) => format!(
                        "tune: parabola vertex of {} trials at {} tokens ({label})",
                        s.trials.len(),
                        self.tokens
                    ),
                    None => {
                        format!("tune: best of {} trials at {} tokens ({label})", s.trials.len(), self.tokens)
                    }
                },
            ),
            (own, _) => (
                self.rule.at(width),
                format!(
                    "tune rule{}: {}",
                    if own.is_some() { "" } else { " (size not tuned)" },
                    self.rule.describe()
                ),
            ),
        };
        let keys = nearest.map(|s| s.best.axes.iter().map(|(k, v)| (k.clone(), parse_value(v))).collect());
        Tuned { learning_rate, source, keys: keys.unwrap_or_default() }
    }

    /// Human summary lines (sweep and plan output, report).
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sizes {
            let at = s.tokens.map(|d| format!(", D {d}")).unwrap_or_default();
            let tried: Vec<String> = s
                .trials
                .iter()
                .map(|x| {
                    let extra: Vec<String> = x.axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let extra =
                        if extra.is_empty() { String::new() } else { format!(" {}", extra.join(" ")) };
                    match x.final_val_loss {
                        Some(l) => format!("{:.3e}{extra} → {l:.4}", x.learning_rate),
                        None => format!("{:.3e}{extra} → {}", x.learning_rate, x.status),
                    }
                })
                .collect();
            out.push(format!(
                "{:>8} (N {}{at}): best lr {:.3e}{}; tried {}",
                s.shape,
                s.params_total,
                s.best.learning_rate,
                s.vertex.map(|v| format!(", parabola vertex {v:.3e} (used)")).unwrap_or_default(),
                tried.join(", ")
            ));
        }
        out.push(format!(
            "rule: {} ({})",
            self.rule.describe(),
            match self.apply {
                Apply::Best => "used for sizes not tuned",
                Apply::Rule => "used for every size",
                Apply::Law => "not used: the law is",
            }
        ));
        if let Some(law) = &self.law {
            let mut lines = law.lines();
            if let Some(first) = lines.first_mut() {
                first.push_str(if self.apply == Apply::Law {
                    " (used for every run; WSD: each size's longest budget)"
                } else {
                    " (reported only; apply = \"law\" uses it)"
                });
            }
            out.extend(lines);
        }
        out
    }
}
