//! The CubeCL kernels (what `Cuda` runs for `LifBackend` and `BatchNormBackend`) against the
//! generic tensor-op paths on the same device, in f32. The neuron: every spike test x reset x
//! surrogate x reset detachment, both or either upstream gradient, with and without the decay
//! gradient, small and large shapes, non-contiguous inputs, and one end-to-end check through
//! `Autodiff<_>` against the reference implementation. Batch norm: forward and backward, with
//! and without pooling, one and several reduction chunks per channel. The attention's
//! rescaling (`ScaleBackend`): forward and every gradient, with and without the ReLU. The
//! attention's squeezes (`PoolBackend::mean_max`, `ScaleBackend::scaled_mean_max`): forward and
//! backward with either or both output gradients, ties for the maximum, short and long rows.
//!
//! It runs on whichever CubeCL backend the features select:
//! - `--features cuda`: burn's `Cuda`, on an NVIDIA GPU (libcuda and NVRTC are loaded at run
//!   time): `cargo test -p snn-core --features cuda --test cube_fused -- --test-threads=1`.
//! - `vulkan`: burn's `Wgpu` with SPIR-V kernels, which runs on the CPU through a software
//!   Vulkan driver (Mesa's lavapipe, Debian's `mesa-vulkan-drivers`): the same kernel source,
//!   compiled to SPIR-V instead of CUDA C++. This is how CI checks the kernel logic without a
//!   GPU, inside `cargo test --workspace` (xtask's dev-dependencies turn `vulkan` on); alone:
//!   `cargo test -p snn-core --features vulkan --test cube_fused`. Where no Vulkan driver
//!   answers the tests skip, unless `SNN_REQUIRE_VULKAN=1` (`common::cube_device`).
//!
//! Spikes must agree exactly, with one allowance: the GPU compiler may contract a multiply and
//! an add into one FMA, which can move a membrane value by one rounding step. A neuron whose
//! first spike disagreement happens with the reference membrane within `1e-5` of the threshold
//! is such a tie; it is compared only before that step, and at most 0.1% of neurons may be
//! ties. Any logic error shows up as a disagreement away from the threshold and fails.

#![cfg(any(feature = "cuda", feature = "vulkan"))]

mod common;

use burn::backend::Autodiff;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{Shape, Tensor, TensorData, TensorPrimitive};
use snn_core::neuron::fused::{generic, LifBackend, LifForward, LifGrads};
use snn_core::norm::{self, BatchNormBackend};
use snn_core::pool::{generic_mean_max, generic_mean_max_backward, PoolBackend};
use snn_core::scale::{
    generic_attention_scale, generic_attention_scale_backward, generic_scaled_mean_max,
    ScaleBackend, ScaleGains,
};
use snn_core::{FireTest, FiringRule, Lif, LifConfig, Reset, Surrogate};

/// The CubeCL backend under test: CUDA when it is built, otherwise wgpu on Vulkan.
#[cfg(feature = "cuda")]
type C = burn::backend::Cuda;
#[cfg(not(feature = "cuda"))]
type C = burn::backend::Wgpu;
type A = Autodiff<C>;

/// Largest relative difference allowed in gradients: f32 rounding, FMA contraction and a
/// different summation order, well below anything a wrong formula would produce.
const GRAD_RTOL: f64 = 1e-4;
/// Largest absolute membrane difference.
const MEMBRANE_ATOL: f64 = 1e-5;

/// False where no CubeCL device answers: the test is then skipped, or fails in CI (see
/// `common::cube_device`).
fn device_answers() -> bool {
    common::cube_device::available::<C>("cube_fused")
}

fn device() -> burn::tensor::Device<C> {
    Default::default()
}

fn upload(values: &[f32], dims: &[usize]) -> FloatTensor<C> {
    C::float_from_data(TensorData::new(values.to_vec(), dims.to_vec()), &device())
}

fn download(tensor: FloatTensor<C>) -> Vec<f64> {
    let numel = burn::tensor::TensorMetadata::shape(&tensor).num_elements();
    let flat = C::float_reshape(tensor, Shape::new([numel]));
    Tensor::<C, 1>::from_primitive(TensorPrimitive::Float(flat))
        .into_data()
        .iter::<f64>()
        .collect()
}

fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

const DECAY: f64 = 0.6;
const THRESHOLD: f64 = 0.3;

