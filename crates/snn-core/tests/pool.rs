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

/// The fused mean + max descriptor equals burn's `mean_dim` / `max_dim`, forward and gradient,
/// including ties (the gradient goes to the first maximum) and `L = 1`.
#[test]
fn mean_max_matches_mean_dim_and_max_dim() {
    use snn_core::mean_max;
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        for dims in [
            [3, 5, 4],
            [6, 7, 1],
            [3, 21, 1],
            [2, 64, 1],
            [1, 1, 3],
            [2, 4, 2],
        ] {
            let n: usize = dims.iter().product();
            // Coarse values so that ties occur along R.
            let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % 5) as f64 - 2.0).collect();
            let x = Tensor::<B, 3>::from_data(
                TensorData::new(values, dims),
                (&Default::default(), dtype),
            )
            .require_grad();
            let [a, _, l] = dims;
            let weights = |seed: u64| {
                let v: Vec<f64> = (0..a * l)
                    .map(|i| (((i as u64 + seed) * 2_654_435_761) % 97) as f64 / 50.0 - 1.0)
                    .collect();
                Tensor::<B, 2>::from_data(TensorData::new(v, [a, l]), (&Default::default(), dtype))
            };
            let (w_mean, w_max) = (weights(1), weights(2));
            let (mean, max) = mean_max(x.clone());
            let ref_mean = x.clone().mean_dim(1).reshape([a, l]);
            let ref_max = x.clone().max_dim(1).reshape([a, l]);
            let close = |p: Tensor<B, 2>, q: Tensor<B, 2>| {
                let p: Vec<f64> = p.into_data().convert::<f64>().iter::<f64>().collect();
                let q: Vec<f64> = q.into_data().convert::<f64>().iter::<f64>().collect();
                p.iter()
                    .zip(&q)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            };
            assert!(close(mean.clone(), ref_mean.clone()) < tol, "mean {dims:?}");
            assert!(close(max.clone(), ref_max.clone()) < tol, "max {dims:?}");
            let loss = (mean * w_mean.clone()).sum() + (max * w_max.clone()).sum();
            let ref_loss = (ref_mean * w_mean).sum() + (ref_max * w_max).sum();
            let g = x.grad(&loss.backward()).unwrap();
            let g_ref = x.grad(&ref_loss.backward()).unwrap();
            let (g, g_ref) = (
                Tensor::<B, 3>::from_inner(g),
                Tensor::<B, 3>::from_inner(g_ref),
            );
            assert!(
                max_diff(
                    g.reshape([a, dims[1] * l, 1, 1]),
                    g_ref.reshape([a, dims[1] * l, 1, 1])
                ) < tol,
                "gradient {dims:?}"
            );
        }
    }
}

/// The tensor-op default (what CUDA runs) equals the CPU kernel, forward and backward.
#[test]
fn mean_max_default_matches_the_kernel() {
    use burn::tensor::TensorPrimitive;
    use snn_core::pool::{generic_mean_max, generic_mean_max_backward, PoolBackend};
    let dims = [4, 6, 3];
    let values: Vec<f64> = (0..72).map(|i| ((i * 31) % 7) as f64 * 0.5 - 1.0).collect();
    let x = Tensor::<Flex, 3>::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    );
    let g = |seed: usize| {
        let v: Vec<f64> = (0..12).map(|i| ((i + seed) % 5) as f64 - 2.0).collect();
        Tensor::<Flex, 2>::from_data(
            TensorData::new(v, [4, 3]),
            (&Default::default(), DType::F64),
        )
        .into_primitive()
        .tensor()
    };
    let prim = |t: Tensor<Flex, 3>| t.into_primitive().tensor();
    let host = |t| -> Vec<f64> {
        Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(t))
            .into_data()
            .iter::<f64>()
            .collect()
    };
    let host2 = |t| -> Vec<f64> {
        Tensor::<Flex, 2>::from_primitive(TensorPrimitive::Float(t))
            .into_data()
            .iter::<f64>()
            .collect()
    };
    let kernel = <Flex as PoolBackend>::mean_max(prim(x.clone()));
    let generic = generic_mean_max::<Flex>(prim(x.clone()));
    let near = |p: Vec<f64>, q: Vec<f64>| p.iter().zip(&q).all(|(p, q)| (p - q).abs() < 1e-14);
    assert!(near(host2(kernel.mean), host2(generic.mean)));
    assert_eq!(host2(kernel.max), host2(generic.max));
    for (mean, max) in [(true, false), (false, true), (true, true)] {
        let forward_max = || <Flex as PoolBackend>::mean_max(prim(x.clone())).max;
        let a = <Flex as PoolBackend>::mean_max_backward(
            prim(x.clone()),
            forward_max(),
            mean.then(|| g(1)),
            max.then(|| g(2)),
        );
        let b = generic_mean_max_backward::<Flex>(
            prim(x.clone()),
            forward_max(),
            mean.then(|| g(1)),
            max.then(|| g(2)),
        );
        let (a, b) = (host(a), host(b));
        assert!(
            a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-14),
            "{mean} {max}"
        );
    }
}
