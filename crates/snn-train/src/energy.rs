//! The paper's energy estimate (§4, SM Table S1): the first layer's synaptic operations are
//! multiply-accumulates (4.6 pJ each, 32-bit float at 45 nm), every later layer's are
//! accumulates (0.9 pJ) triggered by the previous layer's spikes:
//!
//! `E = E_MAC * T * MACs_1 * rate_0 + E_AC * sum_{n>=2} T * MACs_n * rate_{n-1}`
//!
//! where `rate_0` is the input's non-zero ratio (1 for images) and `rate_{n-1}` the firing rate
//! of the layer feeding layer n. Attention's own MACs are not included yet.

use serde::Serialize;
use snn_models::ModelSummary;

/// Energy per operation in picojoules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EnergyModel {
    /// One multiply-accumulate.
    pub mac_pj: f64,
    /// One accumulate.
    pub ac_pj: f64,
}

impl Default for EnergyModel {
    /// 4.6 pJ per MAC, 0.9 pJ per AC (the paper's 45 nm figures).
    fn default() -> Self {
        Self {
            mac_pj: 4.6,
            ac_pj: 0.9,
        }
    }
}

/// Result of [`EnergyModel::estimate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnergyEstimate {
    /// Energy per sample, microjoules.
    pub total_uj: f64,
    /// Energy of each layer, microjoules.
    pub per_layer_uj: Vec<(String, f64)>,
}

impl EnergyModel {
    /// The energy per sample of a network with `summary`'s layers over `steps` time steps,
    /// given the input's non-zero ratio and each layer's firing rate (in layer order).
    pub fn estimate(
        &self,
        summary: &ModelSummary,
        steps: usize,
        input_rate: f64,
        layer_rates: &[f64],
    ) -> EnergyEstimate {
        let mut per_layer_uj = Vec::new();
        for (n, layer) in summary.layers.iter().enumerate() {
            let ops = steps as f64 * layer.macs as f64;
            let pj = if n == 0 {
                self.mac_pj * ops * input_rate
            } else {
                self.ac_pj * ops * layer_rates.get(n - 1).copied().unwrap_or(0.0)
            };
            per_layer_uj.push((layer.name.clone(), pj * 1e-6));
        }
        EnergyEstimate {
            total_uj: per_layer_uj.iter().map(|(_, e)| e).sum(),
            per_layer_uj,
        }
    }
}