fn all_rules() -> Vec<FiringRule> {
    let mut rules = Vec::new();
    for fire_test in [FireTest::GreaterOrEqual, FireTest::Greater] {
        for reset in [
            Reset::Hard { value: 0.05 },
            Reset::Subtract,
            Reset::LeakToThreshold,
        ] {
            for surrogate in [
                Surrogate::Rectangle { lens: 0.25 },
                Surrogate::Sigmoid { alpha: 4.0 },
                Surrogate::Atan { alpha: 2.0 },
                Surrogate::Triangle { width: 0.4 },
            ] {
                for detach_reset in [false, true] {
                    rules.push(FiringRule {
                        threshold: THRESHOLD,
                        fire_test,
                        reset,
                        surrogate,
                        detach_reset,
                    });
                }
            }
        }
    }
    rules
}

/// Compares `[steps, n]` spikes and membranes with the tie allowance of the module docs;
/// returns the number of ties.
#[allow(clippy::too_many_arguments)]
fn compare_forward(
    label: &str,
    steps: usize,
    n: usize,
    threshold: f64,
    got_spikes: &[f64],
    got_membrane: &[f64],
    want_spikes: &[f64],
    want_membrane: &[f64],
) -> usize {
    assert_eq!(got_spikes.len(), steps * n, "{label}: spikes length");
    assert_eq!(got_membrane.len(), steps * n, "{label}: membrane length");
    assert_eq!(want_spikes.len(), steps * n, "{label}: reference length");
    let mut ties = 0;
    for j in 0..n {
        for t in 0..steps {
            let i = t * n + j;
            let du = (got_membrane[i] - want_membrane[i]).abs();
            assert!(
                du <= MEMBRANE_ATOL,
                "{label}: membrane [t={t}, n={j}] {} vs {} (diff {du})",
                got_membrane[i],
                want_membrane[i]
            );
            if got_spikes[i] != want_spikes[i] {
                let margin = (want_membrane[i] - threshold).abs();
                assert!(
                    margin <= MEMBRANE_ATOL,
                    "{label}: spike [t={t}, n={j}] {} vs {} with membrane {} (threshold {threshold})",
                    got_spikes[i],
                    want_spikes[i],
                    want_membrane[i]
                );
                ties += 1;
                break;
            }
        }
    }
    assert!(
        ties * 1000 <= n.max(1000),
        "{label}: {ties} of {n} neurons differ at a threshold tie"
    );
    if ties > 0 {
        eprintln!("{label}: {ties} of {n} neurons broke a threshold tie differently");
    }
    ties
}

fn assert_grads_close(label: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{label}: lengths");
    let scale = want.iter().fold(1.0_f64, |m, g| m.max(g.abs()));
    let (mut worst, mut at) = (0.0_f64, 0);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let d = (a - b).abs();
        if d > worst || d.is_nan() {
            (worst, at) = (d, i);
        }
    }
    assert!(
        worst <= GRAD_RTOL * scale,
        "{label}: gradient differs by {worst} at {at} ({} vs {}, scale {scale})",
        got[at],
        want[at]
    );
}

fn assert_scalar_close(label: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= GRAD_RTOL * want.abs().max(1.0),
        "{label}: {got} vs {want}"
    );
}

/// Kernel vs generic forward on `x`; returns the generic membrane (the backward input) and
/// the number of spikes.
fn check_forward(label: &str, rule: &FiringRule, x: &[f32], dims: &[usize]) -> (Vec<f32>, f64) {
    let steps = dims[0];
    let n = x.len() / steps;
    let decay = [DECAY as f32];
    let got: LifForward<C> = C::lif_forward(upload(x, dims), upload(&decay, &[1]), rule);
    let want = generic::forward::<C>(upload(x, dims), upload(&decay, &[1]), rule);
    assert_eq!(
        burn::tensor::TensorMetadata::shape(&got.spikes),
        Shape::from(dims.to_vec()),
        "{label}: spikes shape"
    );
    let (got_s, got_u) = (download(got.spikes), download(got.membrane));
    let (want_s, want_u) = (download(want.spikes), download(want.membrane));
    let ties = compare_forward(
        label,
        steps,
        n,
        rule.threshold,
        &got_s,
        &got_u,
        &want_s,
        &want_u,
    );
    let got_count = download(got.spike_count);
    let want_count = download(want.spike_count);
    assert_eq!(got_count.len(), 1, "{label}: spike count shape");
    if ties == 0 {
        assert_eq!(got_count, want_count, "{label}: spike count");
    }
    (to_f32(&want_u), want_count[0])
}

