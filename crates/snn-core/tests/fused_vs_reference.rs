//! The fused kernel against the reference implementation in f64: identical spikes, membrane
//! and gradients (to ~1e-12) for every spike test, reset, surrogate and reset detachment,
//! with fixed and learnable decay; and the generic path (the CUDA kernel's reference) against the
//! CPU kernel.

use burn::backend::Flex;
use burn::module::Param;
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use snn_core::neuron::fused::{generic, LifBackend};
use snn_core::{FireTest, Lif, LifConfig, Reset, Surrogate};
use snn_testkit::max_abs_diff;

mod common;

use common::{Rng, B};

fn tensor3(values: Vec<f64>, dims: [usize; 3]) -> Tensor<B, 3> {
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    )
}

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn all_configs() -> Vec<LifConfig> {
    let fire_tests = [FireTest::GreaterOrEqual, FireTest::Greater];
    let resets = [
        Reset::Hard { value: 0.05 },
        Reset::Subtract,
        Reset::LeakToThreshold,
    ];
    let surrogates = [
        Surrogate::Rectangle { lens: 0.25 },
        Surrogate::Sigmoid { alpha: 4.0 },
        Surrogate::Atan { alpha: 2.0 },
        Surrogate::Triangle { width: 0.4 },
    ];
    let mut configs = Vec::new();
    for fire_test in fire_tests {
        for reset in resets {
            for surrogate in surrogates {
                for detach in [false, true] {
                    for learnable in [false, true] {
                        configs.push(
                            LifConfig::ma_snn_event()
                                .with_decay(0.6)
                                .with_learnable_decay(learnable)
                                .with_fire_test(fire_test)
                                .with_reset(reset)
                                .with_surrogate(surrogate)
                                .with_detach_reset(detach),
                        );
                    }
                }
            }
        }
    }
    configs
}

/// Builds the layer in f64 (a learnable decay's logit is created in f64 too).
fn layer(config: &LifConfig) -> Lif<B> {
    let device = Default::default();
    let mut lif = config.init::<B>(&device).unwrap();
    if config.learnable_decay {
        let logit = (config.decay / (1.0 - config.decay)).ln();
        lif.decay_logit = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![logit], [1]),
            (&device, DType::F64),
        )));
    }
    lif
}

struct Run {
    spikes: Vec<f64>,
    membrane: Vec<f64>,
    grad_x: Vec<f64>,
    grad_logit: Option<f64>,
}

/// Loss = sum(ws * spikes) + sum(wu * membrane), so both outputs' gradient paths are used.
fn run(
    config: &LifConfig,
    fused: bool,
    x: &[f64],
    ws: &[f64],
    wu: &[f64],
    dims: [usize; 3],
) -> Run {
    let lif = layer(config);
    let x = tensor3(x.to_vec(), dims).require_grad();
    let (spikes, membrane) = if fused {
        let out = lif.forward_full(x.clone());
        (out.spikes, out.membrane)
    } else {
        lif.forward_reference(x.clone())
    };
    let loss = (spikes.clone() * tensor3(ws.to_vec(), dims)).sum()
        + (membrane.clone() * tensor3(wu.to_vec(), dims)).sum();
    let grads = loss.backward();
    Run {
        spikes: values(spikes),
        membrane: values(membrane),
        grad_x: x
            .grad(&grads)
            .map(|g| g.into_data().iter::<f64>().collect())
            .unwrap(),
        grad_logit: lif.decay_logit.as_ref().map(|p| {
            p.val()
                .grad(&grads)
                .unwrap()
                .into_data()
                .iter::<f64>()
                .next()
                .unwrap()
        }),
    }
}

#[test]
fn fused_matches_reference_for_every_configuration() {
    let dims = [9, 3, 17];
    let n: usize = dims.iter().product();
    let mut rng = Rng::new(7);
    let mut checked_spikes = 0.0;
    for (i, config) in all_configs().iter().enumerate() {
        let x = rng.uniform(n, -0.3, 0.7);
        let ws = rng.uniform(n, -1.0, 1.0);
        let wu = rng.uniform(n, -1.0, 1.0);
        let fused = run(config, true, &x, &ws, &wu, dims);
        let reference = run(config, false, &x, &ws, &wu, dims);
        assert_eq!(fused.spikes, reference.spikes, "config {i}: {config:?}");
        checked_spikes += fused.spikes.iter().sum::<f64>();
        assert!(
            max_abs_diff(&fused.membrane, &reference.membrane) <= 1e-12,
            "config {i}"
        );
        let scale = reference.grad_x.iter().fold(1.0_f64, |m, g| m.max(g.abs()));
        let diff = max_abs_diff(&fused.grad_x, &reference.grad_x);
        assert!(
            diff <= 1e-12 * scale,
            "config {i}: grad_x differs by {diff} (scale {scale}): {config:?}"
        );
        match (fused.grad_logit, reference.grad_logit) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "config {i}: decay grad {a} vs {b}"
            ),
            (None, None) => assert!(!config.learnable_decay),
            other => panic!("config {i}: decay gradient presence differs: {other:?}"),
        }
    }
    // The inputs must exercise both spiking and silent neurons, or the comparison proves little.
    let total = (all_configs().len() * n) as f64;
    assert!(
        checked_spikes > 0.1 * total && checked_spikes < 0.9 * total,
        "spike fraction {}",
        checked_spikes / total
    );
}

