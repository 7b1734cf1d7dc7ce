//! Splits as experiments: per branch how many runs took it and how many of those reached
//! the experiment's goal, the conversion rate with its 95 % interval (Wilson score), and
//! the difference to the first branch with its two-sided p-value (two-proportion z-test,
//! pooled). The normal distribution is `statrs`'s.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// One split's experiment in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentReport {
    /// The split step.
    pub step: String,
    /// The goal step the branches are compared on.
    pub goal: String,
    pub branches: Vec<BranchResult>,
    /// The branch that won (`winner:` in the experiment), once one has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
}

/// One branch of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BranchResult {
    pub branch: String,
    /// An empty branch: the control group that gets nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holdout: bool,
    /// Runs that took this branch.
    pub entered: u64,
    /// Of those, runs that reached the goal.
    pub converted: u64,
    pub conversion_rate: f64,
    /// The rate's 95 % interval (Wilson score), low and high.
    pub interval: [f64; 2],
    /// This rate minus the first branch's (absent on the first branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    /// Two-sided p-value of that difference (absent on the first branch, or without data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal distribution")
}

/// The z of a two-sided interval at `confidence` (1.96 for 0.95).
pub fn z_for(confidence: f64) -> f64 {
    standard_normal().inverse_cdf(0.5 + confidence / 2.0)
}

/// The Wilson score interval of `converted` out of `entered` at `z`.
pub fn wilson(converted: u64, entered: u64, z: f64) -> [f64; 2] {
    if entered == 0 {
        return [0.0, 0.0];
    }
    let n = entered as f64;
    let p = converted as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// The two-sided p-value that two conversion rates differ (two-proportion z-test with a
/// pooled proportion); `None` when either side has no runs or the pooled rate is 0 or 1.
pub fn p_value(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1, n2) = (n1 as f64, n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (x2 as f64 / n2 - x1 as f64 / n1) / se;
    Some(2.0 * (1.0 - standard_normal().cdf(z.abs())))
}

/// The branches' results from their counts (`(name, holdout, entered, converted)`), the
/// first branch the baseline.
pub fn compare(branches: &[(String, bool, u64, u64)]) -> Vec<BranchResult> {
    let z = z_for(0.95);
    let baseline = branches.first().map(|b| (b.2, b.3));
    branches
        .iter()
        .enumerate()
        .map(|(i, (name, holdout, entered, converted))| {
            let rate = if *entered == 0 {
                0.0
            } else {
                *converted as f64 / *entered as f64
            };
            let against = baseline.filter(|_| i > 0);
            BranchResult {
                branch: name.clone(),
                holdout: *holdout,
                entered: *entered,
                converted: *converted,
                conversion_rate: rate,
                interval: wilson(*converted, *entered, z),
                difference: against
                    .map(|(n0, x0)| rate - if n0 == 0 { 0.0 } else { x0 as f64 / n0 as f64 }),
                p_value: against.and_then(|(n0, x0)| p_value(x0, n0, *converted, *entered)),
            }
        })
        .collect()
}

/// The significance level each comparison with the first branch is held to: `1 −
/// confidence`, shared among the comparisons (Bonferroni), so that with three or more
/// branches the chance of a false winner stays within it.
pub fn alpha(results: &[BranchResult], confidence: f64) -> f64 {
    (1.0 - confidence) / results.len().saturating_sub(1).max(1) as f64
}

/// The branch that wins at `confidence`: the best branch whose rate beats the first
/// branch's with a p-value under [`alpha`] (or the first, if it beats every other that
/// way), every branch having at least `min_per_branch` runs.
pub fn winner(results: &[BranchResult], min_per_branch: u64, confidence: f64) -> Option<usize> {
    if results.len() < 2 || results.iter().any(|b| b.entered < min_per_branch) {
        return None;
    }
    let alpha = alpha(results, confidence);
    let significant = |b: &BranchResult| b.p_value.is_some_and(|p| p < alpha);
    let better: Vec<usize> = (1..results.len())
        .filter(|&i| significant(&results[i]) && results[i].difference.is_some_and(|d| d > 0.0))
        .collect();
    if let Some(best) = better.into_iter().max_by(|&a, &b| {
        results[a]
            .conversion_rate
            .total_cmp(&results[b].conversion_rate)
    }) {
        return Some(best);
    }
    let first_beats_all = results[1..]
        .iter()
        .all(|b| significant(b) && b.difference.is_some_and(|d| d < 0.0));
    first_beats_all.then_some(0)
}
