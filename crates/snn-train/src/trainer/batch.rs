//! What the loop trains and evaluates on: labelled batches and the sources that produce them.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// A batch ready for the network: time-first data `[T, B, C, H, W]` (`T = 1` for images),
/// labels, and which sample each row is (several test clips of one sample share it).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledBatch {
    /// `[T, B, C, H, W]`.
    pub shape: [usize; 5],
    /// Row-major values.
    pub data: Vec<f32>,
    /// Class of each row.
    pub labels: Vec<usize>,
    /// Sample index of each row.
    pub samples: Vec<usize>,
}

impl LabelledBatch {
    /// An event batch from the data crate whose rows are the given samples.
    pub fn from_frames(batch: snn_data::loader::Batch, samples: Vec<usize>) -> Self {
        Self {
            shape: [batch.steps, batch.batch, 2, batch.height, batch.width],
            data: batch.data,
            labels: batch.labels,
            samples,
        }
    }

    /// Moves the values into a tensor (the batch keeps its labels and sample ids).
    pub(super) fn take_tensor<B: Backend>(&mut self, device: &B::Device) -> Tensor<B, 5> {
        let data = std::mem::take(&mut self.data);
        Tensor::from_data(TensorData::new(data, self.shape), device)
    }
}

/// Where batches come from. Both methods must be deterministic functions of their arguments
/// (shuffling and random windows seeded by epoch), which is what makes resume exact.
pub trait BatchSource: Sync {
    /// Batches in `epoch`.
    fn batches(&self, epoch: usize) -> usize;
    /// Batch `index` of `epoch`.
    fn batch(&self, epoch: usize, index: usize) -> Result<LabelledBatch, String>;
}