#[test]
fn official_presets_match_reference() {
    let dims = [12, 2, 64];
    let n: usize = dims.iter().product();
    let mut rng = Rng::new(11);
    for config in [LifConfig::ma_snn_event(), LifConfig::ms_resnet()] {
        let x = rng.uniform(n, -0.5, 1.0);
        let ws = rng.uniform(n, -1.0, 1.0);
        let wu = vec![0.0; n];
        let fused = run(&config, true, &x, &ws, &wu, dims);
        let reference = run(&config, false, &x, &ws, &wu, dims);
        assert_eq!(fused.spikes, reference.spikes);
        assert!(max_abs_diff(&fused.grad_x, &reference.grad_x) <= 1e-12);
    }
}

#[test]
fn official_event_neuron_by_hand() {
    // One neuron, official event constants: u = h + x, fire at u >= 0.3, store 0.3*(s*0.3 + (1-s)*u).
    let x = [0.2, 0.25, 0.1, 0.3, 0.0];
    let (mut h, mut expected_s, mut expected_u) = (0.0_f64, vec![], vec![]);
    for xi in x {
        let u = h + xi;
        let s = if u >= 0.3 { 1.0 } else { 0.0 };
        h = 0.3 * (s * 0.3 + (1.0 - s) * u);
        expected_s.push(s);
        expected_u.push(u);
    }
    assert_eq!(expected_s, [0.0, 1.0, 0.0, 1.0, 0.0]);
    let lif = layer(&LifConfig::ma_snn_event());
    let out = lif.forward_full(tensor3(x.to_vec(), [5, 1, 1]));
    assert_eq!(values(out.spikes), expected_s);
    assert!(max_abs_diff(&values(out.membrane), &expected_u) < 1e-15);
    assert_eq!(values(out.spike_count), [2.0]);
}

#[test]
fn ms_resnet_first_step_is_the_input_and_threshold_is_strict() {
    let lif = layer(&LifConfig::ms_resnet());
    // u0 = x0 = 0.5 (not > 0.5: silent); u1 = 0.25*0.5 + 0.4 = 0.525 (spike); reset to 0: u2 = 0.5.
    let out = lif.forward_full(tensor3(vec![0.5, 0.4, 0.5], [3, 1, 1]));
    assert_eq!(values(out.spikes), [0.0, 1.0, 0.0]);
    assert!(max_abs_diff(&values(out.membrane), &[0.5, 0.525, 0.5]) < 1e-15);
}

fn flex_values(t: burn::tensor::ops::FloatTensor<Flex>) -> Vec<f64> {
    Tensor::<Flex, 1>::from_primitive(TensorPrimitive::Float(t))
        .into_data()
        .iter::<f64>()
        .collect()
}

