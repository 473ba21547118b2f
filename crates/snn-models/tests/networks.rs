//! Forward/backward smoke tests of the networks the golden fixtures do not cover: the
//! 5-layer PLIF-style network and the deep-stem Res-SNN.

use std::sync::MutexGuard;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor};
use ma_attention::AttentionKind;
use snn_models::{Mode, PlifNetConfig, ResSnnConfig};

type B = Autodiff<Flex>;

/// Seeded draws of weights and inputs, fixed whatever runs beside the test (unseeded, about one
/// draw in a hundred leaves a layer silent and the gradient check fails at random).
fn seeded(seed: u64) -> MutexGuard<'static, ()> {
    snn_testkit::seeded::<B>(seed)
}

#[test]
fn five_layer_network_trains_and_evaluates() {
    let _rng = seeded(5);
    let device = Default::default();
    let mut config = PlifNetConfig::gesture(4, AttentionKind::Tcsa);
    config.size = 32;
    config.channels = 8;
    config.fc_hidden = 16;
    config.classes = 3;
    config.voters = 2;
    config.t_ratio = 2;
    config.c_ratio = 2;
    config.neuron = config.neuron.with_threshold(0.2);
    let net = config.init::<B>(&device).unwrap();
    let frames =
        Tensor::<B, 5>::random([4, 2, 2, 32, 32], Distribution::Uniform(0.0, 3.0), &device);

    let out = net.forward(frames.clone(), Mode::Train);
    assert_eq!(out.rates.dims(), [2, 3]);
    let names: Vec<_> = out.layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["conv0", "conv1", "conv2", "conv3", "conv4", "fc0", "fc1"]
    );
    assert!(out.layers[0].1.rate() > 0.0, "the first layer must spike");
    let grads = out.rates.sum().backward();
    let g = net.convs[0]
        .conv
        .weight
        .val()
        .grad(&grads)
        .expect("conv0 gradient");
    assert!(g.abs().sum().into_scalar() > 0.0);
    // The learnable decay receives a gradient too.
    assert!(net.convs[0]
        .lif
        .decay_logit
        .as_ref()
        .unwrap()
        .val()
        .grad(&grads)
        .is_some());

    // Evaluation has no dropout: two passes agree.
    let a = net.forward(frames.clone(), Mode::Eval).rates.into_data();
    let b = net.forward(frames, Mode::Eval).rates.into_data();
    assert_eq!(a, b);
}

#[test]
fn deep_stem_res_snn_runs() {
    let _rng = seeded(18);
    let device = Default::default();
    let mut config = ResSnnConfig::resnet18(5, 2, AttentionKind::Csa);
    config.widths = [8, 8, 16, 16];
    config.blocks = [1, 1, 1, 1];
    config.deep_stem = true;
    let net = config.init::<B>(&device).unwrap();
    assert_eq!(net.stem.convs.len(), 3);
    let images = Tensor::<B, 4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let out = net.forward(images, Mode::Train);
    assert_eq!(out.logits.dims(), [2, 5]);
    let grads = out.logits.sum().backward();
    assert!(net.stem.convs[0].weight.val().grad(&grads).is_some());
}

#[test]
fn configs_that_cannot_describe_a_network_name_the_field() {
    use snn_models::{EventNetConfig, ModelError};
    let device = Default::default();
    let mut config = EventNetConfig::gesture(4, AttentionKind::None);
    config.pools.pop();
    let err = config.init::<B>(&device).unwrap_err();
    assert!(
        matches!(
            &err,
            ModelError::Config {
                model: "event net",
                field: "pools",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("pool factors"), "{err}");

    let mut config = ResSnnConfig::resnet18(10, 2, AttentionKind::None);
    config.widths[1] = 0;
    let err = config.init::<B>(&device).unwrap_err();
    assert!(
        matches!(
            &err,
            ModelError::Config {
                field: "widths",
                ..
            }
        ),
        "{err}"
    );
}
