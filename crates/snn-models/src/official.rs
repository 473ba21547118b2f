//! Golden equivalence with the official PyTorch code: rebuild the model a fixture describes,
//! load its parameters, run one training step and an evaluation pass, and compare everything
//! the fixture recorded (outputs, loss, gradients, BatchNorm state, firing rates). The step's
//! loss is the training loss itself, from [`crate::loss`].
//!
//! The fixture format is described in `tests/fixtures/official/README.md`.

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor, TensorData};
use ma_attention::AttentionKind;
use serde::Deserialize;
use snn_core::{LifConfig, SnnBackend, Surrogate};

use crate::error::ModelError;
use crate::event::EventNetConfig;
use crate::loss::{cross_entropy, mse};
use crate::resnet::ResSnnConfig;
use crate::state::{load_official, NamedSlot, OfficialSlots, StateDict};
use crate::Mode;

/// The `config` metadata of a fixture file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct FixtureConfig {
    /// `event` or `resnet`.
    pub kind: String,
    /// Attention variant name (`no`, `TA`, ..., `TCSA`).
    pub attention: String,
    /// Time steps.
    #[serde(rename = "T")]
    pub steps: usize,
    /// Conv channels (event) or stage widths (resnet).
    pub channels: Vec<usize>,
    /// Classes.
    pub classes: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Firing threshold.
    pub vth: f64,
    /// Rectangle surrogate half-width.
    pub lens: f64,
    /// Event nets: decay (`alpha` in the official code).
    pub alpha: Option<f64>,
    /// Res-SNN: decay.
    pub decay: Option<f64>,
    /// Event nets: hidden FC width.
    pub fc_hidden: Option<usize>,
    /// Temporal reduction.
    pub t_ratio: Option<usize>,
    /// Channel reduction.
    pub c_ratio: Option<usize>,
    /// SA kernel.
    pub sa_kernel: Option<usize>,
    /// Res-SNN: blocks per stage.
    pub blocks: Option<Vec<usize>>,
}

/// The largest error of one group of recorded values.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupResult {
    /// `train.output`, `train.loss`, `grad`, `after`, `eval.output` or `rate`.
    pub group: &'static str,
    /// Largest norm-wise relative error over the group's keys.
    pub max_rel_error: f64,
    /// The key with that error.
    pub worst_key: String,
    /// Number of keys compared.
    pub keys: usize,
}

/// Result of [`verify_fixture`].
#[derive(Debug, Clone)]
pub struct Verification {
    /// The fixture file.
    pub file: PathBuf,
    /// Its configuration.
    pub config: FixtureConfig,
    /// One entry per group.
    pub groups: Vec<GroupResult>,
}

impl Verification {
    /// Whether every group is within `tolerance`.
    pub fn passed(&self, tolerance: f64) -> bool {
        self.groups.iter().all(|g| g.max_rel_error <= tolerance)
    }
}

/// `||a - b|| / scale`, with `scale = ||b||` unless given (0-norm references compare absolutely).
fn rel_error(ours: &[f64], theirs: &[f64], scale: Option<f64>) -> f64 {
    if ours.len() != theirs.len() {
        return f64::INFINITY;
    }
    let diff = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let scale = scale.unwrap_or_else(|| theirs.iter().map(|b| b * b).sum::<f64>().sqrt());
    if scale > 0.0 {
        diff / scale
    } else {
        diff
    }
}

struct Groups(Vec<GroupResult>);

impl Groups {
    fn record(&mut self, group: &'static str, key: &str, err: f64) {
        let err = if err.is_nan() { f64::INFINITY } else { err };
        match self.0.iter_mut().find(|g| g.group == group) {
            Some(g) => {
                g.keys += 1;
                if err > g.max_rel_error {
                    g.max_rel_error = err;
                    g.worst_key = key.to_owned();
                }
            }
            None => self.0.push(GroupResult {
                group,
                max_rel_error: err,
                worst_key: key.to_owned(),
                keys: 1,
            }),
        }
    }
}