#[test]
fn generic_path_matches_cpu_kernel() {
    // The generic path is the CUDA kernel's reference: check it against the CPU kernel.
    let dims = [6, 2, 11];
    let n: usize = dims.iter().product();
    let device = Default::default();
    let mut rng = Rng::new(3);
    // Backend-level tensors keep the data's dtype (f64).
    let flex = |v: Vec<f64>, shape: &[usize]| {
        Flex::float_from_data(TensorData::new(v, shape.to_vec()), &device)
    };
    for config in all_configs().iter().filter(|c| !c.learnable_decay) {
        let x = flex(rng.uniform(n, -0.3, 0.7), &dims);
        let decay = || flex(vec![config.decay], &[1]);
        let cpu = Flex::lif_forward(x.clone(), decay(), &config.rule);
        let gen = generic::forward::<Flex>(x, decay(), &config.rule);
        let cpu_membrane = flex_values(cpu.membrane.clone());
        assert_eq!(flex_values(cpu.spikes), flex_values(gen.spikes));
        assert!(max_abs_diff(&cpu_membrane, &flex_values(gen.membrane)) <= 1e-12);
        assert_eq!(flex_values(cpu.spike_count), flex_values(gen.spike_count));

        // Both upstream gradients, spikes only, membrane only; with and without the decay
        // gradient.
        let gs = || flex(Rng::new(5).uniform(n, -1.0, 1.0), &dims);
        let gu = || flex(Rng::new(6).uniform(n, -1.0, 1.0), &dims);
        for (with_s, with_u, want_decay) in [
            (true, true, true),
            (true, false, false),
            (false, true, true),
        ] {
            let upstream = || (with_s.then(gs), with_u.then(gu));
            let (s1, u1) = upstream();
            let a = Flex::lif_backward(
                cpu.membrane.clone(),
                decay(),
                s1,
                u1,
                &config.rule,
                want_decay,
            );
            let (s2, u2) = upstream();
            let b = generic::backward::<Flex>(
                cpu.membrane.clone(),
                decay(),
                s2,
                u2,
                &config.rule,
                want_decay,
            );
            assert!(
                max_abs_diff(&flex_values(a.input), &flex_values(b.input)) <= 1e-12,
                "{config:?} spikes {with_s} membrane {with_u}"
            );
            assert_eq!(a.decay.is_some(), want_decay);
            assert_eq!(b.decay.is_some(), want_decay);
            if let (Some(da), Some(db)) = (a.decay, b.decay) {
                let (da, db) = (flex_values(da)[0], flex_values(db)[0]);
                assert!((da - db).abs() <= 1e-12 * db.abs().max(1.0), "{da} vs {db}");
            }
        }
    }
}

#[test]
fn f32_fused_matches_reference_spikes_exactly() {
    // The forward arithmetic is the same operations in the same order, so even in f32 the
    // spikes and membrane agree bit for bit.
    let dims = [20, 4, 33];
    let n: usize = dims.iter().product();
    let device = Default::default();
    let x: Tensor<B, 3> = Tensor::from_data(
        TensorData::new(
            Rng::new(9)
                .uniform(n, -0.3, 0.7)
                .iter()
                .map(|&v| v as f32)
                .collect(),
            dims,
        ),
        (&device, DType::F32),
    );
    for config in all_configs().iter().filter(|c| !c.learnable_decay) {
        let lif = config.init::<B>(&device).unwrap();
        let fused = lif.forward_full(x.clone());
        let (s, u) = lif.forward_reference(x.clone());
        assert_eq!(fused.spikes.dtype(), DType::F32);
        assert_eq!(values(fused.spikes), values(s));
        assert_eq!(values(fused.membrane), values(u));
    }
}

#[test]
fn spikes_only_pass_matches_the_full_pass() {
    // Inference's spikes-only kernel gives the full pass's spikes and count, bit for bit, for
    // every rule, in f64 and f32, over a width that spans several column blocks.
    let dims = [7, 3, 2900];
    let n: usize = dims.iter().product();
    let device = Default::default();
    for (i, config) in all_configs()
        .iter()
        .filter(|c| !c.learnable_decay)
        .enumerate()
    {
        let x = Rng::new(40 + i as u64).uniform(n, -0.3, 0.7);
        for dtype in [DType::F64, DType::F32] {
            let flex = |v: Vec<f64>, shape: &[usize]| {
                let data = TensorData::new(v, shape.to_vec()).convert_dtype(dtype);
                Flex::float_from_data(data, &device)
            };
            let decay = || flex(vec![config.decay], &[1]);
            let full = Flex::lif_forward(flex(x.clone(), &dims), decay(), &config.rule);
            let only = Flex::lif_forward_spikes(flex(x.clone(), &dims), decay(), &config.rule);
            assert_eq!(
                flex_values(full.spikes),
                flex_values(only.spikes),
                "{config:?} {dtype:?}"
            );
            assert_eq!(flex_values(full.spike_count), flex_values(only.spike_count));
        }
    }
    // Under autodiff the spikes-only entry point still tracks the spikes.
    let lif = LifConfig::ma_snn_event().init::<B>(&device).unwrap();
    let x = tensor3(Rng::new(50).uniform(60, 0.0, 0.6), [5, 3, 4]).require_grad();
    let (spikes, stats) = lif.forward_with_stats(x.clone());
    assert!(stats.spikes > 0.0);
    let grads = spikes.sum().backward();
    assert!(x.grad(&grads).is_some());
}
