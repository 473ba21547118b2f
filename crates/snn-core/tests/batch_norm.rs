//! The fused training-mode batch normalisation against a direct computation and against the
//! same formula composed from burn tensor ops under autodiff (f64, `Autodiff<Flex>`), a
//! finite-difference check of the input gradient, the `Flex` kernels against the generic
//! tensor-op path (f64 and f32), `channel_affine`, and the `N * S == 1` edge case.

use burn::backend::Flex;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{DType, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use snn_core::norm::{generic, BatchNormGrads};
use snn_core::{batch_norm_pool_train, batch_norm_train, channel_affine, BatchNormBackend};

mod common;

use common::{assert_close, inner_values, max_abs, max_abs_diff, tensor, values, Rng, B};

const EPS: f64 = 1e-5;

/// The definition, in plain f64 loops: output, mean, biased variance.
fn direct(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    [n, c, s]: [usize; 3],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let count = (n * s) as f64;
    let idx = |i: usize, ch: usize, j: usize| (i * c + ch) * s + j;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for ch in 0..c {
        for i in 0..n {
            for j in 0..s {
                mean[ch] += x[idx(i, ch, j)];
            }
        }
        mean[ch] /= count;
        for i in 0..n {
            for j in 0..s {
                var[ch] += (x[idx(i, ch, j)] - mean[ch]).powi(2);
            }
        }
        var[ch] /= count;
    }
    let mut out = vec![0.0; x.len()];
    for i in 0..n {
        for ch in 0..c {
            for j in 0..s {
                let k = idx(i, ch, j);
                out[k] = (x[k] - mean[ch]) / (var[ch] + eps).sqrt() * w[ch] + b[ch];
            }
        }
    }
    (out, mean, var)
}

/// The same formula composed from burn tensor ops (differentiable through the statistics).
fn composed(x: Tensor<B, 3>, w: Tensor<B, 1>, b: Tensor<B, 1>, eps: f64) -> Tensor<B, 3> {
    let c = x.dims()[1];
    let mean = x.clone().mean_dim(2).mean_dim(0);
    let centred = x - mean;
    let var = centred.clone().square().mean_dim(2).mean_dim(0);
    centred / var.add_scalar(eps).sqrt() * w.reshape([1, c, 1]) + b.reshape([1, c, 1])
}

struct Data {
    x: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    upstream: Vec<f64>,
    dims: [usize; 3],
}

impl Data {
    fn new(seed: u64, dims: [usize; 3]) -> Self {
        let mut rng = Rng::new(seed);
        let n: usize = dims.iter().product();
        // An offset and a scale per element, so the statistics are not trivially 0 and 1.
        let x = rng.uniform(n, -2.0, 3.0);
        let w = rng.uniform(dims[1], 0.5, 1.5);
        let b = rng.uniform(dims[1], -0.5, 0.5);
        let upstream = rng.uniform(n, -1.0, 1.0);
        Self {
            x,
            w,
            b,
            upstream,
            dims,
        }
    }

    /// Output and the gradients (x, weight, bias) of `sum(out * upstream)`.
    fn run(&self, fused: bool) -> [Vec<f64>; 4] {
        let c = self.dims[1];
        let x = tensor(self.x.clone(), self.dims).require_grad();
        let w = tensor(self.w.clone(), [c]).require_grad();
        let b = tensor(self.b.clone(), [c]).require_grad();
        let out = if fused {
            batch_norm_train(x.clone(), w.clone(), b.clone(), EPS).output
        } else {
            composed(x.clone(), w.clone(), b.clone(), EPS)
        };
        let grads = (out.clone() * tensor(self.upstream.clone(), self.dims))
            .sum()
            .backward();
        [
            values(out),
            inner_values(x.grad(&grads).unwrap()),
            inner_values(w.grad(&grads).unwrap()),
            inner_values(b.grad(&grads).unwrap()),
        ]
    }
}

const SHAPES: [[usize; 3]; 5] = [[6, 3, 5], [7, 4, 1], [2, 5, 16], [1, 2, 9], [33, 3, 2]];

#[test]
fn forward_matches_the_definition() {
    for (i, dims) in SHAPES.into_iter().enumerate() {
        let d = Data::new(10 + i as u64, dims);
        let out = batch_norm_train(
            tensor(d.x.clone(), dims),
            tensor(d.w.clone(), [dims[1]]),
            tensor(d.b.clone(), [dims[1]]),
            EPS,
        );
        assert_eq!(out.output.dims(), dims);
        assert_eq!(out.mean.dims(), [dims[1]]);
        assert_eq!(out.var.dims(), [dims[1]]);
        let (y, mean, var) = direct(&d.x, &d.w, &d.b, dims, EPS);
        assert_close(&values(out.output), &y, 1e-12, &format!("{dims:?} output"));
        assert_close(&values(out.mean), &mean, 1e-12, &format!("{dims:?} mean"));
        assert_close(&values(out.var), &var, 1e-12, &format!("{dims:?} var"));
    }
}

#[test]
fn statistics_are_detached() {
    // Adding the mean and variance to the loss changes no gradient: they are detached.
    let dims = [4, 3, 5];
    let d = Data::new(1, dims);
    let grads = |with_stats: bool| {
        let x = tensor(d.x.clone(), dims).require_grad();
        let w = tensor(d.w.clone(), [3]).require_grad();
        let out = batch_norm_train(x.clone(), w.clone(), tensor(d.b.clone(), [3]), EPS);
        assert!(!out.mean.is_require_grad() && !out.var.is_require_grad());
        let mut loss = (out.output * tensor(d.upstream.clone(), dims)).sum();
        if with_stats {
            loss = loss + out.mean.sum().mul_scalar(3.0) + out.var.sum().mul_scalar(5.0);
        }
        let grads = loss.backward();
        [
            inner_values(x.grad(&grads).unwrap()),
            inner_values(w.grad(&grads).unwrap()),
        ]
    };
    assert_eq!(grads(true), grads(false));
}

#[test]
fn gradients_match_composed_tensor_ops() {
    for (i, dims) in SHAPES.into_iter().enumerate() {
        let d = Data::new(20 + i as u64, dims);
        let fused = d.run(true);
        let reference = d.run(false);
        for (k, name) in ["output", "grad x", "grad weight", "grad bias"]
            .iter()
            .enumerate()
        {
            assert_close(&fused[k], &reference[k], 1e-10, &format!("{dims:?} {name}"));
        }
    }
}

#[test]
fn gradients_of_a_subset_of_inputs() {
    // Only the weight and bias, then only the input, require a gradient.
    let dims = [5, 3, 4];
    let d = Data::new(30, dims);
    let reference = d.run(false);
    for (track_x, track_params) in [(false, true), (true, false)] {
        let mut x = tensor(d.x.clone(), dims);
        let mut w = tensor(d.w.clone(), [3]);
        let mut b = tensor(d.b.clone(), [3]);
        if track_x {
            x = x.require_grad();
        }
        if track_params {
            w = w.require_grad();
            b = b.require_grad();
        }
        let out = batch_norm_train(x.clone(), w.clone(), b.clone(), EPS).output;
        let grads = (out * tensor(d.upstream.clone(), dims)).sum().backward();
        assert_eq!(x.grad(&grads).is_some(), track_x);
        assert_eq!(w.grad(&grads).is_some(), track_params);
        if let Some(g) = x.grad(&grads) {
            assert_close(&inner_values(g), &reference[1], 1e-10, "grad x alone");
        }
        if let (Some(gw), Some(gb)) = (w.grad(&grads), b.grad(&grads)) {
            assert_close(&inner_values(gw), &reference[2], 1e-10, "grad weight");
            assert_close(&inner_values(gb), &reference[3], 1e-10, "grad bias");
        }
    }
}

#[test]
fn input_gradient_matches_finite_differences() {
    let dims = [3, 2, 4];
    let d = Data::new(40, dims);
    let analytic = d.run(true)[1].clone();
    let loss = |x: &[f64]| -> f64 {
        let (y, _, _) = direct(x, &d.w, &d.b, dims, EPS);
        y.iter().zip(&d.upstream).map(|(a, b)| a * b).sum()
    };
    let h = 1e-5;
    let numeric: Vec<f64> = (0..d.x.len())
        .map(|k| {
            let (mut plus, mut minus) = (d.x.clone(), d.x.clone());
            plus[k] += h;
            minus[k] -= h;
            (loss(&plus) - loss(&minus)) / (2.0 * h)
        })
        .collect();
    assert!(max_abs(&numeric) > 1e-3, "a meaningful gradient");
    let diff = max_abs_diff(&analytic, &numeric);
    assert!(diff <= 1e-6, "finite differences differ by {diff}");
}

// --- Flex kernels against the generic tensor-op path ------------------------------------------

fn flex(values: &[f64], shape: &[usize], dtype: DType) -> FloatTensor<Flex> {
    let device = Default::default();
    let data = match dtype {
        DType::F32 => TensorData::new(
            values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            shape.to_vec(),
        ),
        _ => TensorData::new(values.to_vec(), shape.to_vec()),
    };
    Flex::float_from_data(data, &device)
}

fn flex_values(t: FloatTensor<Flex>) -> Vec<f64> {
    Tensor::<Flex, 1>::from_primitive(TensorPrimitive::Float(t))
        .into_data()
        .iter::<f64>()
        .collect()
}

/// The kernel's three gradients `a` against the reference `e`: same dtype, close values.
fn assert_grads_close(
    a: BatchNormGrads<Flex>,
    e: BatchNormGrads<Flex>,
    dtype: DType,
    tol: f64,
    what: &dyn Fn(&str) -> String,
) {
    for (name, a, e) in [
        ("grad x", a.input, e.input),
        ("grad weight", a.weight, e.weight),
        ("grad bias", a.bias, e.bias),
    ] {
        assert_eq!(a.dtype(), dtype, "{}", what(name));
        assert_close(&flex_values(a), &flex_values(e), tol, &what(name));
    }
}

#[test]
fn flex_kernel_matches_generic() {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        for (i, dims) in SHAPES.into_iter().enumerate() {
            let d = Data::new(50 + i as u64, dims);
            let c = dims[1];
            let what = |name: &str| format!("{dtype:?} {dims:?} {name}");
            let x = || flex(&d.x, &dims, dtype);
            let w = || flex(&d.w, &[c], dtype);
            let b = || flex(&d.b, &[c], dtype);
            let g = || flex(&d.upstream, &dims, dtype);

            let cpu = Flex::batch_norm_train(x(), w(), b(), EPS, 1);
            let gen = generic::train_forward::<Flex>(x(), w(), b(), EPS, 1);
            for (name, a, e) in [
                ("output", cpu.output.clone(), gen.output),
                ("mean", cpu.mean.clone(), gen.mean),
                ("var", cpu.var.clone(), gen.var),
            ] {
                assert_eq!(a.dtype(), dtype, "{}", what(name));
                assert_close(&flex_values(a), &flex_values(e), tol, &what(name));
            }

            // Both backward passes from the same (kernel) statistics.
            let back = |kernel: bool| {
                let (m, v) = (cpu.mean.clone(), cpu.var.clone());
                if kernel {
                    Flex::batch_norm_train_backward(x(), w(), m, v, EPS, 1, g())
                } else {
                    generic::train_backward::<Flex>(x(), w(), m, v, EPS, 1, g())
                }
            };
            assert_grads_close(back(true), back(false), dtype, tol, &what);
        }
    }
}