/// Kernel vs generic backward from the same membrane, for both / spikes-only / membrane-only
/// upstream gradients, with and without the decay gradient.
fn check_backward(
    label: &str,
    rule: &FiringRule,
    membrane: &[f32],
    dims: &[usize],
    rng: &mut common::Rng,
) {
    let n = membrane.len();
    let gs = rng.uniform_f32(n, -1.0, 1.0);
    let gm = rng.uniform_f32(n, -1.0, 1.0);
    let decay = [DECAY as f32];
    for (has_gs, has_gm) in [(true, true), (true, false), (false, true)] {
        for want_decay in [false, true] {
            let run = |kernel: bool| -> LifGrads<C> {
                let u = upload(membrane, dims);
                let d = upload(&decay, &[1]);
                let g_s = has_gs.then(|| upload(&gs, dims));
                let g_m = has_gm.then(|| upload(&gm, dims));
                if kernel {
                    C::lif_backward(u, d, g_s, g_m, rule, want_decay)
                } else {
                    generic::backward::<C>(u, d, g_s, g_m, rule, want_decay)
                }
            };
            let case = format!(
                "{label} [grad_spikes {has_gs}, grad_membrane {has_gm}, decay grad {want_decay}]"
            );
            let (got, want) = (run(true), run(false));
            assert_grads_close(&case, &download(got.input), &download(want.input));
            match (got.decay, want.decay) {
                (Some(a), Some(b)) => {
                    let (a, b) = (download(a), download(b));
                    assert_eq!(a.len(), 1, "{case}: decay grad shape");
                    assert_scalar_close(&format!("{case}: decay grad"), a[0], b[0]);
                }
                (None, None) => assert!(!want_decay, "{case}: decay grad missing"),
                (a, _) => panic!(
                    "{case}: decay grad presence {} (wanted {want_decay})",
                    a.is_some()
                ),
            }
        }
    }
}

#[test]
fn kernel_matches_generic_for_every_rule() {
    if !device_answers() {
        return;
    }
    let dims = [7, 3, 5, 4];
    let numel: usize = dims.iter().product();
    let mut rng = common::Rng::new(17);
    let (mut spikes, mut total) = (0.0, 0.0);
    for (k, rule) in all_rules().iter().enumerate() {
        let label = format!("rule {k} {rule:?}");
        let x = rng.uniform_f32(numel, -0.3, 0.7);
        let (membrane, count) = check_forward(&label, rule, &x, &dims);
        spikes += count;
        total += numel as f64;
        check_backward(&label, rule, &membrane, &dims, &mut rng);
    }
    // The inputs must exercise both spiking and silent neurons, or the comparison proves little.
    assert!(
        spikes > 0.1 * total && spikes < 0.9 * total,
        "spike fraction {}",
        spikes / total
    );
}

#[test]
fn kernel_matches_generic_on_a_large_layer() {
    if !device_answers() {
        return;
    }
    // 65536 neurons (256 full cubes) over 60 steps, plus a neuron count that leaves a partial
    // cube, for the official presets and one smooth surrogate with a soft reset.
    let presets = [
        LifConfig::ma_snn_event().rule,
        LifConfig::ms_resnet().rule,
        FiringRule {
            reset: Reset::Subtract,
            surrogate: Surrogate::Sigmoid { alpha: 4.0 },
            ..LifConfig::ma_snn_event().rule
        },
    ];
    let mut rng = common::Rng::new(23);
    for dims in [vec![60, 16, 64, 8, 8], vec![13, 1000, 3]] {
        let numel: usize = dims.iter().product();
        for (k, rule) in presets.iter().enumerate() {
            let label = format!("{dims:?} preset {k}");
            let x = rng.uniform_f32(numel, -0.4, 0.9);
            let (membrane, count) = check_forward(&label, rule, &x, &dims);
            assert!(count > 0.05 * numel as f64 && count < 0.95 * numel as f64);
            check_backward(&label, rule, &membrane, &dims, &mut rng);
        }
    }
}