fn values<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Runs the fixture at `path` in f64 on backend `B` and compares every recorded group.
pub fn verify_fixture<B>(path: &Path, device: &B::Device) -> Result<Verification, ModelError>
where
    B: AutodiffBackend + SnnBackend,
{
    verify_fixture_in::<B>(path, device, DType::F64)
}

/// [`verify_fixture`] with the weights, input and target in `dtype`: for backends without
/// (complete) f64 support, such as wgpu on Vulkan, at a tolerance that suits `dtype`.
pub fn verify_fixture_in<B>(
    path: &Path,
    device: &B::Device,
    dtype: DType,
) -> Result<Verification, ModelError>
where
    B: AutodiffBackend + SnnBackend,
{
    let state = StateDict::read(path)?;
    let format = |message: String| ModelError::Format {
        path: path.to_owned(),
        message,
    };
    let raw = state
        .metadata
        .get("config")
        .ok_or_else(|| format("no `config` metadata".into()))?;
    let config: FixtureConfig =
        serde_json::from_str(raw).map_err(|e| format(format!("bad `config` metadata: {e}")))?;
    let attention: AttentionKind = config.attention.parse()?;
    let params = state.with_prefix("param.");
    let tensor = |name: &str| {
        state
            .tensors
            .get(name)
            .cloned()
            .ok_or_else(|| format(format!("missing tensor `{name}`")))
    };
    let mut groups = Groups(Vec::new());
    let compare = |groups: &mut Groups,
                   group: &'static str,
                   key: &str,
                   ours: &[f64]|
     -> Result<(), ModelError> {
        let theirs = state
            .values(key)
            .ok_or_else(|| format(format!("missing tensor `{key}`")))?;
        groups.record(group, key, rel_error(ours, &theirs, None));
        Ok(())
    };

    match config.kind.as_str() {
        "event" => {
            let mut net_config = EventNetConfig::gesture(config.steps, attention);
            net_config.channels = config.channels.clone();
            net_config.height = config.height;
            net_config.width = config.width;
            net_config.classes = config.classes;
            net_config.fc_hidden = config.fc_hidden.unwrap_or(net_config.fc_hidden);
            net_config.t_ratio = config.t_ratio.unwrap_or(net_config.t_ratio);
            net_config.c_ratio = config.c_ratio.unwrap_or(net_config.c_ratio);
            net_config.sa_kernel = config.sa_kernel.unwrap_or(net_config.sa_kernel);
            net_config.neuron = LifConfig::ma_snn_event()
                .with_decay(config.alpha.unwrap_or(0.3))
                .with_threshold(config.vth)
                .with_surrogate(Surrogate::Rectangle { lens: config.lens });
            let mut net = net_config.init::<B>(device)?;
            load_official(&mut net, &params, dtype, device)?;

            // Official layout [B, T, C, H, W] -> ours [T, B, C, H, W].
            let input: Tensor<B, 5> =
                Tensor::from_data(tensor("input")?.convert_dtype(dtype), (device, dtype));
            let input = input.swap_dims(0, 1);
            let target: Tensor<B, 2> =
                Tensor::from_data(tensor("target")?.convert_dtype(dtype), (device, dtype));
            let out = net.forward(input.clone(), Mode::Train);
            let loss = mse(out.rates.clone(), target);
            compare(
                &mut groups,
                "train.output",
                "train.output",
                &values(out.rates.clone()),
            )?;
            compare(
                &mut groups,
                "train.loss",
                "train.loss",
                &values(loss.clone()),
            )?;
            for (name, stats) in &out.layers {
                compare(
                    &mut groups,
                    "rate",
                    &format!("rate.{name}"),
                    &[stats.rate()],
                )?;
            }
            let grads = loss.backward();
            compare_slots(&mut net, &state, &grads, &mut groups)?;
            let eval = net.forward(input, Mode::Eval);
            compare(
                &mut groups,
                "eval.output",
                "eval.output",
                &values(eval.rates),
            )?;
        }
        "resnet" => {
            let widths: [usize; 4] = config
                .channels
                .clone()
                .try_into()
                .map_err(|_| format("resnet fixtures need 4 stage widths".into()))?;
            let blocks: [usize; 4] = config
                .blocks
                .clone()
                .unwrap_or(vec![2, 2, 2, 2])
                .try_into()
                .map_err(|_| format("resnet fixtures need 4 block counts".into()))?;
            let mut net_config = ResSnnConfig::resnet18(config.classes, config.steps, attention);
            net_config.widths = widths;
            net_config.blocks = blocks;
            net_config.c_ratio = config.c_ratio.unwrap_or(net_config.c_ratio);
            net_config.sa_kernel = config.sa_kernel.unwrap_or(net_config.sa_kernel);
            // The fixtures leave dropout out so that the step is deterministic.
            net_config.dropout = 0.0;
            net_config.neuron = LifConfig::ms_resnet()
                .with_decay(config.decay.unwrap_or(0.25))
                .with_threshold(config.vth)
                .with_surrogate(Surrogate::Rectangle { lens: config.lens });
            let mut net = net_config.init::<B>(device)?;
            load_official(&mut net, &params, dtype, device)?;

            let input: Tensor<B, 4> =
                Tensor::from_data(tensor("input")?.convert_dtype(dtype), (device, dtype));
            let target = tensor("target")?;
            let labels = target
                .iter::<i64>()
                .map(|id| usize::try_from(id).ok().filter(|&id| id < config.classes))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| {
                    format(format!(
                        "`target` holds a class id outside 0..{}",
                        config.classes
                    ))
                })?;
            let out = net.forward(input.clone(), Mode::Train);
            let loss = cross_entropy(out.logits.clone(), &labels, 0.0);
            compare(
                &mut groups,
                "train.output",
                "train.output",
                &values(out.logits.clone()),
            )?;
            compare(
                &mut groups,
                "train.loss",
                "train.loss",
                &values(loss.clone()),
            )?;
            compare(&mut groups, "rate", "rate.head", &[out.head.rate()])?;
            let grads = loss.backward();
            compare_slots(&mut net, &state, &grads, &mut groups)?;
            let eval = net.forward(input, Mode::Eval);
            compare(
                &mut groups,
                "eval.output",
                "eval.output",
                &values(eval.logits),
            )?;
        }
        other => return Err(format(format!("unknown fixture kind `{other}`"))),
    }
    Ok(Verification {
        file: path.to_owned(),
        config,
        groups: groups.0,
    })
}

