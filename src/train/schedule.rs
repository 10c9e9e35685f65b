//! Learning-rate schedules as pure functions of the step (nanoGPT's `get_lr`).
//!
//! Steps are numbered 0..S−1 (S = max_steps); `lr_at(s)` is the LR used for the update at
//! step s.
//! 1. Warmup (all kinds): for s < W, lr = peak · (s+1)/W (never 0, reaches the peak at s = W−1).
//! 2. Cosine: p = (s − W)/(S − 1 − W) ∈ [0, 1], lr = min + (peak − min)·½(1 + cos πp);
//!    exactly `min = min_lr_fraction · peak` at the last step.
//! 3. WSD (warmup–stable–decay, Hägele et al. 2024 "Scaling Laws and Compute-Optimal Training
//!    Beyond Fixed Training Durations"): peak until the cooldown starts at
//!    s_c = S − K, K = round(cooldown_fraction · S); then lr = min + (peak − min)·(1 − √p),
//!    p = (s − s_c + 1)/K, so again exactly `min` at the last step. A shorter WSD run is the
//!    longer one's stable phase plus its own cooldown, so runs that differ only in tokens can
//!    share the stable phase (sweep branching).
//! 4. Constant: the peak after warmup.

use crate::config::spec::{RunSpec, ScheduleKind};

/// Inputs of the schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Shape.
    pub kind: ScheduleKind,
    /// Peak LR.
    pub peak: f64,
    /// Final LR as a fraction of the peak.
    pub min_fraction: f64,
    /// Warmup steps W.
    pub warmup: u64,
    /// Total steps S.
    pub total: u64,
    /// WSD cooldown fraction.
    pub cooldown_fraction: f64,
}

impl Schedule {
    /// The schedule of a run.
    pub fn of(spec: &RunSpec) -> Self {
        Schedule {
            kind: spec.schedule,
            peak: spec.learning_rate,
            min_fraction: spec.min_lr_fraction,
            warmup: spec.warmup_steps,
            total: spec.max_steps,
            cooldown_fraction: spec.cooldown_fraction,
        }
    }

    /// First step of the WSD cooldown, s_c = S − round(f·S) (at least 1 cooldown step, and not
    /// before the end of warmup).
    pub fn cooldown_start(&self) -> u64 {
        crate::config::spec::wsd_cooldown_start(self.total, self.warmup, self.cooldown_fraction)
    }

    /// LR at step `s` (see the module doc for the formulas).
    ///
    /// ```
    /// use scalinglab::train::schedule::Schedule;
    /// use scalinglab::config::spec::ScheduleKind;
    /// let s = Schedule { kind: ScheduleKind::Cosine, peak: 1e-3, min_fraction: 0.1, warmup: 10, total: 100, cooldown_fraction: 0.2 };
    /// assert_eq!(s.lr_at(9), 1e-3);                    // warmup ends at the peak
    /// assert!((s.lr_at(99) - 1e-4).abs() < 1e-18);     // last step = final fraction
    /// ```
    pub fn lr_at(&self, s: u64) -> f64 {
        let min = self.peak * self.min_fraction;
        if s < self.warmup {
            return self.peak * (s + 1) as f64 / self.warmup as f64;
        }
        match self.kind {
            ScheduleKind::Constant => self.peak,
            ScheduleKind::Cosine => {
                let span = self.total.saturating_sub(1).saturating_sub(self.warmup);
                let p = if span == 0 { 1.0 } else { ((s - self.warmup) as f64 / span as f64).min(1.0) };
                min + (self.peak - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
            ScheduleKind::Wsd => {
                let sc = self.cooldown_start();
                if s < sc {
                    self.peak
                } else {
                    let k = self.total - sc;
                    let p = (((s - sc + 1) as f64) / k as f64).min(1.0);
                    min + (self.peak - min) * (1.0 - p.sqrt())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(kind: ScheduleKind) -> Schedule {
        Schedule { kind, peak: 2e-3, min_fraction: 0.1, warmup: 5, total: 50, cooldown_fraction: 0.2 }
    }

    #[test]
    fn edges() {
        for kind in [ScheduleKind::Cosine, ScheduleKind::Wsd, ScheduleKind::Constant] {
            let s = sched(kind);
            assert_eq!(s.lr_at(0), 2e-3 / 5.0, "{kind:?} warmup start");
            assert_eq!(s.lr_at(4), 2e-3, "{kind:?} warmup end");
            for i in 0..50 {
                let lr = s.lr_at(i);
                assert!(lr > 0.0 && lr <= 2e-3 + 1e-18, "{kind:?} {i} {lr}");
            }
        }
        assert!((sched(ScheduleKind::Cosine).lr_at(49) - 2e-4).abs() < 1e-15);
        assert!((sched(ScheduleKind::Wsd).lr_at(49) - 2e-4).abs() < 1e-15);
        assert_eq!(sched(ScheduleKind::Constant).lr_at(49), 2e-3);
    }

    #[test]
    fn wsd_stable_then_cooldown() {
        let s = sched(ScheduleKind::Wsd);
        assert_eq!(s.cooldown_start(), 40);
        assert_eq!(s.lr_at(39), 2e-3);
        assert!(s.lr_at(40) < 2e-3);
        // A shorter WSD run equals the longer one's LR up to its own cooldown.
        let short = Schedule { total: 30, ..s };
        for i in 0..short.cooldown_start() {
            assert_eq!(short.lr_at(i), s.lr_at(i));
        }
    }

    #[test]
    fn cosine_is_monotone_after_warmup() {
        let s = sched(ScheduleKind::Cosine);
        for i in 5..49 {
            assert!(s.lr_at(i + 1) <= s.lr_at(i));
        }
    }
}
