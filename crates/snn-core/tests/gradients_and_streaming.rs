//! Finite-difference checks of the surrogate-free gradient paths, the single-step (streaming)
//! API against the multi-step one, firing statistics, and unusual input layouts.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::tensor::{DType, Tensor, TensorData};
use snn_core::{FireTest, Lif, LifConfig, LifState, Reset, ShapeError, Surrogate};

type B = Autodiff<Flex>;

fn pseudo_random(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    // Weyl sequence of the golden ratio: deterministic, well spread, no RNG crate needed.
    (0..n)
        .map(|i| {
            let frac = ((i as f64 + 1.0) * 0.618_033_988_749_894_9
                + seed as f64 * 0.414_213_562_373_095)
                .fract();
            lo + (hi - lo) * frac
        })
        .collect()
}

fn tensor<const D: usize>(values: Vec<f64>, dims: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    )
}

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn layer_f64(config: &LifConfig, logit: Option<f64>) -> Lif<B> {
    let device = Default::default();
    let mut lif = config.init::<B>(&device).unwrap();
    if let Some(logit) = logit {
        lif.decay_logit = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![logit], [1]),
            (&device, DType::F64),
        )));
    }
    lif
}

/// Loss on the membrane only: with a detached reset no gradient passes through a surrogate, so
/// the analytic gradient is the true derivative wherever no spike flips.
fn membrane_loss(lif: &Lif<B>, x: Tensor<B, 3>, w: &Tensor<B, 3>) -> (Tensor<B, 1>, Vec<f64>) {
    let out = lif.forward_full(x);
    ((out.membrane * w.clone()).sum(), values(out.spikes))
}

#[test]
fn finite_differences_match_on_surrogate_free_paths() {
    let dims = [8, 2, 5];
    let n: usize = dims.iter().product();
    let x0 = pseudo_random(n, 1, -0.3, 0.7);
    let w = tensor(pseudo_random(n, 2, -1.0, 1.0), dims);
    let eps = 1e-6;
    for reset in [
        Reset::Hard { value: 0.05 },
        Reset::Subtract,
        Reset::LeakToThreshold,
    ] {
        let config = LifConfig::ma_snn_event()
            .with_decay(0.6)
            .with_learnable_decay(true)
            .with_reset(reset)
            .with_detach_reset(true)
            .with_surrogate(Surrogate::Sigmoid { alpha: 4.0 });
        let logit = (0.6_f64 / 0.4).ln();
        let lif = layer_f64(&config, Some(logit));
        let x = tensor(x0.clone(), dims).require_grad();
        let (loss, spikes0) = membrane_loss(&lif, x.clone(), &w);
        let grads = loss.backward();
        let grad_x = values(x.grad(&grads).unwrap());
        let grad_logit = values(
            lif.decay_logit
                .as_ref()
                .unwrap()
                .val()
                .grad(&grads)
                .unwrap(),
        )[0];

        let loss_at = |x: Vec<f64>, logit: f64| {
            let (l, s) = membrane_loss(&layer_f64(&config, Some(logit)), tensor(x, dims), &w);
            (values(l)[0], s)
        };
        let mut compared = 0;
        for i in 0..n {
            let (mut up, mut down) = (x0.clone(), x0.clone());
            up[i] += eps;
            down[i] -= eps;
            let ((lu, su), (ld, sd)) = (loss_at(up, logit), loss_at(down, logit));
            if su != spikes0 || sd != spikes0 {
                continue; // a spike flipped: the loss is not differentiable here
            }
            let fd = (lu - ld) / (2.0 * eps);
            assert!(
                (fd - grad_x[i]).abs() <= 1e-6 * grad_x[i].abs().max(1.0),
                "{reset:?} x[{i}]: fd {fd} vs {}",
                grad_x[i]
            );
            compared += 1;
        }
        assert!(
            compared > n * 3 / 4,
            "{reset:?}: only {compared} of {n} points comparable"
        );
        let ((lu, su), (ld, sd)) = (
            loss_at(x0.clone(), logit + eps),
            loss_at(x0.clone(), logit - eps),
        );
        assert!(
            su == spikes0 && sd == spikes0,
            "decay perturbation flipped a spike"
        );
        let fd = (lu - ld) / (2.0 * eps);
        assert!(
            (fd - grad_logit).abs() <= 1e-6 * grad_logit.abs().max(1.0),
            "{reset:?} logit: fd {fd} vs {grad_logit}"
        );
    }
}

