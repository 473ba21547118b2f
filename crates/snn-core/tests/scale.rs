//! The attention rescaling op (`attention_scale`) against the plain broadcast products and
//! ReLU of burn, forward and all four gradients, in f64; the forward equal to the last bit in
//! f32 too (a NaN included); missing gains; the thread count not changing the gradients; the
//! tensor-op defaults (what CUDA runs) against the CPU kernels; SA's squeeze of the rescaled
//! sequence (`scaled_mean_max`) against rescaling then `mean_max`; empty inputs.

mod common;

use burn::backend::Flex;
use burn::tensor::activation::relu;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use common::{assert_close, inner_values, tensor, values, Rng, B};
use snn_core::attention_scale;
use snn_core::scale::ScaleGrads;

struct Case {
    dims: [usize; 4],
    temporal: bool,
    channel: bool,
    spatial: bool,
    relu: bool,
}

/// The official code's sequence of rescalings: one broadcast product per gain, then the ReLU.
fn plain(
    x: Tensor<B, 4>,
    gains: [Option<Tensor<B, 2>>; 3],
    [t, b, c, s]: [usize; 4],
    apply_relu: bool,
) -> Tensor<B, 4> {
    let [gt, gc, gs] = gains;
    let mut y = x;
    if let Some(g) = gt {
        y = y * g.reshape([t, b, 1, 1]);
    }
    if let Some(g) = gc {
        y = y * g.reshape([1, b, c, 1]);
    }
    if let Some(g) = gs {
        y = y * g.reshape([1, b, 1, s]);
    }
    if apply_relu {
        relu(y)
    } else {
        y
    }
}

/// An f64 `Flex` primitive, for calling the backend methods directly.
fn primitive<const D: usize>(v: Vec<f64>, shape: [usize; D]) -> FloatTensor<Flex> {
    Tensor::<Flex, D>::from_data(TensorData::new(v, shape), (&Default::default(), DType::F64))
        .into_primitive()
        .tensor()
}

/// The values of an f64 `Flex` primitive.
fn read_primitive(p: FloatTensor<Flex>) -> Vec<f64> {
    let n = p.shape().num_elements();
    Tensor::<Flex, 1>::from_primitive(TensorPrimitive::Float(p))
        .reshape([n])
        .into_data()
        .iter::<f64>()
        .collect()
}

/// Compares two sets of gradients of the same op: each gradient is present in both or absent
/// in both, and present ones agree to `tol`.
fn assert_grads_close(got: ScaleGrads<Flex>, want: ScaleGrads<Flex>, tol: f64, what: &str) {
    for (name, a, b) in [
        ("x", got.x, want.x),
        ("temporal", got.temporal, want.temporal),
        ("channel", got.channel, want.channel),
        ("spatial", got.spatial, want.spatial),
    ] {
        match (a, b) {
            (Some(a), Some(b)) => assert_close(
                &read_primitive(a),
                &read_primitive(b),
                tol,
                &format!("{what}: d{name}"),
            ),
            (None, None) => {}
            (a, b) => panic!("{what}: d{name} present {} vs {}", a.is_some(), b.is_some()),
        }
    }
}

#[test]
fn matches_the_broadcast_products_and_their_gradients() {
    let cases = [
        Case {
            dims: [3, 2, 4, 5],
            temporal: true,
            channel: true,
            spatial: true,
            relu: true,
        },
        Case {
            dims: [3, 2, 4, 5],
            temporal: true,
            channel: true,
            spatial: false,
            relu: false,
        },
        Case {
            dims: [2, 3, 5, 1],
            temporal: true,
            channel: false,
            spatial: false,
            relu: true,
        },
        Case {
            dims: [4, 1, 3, 7],
            temporal: false,
            channel: false,
            spatial: true,
            relu: true,
        },
        Case {
            dims: [2, 2, 1, 6],
            temporal: false,
            channel: true,
            spatial: true,
            relu: false,
        },
        Case {
            dims: [5, 4, 8, 16],
            temporal: true,
            channel: true,
            spatial: true,
            relu: true,
        },
    ];
    let mut rng = Rng::new(11);
    for case in cases {
        let [t, b, c, s] = case.dims;
        let n = t * b * c * s;
        let x = tensor(rng.uniform(n, -1.0, 1.0), case.dims).require_grad();
        let gain = |on: bool, shape: [usize; 2], rng: &mut Rng| {
            on.then(|| tensor(rng.uniform(shape[0] * shape[1], 0.05, 1.0), shape).require_grad())
        };
        let gains = [
            gain(case.temporal, [t, b], &mut rng),
            gain(case.channel, [b, c], &mut rng),
            gain(case.spatial, [b, s], &mut rng),
        ];
        let w = tensor(rng.uniform(n, -1.0, 1.0), case.dims);
        let [gt, gc, gs] = gains.clone();
        let ours = attention_scale(x.clone(), gt, gc, gs, case.relu);
        let reference = plain(x.clone(), gains.clone(), case.dims, case.relu);
        let what = format!("{:?} relu {}", case.dims, case.relu);
        assert_eq!(
            values(ours.clone()),
            values(reference.clone()),
            "{what}: forward"
        );
        let g_ours = (ours * w.clone()).sum().backward();
        let g_ref = (reference * w).sum().backward();
        assert_close(
            &inner_values(x.grad(&g_ours).unwrap()),
            &inner_values(x.grad(&g_ref).unwrap()),
            1e-12,
            &format!("{what}: dx"),
        );
        for (name, g) in ["temporal", "channel", "spatial"].iter().zip(&gains) {
            if let Some(g) = g {
                assert_close(
                    &inner_values(g.grad(&g_ours).unwrap()),
                    &inner_values(g.grad(&g_ref).unwrap()),
                    1e-12,
                    &format!("{what}: d{name}"),
                );
            }
        }
    }
}

