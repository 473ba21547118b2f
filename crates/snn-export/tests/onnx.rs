//! Exported event networks run in tract (a second, independent ONNX runtime) and agree with our
//! own inference: output rates within 1e-5 and every layer's spike count equal (up to threshold
//! ties), for every attention variant; the graph's node list is snapshotted.

mod common;

use common::{max_abs_diff, seeded, B};

use burn::tensor::{Distribution, Tensor};
use ma_attention::AttentionKind;
use snn_core::{FireTest, Reset};
use snn_export::onnx::{
    export_event_net, export_plif_net, export_res_snn, node_list, to_bytes, OnnxOptions, OPSET,
};
use snn_export::ExportError;
use snn_models::{EventNet, EventNetConfig, Mode, PlifNetConfig, ResSnnConfig};
use tract_onnx::prelude::*;

const KINDS: [AttentionKind; 8] = [
    AttentionKind::None,
    AttentionKind::Ta,
    AttentionKind::Ca,
    AttentionKind::Sa,
    AttentionKind::Tca,
    AttentionKind::Tsa,
    AttentionKind::Csa,
    AttentionKind::Tcsa,
];

/// A network whose BatchNorm running statistics are not the identity (a few training-mode
/// passes), so folding is exercised.
fn trained_net(config: &EventNetConfig) -> EventNet<B> {
    let device = Default::default();
    let net = config.init::<B>(&device).unwrap();
    for _ in 0..3 {
        let frames = Tensor::<B, 5>::random(
            [config.steps, 4, 2, config.height, config.width],
            Distribution::Uniform(0.0, 2.0),
            &device,
        );
        let _ = net.forward(frames, Mode::Train);
    }
    net
}

struct Run {
    rates: Vec<f32>,
    layer_spikes: Vec<f64>,
}

