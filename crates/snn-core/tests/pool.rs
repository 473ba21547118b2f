//! Block average pooling against burn's `avg_pool2d`, forward and gradient, in f64 and f32.

use burn::backend::{Autodiff, Flex};
use burn::tensor::module::avg_pool2d;
use burn::tensor::{DType, Tensor, TensorData};
use snn_core::block_avg_pool2d;

type B = Autodiff<Flex>;

fn input(dims: [usize; 4], dtype: DType, seed: u64) -> Tensor<B, 4> {
    let n: usize = dims.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|i| (((i as u64 + seed) * 2_654_435_761) % 1000) as f64 / 250.0 - 2.0)
        .collect();
    Tensor::from_data(TensorData::new(values, dims), (&Default::default(), dtype))
}

fn max_diff(a: Tensor<B, 4>, b: Tensor<B, 4>) -> f64 {
    let a: Vec<f64> = a.into_data().convert::<f64>().iter::<f64>().collect();
    let b: Vec<f64> = b.into_data().convert::<f64>().iter::<f64>().collect();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn matches_avg_pool2d_and_its_gradient() {
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        for (dims, k) in [
            ([2, 3, 4, 6], 2),
            ([1, 2, 9, 3], 3),
            ([3, 1, 8, 8], 4),
            ([2, 2, 4, 4], 1),
        ] {
            let x = input(dims, dtype, 3).require_grad();
            let w = input([dims[0], dims[1], dims[2] / k, dims[3] / k], dtype, 7);
            let ours = block_avg_pool2d(x.clone(), k);
            let burns = avg_pool2d(x.clone(), [k, k], [k, k], [0, 0], true, false);
            assert!(
                max_diff(ours.clone(), burns.clone()) < tol,
                "{dims:?} k {k}"
            );
            let g_ours = x.grad(&(ours * w.clone()).sum().backward()).unwrap();
            let g_burn = x.grad(&(burns * w).sum().backward()).unwrap();
            let (a, b) = (
                Tensor::<B, 4>::from_inner(g_ours),
                Tensor::<B, 4>::from_inner(g_burn),
            );
            assert!(max_diff(a, b) < tol, "gradient {dims:?} k {k}");
        }
    }
}

#[test]
#[should_panic(expected = "not a multiple of the window")]
fn a_size_that_is_not_a_multiple_is_refused() {
    let x = input([1, 1, 5, 4], DType::F64, 1);
    let _ = block_avg_pool2d(x, 2);
}