#[test]
fn channel_affine_is_a_broadcast_multiply_add() {
    for (i, dims) in [[4, 3, 6], [2, 5, 1], [1, 1, 7]].into_iter().enumerate() {
        let mut rng = Rng::new(60 + i as u64);
        let c = dims[1];
        let x = rng.uniform(dims.iter().product(), -2.0, 2.0);
        let scale = rng.uniform(c, -1.5, 1.5);
        let shift = rng.uniform(c, -1.0, 1.0);
        let expected = values(
            tensor(x.clone(), dims) * tensor(scale.clone(), [c]).reshape([1, c, 1])
                + tensor(shift.clone(), [c]).reshape([1, c, 1]),
        );
        // Through the public function on Autodiff<Flex> ...
        let out = channel_affine(
            tensor(x.clone(), dims),
            tensor(scale.clone(), [c]),
            tensor(shift.clone(), [c]),
        );
        assert_close(&values(out), &expected, 1e-15, "autodiff f64");
        // ... and the Flex kernel directly, f64 and f32.
        for (dtype, tol) in [(DType::F64, 1e-15), (DType::F32, 1e-6)] {
            let out = Flex::channel_affine(
                flex(&x, &dims, dtype),
                flex(&scale, &[c], dtype),
                flex(&shift, &[c], dtype),
            );
            assert_eq!(out.dtype(), dtype);
            assert_close(&flex_values(out), &expected, tol, &format!("{dtype:?}"));
        }
    }
}