/// Compares every parameter gradient with `grad.<name>` and every buffer with `after.<name>`.
/// Pre-BatchNorm biases have gradients that are zero up to rounding, so they are measured
/// against the norm of their weight's gradient (the fixture README's rule).
fn compare_slots<B: AutodiffBackend, M: OfficialSlots<B>>(
    model: &mut M,
    state: &StateDict,
    grads: &B::Gradients,
    groups: &mut Groups,
) -> Result<(), ModelError> {
    let mut slots: Vec<NamedSlot<'_, B>> = Vec::new();
    model.official_slots("", &mut slots);
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    for slot in &slots {
        let is_buffer = matches!(slot.slot, crate::state::Slot::Buffer(_));
        if is_buffer {
            let key = format!("after.{}", slot.name);
            let ours: Vec<f64> = slot.read().iter::<f64>().collect();
            let err = match state.values(&key) {
                Some(theirs) => rel_error(&ours, &theirs, None),
                None => f64::INFINITY,
            };
            groups.record("after", &key, err);
            continue;
        }
        let key = format!("grad.{}", slot.name);
        let ours: Vec<f64> = slot
            .grad(grads)
            .map(|d: TensorData| d.iter::<f64>().collect())
            .unwrap_or_default();
        let err = match state.values(&key) {
            None => f64::INFINITY,
            Some(theirs) => {
                let pre_bn_bias =
                    slot.name.ends_with("conv2d.bias") || slot.name.ends_with("linear.bias");
                let scale = pre_bn_bias
                    .then(|| {
                        state
                            .values(&key.replace(".bias", ".weight"))
                            .map(|w| norm(&w))
                    })
                    .flatten();
                rel_error(&ours, &theirs, scale)
            }
        };
        groups.record("grad", &key, err);
    }
    Ok(())
}