#[test]
fn the_f32_forward_is_the_same_to_the_last_bit() {
    let device = Default::default();
    let dims = [6, 3, 16, 64];
    let [t, b, c, s] = dims;
    let mut rng = Rng::new(5);
    let f32t = |v: Vec<f64>, shape: [usize; 2]| {
        Tensor::<Flex, 2>::from_data(TensorData::new(v, shape), (&device, DType::F32))
    };
    let mut values = rng.uniform(t * b * c * s, -2.0, 2.0);
    values[17] = f64::NAN;
    let x = Tensor::<Flex, 4>::from_data(TensorData::new(values, dims), (&device, DType::F32));
    let gt = f32t(rng.uniform(t * b, 0.0, 1.0), [t, b]);
    let gc = f32t(rng.uniform(b * c, 0.0, 1.0), [b, c]);
    let gs = f32t(rng.uniform(b * s, 0.0, 1.0), [b, s]);
    let ours = attention_scale(
        x.clone(),
        Some(gt.clone()),
        Some(gc.clone()),
        Some(gs.clone()),
        true,
    );
    let plain =
        relu(x * gt.reshape([t, b, 1, 1]) * gc.reshape([1, b, c, 1]) * gs.reshape([1, b, 1, s]));
    let a: Vec<f32> = ours.into_data().iter::<f32>().collect();
    let p: Vec<f32> = plain.into_data().iter::<f32>().collect();
    assert!(a.iter().zip(&p).all(|(a, p)| a.to_bits() == p.to_bits()));
}

