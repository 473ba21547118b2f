//! [`MultiDimAttention`]: the TA -> CA -> SA combination of one layer.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use snn_core::{attention_scale, scaled_mean_max, PoolBackend, ScaleBackend};

use crate::channel::ChannelAttention;
use crate::config::AttentionConfig;
use crate::error::{AttentionError, InputMismatch};
use crate::spatial::SpatialAttention;
use crate::temporal::TemporalAttention;

/// The attention weights of one forward pass, for inspection and plots. `S` is 1 in the
/// official form (one vector/map per sample, shared by all steps) and `T` in the paper form.
#[derive(Debug, Clone)]
pub struct AttentionWeights<B: Backend> {
    /// Temporal weights `[T, B]`.
    pub temporal: Option<Tensor<B, 2>>,
    /// Channel weights `[S, B, C]`.
    pub channel: Option<Tensor<B, 3>>,
    /// Spatial weights `[S, B, H, W]`.
    pub spatial: Option<Tensor<B, 4>>,
}

impl<B: Backend> AttentionWeights<B> {
    fn empty() -> Self {
        Self {
            temporal: None,
            channel: None,
            spatial: None,
        }
    }
}

/// The attention block of one layer: the configured dimensions, each rescaling the output of
/// the previous one (T, then C, then S), then an optional ReLU.
///
/// [`MultiDimAttention::forward`] is the official code's sequence-level form. For the paper
/// form, where CA and SA act inside the neuron recurrence, use
/// [`AttentionLif`](crate::AttentionLif).
#[derive(Module, Debug)]
pub struct MultiDimAttention<B: Backend> {
    /// Temporal attention, when the variant contains T.
    pub temporal: Option<TemporalAttention<B>>,
    /// Channel attention, when the variant contains C.
    pub channel: Option<ChannelAttention<B>>,
    /// Spatial attention, when the variant contains S.
    pub spatial: Option<SpatialAttention<B>>,
    #[module(skip)]
    config: AttentionConfig,
}

impl AttentionConfig {
    /// Builds the block after checking the configuration.
    pub fn init<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<MultiDimAttention<B>, AttentionError> {
        self.validate()?;
        Ok(MultiDimAttention {
            temporal: self
                .kind
                .temporal()
                .then(|| TemporalAttention::new(self.steps, self.temporal_hidden(), device)),
            channel: self
                .kind
                .channel()
                .then(|| ChannelAttention::new(self.channels, self.channel_hidden(), device)),
            spatial: self
                .kind
                .spatial()
                .then(|| SpatialAttention::new(self.sa_kernel, device)),
            config: *self,
        })
    }
}

impl<B: Backend> MultiDimAttention<B> {
    /// The configuration the block was built from.
    pub fn config(&self) -> &AttentionConfig {
        &self.config
    }

    /// Checks that `dims` (`[T, B, ...]`) fits this block: `T` and, for CA/SA, a
    /// `[T, B, C, H, W]` layout with the configured `C`.
    pub fn check_input(&self, dims: &[usize]) -> Result<(), AttentionError> {
        let shape_err = |mismatch: InputMismatch| {
            Err(AttentionError::Shape {
                dims: dims.to_vec(),
                mismatch,
            })
        };
        if dims.len() < 3 {
            return shape_err(InputMismatch::Rank);
        }
        if self.temporal.is_some() && dims[0] != self.config.steps {
            return shape_err(InputMismatch::Steps {
                expected: self.config.steps,
            });
        }
        if self.channel.is_some() || self.spatial.is_some() {
            if dims.len() != 5 {
                return shape_err(InputMismatch::Layout);
            }
            if self.channel.is_some() && dims[2] != self.config.channels {
                return shape_err(InputMismatch::Channels {
                    expected: self.config.channels,
                });
            }
        }
        Ok(())
    }
}

