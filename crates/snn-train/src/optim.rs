//! Optimisers with PyTorch's update rules (Adam, AdamW, SGD with momentum and Nesterov),
//! global-norm gradient clipping (`torch.nn.utils.clip_grad_norm_`), a check that every gradient
//! is finite, and state that survives a restart.
//!
//! Why not `burn::optim`: its state is keyed by `ParamId`, which a model rebuilt from a
//! checkpoint does not keep, and its norm clipping is per tensor, not global as in PyTorch and
//! the official code. Here the state is keyed by the parameter's module path (`blocks.0.conv.weight`),
//! which is the same for every model built from the same config, so a resumed run continues
//! with exactly the moments it stopped with.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use snn_models::{ModelError, StateDict};
use thiserror::Error;

/// Which optimiser, with PyTorch's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// `torch.optim.Adam` (`weight_decay` is an L2 term added to the gradient).
    Adam {
        /// `(beta1, beta2)`.
        betas: (f64, f64),
        /// Added to the denominator.
        eps: f64,
        /// L2 penalty.
        weight_decay: f64,
    },
    /// `torch.optim.AdamW` (decoupled weight decay: `p *= 1 - lr * weight_decay` first).
    AdamW {
        /// `(beta1, beta2)`.
        betas: (f64, f64),
        /// Added to the denominator.
        eps: f64,
        /// Decoupled decay.
        weight_decay: f64,
    },
    /// `torch.optim.SGD`.
    Sgd {
        /// Momentum factor (0 for plain SGD).
        momentum: f64,
        /// Dampening of the momentum.
        dampening: f64,
        /// L2 penalty.
        weight_decay: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults (the official event-model recipe).
    pub fn adam() -> Self {
        Self::Adam {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// AdamW with PyTorch's defaults (`weight_decay = 0.01`).
    pub fn adamw() -> Self {
        Self::AdamW {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }

    /// SGD with momentum and weight decay (the ImageNet Res-SNN recipe uses 0.9 and 1e-4).
    pub fn sgd(momentum: f64, weight_decay: f64) -> Self {
        Self::Sgd {
            momentum,
            dampening: 0.0,
            weight_decay,
            nesterov: false,
        }
    }
}

/// Optimiser errors.
#[derive(Debug, Error)]
pub enum OptimError {
    /// A gradient holds NaN or an infinity; no parameter was changed.
    #[error(
        "the gradient of {} is not finite (squared norm {norm_sq}); no parameter was updated",
        params.join(", ")
    )]
    NonFiniteGradient {
        /// Every parameter whose gradient is not finite.
        params: Vec<String>,
        /// The first offending squared norm.
        norm_sq: f64,
    },
    /// Reading or writing the state.
    #[error(transparent)]
    State(#[from] ModelError),
    /// Optimiser state that does not fit the model it is applied to (a state file from
    /// another network); nothing was updated.
    #[error(
        "optimiser state for `{param}` holds {state} values, but the model's parameter {}",
        param_len.map(|n| format!("has {n}")).unwrap_or_else(|| "does not exist".into())
    )]
    StateMismatch {
        /// The parameter path.
        param: String,
        /// Values in the state.
        state: usize,
        /// Values in the parameter, if it exists.
        param_len: Option<usize>,
    },
    /// A state file that does not fit this optimiser.
    #[error("{path}: {message}")]
    BadState {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// What one step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// Factor the gradients were scaled by (1 without clipping).
    pub clip_scale: f64,
}

/// Per-parameter state, flattened to one dimension.
#[derive(Debug, Clone)]
struct Slot<B: Backend> {
    /// Adam's first moment or SGD's momentum buffer.
    first: Option<Tensor<B, 1>>,
    /// Adam's second moment.
    second: Option<Tensor<B, 1>>,
}

/// An optimiser over any autodiff module; see the module docs.
#[derive(Debug, Clone)]
pub struct Optim<B: AutodiffBackend> {
    config: OptimizerConfig,
    /// Clip the global gradient norm to this (PyTorch's `clip_grad_norm_`).
    max_grad_norm: Option<f64>,
    /// Completed steps (Adam's bias correction uses it).
    steps: u64,
    state: BTreeMap<String, Slot<B::InnerBackend>>,
}

/// Module paths of every float parameter, in visiting order, with their ids.
#[derive(Default)]
struct Paths {
    stack: Vec<String>,
    found: Vec<(ParamId, String)>,
    /// Elements of each parameter, by path.
    sizes: BTreeMap<String, usize>,
}

impl Paths {
    fn current(&self) -> String {
        self.stack.join(".")
    }
}

impl<B: Backend> ModuleVisitor<B> for Paths {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_owned());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let path = self.current();
        self.sizes
            .insert(path.clone(), param.lazy_shape().num_elements());
        self.found.push((param.id, path));
    }
}