#[test]
fn single_step_api_reproduces_the_sequence() {
    let dims = [10, 3, 4];
    let n: usize = dims.iter().product();
    for config in [
        LifConfig::ma_snn_event(),
        LifConfig::ms_resnet().with_reset(Reset::Subtract),
    ] {
        let lif = layer_f64(&config, None);
        let x = tensor(pseudo_random(n, 3, -0.4, 0.9), dims);
        let out = lif.forward_full(x.clone());
        let mut state = LifState::zeros_like(&x.clone().slice(0..1).squeeze_dim::<2>(0));
        let mut streamed = Vec::new();
        for t in 0..dims[0] {
            let x_t = x.clone().slice(t..t + 1).squeeze_dim::<2>(0);
            let (s, next) = lif.step(x_t, state).unwrap();
            streamed.extend(values(s));
            state = next;
        }
        assert_eq!(streamed, values(out.spikes));
    }
}

#[test]
fn single_step_rejects_a_mismatched_state() {
    let lif = layer_f64(&LifConfig::ma_snn_event(), None);
    let x = tensor(vec![0.0; 6], [2, 3]);
    let state = LifState::zeros_like(&tensor(vec![0.0; 4], [2, 2]));
    let err = lif.step(x, state).unwrap_err();
    assert_eq!(
        err,
        ShapeError::StateMismatch {
            state: vec![2, 2],
            input: vec![2, 3]
        }
    );
    assert!(err.to_string().contains("[2, 2]"));
}

#[test]
fn single_step_is_differentiable() {
    let lif = layer_f64(&LifConfig::ma_snn_event(), None);
    let x = tensor(vec![0.25, 0.1], [2, 1]).require_grad();
    let (s, _) = lif.step(x.clone(), LifState::zeros_like(&x)).unwrap();
    let grads = s.sum().backward();
    // Rectangle surrogate, lens 0.25: height 2 for |u - 0.3| < 0.25, so 2 at u = 0.25 and 0.1.
    assert_eq!(values(x.grad(&grads).unwrap()), [2.0, 2.0]);
}

#[test]
fn stats_count_the_spikes() {
    let dims = [7, 4, 9];
    let n: usize = dims.iter().product();
    let lif = layer_f64(&LifConfig::ma_snn_event(), None);
    let x = tensor(pseudo_random(n, 4, -0.2, 0.6), dims);
    let (spikes, stats) = lif.forward_with_stats(x);
    let count: f64 = values(spikes).iter().sum();
    assert!(count > 0.0);
    assert_eq!(stats.spikes, count);
    assert_eq!(stats.rate(), count / n as f64);
    assert_eq!(stats.spikes_per_sample(), count / 4.0);
}

#[test]
fn any_rank_and_non_contiguous_inputs_match_the_reference() {
    let lif = layer_f64(
        &LifConfig::ma_snn_event().with_fire_test(FireTest::Greater),
        None,
    );
    // Rank 1: T steps of one neuron.
    let x1 = tensor(pseudo_random(12, 5, -0.2, 0.6), [12]);
    assert_eq!(
        values(lif.forward(x1.clone())),
        values(lif.forward_reference(x1).0)
    );
    // Rank 5: [T, B, C, H, W].
    let x5 = tensor(
        pseudo_random(3 * 2 * 3 * 4 * 5, 6, -0.2, 0.6),
        [3, 2, 3, 4, 5],
    );
    assert_eq!(
        values(lif.forward(x5.clone())),
        values(lif.forward_reference(x5).0)
    );
    // A [B, T, N] tensor viewed as [T, B, N]: not contiguous.
    let btn = tensor(pseudo_random(2 * 6 * 5, 7, -0.2, 0.6), [2, 6, 5]);
    let tbn = btn.swap_dims(0, 1);
    let fused = lif.forward_full(tbn.clone());
    let (spikes, membrane) = lif.forward_reference(tbn);
    assert_eq!(values(fused.spikes), values(spikes));
    assert_eq!(values(fused.membrane), values(membrane));
}

#[test]
#[should_panic(expected = "T >= 1")]
fn empty_sequence_is_rejected_with_a_clear_message() {
    let lif = layer_f64(&LifConfig::ma_snn_event(), None);
    let _ = lif.forward(tensor(Vec::new(), [0, 2, 3]));
}

#[test]
fn bad_config_is_an_error_not_a_panic() {
    let bad = LifConfig::ma_snn_event().with_surrogate(Surrogate::Rectangle { lens: 0.0 });
    let err = bad.init::<B>(&Default::default()).unwrap_err();
    assert!(err.to_string().contains("surrogate.lens"));
}
