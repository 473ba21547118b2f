//! One type for every trainable network, so the training loop, checkpoints and commands are
//! written once: [`NetConfig`] (serde, tagged by `"model"`) builds a [`Net`].

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use snn_core::{FiringStats, SnnBackend};
use snn_models::state::NamedSlot;
use snn_models::{
    EventNet, EventNetConfig, Mode, ModelError, ModelSummary, OfficialSlots, PlifNet,
    PlifNetConfig, ResSnn, ResSnnConfig,
};

/// The configuration of any network, tagged by `"model"` in JSON:
/// `{"model": "event", "in_channels": 2, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum NetConfig {
    /// The official 3-layer (Gesture) or 5-layer (Gait) event network.
    Event(EventNetConfig),
    /// The paper's 5-layer PLIF-style event network.
    Plif(PlifNetConfig),
    /// Res-SNN-18/34/104 on images.
    ResSnn(ResSnnConfig),
}

impl NetConfig {
    /// Parses a config; an object without `"model"` is read as an event network (the format
    /// of checkpoints written before the other networks could be trained).
    pub fn from_json(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        if value.get("model").is_some() {
            serde_json::from_value(value)
        } else {
            serde_json::from_value(value).map(NetConfig::Event)
        }
    }

    /// Builds the network (PyTorch-default initialisation).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Net<B>, ModelError> {
        Ok(match self {
            NetConfig::Event(c) => Net::Event(c.init(device)?),
            NetConfig::Plif(c) => Net::Plif(c.init(device)?),
            NetConfig::ResSnn(c) => Net::ResSnn(c.init(device)?),
        })
    }

    /// Time steps `T`.
    pub fn steps(&self) -> usize {
        match self {
            NetConfig::Event(c) => c.steps,
            NetConfig::Plif(c) => c.steps,
            NetConfig::ResSnn(c) => c.steps,
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            NetConfig::Event(c) => c.classes,
            NetConfig::Plif(c) => c.classes,
            NetConfig::ResSnn(c) => c.classes,
        }
    }
}

/// Any network of [`NetConfig`].
// One value per run; the size difference is a few kilobytes of module metadata, moved once per
// optimiser step, which is nothing beside the step itself.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net<B: Backend> {
    /// An [`EventNet`].
    Event(EventNet<B>),
    /// A [`PlifNet`].
    Plif(PlifNet<B>),
    /// A [`ResSnn`].
    ResSnn(ResSnn<B>),
}

/// Output of [`Net::forward`].
#[derive(Debug, Clone)]
pub struct NetOutput<B: Backend> {
    /// Class scores `[B, classes]`: output firing rates (event networks) or logits (Res-SNN).
    pub scores: Tensor<B, 2>,
    /// Per-layer firing statistics, in layer order.
    pub layers: Vec<(String, FiringStats)>,
}

impl<B: Backend> Net<B> {
    /// The configuration the network was built from.
    pub fn config(&self) -> NetConfig {
        match self {
            Net::Event(n) => NetConfig::Event(n.config().clone()),
            Net::Plif(n) => NetConfig::Plif(n.config().clone()),
            Net::ResSnn(n) => NetConfig::ResSnn(n.config().clone()),
        }
    }

    /// Per-layer shapes, parameters, neurons and MACs (Res-SNN at 224 x 224).
    pub fn summary(&self) -> ModelSummary {
        match self {
            Net::Event(n) => n.summary(),
            Net::Plif(n) => n.summary(),
            Net::ResSnn(n) => n.summary("res_snn", 224, 224),
        }
    }
}

impl<B: SnnBackend> Net<B> {
    /// Runs the network on a time-first batch `[T, B, C, H, W]`. Res-SNN takes static images
    /// as a sequence of length 1, `[1, B, 3, H, W]`, and repeats them over its own T.
    ///
    /// # Panics
    /// If a Res-SNN input has more than one step (a data/model mismatch the caller checks).
    pub fn forward(&self, x: Tensor<B, 5>, mode: Mode) -> NetOutput<B> {
        match self {
            Net::Event(n) => {
                let out = n.forward(x, mode);
                NetOutput {
                    scores: out.rates,
                    layers: out.layers,
                }
            }
            Net::Plif(n) => {
                let out = n.forward(x, mode);
                NetOutput {
                    scores: out.rates,
                    layers: out.layers,
                }
            }
            Net::ResSnn(n) => {
                let [t, b, c, h, w] = x.dims();
                assert_eq!(t, 1, "Res-SNN takes images as [1, B, C, H, W]");
                let out = n.forward(x.reshape([b, c, h, w]), mode);
                NetOutput {
                    scores: out.logits,
                    layers: vec![("head".to_owned(), out.head)],
                }
            }
        }
    }
}

impl<B: Backend> OfficialSlots<B> for Net<B> {
    fn official_slots<'a>(&'a mut self, prefix: &str, out: &mut Vec<NamedSlot<'a, B>>) {
        match self {
            Net::Event(n) => n.official_slots(prefix, out),
            Net::Plif(n) => n.official_slots(prefix, out),
            Net::ResSnn(n) => n.official_slots(prefix, out),
        }
    }
}
