//! The event-driven convolution against burn's dense `conv2d` in f64 on `Autodiff<Flex>`: the
//! same output and the same gradients (to ~1e-12 relative) for sparse binary spikes, sparse
//! event counts, inputs dense enough for the dense fallback, several geometries, with and
//! without bias, the unsupported options (stride, dilation, groups) that fall back, inputs that
//! do not require a gradient, f32, non-contiguous inputs and an all-zero input.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use snn_core::conv::cpu::DENSE_ABOVE;
use snn_core::event_conv2d;

mod common;

use common::{assert_close, inner_values, max_abs, tensor, values, Rng, B};

fn density(x: &[f64]) -> f64 {
    x.iter().filter(|v| **v != 0.0).count() as f64 / x.len() as f64
}

/// Which inputs require a gradient.
#[derive(Debug, Clone, Copy)]
struct Track {
    x: bool,
    weight: bool,
    bias: bool,
}

const ALL: Track = Track {
    x: true,
    weight: true,
    bias: true,
};

/// One convolution problem: data, shapes and options.
#[derive(Debug, Clone)]
struct Problem {
    x: Vec<f64>,
    x_dims: [usize; 4],
    weight: Vec<f64>,
    w_dims: [usize; 4],
    bias: Option<Vec<f64>>,
    options: ConvOptions<2>,
}

#[derive(Debug)]
struct Run {
    out: Vec<f64>,
    out_dims: [usize; 4],
    grad_x: Option<Vec<f64>>,
    grad_w: Option<Vec<f64>>,
    grad_b: Option<Vec<f64>>,
}

fn options(padding: [usize; 2]) -> ConvOptions<2> {
    ConvOptions::new([1, 1], padding, [1, 1], 1)
}

impl Problem {
    /// Random weight and bias for the input `x`.
    fn new(
        rng: &mut Rng,
        x: Vec<f64>,
        x_dims: [usize; 4],
        c_out: usize,
        kernel: [usize; 2],
        with_bias: bool,
        options: ConvOptions<2>,
    ) -> Self {
        let c_in_per_group = x_dims[1] / options.groups;
        let w_dims = [c_out, c_in_per_group, kernel[0], kernel[1]];
        let weight = rng.uniform(w_dims.iter().product(), -1.0, 1.0);
        let bias = with_bias.then(|| rng.uniform(c_out, -0.5, 0.5));
        Self {
            x,
            x_dims,
            weight,
            w_dims,
            bias,
            options,
        }
    }

    /// Output, then the gradients of `sum(out * upstream)`, where `upstream` is drawn from
    /// `Rng::new(seed)` with the output's shape. `event` picks `event_conv2d` or burn's `conv2d`.
    fn run(&self, event: bool, track: Track, seed: u64) -> Run {
        let mut x = tensor(self.x.clone(), self.x_dims);
        let mut w = tensor(self.weight.clone(), self.w_dims);
        let mut b = self.bias.clone().map(|b| tensor(b, [self.w_dims[0]]));
        if track.x {
            x = x.require_grad();
        }
        if track.weight {
            w = w.require_grad();
        }
        if track.bias {
            b = b.map(Tensor::require_grad);
        }
        let out = if event {
            event_conv2d(x.clone(), w.clone(), b.clone(), self.options.clone())
        } else {
            conv2d(x.clone(), w.clone(), b.clone(), self.options.clone())
        };
        let out_dims = out.dims();
        let upstream = Rng::new(seed).uniform(out_dims.iter().product(), -1.0, 1.0);
        let tracked = track.x || track.weight || (track.bias && b.is_some());
        let (grad_x, grad_w, grad_b) = if tracked {
            let grads = (out.clone() * tensor(upstream, out_dims)).sum().backward();
            (
                x.grad(&grads).map(inner_values),
                w.grad(&grads).map(inner_values),
                b.as_ref().and_then(|b| b.grad(&grads)).map(inner_values),
            )
        } else {
            (None, None, None)
        };
        Run {
            out: values(out),
            out_dims,
            grad_x,
            grad_w,
            grad_b,
        }
    }

