//! The losses the networks are trained with, in one place for training (`snn-train`, which
//! re-exports this module as `snn_train::loss`) and for the golden verification against the
//! official code ([`crate::official`]).
//!
//! They live here, beside the networks whose outputs they score, rather than in `snn-train`:
//! the golden verification must compute the training loss to compare its gradients, and the
//! layering (`snn-models` <- `snn-train`) lets it see only crates below it. A loss is a few
//! tensor ops with no training state, so it belongs with the model outputs it reads.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// One-hot targets `[B, K]` in `like`'s dtype, optionally smoothed: the true class gets
/// `1 - smoothing + smoothing / K`, every other class `smoothing / K`.
///
/// # Panics
/// If a label is not below `classes`: labels are validated where datasets are read, so this is
/// a programming error, not a data error, and is never silently clamped.
pub fn one_hot<B: Backend>(
    labels: &[usize],
    classes: usize,
    smoothing: f64,
    like: &Tensor<B, 2>,
) -> Tensor<B, 2> {
    let off = smoothing / classes as f64;
    let mut values = vec![off; labels.len() * classes];
    for (i, &label) in labels.iter().enumerate() {
        assert!(
            label < classes,
            "label {label} of sample {i} is not below the {classes} classes"
        );
        values[i * classes + label] = 1.0 - smoothing + off;
    }
    Tensor::from_data(
        TensorData::new(values, [labels.len(), classes]),
        (&like.device(), like.dtype()),
    )
}

/// Mean squared error between output firing rates `[B, K]` and targets of the same shape,
/// averaged over `B x K` (PyTorch's `MSELoss()`).
pub fn mse<B: Backend>(rates: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    (rates - target).square().mean()
}

/// The official event-model loss: [`mse`] between output firing rates `[B, K]` and one-hot
/// targets.
pub fn mse_rate<B: Backend>(rates: Tensor<B, 2>, labels: &[usize]) -> Tensor<B, 1> {
    let classes = rates.dims()[1];
    let target = one_hot(labels, classes, 0.0, &rates);
    mse(rates, target)
}

/// Cross-entropy of logits `[B, K]` with label smoothing, averaged over the batch (PyTorch's
/// `CrossEntropyLoss(label_smoothing=...)`).
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: &[usize],
    smoothing: f64,
) -> Tensor<B, 1> {
    let classes = logits.dims()[1];
    let target = one_hot(labels, classes, smoothing, &logits);
    (log_softmax(logits, 1) * target).sum_dim(1).mean().neg()
}