#[test]
fn channel_affine_is_differentiable() {
    let dims = [3, 2, 4];
    let mut rng = Rng::new(70);
    let x = tensor(rng.uniform(24, -1.0, 1.0), dims).require_grad();
    let scale = tensor(rng.uniform(2, -1.0, 1.0), [2]).require_grad();
    let shift = tensor(rng.uniform(2, -1.0, 1.0), [2]).require_grad();
    let upstream = tensor(rng.uniform(24, -1.0, 1.0), dims);
    let grads = (channel_affine(x.clone(), scale.clone(), shift.clone()) * upstream.clone())
        .sum()
        .backward();
    let u = values(upstream.clone());
    let xs = values(x.clone());
    let sc = values(scale.clone());
    let mut gx = vec![0.0; 24];
    let (mut gs, mut gb) = (vec![0.0; 2], vec![0.0; 2]);
    for (k, (&uk, &xk)) in u.iter().zip(&xs).enumerate() {
        let ch = (k / 4) % 2;
        gx[k] = uk * sc[ch];
        gs[ch] += uk * xk;
        gb[ch] += uk;
    }
    assert_close(&inner_values(x.grad(&grads).unwrap()), &gx, 1e-14, "grad x");
    assert_close(
        &inner_values(scale.grad(&grads).unwrap()),
        &gs,
        1e-14,
        "grad scale",
    );
    assert_close(
        &inner_values(shift.grad(&grads).unwrap()),
        &gb,
        1e-14,
        "grad shift",
    );
}

