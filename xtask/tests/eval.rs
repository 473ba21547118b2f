//! `cargo xtask eval` end to end on a synthetic dataset and a checkpoint written to disk.

mod common;

use burn::backend::Flex;
use ma_attention::AttentionKind;
use snn_data::synthetic::SyntheticGestures;
use snn_models::EventNetConfig;
use snn_train::checkpoint::save_event_net;

#[test]
fn eval_reports_accuracy_confusion_rates_and_energy() {
    // Removed when the test ends, also when it fails.
    let tmp = tempfile::Builder::new()
        .prefix("snn-xtask-eval-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    SyntheticGestures {
        train_trials: 1,
        test_trials: 2,
        ..Default::default()
    }
    .write(&data)
    .unwrap();
    let mut config = EventNetConfig::tiny(4, AttentionKind::Csa);
    config.classes = 11;
    config.t_ratio = 5;
    config.neuron = config.neuron.with_threshold(0.1);
    let checkpoint = dir.join("best");
    let meta = serde_json::json!({
        "framing": {"steps": 4, "dt_us": 100_000, "sensor": 128, "pool": 16},
        "data": data,
    });
    // Fixed weights: the one test in this binary seeds the global generator.
    <Flex as burn::tensor::backend::Backend>::seed(&Default::default(), 11);
    save_event_net(
        &checkpoint,
        &config.init::<Flex>(&Default::default()).unwrap(),
        &meta,
    )
    .unwrap();

    let run = |extra: &[&str]| {
        let args = [
            &["eval", "--checkpoint", checkpoint.to_str().unwrap()],
            extra,
        ]
        .concat();
        common::xtask(&args, &[])
    };
    let out = run(&["--json", "--batch", "5"]);
    common::ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["samples"], 22); // 2 test trials x 11 gestures
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 11);
    let total: u64 = confusion.iter().flatten().sum();
    let diagonal: u64 = (0..11).map(|i| confusion[i][i]).sum();
    assert_eq!(total, 22);
    assert!((report["test_acc"].as_f64().unwrap() - diagonal as f64 / 22.0).abs() < 1e-12);
    let rate = report["firing_rate"].as_f64().unwrap();
    assert!(rate > 0.0 && rate < 1.0, "{rate}");
    assert!(report["energy_uj"].as_f64().unwrap() > 0.0);
    assert_eq!(report["layer_rates"].as_array().unwrap().len(), 4);

    // The batch size does not change the result, and the table form names the checkpoint.
    let again: serde_json::Value =
        serde_json::from_slice(&run(&["--json", "--batch", "32"]).stdout).unwrap();
    assert_eq!(again["confusion"], report["confusion"]);
    let table = String::from_utf8_lossy(&run(&[]).stdout).into_owned();
    assert!(table.contains("22 test samples"), "{table}");

    // A dataset that is not there is named in the error.
    let missing = run(&["--data", "/nonexistent/gesture"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/gesture"));
}