/// Squared norms of the gradients, one `[1]` tensor per parameter that has one.
struct Norms<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    names: &'a BTreeMap<ParamId, String>,
    out: Vec<(String, Tensor<B::InnerBackend, 1>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Norms<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let name = self.names.get(&param.id).cloned().unwrap_or_default();
            self.out.push((name, g.square().sum()));
        }
    }
}

/// Applies the update to every parameter with a gradient.
struct Update<'a, B: AutodiffBackend> {
    config: &'a OptimizerConfig,
    state: &'a mut BTreeMap<String, Slot<B::InnerBackend>>,
    names: &'a BTreeMap<ParamId, String>,
    grads: &'a mut GradientsParams,
    lr: f64,
    scale: f64,
    step: u64,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Update<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<B::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let name = self.names.get(&id).cloned().unwrap_or_default();
        let dims = tensor.dims();
        let n = dims.iter().product::<usize>();
        let require_grad = tensor.is_require_grad();
        let p = tensor.inner().reshape([n]);
        let mut g = grad.reshape([n]);
        if self.scale != 1.0 {
            g = g.mul_scalar(self.scale);
        }
        let slot = self.state.entry(name).or_insert(Slot {
            first: None,
            second: None,
        });
        let lr = self.lr;
        let p = match *self.config {
            OptimizerConfig::Adam {
                betas,
                eps,
                weight_decay,
            }
            | OptimizerConfig::AdamW {
                betas,
                eps,
                weight_decay,
            } => {
                let decoupled = matches!(self.config, OptimizerConfig::AdamW { .. });
                let mut p = p;
                if weight_decay != 0.0 {
                    if decoupled {
                        p = p.mul_scalar(1.0 - lr * weight_decay);
                    } else {
                        g = g + p.clone().mul_scalar(weight_decay);
                    }
                }
                let (b1, b2) = betas;
                let m = match slot.first.take() {
                    Some(m) => m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1),
                    None => g.clone().mul_scalar(1.0 - b1),
                };
                let v = match slot.second.take() {
                    Some(v) => v.mul_scalar(b2) + g.square().mul_scalar(1.0 - b2),
                    None => g.square().mul_scalar(1.0 - b2),
                };
                let t = self.step as i32;
                let bias1 = 1.0 - b1.powi(t);
                let bias2 = 1.0 - b2.powi(t);
                // torch: denom = sqrt(v) / sqrt(bias2) + eps; p -= lr / bias1 * m / denom.
                let denom = v.clone().sqrt().div_scalar(bias2.sqrt()).add_scalar(eps);
                let p = p - m.clone().div(denom).mul_scalar(lr / bias1);
                slot.first = Some(m);
                slot.second = Some(v);
                p
            }
            OptimizerConfig::Sgd {
                momentum,
                dampening,
                weight_decay,
                nesterov,
            } => {
                if weight_decay != 0.0 {
                    g = g + p.clone().mul_scalar(weight_decay);
                }
                if momentum != 0.0 {
                    let buf = match slot.first.take() {
                        Some(b) => b.mul_scalar(momentum) + g.clone().mul_scalar(1.0 - dampening),
                        None => g.clone(),
                    };
                    g = if nesterov {
                        g + buf.clone().mul_scalar(momentum)
                    } else {
                        buf.clone()
                    };
                    slot.first = Some(buf);
                }
                p - g.mul_scalar(lr)
            }
        };
        let mut tensor = Tensor::from_inner(p.reshape(dims));
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

