//! Golden equivalence: every fixture of the official PyTorch code (f64, one training step and
//! an evaluation pass) is reproduced to 1e-9 in every group (and to 1e-4 in f32), and state
//! dicts round-trip.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use ma_attention::AttentionKind;
use snn_models::{load_official, save_official, EventNetConfig, ModelError, StateDict};

type B = Autodiff<Flex>;

fn check(name: &str) {
    common::check::<B>(name, DType::F64, 1e-9);
}

#[test]
fn event_vanilla_matches_the_official_code() {
    check("event_no_T12.safetensors");
}

#[test]
fn event_tcsa_matches_the_official_code() {
    check("event_TCSA_T12.safetensors");
}

#[test]
fn resnet_vanilla_matches_the_official_code() {
    check("resnet_no_T2.safetensors");
}

#[test]
fn resnet_csa_matches_the_official_code() {
    check("resnet_CSA_T2.safetensors");
}

/// The f32 kernels (what training runs) against the same fixtures: f32 rounding moves no spike
/// on these inputs, so every group stays within 1e-4 (measured worst: 5e-6, a gradient).
#[test]
fn every_fixture_matches_the_official_code_in_f32() {
    for name in common::FIXTURES {
        common::check::<B>(name, DType::F32, 1e-4);
    }
}

fn small_event_config() -> EventNetConfig {
    let mut c = EventNetConfig::gesture(12, AttentionKind::Tcsa);
    c.channels = vec![16, 32, 32];
    c.height = 16;
    c.width = 16;
    c.fc_hidden = 64;
    c.t_ratio = 4;
    c
}

#[test]
fn state_dict_round_trips_through_safetensors() {
    let device = Default::default();
    let state = StateDict::read(&common::fixture("event_TCSA_T12.safetensors"))
        .unwrap()
        .with_prefix("param.");
    let mut net = small_event_config().init::<B>(&device).unwrap();
    load_official(&mut net, &state, DType::F64, &device).unwrap();
    let saved = save_official(&net);
    assert_eq!(
        saved.tensors.keys().collect::<Vec<_>>(),
        state.tensors.keys().collect::<Vec<_>>()
    );
    for (name, data) in &state.tensors {
        let a: Vec<f64> = data.iter::<f64>().collect();
        let b: Vec<f64> = saved.tensors[name].iter::<f64>().collect();
        assert_eq!(a, b, "{name}");
        assert_eq!(data.shape, saved.tensors[name].shape, "{name}");
    }
    // Through a file, in f32 and f16 as well: loading converts.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for dtype in [DType::F64, DType::F32, DType::F16, DType::BF16] {
        let mut converted = saved.clone();
        for data in converted.tensors.values_mut() {
            if data.dtype.is_float() {
                *data = data.clone().convert_dtype(dtype);
            }
        }
        let path = dir.join(format!("{dtype:?}.safetensors"));
        converted.write(&path).unwrap();
        let back = StateDict::read(&path).unwrap();
        let mut net2 = small_event_config().init::<B>(&device).unwrap();
        load_official(&mut net2, &back, DType::F64, &device).unwrap();
        let again = save_official(&net2);
        let w = |s: &StateDict| -> Vec<f64> {
            s.tensors["convAttLIF1.conv2d.weight"]
                .iter::<f64>()
                .collect()
        };
        let tolerance = match dtype {
            DType::F64 => 0.0,
            DType::F32 => 1e-7,
            _ => 1e-2,
        };
        for (a, b) in w(&again).iter().zip(w(&saved)) {
            assert!(
                (a - b).abs() <= tolerance * b.abs().max(1e-3),
                "{dtype:?}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn saving_a_fresh_model_saves_its_own_weights() {
    // burn initialises parameters lazily; saving must not draw new values on a clone.
    let device = Default::default();
    let net = small_event_config().init::<B>(&device).unwrap();
    let first = save_official(&net);
    let second = save_official(&net);
    let weight = net.convs[0]
        .conv
        .weight
        .val()
        .into_data()
        .iter::<f64>()
        .collect::<Vec<_>>();
    assert_eq!(
        first.tensors["convAttLIF0.conv2d.weight"]
            .iter::<f64>()
            .collect::<Vec<_>>(),
        weight
    );
    for (name, data) in &first.tensors {
        assert_eq!(
            data.iter::<f64>().collect::<Vec<_>>(),
            second.tensors[name].iter::<f64>().collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn data_parallel_checkpoints_load() {
    let device = Default::default();
    let state = StateDict::read(&common::fixture("event_TCSA_T12.safetensors"))
        .unwrap()
        .with_prefix("param.");
    let mut wrapped = state.clone();
    wrapped.tensors = state
        .tensors
        .iter()
        .map(|(k, v)| (format!("module.{k}"), v.clone()))
        .collect();
    let mut net = small_event_config().init::<B>(&device).unwrap();
    load_official(&mut net, &wrapped, DType::F64, &device).unwrap();
    let back = save_official(&net);
    let w = |s: &StateDict| -> Vec<f64> { s.tensors["FC0.linear.weight"].iter::<f64>().collect() };
    assert_eq!(w(&back), w(&state));
}

#[test]
fn a_state_dict_that_does_not_fit_lists_every_problem() {
    let device = Default::default();
    let mut state = StateDict::read(&common::fixture("event_TCSA_T12.safetensors"))
        .unwrap()
        .with_prefix("param.");
    state.tensors.remove("FC1.linear.bias");
    let w = state.tensors.remove("convAttLIF0.conv2d.weight").unwrap();
    state.tensors.insert(
        "convAttLIF0.conv2d.weight".into(),
        burn::tensor::TensorData::new(vec![0.0f64; 3], [3]),
    );
    state.tensors.insert("extra.weight".into(), w);
    let mut net = small_event_config().init::<B>(&device).unwrap();
    let err = load_official(&mut net, &state, DType::F64, &device).unwrap_err();
    let msg = err.to_string();
    match err {
        ModelError::StateDict {
            missing,
            unexpected,
            mismatched,
        } => {
            assert_eq!(missing, ["FC1.linear.bias"]);
            assert_eq!(unexpected, ["extra.weight"]);
            assert_eq!(mismatched.len(), 1);
            assert!(
                mismatched[0].contains("convAttLIF0.conv2d.weight"),
                "{mismatched:?}"
            );
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(msg.contains("missing (1): FC1.linear.bias"), "{msg}");
}

#[test]
fn unreadable_files_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("not-safetensors.bin");
    std::fs::write(&path, b"\x05\x00\x00\x00\x00\x00\x00\x00{oops").unwrap();
    let err = StateDict::read(&path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    let missing = StateDict::read(std::path::Path::new("/nonexistent/x.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/x.safetensors"), "{missing}");
}
