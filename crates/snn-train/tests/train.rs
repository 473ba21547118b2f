//! Losses against hand computation, metrics, the energy formula, and checkpoint round trips.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor, TensorData};
use ma_attention::AttentionKind;
use snn_models::{save_official, EventNetConfig};
use snn_train::checkpoint::{load_event_net, save_event_net};
use snn_train::energy::EnergyModel;
use snn_train::loss::{cross_entropy, mse_rate};
use snn_train::metrics::{argmax_rows, majority_vote_correct, top_k_hits, ConfusionMatrix};

type B = Autodiff<Flex>;

fn t2(values: Vec<f64>, dims: [usize; 2]) -> Tensor<B, 2> {
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    )
}

fn scalar(t: Tensor<B, 1>) -> f64 {
    t.into_data().iter::<f64>().next().unwrap()
}

#[test]
fn mse_rate_matches_hand_computation() {
    // rates [[0.5, 0.2], [0.1, 0.9]], labels [0, 1]: ((0.5-1)^2 + 0.2^2 + 0.1^2 + (0.9-1)^2) / 4.
    let loss = scalar(mse_rate(t2(vec![0.5, 0.2, 0.1, 0.9], [2, 2]), &[0, 1]));
    assert!((loss - (0.25 + 0.04 + 0.01 + 0.01) / 4.0).abs() < 1e-15);
}

#[test]
#[should_panic(expected = "label 2 of sample 1 is not below the 2 classes")]
fn out_of_range_labels_are_not_clamped() {
    let _ = mse_rate(t2(vec![0.5, 0.2, 0.1, 0.9], [2, 2]), &[0, 2]);
}

#[test]
fn cross_entropy_with_and_without_smoothing() {
    let logits = vec![2.0, 0.0, -1.0];
    let lse = (2f64.exp() + 1.0 + (-1f64).exp()).ln();
    let plain = scalar(cross_entropy(t2(logits.clone(), [1, 3]), &[0], 0.0));
    assert!((plain - (lse - 2.0)).abs() < 1e-12);
    // Smoothing 0.3 over 3 classes: targets 0.8, 0.1, 0.1.
    let smooth = scalar(cross_entropy(t2(logits.clone(), [1, 3]), &[0], 0.3));
    let expected: f64 = [0.8, 0.1, 0.1]
        .iter()
        .zip(&logits)
        .map(|(p, z)| p * (lse - z))
        .sum();
    assert!((smooth - expected).abs() < 1e-12);
}

#[test]
fn metrics() {
    let scores = [0.1, 0.7, 0.2, 0.5, 0.5, 0.0];
    assert_eq!(argmax_rows(&scores, 3), [1, 0]);
    assert_eq!(top_k_hits(&scores, 3, &[2, 1], 1), [false, false]);
    assert_eq!(top_k_hits(&scores, 3, &[2, 1], 2), [true, true]);
    let mut m = ConfusionMatrix::new(3);
    m.add(&[1, 1, 2, 0], &[1, 0, 2, 0]);
    assert_eq!(m.accuracy(), 0.75);
    assert_eq!(m.counts[1], [1, 1, 0]);
    assert!(majority_vote_correct(&[true, true, false]));
    assert!(!majority_vote_correct(&[true, false]));
}

#[test]
fn energy_follows_the_paper_formula() {
    let device = Default::default();
    let summary = EventNetConfig::gesture(60, AttentionKind::None)
        .init::<Flex>(&device)
        .unwrap()
        .summary();
    let rates = [0.2, 0.1, 0.05, 0.3, 0.4];
    let e = EnergyModel::default().estimate(&summary, 60, 0.01, &rates);
    let macs: Vec<f64> = summary.layers.iter().map(|l| l.macs as f64).collect();
    let expected_pj = 4.6 * 60.0 * macs[0] * 0.01
        + 0.9 * 60.0 * (macs[1] * 0.2 + macs[2] * 0.1 + macs[3] * 0.05 + macs[4] * 0.3);
    assert!((e.total_uj - expected_pj * 1e-6).abs() < 1e-9 * e.total_uj);
    assert_eq!(e.per_layer_uj.len(), 5);
}

#[test]
fn checkpoints_rebuild_the_model() {
    let device = Default::default();
    let mut config = EventNetConfig::gesture(8, AttentionKind::Tcsa);
    config.channels = vec![4, 8, 8];
    config.fc_hidden = 16;
    config.t_ratio = 4;
    config.c_ratio = 2;
    let model = config.init::<B>(&device).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("best");
    save_event_net(&dir, &model, &serde_json::json!({"epoch": 3})).unwrap();
    // Saving again replaces the directory in one step.
    save_event_net(&dir, &model, &serde_json::json!({"epoch": 4})).unwrap();
    let back = load_event_net::<B>(&dir, DType::F32, &device).unwrap();
    assert_eq!(back.config(), model.config());
    let (a, b) = (save_official(&model), save_official(&back));
    for (name, data) in &a.tensors {
        assert_eq!(
            data.iter::<f64>().collect::<Vec<_>>(),
            b.tensors[name].iter::<f64>().collect::<Vec<_>>(),
            "{name}"
        );
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["epoch"], 4);
    let leftovers = std::fs::read_dir(dir.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary directories are left");
    let err = load_event_net::<B>(
        std::path::Path::new("/nonexistent/ckpt"),
        DType::F32,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/nonexistent/ckpt/config.json"), "{err}");
}
