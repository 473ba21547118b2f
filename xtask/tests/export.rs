//! `cargo xtask export` end to end: a checkpoint and a synthetic dataset on disk, the command
//! run as users run it, and the written model checked in tract against the written sample.

mod common;

use std::path::Path;

use burn::backend::Flex;
use ma_attention::AttentionKind;
use safetensors::SafeTensors;
use snn_data::synthetic::SyntheticGestures;
use snn_models::EventNetConfig;
use snn_train::checkpoint::save_event_net;
use tract_onnx::prelude::*;

fn floats(tensors: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let view = tensors.tensor(name).unwrap();
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

fn export(checkpoint: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (checkpoint, out) = (checkpoint.to_str().unwrap(), out.to_str().unwrap());
    let args = [&["export", "--checkpoint", checkpoint, "--out", out], extra].concat();
    common::xtask(&args, &[])
}

#[test]
fn export_writes_a_model_and_a_sample_that_agree_in_tract() {
    // Removed when the test ends, also when it fails.
    let tmp = tempfile::Builder::new()
        .prefix("snn-xtask-export-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    SyntheticGestures {
        train_trials: 1,
        test_trials: 1,
        ..Default::default()
    }
    .write(&data)
    .unwrap();

    let mut config = EventNetConfig::tiny(4, AttentionKind::Tcsa);
    config.classes = 11;
    config.neuron = config.neuron.with_threshold(0.1);
    // Fixed weights: the one test in this binary seeds the global generator.
    <Flex as burn::tensor::backend::Backend>::seed(&Default::default(), 11);
    let net = config.init::<Flex>(&Default::default()).unwrap();
    let checkpoint = dir.join("best");
    let meta = serde_json::json!({
        "framing": {"steps": 4, "dt_us": 100_000, "sensor": 128, "pool": 16},
        "data": data,
    });
    save_event_net(&checkpoint, &net, &meta).unwrap();

    let out = dir.join("model.onnx");
    let run = export(&checkpoint, &out, &["--batch", "3"]);
    common::ok(&run);

    let sample_bytes = std::fs::read(dir.join("model.onnx.sample.safetensors")).unwrap();
    let sample = SafeTensors::deserialize(&sample_bytes).unwrap();
    let (input_shape, input) = floats(&sample, "input");
    let (output_shape, output) = floats(&sample, "output");
    assert_eq!(input_shape, [4, 3, 2, 8, 8]);
    assert_eq!(output_shape, [3, 11]);
    assert!(input.iter().any(|&v| v > 0.0), "a real batch has events");

    let model = tract_onnx::onnx()
        .model_for_path(&out)
        .unwrap()
        .with_input_fact(0, f32::fact(&input_shape).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let x: Tensor = tract_ndarray::ArrayD::from_shape_vec(input_shape, input)
        .unwrap()
        .into();
    let result = model.run(tvec!(x.into())).unwrap();
    let theirs: Vec<f32> = result[0]
        .to_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let worst = theirs
        .iter()
        .zip(&output)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-5, "tract and our inference differ by {worst}");

    // NIR: refused for attention, with the layers named; written for a vanilla network.
    let nir_out = dir.join("model.nir");
    let run = export(&checkpoint, &nir_out, &["--format", "nir"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("conv0 (TCSA attention)"), "{stderr}");
    let mut vanilla = config.clone();
    vanilla.attention = AttentionKind::None;
    let vanilla_dir = dir.join("vanilla");
    save_event_net(
        &vanilla_dir,
        &vanilla.init::<Flex>(&Default::default()).unwrap(),
        &meta,
    )
    .unwrap();
    let run = export(&vanilla_dir, &nir_out, &["--format", "nir"]);
    common::ok(&run);
    let file = hdf5_pure::File::open(&nir_out).unwrap();
    let kind = file.dataset("node/type").unwrap().read_string().unwrap();
    assert_eq!(kind, ["NIRGraph"]);
    assert!(dir.join("model.nir.sample.safetensors").is_file());

    // A checkpoint that does not record its framing says so.
    save_event_net(&checkpoint, &net, &serde_json::json!({})).unwrap();
    let run = export(&checkpoint, &out, &[]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("framing.steps"), "{stderr}");
}
