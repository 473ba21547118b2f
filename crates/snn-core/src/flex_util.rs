//! Helpers shared by the `Flex` (CPU) kernels of every op: the element types they run on,
//! constants in those types, and moving between `FlexTensor`s and plain slices.
//! [`crate::cube_util`] is its CubeCL counterpart.

use burn::tensor::{Shape, TensorData};
use burn_flex::FlexTensor;
use num_traits::Float;

/// Element types the CPU kernels run on (f32 and f64; other dtypes take the generic path).
pub trait KernelFloat: Float + Send + Sync + bytemuck::Pod + burn::tensor::Element {}
impl KernelFloat for f32 {}
impl KernelFloat for f64 {}

/// An f64 constant in the kernel's element type.
pub(crate) fn cast<E: Float>(x: f64) -> E {
    E::from(x).expect("every f64 converts to a float type")
}

/// The single value of a one-element tensor (a decay, a scale), as f64.
pub(crate) fn flex_scalar(tensor: FlexTensor) -> f64 {
    tensor
        .into_data()
        .iter::<f64>()
        .next()
        .expect("the tensor holds one value")
}

/// A tensor of `shape` owning `values`.
pub(crate) fn flex_from_vec<E: KernelFloat>(values: Vec<E>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `tensor` with a row-major, offset-free layout (a copy only when it has another).
pub(crate) fn contiguous<E: KernelFloat>(tensor: &FlexTensor) -> FlexTensor {
    let tensor = tensor.to_contiguous();
    debug_assert!(tensor.as_slice::<E>().is_some());
    tensor
}

/// The elements of a contiguous tensor of element type `E`.
pub(crate) fn typed_slice<E: KernelFloat>(tensor: &FlexTensor) -> &[E] {
    tensor
        .as_slice::<E>()
        .expect("a contiguous tensor of the dispatched dtype")
}