#[test]
fn single_step_and_single_neuron_sequences() {
    if !device_answers() {
        return;
    }
    let mut rng = common::Rng::new(29);
    for dims in [vec![1, 37], vec![9, 1], vec![1, 1]] {
        let numel: usize = dims.iter().product();
        for (k, rule) in all_rules().iter().enumerate().step_by(5) {
            let label = format!("{dims:?} rule {k}");
            let x = rng.uniform_f32(numel, -0.3, 0.7);
            let (membrane, _) = check_forward(&label, rule, &x, &dims);
            check_backward(&label, rule, &membrane, &dims, &mut rng);
        }
    }
}

#[test]
fn non_contiguous_inputs_and_offset_decay() {
    if !device_answers() {
        return;
    }
    // `[T, B, N]` views of `[B, T, N]` data (swapped strides) and a decay that is a one-element
    // slice of a larger tensor (non-zero offset).
    let (steps, batch, width) = (11, 3, 70);
    let mut rng = common::Rng::new(31);
    let dims = [steps, batch, width];
    let numel = steps * batch * width;
    let swapped = |values: &[f32]| -> Tensor<C, 3> {
        Tensor::<C, 3>::from_data(
            TensorData::new(values.to_vec(), [batch, steps, width]),
            &device(),
        )
        .swap_dims(0, 1)
    };
    let decay = || -> FloatTensor<C> {
        Tensor::<C, 1>::from_data(
            TensorData::new(vec![0.25_f32, DECAY as f32, 0.9], [3]),
            &device(),
        )
        .slice(1..2)
        .into_primitive()
        .tensor()
    };
    for (k, rule) in all_rules().iter().enumerate().step_by(7) {
        let label = format!("non-contiguous rule {k}");
        let x = rng.uniform_f32(numel, -0.3, 0.7);
        let x_view = swapped(&x);
        let x_contiguous: Vec<f32> =
            to_f32(&x_view.clone().into_data().iter::<f64>().collect::<Vec<_>>());
        let got = C::lif_forward(x_view.into_primitive().tensor(), decay(), rule);
        let want = generic::forward::<C>(
            upload(&x_contiguous, &dims),
            upload(&[DECAY as f32], &[1]),
            rule,
        );
        let want_u = download(want.membrane);
        compare_forward(
            &label,
            steps,
            batch * width,
            rule.threshold,
            &download(got.spikes),
            &download(got.membrane),
            &download(want.spikes),
            &want_u,
        );

        let gs = rng.uniform_f32(numel, -1.0, 1.0);
        let gm = rng.uniform_f32(numel, -1.0, 1.0);
        let gs_view = swapped(&gs);
        let gm_view = swapped(&gm);
        let contiguous =
            |t: &Tensor<C, 3>| to_f32(&t.clone().into_data().iter::<f64>().collect::<Vec<_>>());
        let (gs_c, gm_c) = (contiguous(&gs_view), contiguous(&gm_view));
        let membrane = to_f32(&want_u);
        let got = C::lif_backward(
            upload(&membrane, &dims),
            decay(),
            Some(gs_view.into_primitive().tensor()),
            Some(gm_view.into_primitive().tensor()),
            rule,
            true,
        );
        let want = generic::backward::<C>(
            upload(&membrane, &dims),
            upload(&[DECAY as f32], &[1]),
            Some(upload(&gs_c, &dims)),
            Some(upload(&gm_c, &dims)),
            rule,
            true,
        );
        assert_grads_close(&label, &download(got.input), &download(want.input));
        assert_scalar_close(
            &format!("{label}: decay grad"),
            download(got.decay.unwrap())[0],
            download(want.decay.unwrap())[0],
        );
    }
}

struct Run {
    spikes: Vec<f64>,
    membrane: Vec<f64>,
    grad_x: Vec<f64>,
    grad_logit: Option<f64>,
}

/// Loss = sum(ws * spikes) + sum(wu * membrane) through `Autodiff<C>`, fused or reference.
fn run_autodiff(
    lif: &Lif<A>,
    fused: bool,
    x: &[f32],
    ws: &[f32],
    wu: &[f32],
    dims: [usize; 3],
) -> Run {
    let tensor =
        |v: &[f32]| Tensor::<A, 3>::from_data(TensorData::new(v.to_vec(), dims), &device());
    let x = tensor(x).require_grad();
    let (spikes, membrane) = if fused {
        let out = lif.forward_full(x.clone());
        (out.spikes, out.membrane)
    } else {
        lif.forward_reference(x.clone())
    };
    let loss = (spikes.clone() * tensor(ws)).sum() + (membrane.clone() * tensor(wu)).sum();
    let grads = loss.backward();
    let values = |t: Tensor<A, 3>| t.into_data().iter::<f64>().collect::<Vec<f64>>();
    Run {
        spikes: values(spikes),
        membrane: values(membrane),
        grad_x: x
            .grad(&grads)
            .expect("x has a gradient")
            .into_data()
            .iter::<f64>()
            .collect(),
        grad_logit: lif.decay_logit.as_ref().map(|p| {
            p.val()
                .grad(&grads)
                .expect("the decay logit has a gradient")
                .into_data()
                .iter::<f64>()
                .next()
                .unwrap()
        }),
    }
}

