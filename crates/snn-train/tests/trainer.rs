//! The training loop: exact resume (bit for bit on the CPU, with and without dropout),
//! optimiser update rules against hand-computed PyTorch steps, the finite-gradient check, and
//! a run that learns.

use std::path::Path;
use std::sync::Mutex;

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ma_attention::AttentionKind;
use snn_core::ConvPrecision;
use snn_models::{EventNetConfig, PlifNetConfig, StateDict};
use snn_train::net::NetConfig;
use snn_train::optim::{Optim, OptimError, OptimizerConfig};
use snn_train::trainer::{
    fit, BatchSource, EpochRecord, FitOptions, LabelledBatch, LossConfig, Quiet, ScheduleConfig,
    TrainConfig,
};

type B = Autodiff<Flex>;

/// The backend generator is global: tests that train hold this lock.
static LOCK: Mutex<()> = Mutex::new(());

/// A learnable toy task: class `c` lights a vertical bar at column `2c + 1` with
/// per-sample noise; shuffled by epoch, so the order depends on (seed, epoch) only.
struct Bars {
    samples: usize,
    batch: usize,
    steps: usize,
    size: usize,
    classes: usize,
    shuffle: bool,
}

fn hash(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl BatchSource for Bars {
    fn batches(&self, _epoch: usize) -> usize {
        self.samples.div_ceil(self.batch)
    }

    fn batch(&self, epoch: usize, index: usize) -> Result<LabelledBatch, String> {
        let mut order: Vec<usize> = (0..self.samples).collect();
        if self.shuffle {
            order.sort_by_key(|&i| hash(i as u64 ^ (epoch as u64) << 32));
        }
        let rows: Vec<usize> = order
            .iter()
            .skip(index * self.batch)
            .take(self.batch)
            .copied()
            .collect();
        let (t, s, n) = (self.steps, self.size, rows.len());
        let mut data = vec![0.0f32; t * n * 2 * s * s];
        for (b, &sample) in rows.iter().enumerate() {
            let class = sample % self.classes;
            for step in 0..t {
                for y in 0..s {
                    for x in 0..s {
                        let noise = hash((sample * 1000 + step * 100 + y * 10 + x) as u64)
                            .is_multiple_of(7);
                        let on = x == 2 * class + 1 || noise;
                        let at = (((step * n + b) * 2) * s + y) * s + x;
                        data[at] = on as u8 as f32;
                    }
                }
            }
        }
        Ok(LabelledBatch {
            shape: [t, n, 2, s, s],
            data,
            labels: rows.iter().map(|&i| i % self.classes).collect(),
            samples: rows,
        })
    }
}

fn bars(samples: usize, shuffle: bool) -> Bars {
    Bars {
        samples,
        batch: 8,
        steps: 4,
        size: 8,
        classes: 3,
        shuffle,
    }
}

fn event_config(attention: AttentionKind) -> NetConfig {
    NetConfig::Event(EventNetConfig::tiny(4, attention))
}

fn train_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        lr: 5e-3,
        optimizer: OptimizerConfig::adam(),
        schedule: ScheduleConfig::Plateau {
            factor: 0.5,
            patience: 0,
        },
        loss: LossConfig::MseRate,
        max_grad_norm: Some(1.0),
        seed: 7,
        precision: ConvPrecision::Full,
    }
}

fn options(out: &Path, resume: bool, max_epochs_now: Option<usize>) -> FitOptions<'_> {
    FitOptions {
        out,
        resume,
        max_epochs_now,
        meta: serde_json::json!({"test": true}),
    }
}

/// A record without its wall-clock fields.
fn timeless(mut r: EpochRecord) -> EpochRecord {
    r.seconds = 0.0;
    r.train_samples_per_s = 0.0;
    r.test.samples_per_s = 0.0;
    r
}