#[test]
fn one_value_per_channel_gives_the_bias() {
    // N * S == 1: the variance is 0, the normalised value 0 / sqrt(eps), the output the bias.
    let dims = [1, 4, 1];
    let d = Data::new(80, dims);
    let x = tensor(d.x.clone(), dims).require_grad();
    let w = tensor(d.w.clone(), [4]).require_grad();
    let b = tensor(d.b.clone(), [4]).require_grad();
    let out = batch_norm_train(x.clone(), w.clone(), b.clone(), EPS);
    assert_eq!(values(out.var), vec![0.0; 4]);
    assert_close(&values(out.mean), &d.x, 1e-15, "mean");
    let y = values(out.output.clone());
    assert!(y.iter().all(|v| v.is_finite()));
    assert_close(&y, &d.b, 1e-15, "output");
    let grads = (out.output * tensor(d.upstream.clone(), dims))
        .sum()
        .backward();
    let gx = inner_values(x.grad(&grads).unwrap());
    let gw = inner_values(w.grad(&grads).unwrap());
    let gb = inner_values(b.grad(&grads).unwrap());
    assert!(gx.iter().all(|v| v.is_finite()));
    // x - mean is identically 0 for every x: no gradient reaches x or the weight.
    assert!(max_abs(&gx) <= 1e-12, "grad x {gx:?}");
    assert!(max_abs(&gw) <= 1e-12, "grad weight {gw:?}");
    assert_close(&gb, &d.upstream, 1e-15, "grad bias");

    // The same through the generic path and the Flex kernel in f32.
    for dtype in [DType::F64, DType::F32] {
        let args = || {
            (
                flex(&d.x, &dims, dtype),
                flex(&d.w, &[4], dtype),
                flex(&d.b, &[4], dtype),
            )
        };
        let (x, w, b) = args();
        let cpu = Flex::batch_norm_train(x, w, b, EPS, 1);
        let (x, w, b) = args();
        let gen = generic::train_forward::<Flex>(x, w, b, EPS, 1);
        assert_close(&flex_values(cpu.output), &d.b, 1e-6, "kernel output");
        assert_close(&flex_values(gen.output), &d.b, 1e-6, "generic output");
    }
}

#[test]
fn non_contiguous_input_matches() {
    // [S, C, N] data viewed as [N, C, S].
    let dims = [5, 3, 4];
    let d = Data::new(90, [4, 3, 5]);
    let x = tensor(d.x.clone(), [4, 3, 5]).swap_dims(0, 2);
    assert_eq!(x.dims(), dims);
    let contiguous = tensor(values(x.clone()), dims);
    let w = || tensor(d.w.clone(), [3]);
    let b = || tensor(d.b.clone(), [3]);
    let a = batch_norm_train(x, w(), b(), EPS);
    let e = batch_norm_train(contiguous, w(), b(), EPS);
    assert_close(&values(a.output), &values(e.output), 1e-15, "output");
    assert_close(&values(a.mean), &values(e.mean), 1e-15, "mean");
    assert_close(&values(a.var), &values(e.var), 1e-15, "var");
}

// --- Normalisation fused with average pooling -------------------------------------------------

/// `[N, C, H, W]` shapes and pooling factors: odd plane sizes, planes wider than the eight
/// summation lanes, one frame, and no pooling.
const POOLED: [([usize; 4], usize); 5] = [
    ([3, 2, 6, 4], 2),
    ([2, 3, 8, 8], 4),
    ([4, 2, 4, 18], 2),
    ([1, 3, 6, 6], 3),
    ([5, 2, 3, 5], 1),
];

