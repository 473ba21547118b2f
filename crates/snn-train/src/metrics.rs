//! Classification metrics.

use serde::Serialize;

/// Index of the largest score of each row of `scores` (`[B, K]` row-major); ties go to the
/// lowest index.
pub fn argmax_rows(scores: &[f32], classes: usize) -> Vec<usize> {
    scores
        .chunks(classes.max(1))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
        })
        .collect()
}

/// Whether each sample's label is among its `k` highest scores (ties broken by lower index).
pub fn top_k_hits(scores: &[f32], classes: usize, labels: &[usize], k: usize) -> Vec<bool> {
    scores
        .chunks(classes.max(1))
        .zip(labels)
        .map(|(row, &label)| {
            let above = row
                .iter()
                .enumerate()
                .filter(|&(i, &v)| v > row[label] || (v == row[label] && i < label))
                .count();
            above < k
        })
        .collect()
}

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    /// Counts by true class, then predicted class.
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// An empty `classes x classes` matrix.
    pub fn new(classes: usize) -> Self {
        Self {
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Adds predictions.
    pub fn add(&mut self, labels: &[usize], predicted: &[usize]) {
        for (&t, &p) in labels.iter().zip(predicted) {
            if let Some(cell) = self.counts.get_mut(t).and_then(|row| row.get_mut(p)) {
                *cell += 1;
            }
        }
    }

    /// Fraction on the diagonal (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().flatten().sum();
        let right: u64 = self.counts.iter().enumerate().map(|(i, row)| row[i]).sum();
        if total == 0 {
            0.0
        } else {
            right as f64 / total as f64
        }
    }
}

/// The official multi-clip vote: a sample is correct when more than half of its clips are.
pub fn majority_vote_correct(clip_hits: &[bool]) -> bool {
    2 * clip_hits.iter().filter(|&&h| h).count() > clip_hits.len()
}