impl<B: AutodiffBackend> Optim<B> {
    /// A fresh optimiser.
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            max_grad_norm: None,
            steps: 0,
            state: BTreeMap::new(),
        }
    }

    /// Clips the global gradient norm to `max_norm` before each step (`clip_grad_norm_`).
    pub fn with_max_grad_norm(mut self, max_norm: Option<f64>) -> Self {
        self.max_grad_norm = max_norm;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of `model` with learning rate `lr`. Every gradient is checked first: a NaN
    /// or infinity anywhere returns [`OptimError::NonFiniteGradient`] naming the parameters,
    /// and nothing is updated (the model is dropped, so keep a checkpoint).
    pub fn step<M: AutodiffModule<B>>(
        &mut self,
        lr: f64,
        model: M,
        mut grads: GradientsParams,
    ) -> Result<(M, StepInfo), OptimError> {
        let mut paths = Paths::default();
        model.visit(&mut paths);
        // State restored from a file must fit the parameters it is applied to.
        for (name, slot) in &self.state {
            let held = [&slot.first, &slot.second]
                .into_iter()
                .flatten()
                .map(|t| t.dims()[0]);
            for len in held {
                if paths.sizes.get(name) != Some(&len) {
                    return Err(OptimError::StateMismatch {
                        param: name.clone(),
                        state: len,
                        param_len: paths.sizes.get(name).copied(),
                    });
                }
            }
        }
        let names: BTreeMap<ParamId, String> = paths.found.into_iter().collect();
        let mut norms = Norms::<B> {
            grads: &grads,
            names: &names,
            out: Vec::new(),
        };
        model.visit(&mut norms);
        let (labels, parts): (Vec<String>, Vec<_>) = norms.out.into_iter().unzip();
        // One transfer for all parameters (it matters on a GPU).
        let squares: Vec<f64> = if parts.is_empty() {
            Vec::new()
        } else {
            let all = Tensor::cat(parts, 0).into_data();
            all.convert::<f64>().to_vec().unwrap_or_default()
        };
        let bad: Vec<(String, f64)> = labels
            .iter()
            .zip(&squares)
            .filter(|(_, s)| !s.is_finite())
            .map(|(n, s)| (n.clone(), *s))
            .collect();
        if let Some((_, first)) = bad.first() {
            return Err(OptimError::NonFiniteGradient {
                norm_sq: *first,
                params: bad.into_iter().map(|(n, _)| n).collect(),
            });
        }
        let grad_norm = squares.iter().sum::<f64>().sqrt();
        let clip_scale = match self.max_grad_norm {
            Some(max) => (max / (grad_norm + 1e-6)).min(1.0),
            None => 1.0,
        };
        self.steps += 1;
        let mut update = Update::<B> {
            config: &self.config,
            state: &mut self.state,
            names: &names,
            grads: &mut grads,
            lr,
            scale: clip_scale,
            step: self.steps,
        };
        let model = model.map(&mut update);
        Ok((
            model,
            StepInfo {
                grad_norm,
                clip_scale,
            },
        ))
    }

    /// The state as a tensor file: `exp_avg.<path>` / `exp_avg_sq.<path>` (Adam) or
    /// `momentum_buffer.<path>` (SGD), with the step count and config in the metadata.
    pub fn state_dict(&self) -> StateDict {
        let (first, second) = match self.config {
            OptimizerConfig::Sgd { .. } => ("momentum_buffer", "unused"),
            _ => ("exp_avg", "exp_avg_sq"),
        };
        let mut tensors = BTreeMap::new();
        for (name, slot) in &self.state {
            if let Some(m) = &slot.first {
                tensors.insert(format!("{first}.{name}"), m.to_data());
            }
            if let Some(v) = &slot.second {
                tensors.insert(format!("{second}.{name}"), v.to_data());
            }
        }
        let mut metadata = std::collections::HashMap::new();
        metadata.insert("steps".to_owned(), self.steps.to_string());
        metadata.insert(
            "config".to_owned(),
            serde_json::to_string(&self.config).unwrap_or_default(),
        );
        StateDict { tensors, metadata }
    }

    /// Writes [`Optim::state_dict`] to `path`.
    pub fn save(&self, path: &Path) -> Result<(), OptimError> {
        Ok(self.state_dict().write(path)?)
    }

    /// Restores the state written by [`Optim::save`]. The file's config must equal this
    /// optimiser's (a resumed run with another optimiser would not be a continuation).
    pub fn load(&mut self, path: &Path, device: &B::Device) -> Result<(), OptimError> {
        let state = StateDict::read(path)?;
        let bad = |message: String| OptimError::BadState {
            path: path.display().to_string(),
            message,
        };
        let saved: OptimizerConfig = state
            .metadata
            .get("config")
            .ok_or_else(|| bad("no `config` in the metadata".into()))
            .and_then(|c| serde_json::from_str(c).map_err(|e| bad(format!("config: {e}"))))?;
        if saved != self.config {
            return Err(bad(format!(
                "saved by {saved:?}, but this run uses {:?}",
                self.config
            )));
        }
        let steps: u64 = state
            .metadata
            .get("steps")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no valid `steps` in the metadata".into()))?;
        let mut slots: BTreeMap<String, Slot<B::InnerBackend>> = BTreeMap::new();
        for (key, data) in &state.tensors {
            let (kind, name) = key
                .split_once('.')
                .ok_or_else(|| bad(format!("unexpected tensor `{key}`")))?;
            let n = data.num_elements();
            let values = TensorData::from_bytes_vec(data.as_bytes().to_vec(), [n], data.dtype);
            let tensor = Tensor::<B::InnerBackend, 1>::from_data(values, (device, data.dtype));
            let slot = slots.entry(name.to_owned()).or_insert(Slot {
                first: None,
                second: None,
            });
            match kind {
                "exp_avg" | "momentum_buffer" => slot.first = Some(tensor),
                "exp_avg_sq" => slot.second = Some(tensor),
                _ => return Err(bad(format!("unexpected tensor `{key}`"))),
            }
        }
        self.steps = steps;
        self.state = slots;
        Ok(())
    }
}