#[test]
fn autodiff_fused_matches_reference() {
    if !device_answers() {
        return;
    }
    let dims = [12, 4, 96];
    let numel: usize = dims.iter().product();
    let mut rng = common::Rng::new(37);
    for (k, config) in [
        LifConfig::ma_snn_event(),
        LifConfig::ma_snn_event().with_learnable_decay(true),
        LifConfig::ms_resnet(),
        LifConfig::ms_resnet()
            .with_learnable_decay(true)
            .with_surrogate(Surrogate::Atan { alpha: 2.0 }),
    ]
    .iter()
    .enumerate()
    {
        let label = format!("autodiff config {k} {config:?}");
        let lif = config.init::<A>(&device()).unwrap();
        let x = rng.uniform_f32(numel, -0.4, 1.0);
        let ws = rng.uniform_f32(numel, -1.0, 1.0);
        let wu = rng.uniform_f32(numel, -1.0, 1.0);
        let fused = run_autodiff(&lif, true, &x, &ws, &wu, dims);
        let reference = run_autodiff(&lif, false, &x, &ws, &wu, dims);
        let ties = compare_forward(
            &label,
            dims[0],
            numel / dims[0],
            config.rule.threshold,
            &fused.spikes,
            &fused.membrane,
            &reference.spikes,
            &reference.membrane,
        );
        // A tie changes everything downstream of it in that neuron, gradients included.
        if ties == 0 {
            assert_grads_close(&label, &fused.grad_x, &reference.grad_x);
            match (fused.grad_logit, reference.grad_logit) {
                (Some(a), Some(b)) => assert_scalar_close(&format!("{label}: logit grad"), a, b),
                (None, None) => assert!(!config.learnable_decay),
                other => panic!("{label}: logit gradient presence differs: {other:?}"),
            }
        }
    }
}

/// The batch-norm kernels against the generic path on `x` of `dims` (`[N, C, S]` or
/// `[N, C, H, W]`), pooled by `pool`.
fn check_batch_norm(dims: &[usize], pool: usize, seed: u64) {
    let mut rng = common::Rng::new(seed);
    let numel: usize = dims.iter().product();
    let c = dims[1];
    // Values around 2 with spread 1: the variance must not cancel against the mean.
    let x = rng.uniform_f32(numel, 0.5, 3.5);
    let (weight, bias) = (rng.uniform_f32(c, 0.5, 1.5), rng.uniform_f32(c, -0.5, 0.5));
    let label = format!("batch norm {dims:?} pool {pool}");
    let eps = 1e-5;
    let got = C::batch_norm_train(
        upload(&x, dims),
        upload(&weight, &[c]),
        upload(&bias, &[c]),
        eps,
        pool,
    );
    let want = norm::generic::train_forward::<C>(
        upload(&x, dims),
        upload(&weight, &[c]),
        upload(&bias, &[c]),
        eps,
        pool,
    );
    let out_shape = burn::tensor::TensorMetadata::shape(&want.output);
    assert_eq!(
        burn::tensor::TensorMetadata::shape(&got.output),
        out_shape,
        "{label}: output shape"
    );
    assert_grads_close(
        &format!("{label}: output"),
        &download(got.output),
        &download(want.output.clone()),
    );
    let (mean, var) = (download(want.mean.clone()), download(want.var.clone()));
    assert_grads_close(&format!("{label}: mean"), &download(got.mean), &mean);
    assert_grads_close(&format!("{label}: var"), &download(got.var), &var);

    let out_dims: Vec<usize> = out_shape.iter().copied().collect();
    let g = rng.uniform_f32(out_shape.num_elements(), -1.0, 1.0);
    let backward = |kernel: bool| {
        let args = (
            upload(&x, dims),
            upload(&weight, &[c]),
            upload(&to_f32(&mean), &[c]),
            upload(&to_f32(&var), &[c]),
            upload(&g, &out_dims),
        );
        let grads = if kernel {
            C::batch_norm_train_backward(args.0, args.1, args.2, args.3, eps, pool, args.4)
        } else {
            norm::generic::train_backward::<C>(args.0, args.1, args.2, args.3, eps, pool, args.4)
        };
        [
            download(grads.input),
            download(grads.weight),
            download(grads.bias),
        ]
    };
    let (got, want) = (backward(true), backward(false));
    for (name, (got, want)) in ["input", "weight", "bias"]
        .iter()
        .zip(got.iter().zip(&want))
    {
        assert_grads_close(&format!("{label}: {name} gradient"), got, want);
    }
}