    /// Runs both convolutions and asserts equal outputs and gradients; returns the event run.
    fn check(&self, track: Track, seed: u64, what: &str) -> Run {
        let event = self.run(true, track, seed);
        let dense = self.run(false, track, seed);
        assert_eq!(event.out_dims, dense.out_dims, "{what}: output shape");
        assert_close(&event.out, &dense.out, 1e-12, &format!("{what}: output"));
        for (name, a, b, wanted) in [
            ("grad x", &event.grad_x, &dense.grad_x, track.x),
            ("grad weight", &event.grad_w, &dense.grad_w, track.weight),
            (
                "grad bias",
                &event.grad_b,
                &dense.grad_b,
                track.bias && self.bias.is_some(),
            ),
        ] {
            assert_eq!(a.is_some(), wanted, "{what}: {name} presence (event)");
            assert_eq!(b.is_some(), wanted, "{what}: {name} presence (dense)");
            if let (Some(a), Some(b)) = (a, b) {
                assert_close(a, b, 1e-12, &format!("{what}: {name}"));
            }
        }
        event
    }
}

#[derive(Debug, Clone, Copy)]
enum Input {
    Spikes(f64),
    Counts(f64),
    Uniform,
}

impl Input {
    fn draw(self, rng: &mut Rng, n: usize) -> Vec<f64> {
        match self {
            Input::Spikes(d) => rng.spikes(n, d),
            Input::Counts(d) => rng.counts(n, d),
            Input::Uniform => rng.uniform(n, -1.0, 1.0),
        }
    }
}

/// `[frames, c_in, h, w]`, `c_out`, kernel, padding.
type Geometry = ([usize; 4], usize, [usize; 2], [usize; 2]);

const GEOMETRIES: [Geometry; 9] = [
    ([2, 3, 7, 9], 4, [3, 3], [1, 1]),
    ([1, 1, 5, 6], 1, [3, 3], [1, 1]),
    ([3, 5, 6, 4], 7, [1, 1], [0, 0]),
    ([4, 2, 5, 8], 3, [2, 3], [0, 1]),
    ([2, 4, 9, 5], 6, [3, 3], [0, 0]),
    ([1, 3, 4, 7], 2, [1, 1], [1, 1]),
    ([3, 1, 6, 6], 5, [3, 2], [2, 0]),
    // Enough frames for the parallel weight-gradient fold to split and reduce.
    ([24, 2, 6, 5], 3, [3, 3], [1, 1]),
    // Output channels in a 64-wide register block and a narrow remainder block.
    ([2, 3, 5, 4], 70, [3, 3], [1, 1]),
];

#[test]
fn sparse_inputs_match_dense_conv2d() {
    let mut rng = Rng::new(1);
    let mut case = 0;
    for input in [Input::Spikes(0.1), Input::Counts(0.1)] {
        for (x_dims, c_out, kernel, padding) in GEOMETRIES {
            for with_bias in [true, false] {
                // Redrawn until non-empty (the smallest inputs have 30 elements).
                let x = loop {
                    let x = input.draw(&mut rng, x_dims.iter().product());
                    if density(&x) > 0.0 {
                        break x;
                    }
                };
                // The event kernel only runs at or below the threshold: make sure it does.
                let d = density(&x);
                assert!(d > 0.0 && d <= DENSE_ABOVE, "density {d}");
                let p = Problem::new(
                    &mut rng,
                    x,
                    x_dims,
                    c_out,
                    kernel,
                    with_bias,
                    options(padding),
                );
                let what = format!("case {case}: {input:?} {x_dims:?} c_out {c_out} k {kernel:?} p {padding:?} bias {with_bias}");
                p.check(ALL, 100 + case, &what);
                case += 1;
            }
        }
    }
}

