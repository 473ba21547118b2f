//! Firing statistics: spike counts and rates per layer, per call and accumulated over an epoch.
//!
//! The paper's NASAR (network average spiking activity rate) of a layer is its spike count
//! divided by `T x samples x neurons`; the network's total spikes per sample is the sum over
//! layers of `spikes / samples`.

use serde::{Deserialize, Serialize};

/// Spike statistics of one layer over one or more forward passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FiringStats {
    /// Number of spikes.
    pub spikes: f64,
    /// Neuron updates that could have spiked: `T x samples x neurons per sample`.
    pub neuron_steps: f64,
    /// Samples seen.
    pub samples: f64,
}

impl FiringStats {
    /// Statistics of one call on a time-first input of shape `dims` (`[T, B, ...]`; for a rank-1
    /// `[T]` input the batch is 1).
    pub fn from_count(spikes: f64, dims: &[usize]) -> Self {
        let samples = dims.get(1).copied().unwrap_or(1);
        Self {
            spikes,
            neuron_steps: dims.iter().product::<usize>() as f64,
            samples: samples as f64,
        }
    }

    /// Fraction of neuron updates that spiked (0 when nothing was seen).
    pub fn rate(&self) -> f64 {
        if self.neuron_steps > 0.0 {
            self.spikes / self.neuron_steps
        } else {
            0.0
        }
    }

    /// Mean number of spikes per sample (0 when nothing was seen).
    pub fn spikes_per_sample(&self) -> f64 {
        if self.samples > 0.0 {
            self.spikes / self.samples
        } else {
            0.0
        }
    }

    /// Adds another call's statistics.
    pub fn merge(&mut self, other: &FiringStats) {
        self.spikes += other.spikes;
        self.neuron_steps += other.neuron_steps;
        self.samples += other.samples;
    }
}

/// Per-layer firing statistics accumulated over many batches, in first-recorded order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FiringMonitor {
    layers: Vec<(String, FiringStats)>,
}

impl FiringMonitor {
    /// An empty monitor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one call's statistics to layer `name`.
    pub fn record(&mut self, name: &str, stats: FiringStats) {
        match self.layers.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => total.merge(&stats),
            None => self.layers.push((name.to_owned(), stats)),
        }
    }

    /// The accumulated statistics of each layer.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &FiringStats)> {
        self.layers.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// Statistics of one layer.
    pub fn layer(&self, name: &str) -> Option<&FiringStats> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Firing rate over all layers together: total spikes over total neuron updates.
    pub fn overall_rate(&self) -> f64 {
        let mut all = FiringStats::default();
        for (_, s) in &self.layers {
            all.merge(s);
        }
        all.rate()
    }

    /// Spikes per sample summed over layers (layers may have seen different sample counts only
    /// if recorded inconsistently; each layer is normalised by its own).
    pub fn spikes_per_sample(&self) -> f64 {
        self.layers.iter().map(|(_, s)| s.spikes_per_sample()).sum()
    }

    /// Forgets everything (e.g. at the start of an epoch).
    pub fn clear(&mut self) {
        self.layers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_per_sample_counts() {
        // T = 4, B = 2, 3 neurons: 24 neuron updates.
        let s = FiringStats::from_count(6.0, &[4, 2, 3]);
        assert_eq!(s.rate(), 0.25);
        assert_eq!(s.spikes_per_sample(), 3.0);
        assert_eq!(FiringStats::default().rate(), 0.0);
    }

    #[test]
    fn monitor_accumulates_per_layer_in_order() {
        let mut m = FiringMonitor::new();
        m.record("conv1", FiringStats::from_count(6.0, &[4, 2, 3]));
        m.record("fc", FiringStats::from_count(1.0, &[4, 2, 1]));
        m.record("conv1", FiringStats::from_count(18.0, &[4, 2, 3]));
        let names: Vec<_> = m.layers().map(|(n, _)| n).collect();
        assert_eq!(names, ["conv1", "fc"]);
        assert_eq!(m.layer("conv1").unwrap().rate(), 0.5);
        assert_eq!(m.layer("conv1").unwrap().spikes_per_sample(), 6.0);
        assert_eq!(m.overall_rate(), 25.0 / 56.0);
        assert_eq!(m.spikes_per_sample(), 6.0 + 0.5);
        m.clear();
        assert!(m.layer("fc").is_none());
    }
}