fn run_tract<const D: usize>(
    bytes: &[u8],
    dims: [usize; D],
    input: Vec<f32>,
    layers: usize,
) -> Run {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(0, f32::fact(dims).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input: tract_onnx::prelude::Tensor =
        tract_ndarray::ArrayD::from_shape_vec(dims.to_vec(), input)
            .unwrap()
            .into();
    let outputs = model.run(tvec!(input.into())).unwrap();
    assert_eq!(outputs.len(), 1 + layers);
    let rates = outputs[0]
        .to_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let layer_spikes = outputs[1..]
        .iter()
        .map(|o| {
            o.to_array_view::<f32>()
                .unwrap()
                .iter()
                .map(|&s| f64::from(s))
                .sum()
        })
        .collect();
    Run {
        rates,
        layer_spikes,
    }
}

#[test]
fn every_attention_variant_runs_in_tract_and_matches_our_inference() {
    let _rng = seeded(1);
    let device = Default::default();
    for kind in KINDS {
        let config = EventNetConfig::tiny(4, kind);
        let net = trained_net(&config);
        let dims = [4, 3, 2, 8, 8];
        let frames = Tensor::<B, 5>::random(dims, Distribution::Uniform(0.0, 3.0), &device);
        let input: Vec<f32> = frames.to_data().to_vec().unwrap();
        let ours = net.forward(frames, Mode::Eval);
        let our_rates: Vec<f32> = ours.rates.into_data().to_vec().unwrap();

        let options = OnnxOptions {
            class_names: vec!["a".into(), "b".into(), "c".into()],
            layer_spikes: true,
        };
        let model = export_event_net(&net, &options).unwrap();
        let bytes = to_bytes(&model).unwrap();
        let theirs = run_tract(&bytes, dims, input, ours.layers.len());

        let total: f64 = ours.layers.iter().map(|(_, s)| s.spikes).sum();
        assert!(
            total > 0.0,
            "{kind}: the network must spike to test anything"
        );
        for ((name, stats), theirs) in ours.layers.iter().zip(&theirs.layer_spikes) {
            assert_eq!(stats.spikes, *theirs, "{kind}: {name} spike count");
        }
        let worst = max_abs_diff(&our_rates, &theirs.rates);
        assert!(worst <= 1e-5, "{kind}: rates differ by {worst}");
    }
}

/// The neuron is emitted from the same rules the kernels run (`snn_core::neuron::rule`): every
/// spike test and reset exports, runs in tract and matches our inference spike for spike.
#[test]
fn every_spike_test_and_reset_runs_in_tract_and_matches_our_inference() {
    let _rng = seeded(5);
    let device = Default::default();
    for fire_test in [FireTest::GreaterOrEqual, FireTest::Greater] {
        for reset in [
            Reset::LeakToThreshold,
            Reset::Hard { value: 0.0 },
            Reset::Hard { value: 0.1 },
            Reset::Subtract,
        ] {
            let mut config = EventNetConfig::tiny(4, AttentionKind::Ca);
            config.neuron = config.neuron.with_fire_test(fire_test).with_reset(reset);
            let net = trained_net(&config);
            let dims = [4, 3, 2, 8, 8];
            let frames = Tensor::<B, 5>::random(dims, Distribution::Uniform(0.0, 3.0), &device);
            let input: Vec<f32> = frames.to_data().to_vec().unwrap();
            let ours = net.forward(frames, Mode::Eval);
            let our_rates: Vec<f32> = ours.rates.into_data().to_vec().unwrap();
            let options = OnnxOptions {
                layer_spikes: true,
                ..OnnxOptions::default()
            };
            let bytes = to_bytes(&export_event_net(&net, &options).unwrap()).unwrap();
            let theirs = run_tract(&bytes, dims, input, ours.layers.len());
            let total: f64 = ours.layers.iter().map(|(_, s)| s.spikes).sum();
            assert!(total > 0.0, "{fire_test:?} {reset}: the network must spike");
            for ((name, stats), theirs) in ours.layers.iter().zip(&theirs.layer_spikes) {
                assert_eq!(
                    stats.spikes, *theirs,
                    "{fire_test:?} {reset}: {name} spikes"
                );
            }
            let worst = max_abs_diff(&our_rates, &theirs.rates);
            assert!(
                worst <= 1e-5,
                "{fire_test:?} {reset}: rates differ by {worst}"
            );
        }
    }
}

#[test]
fn the_batch_dimension_is_free_and_metadata_describes_the_model() {
    let _rng = seeded(2);
    let config = EventNetConfig::tiny(3, AttentionKind::Tcsa);
    let net = trained_net(&config);
    let model = export_event_net(&net, &OnnxOptions::default()).unwrap();
    assert_eq!(model.opset_import[0].version, OPSET);
    let meta: std::collections::HashMap<_, _> = model
        .metadata_props
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(meta["time_steps"], "3");
    assert_eq!(meta["attention"], "TCSA");
    assert!(meta["neuron"].contains(">= 0.3"), "{}", meta["neuron"]);
    let restored: EventNetConfig = serde_json::from_str(meta["config"]).unwrap();
    assert_eq!(restored, config);

    let bytes = to_bytes(&model).unwrap();
    let device = Default::default();
    for batch in [1, 5] {
        let dims = [3, batch, 2, 8, 8];
        let frames = Tensor::<B, 5>::random(dims, Distribution::Uniform(0.0, 3.0), &device);
        let input: Vec<f32> = frames.to_data().to_vec().unwrap();
        let ours: Vec<f32> = net
            .forward(frames, Mode::Eval)
            .rates
            .into_data()
            .to_vec()
            .unwrap();
        let theirs = run_tract(&bytes, dims, input, 0);
        assert_eq!(theirs.rates.len(), batch * 3);
        let worst = max_abs_diff(&ours, &theirs.rates);
        assert!(worst <= 1e-5, "batch {batch}: {worst}");
    }
}

#[test]
fn graph_node_list_snapshot() {
    let _rng = seeded(3);
    let config = EventNetConfig::tiny(2, AttentionKind::Tcsa);
    let net = config.init::<B>(&Default::default()).unwrap();
    let model = export_event_net(&net, &OnnxOptions::default()).unwrap();
    insta::assert_snapshot!(node_list(&model).join("\n"));
}

#[test]
fn res_snn_runs_in_tract_and_matches_our_inference() {
    let _rng = seeded(4);
    let device = Default::default();
    for (kind, deep_stem) in KINDS
        .iter()
        .map(|&k| (k, false))
        .chain([(AttentionKind::Csa, true)])
    {
        let mut config = ResSnnConfig::resnet18(5, 4, kind);
        config.widths = [4, 4, 8, 8];
        config.blocks = [1, 2, 1, 1];
        config.c_ratio = 2;
        config.deep_stem = deep_stem;
        // Far below the official 0.5, so that this narrow untrained network spikes throughout.
        config.neuron = config.neuron.with_threshold(0.02);
        let net = config.init::<B>(&device).unwrap();
        // Enough training-mode passes for the running statistics to leave their initial
        // values, so that activity reaches the head in evaluation mode.
        for _ in 0..30 {
            let images =
                Tensor::<B, 4>::random([4, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &device);
            let _ = net.forward(images, Mode::Train);
        }
        let dims = [3, 3, 64, 64];
        let images = Tensor::<B, 4>::random(dims, Distribution::Uniform(-1.0, 1.0), &device);
        let input: Vec<f32> = images.to_data().to_vec().unwrap();
        let ours = net.forward(images, Mode::Eval);
        let our_logits: Vec<f32> = ours.logits.into_data().to_vec().unwrap();

        let options = OnnxOptions {
            class_names: Vec::new(),
            layer_spikes: true,
        };
        if kind == AttentionKind::None {
            // Sizes that cannot be exported are errors, not panics.
            let err = export_res_snn(&net, &options, (0, 64)).unwrap_err();
            assert!(err.to_string().contains("0x64"), "{err}");
            assert!(
                matches!(&err, ExportError::InputSize { input: [0, 64], .. }),
                "{err}"
            );
            let err = export_res_snn(&net, &options, (2, 2)).unwrap_err();
            assert!(err.to_string().contains("too small"), "{err}");
            assert!(
                matches!(&err, ExportError::InputSize { layer, .. } if layer.starts_with("stage")),
                "{err}"
            );
        }
        let model = export_res_snn(&net, &options, (64, 64)).unwrap();
        let theirs = run_tract(&to_bytes(&model).unwrap(), dims, input, 2 * 5 + 1);
        let head = *theirs.layer_spikes.last().unwrap();
        assert!(ours.head.spikes > 0.0, "{kind}: the head must spike");
        assert_eq!(ours.head.spikes, head, "{kind}: head spike count");
        let worst = max_abs_diff(&our_logits, &theirs.rates);
        assert!(
            worst <= 1e-5,
            "{kind} (deep stem {deep_stem}): logits differ by {worst}"
        );
    }
}

#[test]
fn five_layer_plif_network_runs_in_tract_and_matches_our_inference() {
    let _rng = seeded(5);
    let device = Default::default();
    for kind in [AttentionKind::None, AttentionKind::Tcsa] {
        let mut config = PlifNetConfig::gesture(4, kind);
        config.size = 32;
        config.channels = 8;
        config.fc_hidden = 16;
        config.classes = 3;
        config.voters = 2;
        config.t_ratio = 2;
        config.c_ratio = 2;
        config.neuron = config.neuron.with_threshold(0.2);
        let net = config.init::<B>(&device).unwrap();
        for _ in 0..3 {
            let x =
                Tensor::<B, 5>::random([4, 4, 2, 32, 32], Distribution::Uniform(0.0, 3.0), &device);
            let _ = net.forward(x, Mode::Train);
        }
        let dims = [4, 2, 2, 32, 32];
        let frames = Tensor::<B, 5>::random(dims, Distribution::Uniform(0.0, 3.0), &device);
        let input: Vec<f32> = frames.to_data().to_vec().unwrap();
        let ours = net.forward(frames, Mode::Eval);
        let our_rates: Vec<f32> = ours.rates.into_data().to_vec().unwrap();
        let options = OnnxOptions {
            class_names: Vec::new(),
            layer_spikes: true,
        };
        let model = export_plif_net(&net, &options).unwrap();
        let theirs = run_tract(&to_bytes(&model).unwrap(), dims, input, ours.layers.len());
        assert!(
            ours.layers[0].1.spikes > 0.0,
            "{kind}: the network must spike"
        );
        for ((name, stats), theirs) in ours.layers.iter().zip(&theirs.layer_spikes) {
            assert_eq!(stats.spikes, *theirs, "{kind}: {name} spike count");
        }
        let worst = max_abs_diff(&our_rates, &theirs.rates);
        assert!(worst <= 1e-5, "{kind}: rates differ by {worst}");
    }
}