fn assert_same_run(a: &Path, b: &Path) {
    // Tensors and metadata, bit for bit (the header's key order is not significant).
    for file in [
        "last/model.safetensors",
        "last/optimizer.safetensors",
        "best/model.safetensors",
    ] {
        let x = StateDict::read(&a.join(file)).unwrap();
        let y = StateDict::read(&b.join(file)).unwrap();
        assert_eq!(x.metadata, y.metadata, "{file}");
        assert_eq!(
            x.tensors.keys().collect::<Vec<_>>(),
            y.tensors.keys().collect::<Vec<_>>(),
            "{file}"
        );
        for (name, t) in &x.tensors {
            assert!(
                t.as_bytes() == y.tensors[name].as_bytes(),
                "{file}: {name} differs between the runs"
            );
        }
    }
    let log = |dir: &Path| -> Vec<EpochRecord> {
        std::fs::read_to_string(dir.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| timeless(serde_json::from_str(l).unwrap()))
            .collect()
    };
    assert_eq!(log(a), log(b));
}

fn resume_equals_uninterrupted(net: NetConfig, epochs: usize, stop_after: usize) {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    // Removed when the test ends, also when it fails.
    let dir = tempfile::Builder::new()
        .prefix("snn-train-resume-")
        .tempdir()
        .unwrap();
    let tmp = dir.path();
    let (whole, split) = (tmp.join("whole"), tmp.join("split"));
    let (train, test) = (bars(24, true), bars(9, false));
    let config = train_config(epochs);
    let full = fit::<B>(
        &net,
        &config,
        &train,
        &test,
        &options(&whole, false, None),
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(full.history.len(), epochs);
    // The premise: two uninterrupted runs are identical.
    let again = tmp.join("again");
    fit::<B>(
        &net,
        &config,
        &train,
        &test,
        &options(&again, false, None),
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert_same_run(&whole, &again);
    // Interrupted after `stop_after` epochs, then resumed in a fresh call with a fresh model.
    let part = fit::<B>(
        &net,
        &config,
        &train,
        &test,
        &options(&split, false, Some(stop_after)),
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(part.history.len(), stop_after);
    // Something else uses the generator in between, as another run in the same process would.
    B::seed(&device, 12345);
    let _ = Tensor::<B, 1>::random([10], burn::tensor::Distribution::Default, &device);
    let rest = fit::<B>(
        &net,
        &config,
        &train,
        &test,
        &options(&split, true, None),
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(rest.history.len(), epochs);
    assert_same_run(&whole, &split);
}

#[test]
fn interrupted_and_resumed_equals_uninterrupted_event_net() {
    resume_equals_uninterrupted(event_config(AttentionKind::Tcsa), 3, 1);
}

#[test]
fn interrupted_and_resumed_equals_uninterrupted_with_dropout() {
    let mut c = PlifNetConfig::gesture(4, AttentionKind::None);
    c.size = 8;
    c.channels = 4;
    c.blocks = 2;
    c.fc_hidden = 8;
    c.classes = 3;
    c.voters = 2;
    c.dropout = 0.5;
    resume_equals_uninterrupted(NetConfig::Plif(c), 3, 2);
}

#[test]
fn resume_refuses_a_different_run() {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let net = event_config(AttentionKind::None);
    let (train, test) = (bars(8, true), bars(3, false));
    fit::<B>(
        &net,
        &train_config(1),
        &train,
        &test,
        &options(&out, false, None),
        &device,
        &mut Quiet,
    )
    .unwrap();
    let mut other = train_config(2);
    other.lr = 1.0;
    let err = fit::<B>(
        &net,
        &other,
        &train,
        &test,
        &options(&out, true, None),
        &device,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot resume"), "{err}");
    // A longer run of the same config continues.
    let more = fit::<B>(
        &net,
        &train_config(2),
        &train,
        &test,
        &options(&out, true, None),
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(more.history.len(), 2);
}

/// Trains the vanilla event net on the bars for 6 epochs with `precision`.
fn learn_bars(precision: ConvPrecision) -> snn_train::trainer::RunSummary {
    let device = Default::default();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(format!("learns-{precision}"));
    let mut config = train_config(6);
    config.schedule = ScheduleConfig::Constant;
    config.precision = precision;
    let summary = fit::<B>(
        &event_config(AttentionKind::None),
        &config,
        &bars(48, true),
        &bars(12, false),
        &options(&out, false, None),
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert!(out.join("best/config.json").exists() && out.join("last/trainer.json").exists());
    summary
}

/// The net learns in full precision and in mixed precision (bf16 convolutions), and mixed
/// precision did change the computation: the same seed gives other losses. `fit` restores the
/// thread's precision.
#[test]
fn a_small_network_learns_the_bars_in_full_and_mixed_precision() {
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let full = learn_bars(ConvPrecision::Full);
    let mixed = learn_bars(ConvPrecision::Bf16);
    assert_eq!(snn_core::conv_precision(), ConvPrecision::Full);
    for summary in [&full, &mixed] {
        let last = summary.history.last().unwrap();
        assert!(summary.best_acc >= 0.9, "{:?}", summary.history);
        assert!(last.train_loss < summary.history[0].train_loss);
    }
    let losses = |s: &snn_train::trainer::RunSummary| -> Vec<f64> {
        s.history.iter().map(|e| e.train_loss).collect()
    };
    println!("full {:?}\nbf16 {:?}", losses(&full), losses(&mixed));
    assert_ne!(losses(&full), losses(&mixed), "bf16 changed nothing");
}

/// One parameter vector, for checking update rules by hand. (burn's derive needs the backend
/// parameter to be called `B`, here shadowing the alias.)
#[derive(Module, Debug)]
struct Vector<B: Backend> {
    p: Param<Tensor<B, 1>>,
}

fn vector(values: &[f64]) -> Vector<B> {
    let device = Default::default();
    let t = Tensor::<B, 1>::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        (&device, burn::tensor::DType::F64),
    );
    Vector {
        p: Param::from_tensor(t),
    }
}

fn values(v: &Vector<B>) -> Vec<f64> {
    v.p.val().into_data().convert::<f64>().to_vec().unwrap()
}

/// Steps on the loss `sum(p^2)` (gradient `2p`).
fn run(
    config: OptimizerConfig,
    lr: f64,
    clip: Option<f64>,
    start: &[f64],
    steps: usize,
) -> Vec<Vec<f64>> {
    let mut optim: Optim<B> = Optim::new(config).with_max_grad_norm(clip);
    let mut v = vector(start);
    let mut out = Vec::new();
    for _ in 0..steps {
        let loss = v.p.val().square().sum();
        let grads = GradientsParams::from_grads::<B, _>(loss.backward(), &v);
        v = optim.step(lr, v, grads).unwrap().0;
        out.push(values(&v));
    }
    out
}

fn close(a: &[f64], b: &[f64]) {
    assert!(
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12) && a.len() == b.len(),
        "{a:?} != {b:?}"
    );
}

#[test]
fn sgd_momentum_and_nesterov_match_pytorch_by_hand() {
    // torch: buf = g (first step), then buf = m * buf + g; p -= lr * buf.
    let s = run(OptimizerConfig::sgd(0.9, 0.0), 0.1, None, &[1.0], 2);
    close(&s[0], &[0.8]);
    close(&s[1], &[0.8 - 0.1 * (0.9 * 2.0 + 1.6)]);
    // Nesterov: p -= lr * (g + m * buf).
    let nesterov = OptimizerConfig::Sgd {
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: true,
    };
    close(
        &run(nesterov, 0.1, None, &[1.0], 1)[0],
        &[1.0 - 0.1 * (2.0 + 0.9 * 2.0)],
    );
    // Weight decay adds wd * p to the gradient.
    close(
        &run(OptimizerConfig::sgd(0.0, 0.5), 0.1, None, &[1.0], 1)[0],
        &[1.0 - 0.1 * 2.5],
    );
}

#[test]
fn adam_and_adamw_match_pytorch_by_hand() {
    // Adam's first step moves every coordinate by lr (up to eps): m_hat / sqrt(v_hat) = sign(g).
    let eps = 1e-8;
    let s = run(OptimizerConfig::adam(), 0.1, None, &[1.0, -2.0], 2);
    close(
        &s[0],
        &[
            1.0 - 0.1 * 2.0 / (2.0 + eps),
            -2.0 + 0.1 * 4.0 / (4.0 + eps),
        ],
    );
    // Second step from p = 0.9 (g = 1.8), by torch's formula.
    let (g1, g2) = (2.0, 2.0 * s[0][0]);
    let m = 0.9 * 0.1 * g1 + 0.1 * g2;
    let v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
    let (b1, b2) = (1.0 - 0.9f64.powi(2), 1.0 - 0.999f64.powi(2));
    let expected = s[0][0] - 0.1 / b1 * m / (v.sqrt() / b2.sqrt() + eps);
    close(&s[1][..1], &[expected]);
    // AdamW decays the weight first: p * (1 - lr * wd), then the Adam step.
    let w = run(OptimizerConfig::adamw(), 0.1, None, &[1.0], 1);
    close(&w[0], &[1.0 * (1.0 - 0.1 * 0.01) - 0.1 * 2.0 / (2.0 + eps)]);
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    // Gradient (2, 0) clipped to norm 1: SGD moves by lr * (1, 0) (torch: max / (norm + 1e-6)).
    let s = run(
        OptimizerConfig::sgd(0.0, 0.0),
        0.1,
        Some(1.0),
        &[1.0, 0.0],
        1,
    );
    close(&s[0], &[1.0 - 0.1 * 2.0 / (2.0 + 1e-6), 0.0]);
    // Under the limit nothing changes.
    let s = run(OptimizerConfig::sgd(0.0, 0.0), 0.1, Some(10.0), &[1.0], 1);
    close(&s[0], &[0.8]);
}

#[test]
fn a_non_finite_gradient_stops_before_any_update() {
    let mut optim: Optim<B> = Optim::new(OptimizerConfig::adam());
    let v = vector(&[0.0, 0.0]);
    // sqrt(sum(p^2)) at p = 0 is finite (0) but its gradient is 0/0.
    let loss = v.p.val().square().sum().sqrt();
    let grads = GradientsParams::from_grads::<B, _>(loss.backward(), &v);
    let err = optim.step(0.1, v, grads).unwrap_err();
    match &err {
        OptimError::NonFiniteGradient { params, norm_sq } => {
            assert_eq!(params, &["p".to_owned()]);
            assert!(!norm_sq.is_finite());
        }
        other => panic!("expected a non-finite gradient, got {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("the gradient of p is not finite"),
        "{err}"
    );
    assert_eq!(optim.steps(), 0);
}

#[test]
fn optimizer_state_round_trips_and_refuses_another_optimizer() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("optimizer.safetensors");
    let mut a: Optim<B> = Optim::new(OptimizerConfig::adam());
    let mut v = vector(&[1.0, -1.0]);
    for _ in 0..2 {
        let loss = v.p.val().square().sum();
        let grads = GradientsParams::from_grads::<B, _>(loss.backward(), &v);
        v = a.step(0.1, v, grads).unwrap().0;
    }
    a.save(&path).unwrap();
    let mut b: Optim<B> = Optim::new(OptimizerConfig::adam());
    b.load(&path, &Default::default()).unwrap();
    assert_eq!(b.steps(), 2);
    let (mut va, mut vb) = (v.clone(), v);
    for _ in 0..2 {
        let ga = GradientsParams::from_grads::<B, _>(va.p.val().square().sum().backward(), &va);
        va = a.step(0.1, va, ga).unwrap().0;
        let gb = GradientsParams::from_grads::<B, _>(vb.p.val().square().sum().backward(), &vb);
        vb = b.step(0.1, vb, gb).unwrap().0;
    }
    assert_eq!(values(&va), values(&vb));
    // State saved for a two-element parameter does not fit a three-element one.
    let mut c: Optim<B> = Optim::new(OptimizerConfig::adam());
    c.load(&path, &Default::default()).unwrap();
    let w = vector(&[1.0, 2.0, 3.0]);
    let gw = GradientsParams::from_grads::<B, _>(w.p.val().square().sum().backward(), &w);
    let err = c.step(0.1, w, gw).unwrap_err().to_string();
    assert!(
        err.contains("`p` holds 2 values, but the model's parameter has 3"),
        "{err}"
    );
    let mut sgd: Optim<B> = Optim::new(OptimizerConfig::sgd(0.9, 0.0));
    let err = sgd.load(&path, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("saved by Adam"), "{err}");
}