#[test]
fn counts_take_every_value() {
    // The count inputs exercise the multiply path, not only the `v == 1` addition.
    let x = Rng::new(2).counts(10_000, 0.5);
    for v in [0.0, 1.0, 2.0, 3.0] {
        assert!(x.contains(&v), "{v} missing");
    }
    assert!(x.iter().all(|v| [0.0, 1.0, 2.0, 3.0].contains(v)));
}

#[test]
fn dense_inputs_fall_back_and_match() {
    let mut rng = Rng::new(3);
    let mut case = 0;
    for input in [Input::Spikes(0.7), Input::Counts(0.6), Input::Uniform] {
        for (x_dims, c_out, kernel, padding) in GEOMETRIES.into_iter().take(4) {
            let x = input.draw(&mut rng, x_dims.iter().product());
            assert!(density(&x) > DENSE_ABOVE, "density {}", density(&x));
            let p = Problem::new(&mut rng, x, x_dims, c_out, kernel, true, options(padding));
            p.check(ALL, 200 + case, &format!("dense case {case}: {input:?}"));
            case += 1;
        }
    }
}

#[test]
fn unsupported_options_fall_back_and_match() {
    let mut rng = Rng::new(4);
    let cases: [(ConvOptions<2>, [usize; 4], usize, [usize; 2]); 5] = [
        (
            ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
            [2, 3, 8, 7],
            4,
            [3, 3],
        ),
        (
            ConvOptions::new([2, 1], [0, 1], [1, 1], 1),
            [3, 2, 7, 6],
            5,
            [2, 3],
        ),
        (
            ConvOptions::new([1, 1], [2, 2], [2, 2], 1),
            [2, 3, 6, 7],
            2,
            [3, 3],
        ),
        (
            ConvOptions::new([1, 1], [1, 1], [1, 1], 2),
            [2, 4, 5, 6],
            6,
            [3, 3],
        ),
        (
            ConvOptions::new([2, 2], [0, 0], [1, 1], 1),
            [1, 1, 5, 5],
            3,
            [1, 1],
        ),
    ];
    for (i, (opts, x_dims, c_out, kernel)) in cases.into_iter().enumerate() {
        for input in [Input::Spikes(0.1), Input::Counts(0.1)] {
            for with_bias in [true, false] {
                let x = input.draw(&mut rng, x_dims.iter().product());
                let p = Problem::new(&mut rng, x, x_dims, c_out, kernel, with_bias, opts.clone());
                p.check(
                    ALL,
                    300 + i as u64,
                    &format!("options {opts:?} {input:?} bias {with_bias}"),
                );
            }
        }
    }
}

#[test]
fn gradients_of_a_subset_of_inputs() {
    let mut rng = Rng::new(5);
    let tracks = [
        Track {
            x: false,
            weight: true,
            bias: true,
        },
        Track {
            x: false,
            weight: true,
            bias: false,
        },
        Track {
            x: false,
            weight: false,
            bias: true,
        },
        Track {
            x: true,
            weight: false,
            bias: false,
        },
        Track {
            x: true,
            weight: true,
            bias: false,
        },
    ];
    for (i, track) in tracks.into_iter().enumerate() {
        for with_bias in [true, false] {
            if !track.x && !track.weight && !with_bias {
                continue;
            }
            let x_dims = [3, 2, 6, 5];
            let x = rng.spikes(x_dims.iter().product(), 0.15);
            let p = Problem::new(&mut rng, x, x_dims, 4, [3, 3], with_bias, options([1, 1]));
            p.check(
                track,
                400 + i as u64,
                &format!("{track:?} bias {with_bias}"),
            );
        }
    }
}