/// Output and gradients (x, weight, bias) of `sum(out * upstream)`, fused or as
/// [`batch_norm_train`] followed by burn's `avg_pool2d`.
fn pooled_run(seed: u64, dims: [usize; 4], k: usize, fused: bool) -> [Vec<f64>; 4] {
    let [n, c, h, w] = dims;
    let mut rng = Rng::new(seed);
    let x = tensor(rng.uniform(n * c * h * w, -2.0, 3.0), dims).require_grad();
    let wt = tensor(rng.uniform(c, 0.5, 1.5), [c]).require_grad();
    let b = tensor(rng.uniform(c, -0.5, 0.5), [c]).require_grad();
    let upstream = rng.uniform(n * c * (h / k) * (w / k), -1.0, 1.0);
    let out = if fused {
        batch_norm_pool_train(x.clone(), wt.clone(), b.clone(), EPS, k).output
    } else {
        let y = batch_norm_train(x.clone().reshape([n, c, h * w]), wt.clone(), b.clone(), EPS)
            .output
            .reshape(dims);
        burn::tensor::module::avg_pool2d(y, [k, k], [k, k], [0, 0], true, false)
    };
    assert_eq!(out.dims(), [n, c, h / k, w / k]);
    let grads = (out.clone() * tensor(upstream, [n, c, h / k, w / k]))
        .sum()
        .backward();
    [
        values(out),
        inner_values(x.grad(&grads).unwrap()),
        inner_values(wt.grad(&grads).unwrap()),
        inner_values(b.grad(&grads).unwrap()),
    ]
}

#[test]
fn pooled_normalisation_matches_normalise_then_pool() {
    for (i, (dims, k)) in POOLED.into_iter().enumerate() {
        let fused = pooled_run(90 + i as u64, dims, k, true);
        let reference = pooled_run(90 + i as u64, dims, k, false);
        for (j, name) in ["output", "grad x", "grad weight", "grad bias"]
            .iter()
            .enumerate()
        {
            let what = format!("{dims:?} k={k} {name}");
            assert_close(&fused[j], &reference[j], 1e-10, &what);
        }
    }
}

#[test]
fn pooled_flex_kernel_matches_generic() {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
        for (i, (dims, k)) in POOLED.into_iter().enumerate() {
            let [n, c, h, w] = dims;
            let mut rng = Rng::new(100 + i as u64);
            let xs = rng.uniform(n * c * h * w, -2.0, 3.0);
            let ws = rng.uniform(c, 0.5, 1.5);
            let bs = rng.uniform(c, -0.5, 0.5);
            let gs = rng.uniform(n * c * (h / k) * (w / k), -1.0, 1.0);
            let what = |name: &str| format!("{dtype:?} {dims:?} k={k} {name}");
            let x = || flex(&xs, &dims, dtype);
            let (wt, b) = (|| flex(&ws, &[c], dtype), || flex(&bs, &[c], dtype));
            let cpu = Flex::batch_norm_train(x(), wt(), b(), EPS, k);
            let gen = generic::train_forward::<Flex>(x(), wt(), b(), EPS, k);
            assert_eq!(cpu.output.shape().dims::<4>(), [n, c, h / k, w / k]);
            for (name, a, e) in [
                ("output", cpu.output.clone(), gen.output),
                ("mean", cpu.mean.clone(), gen.mean),
                ("var", cpu.var.clone(), gen.var),
            ] {
                assert_eq!(a.dtype(), dtype, "{}", what(name));
                assert_close(&flex_values(a), &flex_values(e), tol, &what(name));
            }
            let g = || flex(&gs, &[n, c, h / k, w / k], dtype);
            let (m, v) = (cpu.mean.clone(), cpu.var.clone());
            let a = Flex::batch_norm_train_backward(x(), wt(), m.clone(), v.clone(), EPS, k, g());
            let e = generic::train_backward::<Flex>(x(), wt(), m, v, EPS, k, g());
            assert_grads_close(a, e, dtype, tol, &what);
        }
    }
}

#[test]
fn variance_of_a_large_offset_does_not_cancel() {
    // Values 1e6 + U(-1, 1): a one-pass E[x^2] - E[x]^2 would lose every digit of the variance
    // in f64; the per-plane centred sums combined with Chan's formula keep it.
    let dims = [7, 2, 20];
    let d = Data::new(110, dims);
    let x: Vec<f64> = d.x.iter().map(|v| 1e6 + v / 2.5).collect();
    let out = batch_norm_train(
        tensor(x.clone(), dims),
        tensor(d.w.clone(), [2]),
        tensor(d.b.clone(), [2]),
        EPS,
    );
    let (y, mean, var) = direct(&x, &d.w, &d.b, dims, EPS);
    assert_close(&values(out.mean), &mean, 1e-12, "mean");
    assert_close(&values(out.var), &var, 1e-9, "var");
    assert_close(&values(out.output), &y, 1e-8, "output");
}