#[test]
fn batch_norm_kernels_match_generic() {
    if !device_answers() {
        return;
    }
    check_batch_norm(&[4, 3, 8, 8], 1, 31);
    check_batch_norm(&[4, 3, 8, 8], 2, 32);
    check_batch_norm(&[5, 7, 33], 1, 33);
    // 150 frames of 32 x 32: 64 frames per reduction chunk, so three chunks per channel, the
    // last one short; and 300 threads' worth of ragged output planes.
    check_batch_norm(&[150, 3, 32, 32], 2, 34);
    check_batch_norm(&[150, 2, 32, 32], 1, 35);
}

/// The rescaling kernels against the generic path on `x` `[T, B, C, S]`.
fn check_attention_scale(dims: [usize; 4], relu: bool, seed: u64) {
    let mut rng = common::Rng::new(seed);
    let [t, b, c, s] = dims;
    let x = rng.uniform_f32(t * b * c * s, -1.0, 1.0);
    let gt = rng.uniform_f32(t * b, 0.0, 1.0);
    let gc = rng.uniform_f32(b * c, 0.0, 1.0);
    let gs = rng.uniform_f32(b * s, 0.0, 1.0);
    let g = rng.uniform_f32(t * b * c * s, -1.0, 1.0);
    let gains = || ScaleGains::<C> {
        temporal: upload(&gt, &[t, b]),
        channel: upload(&gc, &[b, c]),
        spatial: upload(&gs, &[b, s]),
    };
    let label = format!("attention scale {dims:?} relu {relu}");
    let got = download(C::attention_scale(upload(&x, &dims), gains(), relu));
    let want = download(generic_attention_scale::<C>(
        upload(&x, &dims),
        gains(),
        relu,
    ));
    assert_grads_close(&format!("{label}: output"), &got, &want);
    let wants = [true; 4];
    let got =
        C::attention_scale_backward(upload(&x, &dims), gains(), relu, upload(&g, &dims), wants);
    let want = generic_attention_scale_backward::<C>(
        upload(&x, &dims),
        gains(),
        relu,
        upload(&g, &dims),
        wants,
    );
    for (name, got, want) in [
        ("x", got.x, want.x),
        ("temporal", got.temporal, want.temporal),
        ("channel", got.channel, want.channel),
        ("spatial", got.spatial, want.spatial),
    ] {
        let (got, want) = (got.expect(name), want.expect(name));
        assert_grads_close(
            &format!("{label}: {name} gradient"),
            &download(got),
            &download(want),
        );
    }
    // Only the wanted gradients are computed.
    let some = C::attention_scale_backward(
        upload(&x, &dims),
        gains(),
        relu,
        upload(&g, &dims),
        [false, true, false, true],
    );
    assert!(some.x.is_none() && some.channel.is_none());
    assert!(some.temporal.is_some() && some.spatial.is_some());
}

#[test]
fn attention_scale_kernels_match_generic() {
    if !device_answers() {
        return;
    }
    check_attention_scale([3, 2, 5, 7], false, 41);
    check_attention_scale([3, 2, 5, 7], true, 42);
    // Blocks longer than a cube (C x S = 2310, T x S = 231) and ragged thread counts.
    check_attention_scale([7, 3, 70, 33], true, 43);
}

/// Values on a grid of quarters in `[-2, 2]`, so that rows of a few dozen values have tied
/// maxima (the gradient goes to the first).
fn quantized(rng: &mut common::Rng, n: usize) -> Vec<f32> {
    rng.uniform_f32(n, -2.0, 2.0)
        .into_iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect()
}

