//! Model summaries reproduce the published (and the official code's) parameter and neuron
//! counts exactly; the tables are snapshotted.

use burn::backend::Flex;
use ma_attention::AttentionKind;
use snn_models::{EventNetConfig, PlifNetConfig, ResSnnConfig};

type B = Flex;

#[test]
fn gesture_network_counts() {
    let device = Default::default();
    let vanilla = EventNetConfig::gesture(60, AttentionKind::None)
        .init::<B>(&device)
        .unwrap()
        .summary();
    assert_eq!((vanilla.params, vanilla.neurons), (2_324_065, 106_763));
    // Attention additions for the full Gesture net (T 60, r_t 5, r_c 8, k 3).
    let added = [
        (AttentionKind::Ta, 7_200),
        (AttentionKind::Ca, 9_216),
        (AttentionKind::Sa, 54),
        (AttentionKind::Tca, 16_416),
        (AttentionKind::Tsa, 7_254),
        (AttentionKind::Csa, 9_270),
        (AttentionKind::Tcsa, 16_470),
    ];
    for (kind, extra) in added {
        let s = EventNetConfig::gesture(60, kind)
            .init::<B>(&device)
            .unwrap()
            .summary();
        assert_eq!(s.params, 2_324_065 + extra, "{kind}");
        assert_eq!(s.neurons, 106_763, "{kind}");
    }
}

#[test]
fn gait_and_five_layer_counts() {
    let device = Default::default();
    let gait = EventNetConfig::gait(60, AttentionKind::None)
        .init::<B>(&device)
        .unwrap()
        .summary();
    assert_eq!((gait.params, gait.neurons), (2_100_767, 248_085));
    let five = PlifNetConfig::gesture(20, AttentionKind::None)
        .init::<B>(&device)
        .unwrap()
        .summary();
    // The paper's 2,793,472 counts the five conv layers; the two FC layers add 512 + 110.
    let conv_neurons: usize = five
        .layers
        .iter()
        .filter(|l| l.name.starts_with("conv"))
        .map(|l| l.neurons)
        .sum();
    assert_eq!(conv_neurons, 2_793_472);
    assert_eq!(five.neurons, 2_793_472 + 622);
}

#[test]
fn res_snn_counts_match_the_official_code() {
    let device = Default::default();
    let cases = [
        (
            ResSnnConfig::resnet18(1000, 1, AttentionKind::None),
            11_693_736,
        ),
        (
            ResSnnConfig::resnet18(1000, 1, AttentionKind::Csa),
            11_867_960,
        ),
        (
            ResSnnConfig::resnet34(1000, 1, AttentionKind::None),
            21_801_896,
        ),
        (
            ResSnnConfig::resnet34(1000, 1, AttentionKind::Csa),
            22_116_552,
        ),
        (
            ResSnnConfig::resnet104(1000, 1, AttentionKind::None),
            77_284_264,
        ),
        (
            ResSnnConfig::resnet104(1000, 1, AttentionKind::Csa),
            78_369_598,
        ),
    ];
    for (config, params) in cases {
        let s = config
            .init::<B>(&device)
            .unwrap()
            .summary("resnet", 224, 224);
        assert_eq!(s.params, params, "{:?} {}", config.blocks, config.attention);
    }
    // The original MS-ResNet-104 stem: three 3x3 convolutions with bias instead of one 7x7.
    let mut deep = ResSnnConfig::resnet104(1000, 1, AttentionKind::None);
    deep.deep_stem = true;
    let s = deep
        .init::<B>(&device)
        .unwrap()
        .summary("resnet104", 224, 224);
    assert_eq!(s.params, 77_284_264 + 66_240);
}

#[test]
fn summary_tables_are_stable() {
    let device = Default::default();
    let gesture = EventNetConfig::gesture(60, AttentionKind::Tcsa)
        .init::<B>(&device)
        .unwrap()
        .summary();
    insta::assert_snapshot!("gesture_tcsa", gesture.table());
    let resnet = ResSnnConfig::resnet18(1000, 1, AttentionKind::Csa)
        .init::<B>(&device)
        .unwrap()
        .summary("resnet18", 224, 224);
    insta::assert_snapshot!("resnet18_csa", resnet.table());
    let json = serde_json::to_value(&gesture).unwrap();
    assert_eq!(json["params"], 2_340_535);
    assert_eq!(json["neurons"], 106_763);
}