#[test]
fn f32_matches_f64() {
    let mut rng = Rng::new(6);
    let x_dims = [3, 4, 8, 6];
    let x = rng.counts(x_dims.iter().product(), 0.12);
    let p = Problem::new(&mut rng, x, x_dims, 5, [3, 3], true, options([1, 1]));
    let reference = p.check(ALL, 500, "f64");

    let device = Default::default();
    let f32_tensor = |v: &[f64], dims: [usize; 4]| -> Tensor<B, 4> {
        Tensor::from_data(
            TensorData::new(v.iter().map(|&v| v as f32).collect::<Vec<_>>(), dims),
            (&device, DType::F32),
        )
    };
    let x = f32_tensor(&p.x, x_dims).require_grad();
    let w = f32_tensor(&p.weight, p.w_dims).require_grad();
    let bias = p.bias.as_ref().unwrap();
    let b: Tensor<B, 1> = Tensor::from_data(
        TensorData::new(bias.iter().map(|&v| v as f32).collect::<Vec<_>>(), [5]),
        (&device, DType::F32),
    )
    .require_grad();
    let out = event_conv2d(x.clone(), w.clone(), Some(b.clone()), p.options.clone());
    assert_eq!(out.dtype(), DType::F32);
    let upstream = Rng::new(500).uniform(reference.out.len(), -1.0, 1.0);
    let grads = (out.clone() * f32_tensor(&upstream, reference.out_dims))
        .sum()
        .backward();
    let f = |t: TensorData| -> Vec<f64> { t.iter::<f64>().collect() };
    let out = f(out.into_data());
    assert_close(&out, &reference.out, 1e-4, "f32 output");
    let gx = f(x.grad(&grads).unwrap().into_data());
    let gw = f(w.grad(&grads).unwrap().into_data());
    let gb = f(b.grad(&grads).unwrap().into_data());
    assert_close(&gx, reference.grad_x.as_ref().unwrap(), 1e-4, "f32 grad x");
    assert_close(
        &gw,
        reference.grad_w.as_ref().unwrap(),
        1e-4,
        "f32 grad weight",
    );
    assert_close(
        &gb,
        reference.grad_b.as_ref().unwrap(),
        1e-4,
        "f32 grad bias",
    );
}

#[test]
fn all_zero_input_gives_bias_and_zero_weight_gradient() {
    let mut rng = Rng::new(7);
    let x_dims = [3, 2, 5, 6];
    let x = vec![0.0; x_dims.iter().product()];
    let p = Problem::new(&mut rng, x, x_dims, 4, [3, 3], true, options([1, 1]));
    let run = p.check(ALL, 600, "all zero");
    let bias = p.bias.as_ref().unwrap();
    let [n, c, oh, ow] = run.out_dims;
    assert_eq!([n, c, oh, ow], [3, 4, 5, 6]);
    for (i, v) in run.out.iter().enumerate() {
        assert_eq!(*v, bias[(i / (oh * ow)) % c], "output {i}");
    }
    assert!(run.grad_w.unwrap().iter().all(|g| *g == 0.0));
    // The bias gradient is the upstream gradient summed per channel.
    let upstream = Rng::new(600).uniform(run.out.len(), -1.0, 1.0);
    let mut expected = vec![0.0; c];
    for (i, u) in upstream.iter().enumerate() {
        expected[(i / (oh * ow)) % c] += u;
    }
    assert_close(&run.grad_b.unwrap(), &expected, 1e-12, "bias gradient");
    assert!(max_abs(run.grad_x.as_ref().unwrap()) > 0.0);

    // Without bias the output is exactly zero.
    let p = Problem { bias: None, ..p };
    let run = p.check(ALL, 601, "all zero, no bias");
    assert!(run.out.iter().all(|v| *v == 0.0));
}