#[test]
fn gradients_do_not_depend_on_the_thread_count() {
    let dims = [8, 4, 6, 9];
    let [t, b, c, s] = dims;
    let mut rng = Rng::new(3);
    let x = rng.uniform(t * b * c * s, -1.0, 1.0);
    let (gt, gc, gs) = (
        rng.uniform(t * b, 0.1, 1.0),
        rng.uniform(b * c, 0.1, 1.0),
        rng.uniform(b * s, 0.1, 1.0),
    );
    let w = rng.uniform(t * b * c * s, -1.0, 1.0);
    let run = || {
        let x = tensor(x.clone(), dims).require_grad();
        let g = [
            tensor(gt.clone(), [t, b]).require_grad(),
            tensor(gc.clone(), [b, c]).require_grad(),
            tensor(gs.clone(), [b, s]).require_grad(),
        ];
        let y = attention_scale(
            x.clone(),
            Some(g[0].clone()),
            Some(g[1].clone()),
            Some(g[2].clone()),
            true,
        );
        let grads = (y * tensor(w.clone(), dims)).sum().backward();
        let mut out = inner_values(x.grad(&grads).unwrap());
        for g in &g {
            out.extend(inner_values(g.grad(&grads).unwrap()));
        }
        out
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(run);
    assert_eq!(one, three);
}

#[test]
#[should_panic(expected = "the channel gain does not fit")]
fn a_gain_of_the_wrong_shape_is_refused() {
    let x = tensor(vec![0.0; 2 * 3 * 4 * 5], [2, 3, 4, 5]);
    let g = tensor(vec![1.0; 3 * 5], [3, 5]);
    let _ = attention_scale(x, None, Some(g), None, false);
}

#[test]
fn gain_gradients_without_an_input_gradient() {
    let dims = [3, 2, 4, 10];
    let [t, b, c, s] = dims;
    let mut rng = Rng::new(9);
    let x = tensor(rng.uniform(t * b * c * s, -1.0, 1.0), dims);
    let gc = tensor(rng.uniform(b * c, 0.1, 1.0), [b, c]).require_grad();
    let gs = tensor(rng.uniform(b * s, 0.1, 1.0), [b, s]).require_grad();
    let w = tensor(rng.uniform(t * b * c * s, -1.0, 1.0), dims);
    let ours = attention_scale(x.clone(), None, Some(gc.clone()), Some(gs.clone()), true);
    let reference = plain(x, [None, Some(gc.clone()), Some(gs.clone())], dims, true);
    let g_ours = (ours * w.clone()).sum().backward();
    let g_ref = (reference * w).sum().backward();
    for (g, name) in [(&gc, "channel"), (&gs, "spatial")] {
        assert_close(
            &inner_values(g.grad(&g_ours).unwrap()),
            &inner_values(g.grad(&g_ref).unwrap()),
            1e-12,
            name,
        );
    }
}

/// The squeeze of the rescaled sequence, against rescaling with `attention_scale` and then
/// `mean_max` over `C`: forward equal, gradients of `x` and both gains to 1e-12, with ties
/// (binary inputs) so the first-maximum rule is exercised.
#[test]
fn scaled_mean_max_matches_rescaling_then_squeezing() {
    use snn_core::{mean_max, scaled_mean_max};
    let mut rng = Rng::new(17);
    for (dims, binary, gains_on) in [
        ([3, 2, 4, 5], false, [true, true]),
        ([2, 3, 6, 9], true, [true, true]),
        ([4, 2, 3, 8], true, [false, true]),
        ([2, 2, 5, 7], false, [true, false]),
        ([3, 1, 2, 6], true, [false, false]),
        // One pixel: `mean_max` takes its eight-lane row path.
        ([2, 2, 12, 1], false, [true, true]),
        ([2, 2, 12, 1], true, [true, true]),
    ] {
        let [t, b, c, s] = dims;
        let n = t * b * c * s;
        let data = if binary {
            rng.spikes(n, 0.4)
        } else {
            rng.uniform(n, -1.0, 1.0)
        };
        let x = tensor(data, dims).require_grad();
        let gt = gains_on[0].then(|| tensor(rng.uniform(t * b, 0.1, 1.0), [t, b]).require_grad());
        // Binary inputs with a shared channel gain make exact ties between channels.
        let gc = gains_on[1].then(|| {
            let v = if binary {
                vec![0.5; b * c]
            } else {
                rng.uniform(b * c, 0.1, 1.0)
            };
            tensor(v, [b, c]).require_grad()
        });
        let (wm, wx) = (
            tensor(rng.uniform(t * b * s, -1.0, 1.0), [t * b, s]),
            tensor(rng.uniform(t * b * s, -1.0, 1.0), [t * b, s]),
        );
        let (mean, max) = scaled_mean_max(x.clone(), gt.clone(), gc.clone());
        let scaled = attention_scale(x.clone(), gt.clone(), gc.clone(), None, false);
        let (ref_mean, ref_max) = mean_max(scaled.reshape([t * b, c, s]));
        let what = format!("{dims:?} binary {binary} gains {gains_on:?}");
        assert_eq!(
            values(mean.clone()),
            values(ref_mean.clone()),
            "{what}: mean"
        );
        assert_eq!(values(max.clone()), values(ref_max.clone()), "{what}: max");
        let g_ours = (mean * wm.clone() + max * wx.clone()).sum().backward();
        let g_ref = (ref_mean * wm + ref_max * wx).sum().backward();
        let flat = |g: Option<Tensor<Flex, 4>>| g.map(inner_values);
        let flat2 = |g: Option<Tensor<Flex, 2>>| g.map(inner_values);
        let mut pairs = vec![("x", flat(x.grad(&g_ours)), flat(x.grad(&g_ref)))];
        for (name, g) in [("temporal", &gt), ("channel", &gc)] {
            if let Some(g) = g {
                pairs.push((name, flat2(g.grad(&g_ours)), flat2(g.grad(&g_ref))));
            }
        }
        for (name, a, b) in pairs {
            assert_close(&a.unwrap(), &b.unwrap(), 1e-12, &format!("{what}: d{name}"));
        }
    }
}

/// The default of the squeeze (what CUDA runs, there from burn's own ops; here composed of the
/// `Flex` product and `mean_max`) against the fused CPU kernel.
#[test]
fn the_generic_squeeze_matches_the_kernel() {
    use snn_core::scale::{generic_scaled_mean_max, generic_scaled_mean_max_backward, ScaleGains};
    use snn_core::ScaleBackend;
    let dims = [3, 2, 5, 6];
    let [t, b, c, s] = dims;
    let mut rng = Rng::new(23);
    let x = primitive(rng.spikes(t * b * c * s, 0.3), dims);
    let gains = ScaleGains::<Flex> {
        temporal: primitive(rng.uniform(t * b, 0.1, 1.0), [t, b]),
        channel: primitive(rng.uniform(b * c, 0.1, 1.0), [b, c]),
        spatial: primitive(vec![1.0; b * s], [b, s]),
    };
    let kernel = Flex::scaled_mean_max(x.clone(), gains.clone());
    let generic = generic_scaled_mean_max::<Flex>(x.clone(), gains.clone());
    assert_eq!(read_primitive(kernel.mean), read_primitive(generic.mean));
    assert_eq!(
        read_primitive(kernel.max.clone()),
        read_primitive(generic.max)
    );
    let grad = primitive(rng.uniform(t * b * s, -1.0, 1.0), [t * b, s]);
    let wants = [true, true, true];
    let k = Flex::scaled_mean_max_backward(
        x.clone(),
        gains.clone(),
        kernel.max.clone(),
        Some(grad.clone()),
        Some(grad.clone()),
        wants,
    );
    let g = generic_scaled_mean_max_backward::<Flex>(
        x,
        gains,
        kernel.max,
        Some(grad.clone()),
        Some(grad),
        wants,
    );
    assert_grads_close(k, g, 1e-12, "squeeze");
}

/// The tensor-op default of the rescaling (what CUDA runs) against the CPU kernel, forward and
/// backward, with and without the ReLU.
#[test]
fn the_generic_rescaling_matches_the_kernel() {
    use snn_core::scale::{generic_attention_scale, generic_attention_scale_backward, ScaleGains};
    use snn_core::ScaleBackend;
    let dims = [3, 2, 5, 6];
    let [t, b, c, s] = dims;
    let mut rng = Rng::new(29);
    let x = primitive(rng.uniform(t * b * c * s, -1.0, 1.0), dims);
    let gains = ScaleGains::<Flex> {
        temporal: primitive(rng.uniform(t * b, 0.1, 1.0), [t, b]),
        channel: primitive(rng.uniform(b * c, 0.1, 1.0), [b, c]),
        spatial: primitive(rng.uniform(b * s, 0.1, 1.0), [b, s]),
    };
    let grad = primitive(rng.uniform(t * b * c * s, -1.0, 1.0), dims);
    for relu in [false, true] {
        let kernel = Flex::attention_scale(x.clone(), gains.clone(), relu);
        let generic = generic_attention_scale::<Flex>(x.clone(), gains.clone(), relu);
        assert_eq!(
            read_primitive(kernel),
            read_primitive(generic),
            "relu {relu}"
        );
        let wants = [true; 4];
        let k = Flex::attention_scale_backward(x.clone(), gains.clone(), relu, grad.clone(), wants);
        let g = generic_attention_scale_backward::<Flex>(
            x.clone(),
            gains.clone(),
            relu,
            grad.clone(),
            wants,
        );
        assert_grads_close(k, g, 1e-12, &format!("rescaling, relu {relu}"));
    }
}

/// Empty sequences (no steps, no channels, no pixels) go through both ops and their gradients
/// without a panic and keep their shapes.
#[test]
fn empty_inputs_keep_their_shapes() {
    use snn_core::scaled_mean_max;
    for dims in [[0, 2, 3, 4], [2, 2, 0, 4], [2, 2, 3, 0]] {
        let [t, b, _, s] = dims;
        let x = tensor(vec![], dims).require_grad();
        let gt = tensor(vec![0.5; t * b], [t, b]).require_grad();
        let y = attention_scale(x.clone(), Some(gt.clone()), None, None, true);
        assert_eq!(y.dims(), dims);
        let grads = y.sum().backward();
        assert_eq!(x.grad(&grads).unwrap().dims(), dims);
        let (mean, max) = scaled_mean_max(x.clone(), Some(gt), None);
        assert_eq!(mean.dims(), [t * b, s]);
        assert_eq!(max.dims(), [t * b, s]);
        let _ = (mean.sum() + max.sum()).backward();
    }
}

#[test]
#[should_panic(expected = "scaled_mean_max: the temporal gain does not fit")]
fn the_squeeze_names_itself_when_a_gain_does_not_fit() {
    let x = tensor(vec![0.0; 2 * 3 * 4 * 5], [2, 3, 4, 5]);
    let g = tensor(vec![1.0; 3 * 2], [3, 2]);
    let _ = snn_core::scaled_mean_max(x, Some(g), None);
}