/// burn's reductions on lavapipe lose part of very long rows (a 70 000-value row's mean came out
/// -0.0045 against an exact -0.0026), so rows longer than this are checked against the host
/// alone.
const LONGEST_BURN_ROW: usize = 4096;

/// The mean/max kernels on `x` `[A, R, L]` against the host's exact values (sums of quarters)
/// and, for rows up to [`LONGEST_BURN_ROW`], against burn's reductions, `argmax` and `scatter`.
fn check_mean_max(dims: [usize; 3], seed: u64) {
    let mut rng = common::Rng::new(seed);
    let [a, r, l] = dims;
    let x = quantized(&mut rng, a * r * l);
    let label = format!("mean/max {dims:?}");
    let value = |o: usize, ri: usize| x[((o / l) * r + ri) * l + o % l] as f64;
    // Per output: the mean, the maximum and the first position holding it.
    let host: Vec<(f64, f64, usize)> = (0..a * l)
        .map(|o| {
            let mean = (0..r).map(|ri| value(o, ri)).sum::<f64>() / r as f64;
            let first = (0..r).fold(0, |best, ri| {
                if value(o, ri) > value(o, best) {
                    ri
                } else {
                    best
                }
            });
            (mean, value(o, first), first)
        })
        .collect();
    let burn = r <= LONGEST_BURN_ROW;
    let got = C::mean_max(upload(&x, &dims));
    let got_max = download(got.max.clone());
    let got_mean = download(got.mean);
    let host_max: Vec<f64> = host.iter().map(|h| h.1).collect();
    let host_mean: Vec<f64> = host.iter().map(|h| h.0).collect();
    assert_eq!(got_max, host_max, "{label}: maximum");
    assert_grads_close(&format!("{label}: mean"), &got_mean, &host_mean);
    if burn {
        let want = generic_mean_max::<C>(upload(&x, &dims));
        assert_eq!(got_max, download(want.max), "{label}: maximum (burn)");
        assert_grads_close(
            &format!("{label}: mean (burn)"),
            &got_mean,
            &download(want.mean),
        );
    }
    let (gm, gx) = (
        rng.uniform_f32(a * l, -1.0, 1.0),
        rng.uniform_f32(a * l, -1.0, 1.0),
    );
    for (which, mean, max) in [
        ("both", true, true),
        ("mean", true, false),
        ("max", false, true),
    ] {
        let grads = || {
            (
                mean.then(|| upload(&gm, &[a, l])),
                max.then(|| upload(&gx, &[a, l])),
            )
        };
        let (m, x_) = grads();
        let grad = download(C::mean_max_backward(
            upload(&x, &dims),
            got.max.clone(),
            m,
            x_,
        ));
        let mut host_grad = vec![0.0; a * r * l];
        for (o, &(_, _, first)) in host.iter().enumerate() {
            for ri in 0..r {
                let i = ((o / l) * r + ri) * l + o % l;
                if mean {
                    host_grad[i] += gm[o] as f64 / r as f64;
                }
                if max && ri == first {
                    host_grad[i] += gx[o] as f64;
                }
            }
        }
        assert_grads_close(&format!("{label}: gradient ({which})"), &grad, &host_grad);
        if burn {
            let (m, x_) = grads();
            let want = generic_mean_max_backward::<C>(upload(&x, &dims), got.max.clone(), m, x_);
            assert_grads_close(
                &format!("{label}: gradient ({which}, burn)"),
                &grad,
                &download(want),
            );
        }
    }
}

#[test]
fn mean_max_kernels_match_generic() {
    if !device_answers() {
        return;
    }
    // A cube per output (`L` < 32): CA's squeeze (`L = 1`) with rows longer than a cube, TA's
    // (a long row per step), rows shorter than a cube, a single reduced value, and more
    // outputs than one grid axis holds (65535).
    check_mean_max([37, 300, 1], 51);
    check_mean_max([3, 70_000, 1], 55);
    check_mean_max([1, 5, 3], 53);
    check_mean_max([4, 1, 7], 54);
    check_mean_max([70_000, 3, 1], 56);
    // A thread per output (`L` >= 32): SA's squeeze, long and ragged rows, and the smallest.
    check_mean_max([6, 9, 300], 52);
    check_mean_max([3, 7, 32], 57);
}

