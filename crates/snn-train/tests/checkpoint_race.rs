//! Concurrent writers of one checkpoint: two threads save to the same `model.safetensors`
//! file, and to the same checkpoint directory, many times; what is left is one writer's
//! complete, loadable checkpoint and no temporary file or directory.

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::DType;
use ma_attention::AttentionKind;
use snn_models::{save_official, EventNet, EventNetConfig, StateDict};
use snn_train::checkpoint::{load_event_net, save_event_net};

type B = Flex;

/// Saves of a checkpoint directory per writer.
const ROUNDS: usize = 20;
/// Writes of a state file per writer: a tiny file is written in microseconds, so it takes
/// more rounds for two writers to overlap.
const FILE_ROUNDS: usize = 300;

/// Two tiny networks with different random weights.
fn models() -> [EventNet<B>; 2] {
    let device = Default::default();
    let config = EventNetConfig::tiny(2, AttentionKind::None);
    [
        config.init::<B>(&device).unwrap(),
        config.init::<B>(&device).unwrap(),
    ]
}

fn values(state: &StateDict) -> Vec<(String, Vec<f64>)> {
    state
        .tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.iter::<f64>().collect()))
        .collect()
}

/// Everything in `dir` but `keep`.
fn leftovers(dir: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect()
}

#[test]
fn concurrent_state_files_leave_one_whole_file() {
    let states = models().map(|m| save_official(&m));
    assert_ne!(
        values(&states[0]),
        values(&states[1]),
        "two different writers"
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("model.safetensors");
    std::thread::scope(|s| {
        for state in &states {
            let path = &path;
            s.spawn(move || {
                for _ in 0..FILE_ROUNDS {
                    state.write(path).unwrap();
                }
            });
        }
    });
    let back = values(&StateDict::read(&path).unwrap());
    assert!(
        states.iter().any(|s| values(s) == back),
        "the file is one writer's whole state"
    );
    assert_eq!(
        leftovers(tmp.path(), "model.safetensors"),
        Vec::<String>::new()
    );
}

#[test]
fn concurrent_checkpoint_dirs_leave_one_whole_checkpoint() {
    let models = models();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("last");
    std::thread::scope(|s| {
        for (writer, model) in models.iter().enumerate() {
            let dir = &dir;
            s.spawn(move || {
                for round in 0..ROUNDS {
                    let meta = serde_json::json!({"writer": writer, "round": round});
                    save_event_net(dir, model, &meta).unwrap();
                }
            });
        }
    });
    let device = Default::default();
    let back = load_event_net::<B>(&dir, DType::F32, &device).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let writer = meta["writer"].as_u64().unwrap() as usize;
    assert_eq!(
        meta["round"],
        ROUNDS - 1,
        "the last rename is a writer's last round"
    );
    assert_eq!(
        values(&save_official(&back)),
        values(&save_official(&models[writer])),
        "model.safetensors and meta.json come from the same writer"
    );
    assert_eq!(leftovers(tmp.path(), "last"), Vec::<String>::new());
    let mut files = leftovers(&dir, "");
    files.sort();
    assert_eq!(files, ["config.json", "meta.json", "model.safetensors"]);
}
