//! Streaming inference: the event network one time step at a time, with every neuron's state
//! carried between calls, as an event-driven deployment runs it (a frame arrives, spikes come
//! out, nothing waits for the end of the sequence).
//!
//! It computes what the ONNX export computes, step by step: evaluation-mode BatchNorm, the
//! neuron's step equations, output spikes accumulated into rates. Over T steps the rates equal
//! [`EventNet::forward`]'s in evaluation mode.
//!
//! It is a runtime, not an export, so it lives beside the networks it runs: streaming inference
//! needs no ONNX or HDF5 dependency.
//!
//! Official-form attention pools over the whole sequence (TA compares time steps; CA and SA
//! average over T), so a network with attention cannot stream: [`StreamingEventNet::new`]
//! refuses it and lists the layers.

use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::Tensor;
use snn_core::{LifState, ShapeError, SnnBackend};
use thiserror::Error;

use crate::{EventNet, Mode};

/// Why a network cannot stream, or a step cannot continue.
#[derive(Debug, Error)]
pub enum StreamError {
    /// Official-form attention pools over the whole sequence, so these layers are not causal.
    #[error(
        "streaming needs every layer to be causal, but attention pools over the whole sequence \
         in: {}",
        layers.join(", ")
    )]
    Attention {
        /// Each offending layer with its variant, `conv0 (TCSA)`.
        layers: Vec<String>,
    },
    /// A step's frame does not continue the carried state (another batch size or frame size).
    #[error("streaming: {0}")]
    Shape(#[from] ShapeError),
}

/// An event network run step by step.
#[derive(Debug)]
pub struct StreamingEventNet<'a, B: Backend> {
    net: &'a EventNet<B>,
    conv_states: Vec<Option<LifState<B, 4>>>,
    fc_states: Vec<Option<LifState<B, 2>>>,
    counts: Option<Tensor<B, 2>>,
    steps: usize,
}

impl<'a, B: SnnBackend> StreamingEventNet<'a, B> {
    /// Wraps `net`; fails, naming the layers, if any layer has attention.
    pub fn new(net: &'a EventNet<B>) -> Result<Self, StreamError> {
        let mut offending = Vec::new();
        for (i, block) in net.convs.iter().enumerate() {
            if let Some(att) = &block.attention {
                offending.push(format!("conv{i} ({})", att.config().kind.name()));
            }
        }
        for (j, block) in net.fcs.iter().enumerate() {
            if let Some(att) = &block.attention {
                offending.push(format!("fc{j} ({})", att.config().kind.name()));
            }
        }
        if !offending.is_empty() {
            return Err(StreamError::Attention { layers: offending });
        }
        Ok(Self {
            net,
            conv_states: vec![None; net.convs.len()],
            fc_states: vec![None; net.fcs.len()],
            counts: None,
            steps: 0,
        })
    }

    /// Forgets all state: the next step starts a new sequence.
    pub fn reset(&mut self) {
        self.conv_states.iter_mut().for_each(|s| *s = None);
        self.fc_states.iter_mut().for_each(|s| *s = None);
        self.counts = None;
        self.steps = 0;
    }

    /// Steps taken since the start (or the last [`reset`](Self::reset)).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Feeds one frame `[B, C, H, W]` and returns the output spikes of this step,
    /// `[B, classes]`. A frame whose shape differs from the previous step's (a new batch size
    /// without [`reset`](Self::reset)) is an error, after which the stream starts over.
    pub fn step(&mut self, frame: Tensor<B, 4>) -> Result<Tensor<B, 2>, StreamError> {
        let result = self.advance(frame);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn advance(&mut self, frame: Tensor<B, 4>) -> Result<Tensor<B, 2>, StreamError> {
        let mut x = frame;
        for (block, state) in self.net.convs.iter().zip(&mut self.conv_states) {
            let mut y = block.bn.forward(block.conv.forward(x), Mode::Eval);
            if block.pool > 1 {
                y = avg_pool2d(y, [block.pool; 2], [block.pool; 2], [0, 0], true, false);
            }
            let previous = state.take().unwrap_or_else(|| LifState::zeros_like(&y));
            let (spikes, next) = block.lif.step(y, previous)?;
            *state = Some(next);
            x = spikes;
        }
        let [batch, ..] = x.dims();
        let mut x: Tensor<B, 2> = x.reshape([batch as i32, -1]);
        for (block, state) in self.net.fcs.iter().zip(&mut self.fc_states) {
            let y = block.bn.forward(block.linear.forward(x), Mode::Eval);
            let previous = state.take().unwrap_or_else(|| LifState::zeros_like(&y));
            let (spikes, next) = block.lif.step(y, previous)?;
            *state = Some(next);
            x = spikes;
        }
        self.counts = Some(match self.counts.take() {
            Some(counts) => counts + x.clone(),
            None => x.clone(),
        });
        self.steps += 1;
        Ok(x)
    }

    /// The output firing rates so far (`[B, classes]`), or `None` before the first step.
    pub fn rates(&self) -> Option<Tensor<B, 2>> {
        self.counts
            .as_ref()
            .map(|c| c.clone().div_scalar(self.steps as f64))
    }
}