/// The scaled squeeze against its composition from the generic rescaling and burn's
/// reductions, on `x` `[T, B, C, S]`.
/// With `tied`, every channel gain is 0.5, so the rescaled values tie wherever `x` does and
/// the first-maximum rule is exercised.
fn check_scaled_mean_max(dims: [usize; 4], tied: bool, seed: u64) {
    let mut rng = common::Rng::new(seed);
    let [t, b, c, s] = dims;
    let x = quantized(&mut rng, t * b * c * s);
    let gt = rng.uniform_f32(t * b, 0.0, 1.0);
    let gc = if tied {
        vec![0.5; b * c]
    } else {
        rng.uniform_f32(b * c, 0.0, 1.0)
    };
    let gains = |spatial: &[f32]| ScaleGains::<C> {
        temporal: upload(&gt, &[t, b]),
        channel: upload(&gc, &[b, c]),
        spatial: upload(spatial, &[b, s]),
    };
    let ones = vec![1.0; b * s];
    let label = format!("scaled mean/max {dims:?}");
    let got = C::scaled_mean_max(upload(&x, &dims), gains(&ones));
    let want = generic_scaled_mean_max::<C>(upload(&x, &dims), gains(&ones));
    let max = download(got.max.clone());
    assert_eq!(max, download(want.max), "{label}: maximum");
    assert_grads_close(
        &format!("{label}: mean"),
        &download(got.mean),
        &download(want.mean),
    );

    // The reference backward: the rescaled sequence written out, burn's mean/max gradient of
    // it, then the generic rescaling's backward.
    let (gm, gx) = (
        rng.uniform_f32(t * b * s, -1.0, 1.0),
        rng.uniform_f32(t * b * s, -1.0, 1.0),
    );
    let scaled = generic_attention_scale::<C>(upload(&x, &dims), gains(&ones), false);
    let scaled = C::float_reshape(scaled, Shape::new([t * b, c, s]));
    let grad = generic_mean_max_backward::<C>(
        scaled,
        upload(&to_f32(&max), &[t * b, s]),
        Some(upload(&gm, &[t * b, s])),
        Some(upload(&gx, &[t * b, s])),
    );
    let grad = C::float_reshape(grad, Shape::new(dims));
    let want = generic_attention_scale_backward::<C>(
        upload(&x, &dims),
        gains(&ones),
        false,
        grad.clone(),
        [true, true, true, false],
    );
    // The spatial gain's values are not used: random ones must not change anything.
    let spatial = rng.uniform_f32(b * s, 0.0, 1.0);
    let got = C::scaled_mean_max_backward(
        upload(&x, &dims),
        gains(&spatial),
        got.max,
        Some(upload(&gm, &[t * b, s])),
        Some(upload(&gx, &[t * b, s])),
        [true, true, true],
    );
    assert!(got.spatial.is_none(), "{label}: no spatial gradient");
    for (name, got, want) in [
        ("x", got.x, want.x),
        ("temporal", got.temporal, want.temporal),
        ("channel", got.channel, want.channel),
    ] {
        let (got, want) = (got.expect(name), want.expect(name));
        assert_grads_close(
            &format!("{label}: {name} gradient"),
            &download(got),
            &download(want),
        );
    }
    // Only the wanted gradients, each still right.
    let some = C::scaled_mean_max_backward(
        upload(&x, &dims),
        gains(&ones),
        upload(&to_f32(&max), &[t * b, s]),
        Some(upload(&gm, &[t * b, s])),
        Some(upload(&gx, &[t * b, s])),
        [false, true, false],
    );
    assert!(some.x.is_none() && some.channel.is_none() && some.spatial.is_none());
    let want = generic_attention_scale_backward::<C>(
        upload(&x, &dims),
        gains(&ones),
        false,
        grad,
        [false, true, false, false],
    );
    assert_grads_close(
        &format!("{label}: temporal gradient alone"),
        &download(some.temporal.expect("temporal")),
        &download(want.temporal.expect("temporal")),
    );
}

#[test]
fn scaled_mean_max_kernels_match_generic() {
    if !device_answers() {
        return;
    }
    check_scaled_mean_max([3, 2, 5, 7], false, 61);
    check_scaled_mean_max([3, 2, 5, 7], true, 63);
    // More channels than a cube has threads, ragged pixel rows (a thread per output).
    check_scaled_mean_max([4, 3, 300, 33], false, 62);
    check_scaled_mean_max([4, 3, 300, 33], true, 64);
}
