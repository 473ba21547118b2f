//! Mixed-precision convolutions ([`ConvPrecision::Bf16`]) on `Autodiff<Flex>` in f32: the
//! convolution sees bf16-rounded inputs and weights, its output and every gradient come back in
//! f32, and the bias, the affine map and the pooling stay in full precision.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use snn_core::{event_conv2d, event_conv2d_affine_pool, set_conv_precision, ConvPrecision};

mod common;

use common::{Rng, B};

/// `v` rounded to the nearest bfloat16 (ties to even), as f64.
fn bf16(v: f64) -> f64 {
    let bits = (v as f32).to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) & 0xFFFF_0000;
    f32::from_bits(rounded) as f64
}

fn f32_tensor<const D: usize>(values: &[f64], dims: [usize; D]) -> Tensor<B, D> {
    let values: Vec<f32> = values.iter().map(|v| *v as f32).collect();
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F32),
    )
}

fn f64_tensor<const D: usize>(values: &[f64], dims: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), dims),
        (&Default::default(), DType::F64),
    )
}

fn host<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().iter::<f64>().collect()
}

/// `|a - b| / |b|` over the whole vectors.
fn rel_norm_error(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm).sqrt()
}

struct Problem {
    x: Vec<f64>,
    weight: Vec<f64>,
    bias: Vec<f64>,
    upstream: Vec<f64>,
}

const X: [usize; 4] = [3, 4, 9, 9];
const W: [usize; 4] = [5, 4, 3, 3];
const Y: [usize; 4] = [3, 5, 9, 9];

fn options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

impl Problem {
    /// Event counts with some above 256 (where bf16 rounds integers), random weights with full
    /// f32 mantissas, a bias and an upstream gradient.
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let n = X.iter().product();
        let mut x = rng.counts(n, 0.3);
        for (i, v) in x.iter_mut().enumerate().filter(|(i, _)| i % 37 == 0) {
            *v = 257.0 + i as f64;
        }
        Self {
            x,
            weight: rng.uniform(W.iter().product(), -0.5, 0.5),
            bias: rng.uniform(W[0], -1.0, 1.0),
            upstream: rng.uniform(Y.iter().product(), -1.0, 1.0),
        }
    }

    /// Output and the gradients of x, weight and bias of `sum(conv(x) * upstream)` in f32.
    fn run(&self) -> [Vec<f64>; 4] {
        let x = f32_tensor(&self.x, X).require_grad();
        let weight = f32_tensor(&self.weight, W).require_grad();
        let bias = f32_tensor(&self.bias, [W[0]]).require_grad();
        let y = event_conv2d(x.clone(), weight.clone(), Some(bias.clone()), options());
        assert_eq!(y.dtype(), DType::F32, "the output is cast back");
        let grads = (y.clone() * f32_tensor(&self.upstream, Y)).sum().backward();
        let grad = |t: &Tensor<B, 4>| {
            let g = t.grad(&grads).expect("gradient");
            assert_eq!(g.dtype(), DType::F32, "gradients come back in f32");
            g.into_data().iter::<f32>().map(f64::from).collect()
        };
        let grad_b = bias.grad(&grads).expect("bias gradient");
        assert_eq!(grad_b.dtype(), DType::F32);
        let grad_b = grad_b.into_data().iter::<f32>().map(f64::from).collect();
        [host(y), grad(&x), grad(&weight), grad_b]
    }

    /// The f64 convolution of the bf16-rounded x and weight, plus the bias.
    fn rounded_reference(&self) -> Vec<f64> {
        let round = |v: &[f64]| v.iter().map(|v| bf16(*v)).collect::<Vec<_>>();
        host(conv2d(
            f64_tensor(&round(&self.x), X),
            f64_tensor(&round(&self.weight), W),
            Some(f64_tensor(&self.bias, [W[0]])),
            options(),
        ))
    }
}

#[test]
fn bf16_rounds_the_convolution_inputs_and_keeps_the_rest_in_f32() {
    let problem = Problem::new(7);
    let [y_full, gx_full, gw_full, gb_full] = problem.run();

    assert_eq!(set_conv_precision(ConvPrecision::Bf16), ConvPrecision::Full);
    let [y, gx, gw, gb] = problem.run();
    set_conv_precision(ConvPrecision::Full);

    // The output is the convolution of the rounded inputs (its own rounding to bf16 aside:
    // 2^-9 relative per value), not the full-precision one.
    let rounded = problem.rounded_reference();
    let err_rounded = rel_norm_error(&y, &rounded);
    let err_full = rel_norm_error(&y, &y_full);
    assert!(err_rounded < 4e-3, "vs rounded inputs: {err_rounded:.2e}");
    assert!(
        err_full > 1e-4,
        "bf16 output equals the f32 one ({err_full:.2e}): nothing was rounded"
    );
    // The gradients of x and weight are bf16 computations too, close to the f32 ones.
    for (what, a, b) in [("x", &gx, &gx_full), ("weight", &gw, &gw_full)] {
        let err = rel_norm_error(a, b);
        assert!(err < 1e-2 && err > 1e-5, "grad {what}: {err:.2e}");
    }
    // The bias is added after the cast back: its gradient is the f32 one.
    let err_bias = rel_norm_error(&gb, &gb_full);
    assert!(err_bias < 1e-6, "grad bias: {err_bias:.2e}");
}

#[test]
fn the_evaluation_block_rounds_only_its_convolution() {
    let problem = Problem::new(11);
    let mut rng = Rng::new(3);
    let scale = rng.uniform(W[0], 0.5, 2.0);
    let shift = rng.uniform(W[0], -1.0, 1.0);
    let block = || {
        event_conv2d_affine_pool(
            f32_tensor(&problem.x, X),
            f32_tensor(&problem.weight, W),
            Some(f32_tensor(&problem.bias, [W[0]])),
            (f32_tensor(&scale, [W[0]]), f32_tensor(&shift, [W[0]])),
            options(),
            3,
        )
    };
    let full = host(block());
    set_conv_precision(ConvPrecision::Bf16);
    let mixed = block();
    let conv = event_conv2d(
        f32_tensor(&problem.x, X),
        f32_tensor(&problem.weight, W),
        Some(f32_tensor(&problem.bias, [W[0]])),
        options(),
    );
    set_conv_precision(ConvPrecision::Full);
    assert_eq!(mixed.dtype(), DType::F32);
    assert_eq!(mixed.dims(), [3, 5, 3, 3]);
    let mixed = host(mixed);

    // avg_pool(conv_bf16 * scale + shift), composed here in f32 on the host.
    let conv = host(conv);
    let mut expected = vec![0.0; mixed.len()];
    for n in 0..Y[0] {
        for c in 0..Y[1] {
            for oy in 0..3 {
                for ox in 0..3 {
                    let mut sum = 0.0;
                    for dy in 0..3 {
                        for dx in 0..3 {
                            let i = ((n * Y[1] + c) * 9 + oy * 3 + dy) * 9 + ox * 3 + dx;
                            sum += conv[i] * scale[c] + shift[c];
                        }
                    }
                    expected[((n * Y[1] + c) * 3 + oy) * 3 + ox] = sum / 9.0;
                }
            }
        }
    }
    let err = rel_norm_error(&mixed, &expected);
    assert!(err < 1e-6, "vs the composed block: {err:.2e}");
    let err_full = rel_norm_error(&mixed, &full);
    assert!(err_full > 1e-4, "the block was not rounded: {err_full:.2e}");
}