impl<B: PoolBackend + ScaleBackend> MultiDimAttention<B> {
    /// Official form: rescales the pre-neuron input of a whole sequence `[T, B, ...]` (rank 5
    /// when CA or SA is used; any rank >= 3 for TA alone, e.g. `[T, B, F]` in FC layers).
    ///
    /// # Panics
    /// If the input does not fit ([`MultiDimAttention::check_input`] says why).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.forward_with_weights(x).0
    }

    /// [`MultiDimAttention::forward`], also returning the weights it applied.
    ///
    /// Computed as the official code's successive rescalings, `x * g_t`, then `* g_c`, then
    /// `* g_s`, then the ReLU, but without writing every intermediate:
    /// - TA's and CA's squeezes both come from one mean/max pass over `x` per `(t, b, c)`:
    ///   TA reduces it over `C`, and CA's squeeze of `x * g_t` is that of `x` scaled by `g_t`
    ///   (the gain is non-negative, so it commutes with the maximum as well as the mean; the
    ///   sums differ from the official order in rounding only, and where a sigmoid gain is
    ///   exactly 0 the maximum's gradient to `g_t` goes to the first maximum of `x`);
    /// - SA squeezes `x * g_t * g_c` with [`scaled_mean_max`], which does not write it;
    /// - the three rescalings and the ReLU are one [`attention_scale`] pass.
    pub fn forward_with_weights<const D: usize>(
        &self,
        x: Tensor<B, D>,
    ) -> (Tensor<B, D>, AttentionWeights<B>) {
        let dims = x.dims();
        if let Err(err) = self.check_input(&dims) {
            panic!("{err}");
        }
        let relu = self.config.trailing_relu && self.config.kind != crate::AttentionKind::None;
        let (steps, batch) = (dims[0], dims[1]);
        // `[T, B, C, S]`: channels and pixels for rank 5, all features as channels otherwise.
        let (channels, pixels) = if D == 5 {
            (dims[2], dims[3] * dims[4])
        } else {
            (dims[2..].iter().product(), 1)
        };
        let x = x.reshape([steps, batch, channels, pixels]);
        let mut weights = AttentionWeights::empty();
        let (mut temporal, mut channel) = (None, None);
        if let Some(ca) = &self.channel {
            let (mut avg, mut max) = ChannelAttention::step_squeeze(&x);
            if let Some(ta) = &self.temporal {
                let g = ta.weights_from_squeeze(
                    avg.clone().mean_dim(2).reshape([steps, batch]),
                    max.clone().max_dim(2).reshape([steps, batch]),
                );
                // CA squeezes `x * g_t`: the gain scales each step's mean and, being
                // non-negative, its maximum.
                let per_step = g.clone().reshape([steps, batch, 1]);
                avg = avg * per_step.clone();
                max = max * per_step;
                temporal = Some(g);
            }
            channel = Some(ca.weights_from_step_squeeze(avg, max));
        } else if let Some(ta) = &self.temporal {
            temporal = Some(ta.weights(&x));
        }
        weights.temporal = temporal.clone();
        weights.channel = channel.clone().map(|g| g.reshape([1, batch, channels]));
        let out = match &self.spatial {
            Some(sa) => {
                // SA squeezes `x * g_t * g_c` without it being written; all three gains then
                // rescale `x` in one pass (the same product, in the same order).
                let (avg, max) = scaled_mean_max(x.clone(), temporal.clone(), channel.clone());
                let g = sa.weights_from_squeeze(avg, max, [steps, batch, dims[3], dims[4]]);
                weights.spatial = Some(g.clone().reshape([1, batch, dims[3], dims[4]]));
                attention_scale(x, temporal, channel, Some(g.reshape([batch, pixels])), relu)
            }
            None if temporal.is_some() || channel.is_some() || relu => {
                attention_scale(x, temporal, channel, None, relu)
            }
            None => x,
        };
        (out.reshape(dims), weights)
    }
}

/// A rank-5 tensor as rank `D` (same shape; `D` is 5 whenever this is called).
pub(crate) fn reshape_like<B: Backend, const D: usize>(g: Tensor<B, 5>) -> Tensor<B, D> {
    let dims = g.dims();
    let mut shape = [1usize; D];
    shape.copy_from_slice(&dims[..D]);
    g.reshape(shape)
}