#[test]
fn non_contiguous_input_matches() {
    // A transposed input (the kernel must read it through its strides or a contiguous copy).
    let mut rng = Rng::new(8);
    let dims = [2, 3, 6, 7];
    let x = rng.spikes(dims.iter().product(), 0.1);
    let weight = rng.uniform(4 * 3 * 9, -1.0, 1.0);
    let bias = rng.uniform(4, -0.5, 0.5);
    let upstream = Rng::new(9).uniform(2 * 4 * 7 * 6, -1.0, 1.0);
    let run = |event: bool| {
        // [N, C, H, W] data viewed as [N, C, W, H].
        let x = tensor(x.clone(), dims).require_grad();
        let xt = x.clone().swap_dims(2, 3);
        let w = tensor(weight.clone(), [4, 3, 3, 3]).require_grad();
        let b = tensor(bias.clone(), [4]).require_grad();
        let out = if event {
            event_conv2d(xt, w.clone(), Some(b.clone()), options([1, 1]))
        } else {
            conv2d(xt, w.clone(), Some(b.clone()), options([1, 1]))
        };
        let grads = (out.clone() * tensor(upstream.clone(), [2, 4, 7, 6]))
            .sum()
            .backward();
        [
            values(out),
            inner_values(x.grad(&grads).unwrap()),
            inner_values(w.grad(&grads).unwrap()),
        ]
    };
    let (event, dense) = (run(true), run(false));
    for (name, a, b) in [
        ("output", &event[0], &dense[0]),
        ("grad x", &event[1], &dense[1]),
        ("grad weight", &event[2], &dense[2]),
    ] {
        assert_close(a, b, 1e-12, name);
    }
}

/// The fused evaluation-mode block equals `avg_pool(conv(x) * scale + shift)` composed from
/// burn's ops, on the event kernel (sparse input) and on the fallback (dense input, stride 2).
#[test]
fn fused_affine_pool_matches_the_composition() {
    use burn::tensor::module::avg_pool2d;
    use snn_core::event_conv2d_affine_pool;
    let mut rng = Rng::new(41);
    // (input dims, output channels, pool, input density, padding)
    type Case = ([usize; 4], usize, usize, f64, [usize; 2]);
    let cases: [Case; 7] = [
        ([3, 4, 8, 6], 5, 2, 0.1, [1, 1]),
        // Two 64-wide register blocks; one wide block and a remainder.
        ([2, 6, 8, 8], 128, 2, 0.1, [1, 1]),
        ([2, 3, 6, 6], 75, 3, 0.15, [1, 1]),
        ([2, 2, 4, 4], 3, 1, 0.05, [1, 1]),
        ([2, 3, 6, 6], 4, 3, 0.2, [1, 1]),
        ([2, 3, 8, 8], 2, 2, 0.6, [1, 1]),
        ([1, 2, 8, 8], 3, 2, 0.1, [0, 0]),
    ];
    for (i, (x_dims, c_out, pool, dens, padding)) in cases.into_iter().enumerate() {
        for with_bias in [true, false] {
            let n: usize = x_dims.iter().product();
            let x = tensor(rng.counts(n, dens), x_dims);
            let w_dims = [c_out, x_dims[1], 3, 3];
            let weight = tensor(rng.uniform(w_dims.iter().product(), -1.0, 1.0), w_dims);
            let bias = with_bias.then(|| tensor(rng.uniform(c_out, -1.0, 1.0), [c_out]));
            let scale = tensor(rng.uniform(c_out, 0.5, 2.0), [c_out]);
            let shift = tensor(rng.uniform(c_out, -1.0, 1.0), [c_out]);
            let opts = options(padding);
            let fused = event_conv2d_affine_pool(
                x.clone().inner(),
                weight.clone().inner(),
                bias.clone().map(|b| b.inner()),
                (scale.clone().inner(), shift.clone().inner()),
                opts.clone(),
                pool,
            );
            let y = conv2d(x, weight, bias, opts);
            let y = y * scale.reshape([1, c_out, 1, 1]) + shift.reshape([1, c_out, 1, 1]);
            let expected = if pool > 1 {
                avg_pool2d(y, [pool; 2], [pool; 2], [0, 0], true, false)
            } else {
                y
            };
            assert_eq!(fused.dims(), expected.dims(), "case {i}");
            assert_close(
                &inner_values(fused),
                &values(expected),
                1e-12,
                &format!("case {i} bias {with_bias}"),
            );
        }
    }
}
