//! Helpers shared by the kernel tests: a tiny deterministic generator, f64 tensors on
//! `Autodiff<Flex>`, and tolerance checks. Each test file uses a subset.
#![allow(dead_code)]

#[cfg(any(feature = "cuda", feature = "vulkan"))]
pub mod cube_device;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor, TensorData};

/// The autodiff backend the f64 tests run on.
pub type B = Autodiff<Flex>;

/// The workspace's seeded test data (SplitMix64).
pub use snn_testkit::{max_abs_diff, Rng};

pub fn tensor<const D: usize>(values: Vec<f64>, dims: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    )
}

pub fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// An f64 tensor on `Flex` itself (no autodiff), for kernels called outside the graph.
pub fn flex_tensor<const D: usize>(values: Vec<f64>, dims: [usize; D]) -> Tensor<Flex, D> {
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    )
}

/// Values of an inner-backend tensor (a gradient).
pub fn inner_values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

pub fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| f64::max(m, v.abs()))
}

/// Asserts `|a - b| <= tol * max(1, max|b|)` element-wise.
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let scale = max_abs(b).max(1.0);
    let diff = max_abs_diff(a, b);
    assert!(
        diff <= tol * scale,
        "{what}: differs by {diff} (scale {scale}, tolerance {tol})"
    );
}
