//! [`AttentionLif`]: the plug-and-play unit, attention followed by a LIF neuron, in either form.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use snn_core::neuron::reference::{next_state, spike_straight_through};
use snn_core::{Lif, LifConfig, SnnBackend};

use crate::block::{reshape_like, AttentionWeights, MultiDimAttention};
use crate::config::{AttentionConfig, AttentionForm};
use crate::error::AttentionError;

/// Configuration of an [`AttentionLif`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttentionLifConfig {
    /// The attention block (its `form` decides how it is wired into the neuron).
    pub attention: AttentionConfig,
    /// The neuron.
    pub neuron: LifConfig,
}

impl AttentionLifConfig {
    /// Builds attention and neuron after checking both configurations.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<AttentionLif<B>, AttentionError> {
        Ok(AttentionLif {
            attention: self.attention.init(device)?,
            lif: self.neuron.init(device)?,
        })
    }
}

/// Attention + LIF: put it between a layer's conv/BN/pool output (reshaped to the time-first
/// `[T, B, C, H, W]`) and the next layer, in place of a bare neuron.
///
/// - Official form: the attention rescales the whole input sequence, then the fused neuron runs.
/// - Paper form: TA rescales the input; then, at each step, `U = H + X[t]` is rescaled by CA and
///   SA computed from `U` itself (`U <- g(U) * U`) before the spike test and reset. This runs the
///   recurrence step by step with tensor ops (no fused kernel).
///
/// ```
/// use burn::backend::{Autodiff, Flex};
/// use burn::nn::conv::Conv2dConfig;
/// use burn::nn::PaddingConfig2d;
/// use burn::tensor::{Distribution, Tensor};
/// use ma_attention::{AttentionConfig, AttentionKind, AttentionLifConfig};
/// use snn_core::LifConfig;
///
/// type B = Autodiff<Flex>;
/// let device = Default::default();
/// let (steps, batch) = (8, 2);
///
/// // A user's own layer: conv on every frame, then TCSA attention and the neuron.
/// let conv = Conv2dConfig::new([2, 16], [3, 3])
///     .with_padding(PaddingConfig2d::Same)
///     .init::<B>(&device);
/// let attention_lif = AttentionLifConfig {
///     attention: AttentionConfig::official(AttentionKind::Tcsa, steps, 16).with_t_ratio(4),
///     neuron: LifConfig::ma_snn_event(),
/// }
/// .init::<B>(&device)
/// .unwrap();
///
/// let events = Tensor::<B, 5>::random([steps, batch, 2, 12, 12], Distribution::Uniform(0.0, 2.0), &device);
/// let frames = conv
///     .forward(events.reshape([steps * batch, 2, 12, 12]))
///     .reshape([steps, batch, 16, 12, 12]);
/// let spikes = attention_lif.forward(frames.clone());
/// assert_eq!(spikes.dims(), [steps, batch, 16, 12, 12]);
///
/// // What did it attend to? Temporal weights [T, B], one channel vector and one map per sample.
/// let (_, weights) = attention_lif.forward_with_weights(frames);
/// assert_eq!(weights.temporal.unwrap().dims(), [steps, batch]);
/// assert_eq!(weights.spatial.unwrap().dims(), [1, batch, 12, 12]);
/// ```
#[derive(Module, Debug)]
pub struct AttentionLif<B: Backend> {
    /// The attention block.
    pub attention: MultiDimAttention<B>,
    /// The neuron.
    pub lif: Lif<B>,
}

impl<B: SnnBackend> AttentionLif<B> {
    /// Spikes `[T, B, ...]` of the attended input.
    ///
    /// # Panics
    /// If the input does not fit the attention block (see
    /// [`MultiDimAttention::check_input`]).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.forward_with_weights(x).0
    }

    /// [`AttentionLif::forward`], also returning the attention weights.
    pub fn forward_with_weights<const D: usize>(
        &self,
        x: Tensor<B, D>,
    ) -> (Tensor<B, D>, AttentionWeights<B>) {
        match self.attention.config().form {
            AttentionForm::Official => {
                let (attended, weights) = self.attention.forward_with_weights(x);
                (self.lif.forward(attended), weights)
            }
            AttentionForm::Paper => self.forward_paper(x),
        }
    }

    fn forward_paper<const D: usize>(
        &self,
        x: Tensor<B, D>,
    ) -> (Tensor<B, D>, AttentionWeights<B>) {
        if let Err(err) = self.attention.check_input(&x.dims()) {
            panic!("{err}");
        }
        let mut weights = AttentionWeights {
            temporal: None,
            channel: None,
            spatial: None,
        };
        let x = match &self.attention.temporal {
            Some(ta) => {
                let (attended, g) = ta.forward_with_weights(x);
                weights.temporal = Some(g);
                attended
            }
            None => x,
        };
        let (ca, sa) = (&self.attention.channel, &self.attention.spatial);
        if ca.is_none() && sa.is_none() {
            return (self.lif.forward(x), weights);
        }

        // CA/SA inside the recurrence: the input is [T, B, C, H, W] (checked above).
        let dims = x.dims();
        let [steps, batch, channels, height, width] = [dims[0], dims[1], dims[2], dims[3], dims[4]];
        let rule = self.lif.config().rule;
        let decay: Tensor<B, 4> = self.lif.decay(&x).reshape([1, 1, 1, 1]);
        let x: Tensor<B, 5> = x.reshape([steps, batch, channels, height, width]);
        let mut state = x
            .clone()
            .slice(0..1)
            .zeros_like()
            .reshape([batch, channels, height, width]);
        let (mut spikes, mut channel_w, mut spatial_w) = (Vec::new(), Vec::new(), Vec::new());
        for t in 0..steps {
            let x_t: Tensor<B, 4> = x
                .clone()
                .slice(t..t + 1)
                .reshape([batch, channels, height, width]);
            let mut u = state + x_t;
            if let Some(ca) = ca {
                let g = ca.step_weights(&u);
                channel_w.push(g.clone().reshape([1, batch, channels]));
                u = u * g.reshape([batch, channels, 1, 1]);
            }
            if let Some(sa) = sa {
                let g = sa.step_weights(&u);
                spatial_w.push(g.clone().reshape([1, batch, height, width]));
                u = u * g.reshape([batch, 1, height, width]);
            }
            let s = spike_straight_through(u.clone().sub_scalar(rule.threshold), &rule);
            state = next_state(u, s.clone(), decay.clone(), &rule);
            spikes.push(s.reshape([1, batch, channels, height, width]));
        }
        weights.channel = (!channel_w.is_empty()).then(|| Tensor::cat(channel_w, 0));
        weights.spatial = (!spatial_w.is_empty()).then(|| Tensor::cat(spatial_w, 0));
        (reshape_like(Tensor::cat(spikes, 0)), weights)
    }
}
