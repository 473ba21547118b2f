//! `cargo xtask train` end to end: a run file on a synthetic dataset, stopped after one epoch,
//! resumed to the end, then the best checkpoint evaluated by `cargo xtask eval`.

mod common;

use common::{log_lines, ok, xtask};
use snn_data::synthetic::SyntheticGestures;

#[test]
fn train_from_a_run_file_stops_resumes_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    SyntheticGestures {
        train_trials: 2,
        test_trials: 1,
        ..Default::default()
    }
    .write(&data)
    .unwrap();
    let run = serde_json::json!({
        "model": {"model": "event", "in_channels": 2, "height": 8, "width": 8, "steps": 4,
            "channels": [4, 8], "pools": [1, 2], "fc_hidden": 16, "classes": 11,
            "attention": "TCSA", "t_ratio": 2, "c_ratio": 2, "sa_kernel": 3,
            "neuron": serde_json::to_value(snn_core::LifConfig::ma_snn_event()).unwrap()},
        "train": {"epochs": 2, "lr": 0.005, "optimizer": {"kind": "adam", "betas": [0.9, 0.999],
            "eps": 1e-8, "weight_decay": 0.0}, "schedule": {"kind": "plateau", "factor": 0.1,
            "patience": 5}, "loss": {"kind": "mse_rate"}, "max_grad_norm": 5.0, "seed": 3},
        "data": {"dataset": "gesture", "root": data, "framing": {"steps": 4, "dt_us": 100000,
            "sensor": 128, "pool": 16}, "batch": 8, "test_batch": 16, "random_start": true,
            "test_clips": 2, "cache": dir.join("store")}
    });
    let file = dir.join("run.json");
    std::fs::write(&file, serde_json::to_string_pretty(&run).unwrap()).unwrap();
    let out = dir.join("out");
    let (out_arg, file_arg) = (out.to_str().unwrap(), file.to_str().unwrap());

    ok(&xtask(
        &[
            "train",
            "--config",
            file_arg,
            "--out",
            out_arg,
            "--epochs-now",
            "1",
        ],
        &[],
    ));
    assert_eq!(log_lines(&out).len(), 1);
    assert!(out.join("last/optimizer.safetensors").exists());
    assert!(dir.join("store/gesture-train/index.json").exists());

    let resumed = xtask(
        &["train", "--config", file_arg, "--out", out_arg, "--resume"],
        &[],
    );
    ok(&resumed);
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("resuming after epoch 1"),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let log = log_lines(&out);
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["epoch"], 1);
    // Two clips per test sample: the vote accuracy is over samples.
    assert!(log[1]["test"]["acc_vote"].as_f64().is_some());

    // The best checkpoint carries its framing and data: `eval` reproduces the first clip's
    // accuracy without being told anything else.
    let eval = xtask(&["eval", "--json", "--checkpoint"], &[&out.join("best")]);
    ok(&eval);
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(report["samples"], 11);
    // The run file beside the checkpoint drives the evaluation: the run's own test source
    // (its clips per sample, hence a vote accuracy), the same numbers as training logged.
    let vote = report["test_acc_vote"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&vote), "{report}");
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let best_logged = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|r| r["test"]["acc_vote"].as_f64())
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (vote - best_logged).abs() < 1e-9,
        "eval vote {vote} vs best logged {best_logged}"
    );

    // A framing that does not fit the network is refused before any work.
    let mut bad = run.clone();
    bad["data"]["framing"]["pool"] = serde_json::json!(8);
    std::fs::write(&file, serde_json::to_string(&bad).unwrap()).unwrap();
    let refused = xtask(&["train", "--config", file_arg, "--out", out_arg], &[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the framing gives 4 steps of 2x16x16"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
