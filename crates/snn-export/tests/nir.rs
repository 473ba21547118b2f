//! NIR export: the written HDF5 file is read back (pure-Rust reader), its layout checked, and the
//! network it describes is *run* from the file alone by a small NIR interpreter (Euler-discretised
//! LIF at the recorded dt, `v > v_threshold`, reset to `v_reset`): its rates equal our inference.
//! Networks NIR cannot express are refused with the offending layers listed.

mod common;

use common::{max_abs_diff, seeded, B};

use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor, TensorData};
use hdf5_pure::File;
use ma_attention::AttentionKind;
use snn_core::Reset;
use snn_export::nir::{event_net_graph, to_bytes, NirOptions, NIR_VERSION};
use snn_export::{ExportError, Refusal};
use snn_models::{EventNetConfig, Mode};

fn string(file: &File, path: &str) -> String {
    let ds = file.dataset(path).unwrap();
    assert_eq!(ds.shape().unwrap(), Vec::<u64>::new(), "{path} is a scalar");
    ds.read_string().unwrap().remove(0)
}

fn floats(file: &File, path: &str) -> (Vec<f32>, Vec<usize>) {
    let ds = file.dataset(path).unwrap();
    let shape = ds.shape().unwrap().iter().map(|&d| d as usize).collect();
    (ds.read_f32().unwrap(), shape)
}

fn ints(file: &File, path: &str) -> Vec<i64> {
    file.dataset(path).unwrap().read_i64().unwrap()
}

/// Runs the NIR graph stored in `file` on `frames` `[T, B, C, H, W]`; returns the mean over T of
/// the output spikes, `[B, classes]`.
fn interpret(file: &File, frames: Tensor<B, 5>) -> Vec<f32> {
    let edges = file.dataset("node/edges").unwrap().read_string().unwrap();
    let mut order = vec!["input".to_owned()];
    while let Some(pair) = edges.chunks(2).find(|p| p[0] == *order.last().unwrap()) {
        order.push(pair[1].clone());
    }
    assert_eq!(order.last().unwrap(), "output");
    let dt: f64 = string(file, "node/metadata/dt").parse().unwrap();
    let device = Default::default();
    let [steps, batch, ..] = frames.dims();
    let tensor = |(values, shape): (Vec<f32>, Vec<usize>)| -> Tensor<B, 1> {
        let n: usize = shape.iter().product();
        Tensor::from_data(TensorData::new(values, [n]), &device)
    };
    let mut potentials: Vec<Option<Tensor<B, 2>>> = vec![None; order.len()];
    let mut counts: Option<Tensor<B, 2>> = None;
    for t in 0..steps {
        let frame: Tensor<B, 4> = frames.clone().slice(t..t + 1).squeeze_dim(0);
        // Values flow as [B, ...] flattened to [B, N] between nodes, with the spatial shape kept
        // alongside for the convolution and pooling nodes.
        let [_, c, h, w] = frame.dims();
        let mut shape = vec![c, h, w];
        let mut x: Tensor<B, 2> = frame.reshape([batch, c * h * w]);
        for (k, name) in order.iter().enumerate().skip(1) {
            let node = format!("node/nodes/{name}");
            match string(file, &format!("{node}/type")).as_str() {
                "Conv2d" => {
                    let (weight, wshape) = floats(file, &format!("{node}/weight"));
                    let bias = tensor(floats(file, &format!("{node}/bias")));
                    let stride = ints(file, &format!("{node}/stride"));
                    let padding = ints(file, &format!("{node}/padding"));
                    let weight: Tensor<B, 4> = tensor((weight, wshape.clone()))
                        .reshape([wshape[0], wshape[1], wshape[2], wshape[3]]);
                    let input = x.reshape([batch, shape[0], shape[1], shape[2]]);
                    let y = conv2d(
                        input,
                        weight,
                        Some(bias),
                        ConvOptions::new(
                            [stride[0] as usize, stride[1] as usize],
                            [padding[0] as usize, padding[1] as usize],
                            [1, 1],
                            1,
                        ),
                    );
                    let [_, c, h, w] = y.dims();
                    shape = vec![c, h, w];
                    x = y.reshape([batch, c * h * w]);
                }
                "SumPool2d" => {
                    let k = ints(file, &format!("{node}/kernel_size"));
                    let (k0, k1) = (k[0] as usize, k[1] as usize);
                    let input = x.reshape([batch, shape[0], shape[1], shape[2]]);
                    let y = avg_pool2d(input, [k0, k1], [k0, k1], [0, 0], true, false)
                        .mul_scalar((k0 * k1) as f64);
                    let [_, c, h, w] = y.dims();
                    shape = vec![c, h, w];
                    x = y.reshape([batch, c * h * w]);
                }
                "Scale" => {
                    let scale = tensor(floats(file, &format!("{node}/scale")));
                    x = x * scale.unsqueeze_dim(0);
                }
                "Flatten" => {
                    assert_eq!(
                        ints(file, &format!("{node}/input_type")),
                        shape.iter().map(|&d| d as i64).collect::<Vec<_>>()
                    );
                    shape = vec![shape.iter().product()];
                }
                "Affine" => {
                    let (weight, wshape) = floats(file, &format!("{node}/weight"));
                    let weight: Tensor<B, 2> =
                        tensor((weight, wshape.clone())).reshape([wshape[0], wshape[1]]);
                    let bias = tensor(floats(file, &format!("{node}/bias")));
                    x = x.matmul(weight.transpose()) + bias.unsqueeze_dim(0);
                    shape = vec![wshape[0]];
                }
                "LIF" => {
                    let field =
                        |f: &str| tensor(floats(file, &format!("{node}/{f}"))).unsqueeze_dim(0);
                    let (tau, r, leak) = (field("tau"), field("r"), field("v_leak"));
                    let (threshold, reset) = (field("v_threshold"), field("v_reset"));
                    // Forward Euler: v += dt/tau * (v_leak - v + r * I).
                    let v = potentials[k].take().unwrap_or_else(|| x.zeros_like());
                    let rate = tau.recip().mul_scalar(dt);
                    let v = v.clone() + rate * (leak - v + r * x);
                    let fired = v.clone().greater(threshold);
                    let spikes = v.zeros_like().mask_fill(fired.clone(), 1.0);
                    potentials[k] = Some(v.mask_where(fired, reset.expand([batch as i64, -1])));
                    x = spikes;
                }
                "Output" => {
                    counts = Some(match counts.take() {
                        Some(c) => c + x.clone(),
                        None => x.clone(),
                    });
                }
                other => panic!("unexpected node type {other}"),
            }
        }
    }
    counts
        .unwrap()
        .div_scalar(steps as f64)
        .into_data()
        .to_vec()
        .unwrap()
}

#[test]
fn nir_file_runs_to_the_same_rates_and_has_the_reference_layout() {
    let _rng = seeded(1);
    let device = Default::default();
    for neuron in ["event", "ms_resnet"] {
        let mut config = EventNetConfig::tiny(5, AttentionKind::None);
        if neuron == "ms_resnet" {
            config.neuron = snn_core::LifConfig::ms_resnet().with_threshold(0.3);
        }
        let net = config.init::<B>(&device).unwrap();
        for _ in 0..3 {
            let x =
                Tensor::<B, 5>::random([5, 4, 2, 8, 8], Distribution::Uniform(0.0, 2.0), &device);
            let _ = net.forward(x, Mode::Train);
        }
        let graph = event_net_graph(&net, &NirOptions::default()).unwrap();
        let file = File::from_bytes(to_bytes(&graph).unwrap()).unwrap();
        // A file that cannot be written is an error naming it.
        let err = snn_export::nir::write(&graph, std::path::Path::new("/nonexistent/dir/x.nir"))
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir"), "{err}");

        assert_eq!(string(&file, "version"), NIR_VERSION);
        assert_eq!(string(&file, "node/type"), "NIRGraph");
        let mut names = file.group("node/nodes").unwrap().groups().unwrap();
        names.sort();
        assert_eq!(
            names,
            [
                "conv0.conv",
                "conv0.lif",
                "conv1.conv",
                "conv1.lif",
                "conv1.pool",
                "conv1.scale",
                "fc0.affine",
                "fc0.lif",
                "fc1.affine",
                "fc1.lif",
                "flatten",
                "input",
                "output"
            ]
        );
        assert_eq!(string(&file, "node/nodes/conv1.pool/type"), "SumPool2d");
        assert_eq!(
            file.dataset("node/edges").unwrap().shape().unwrap(),
            [12, 2]
        );
        let (tau, tau_shape) = floats(&file, "node/nodes/conv0.lif/tau");
        assert_eq!(tau_shape, [4, 8, 8], "per-neuron parameters");
        let decay = config.neuron.decay;
        assert!((f64::from(tau[0]) - 1e-4 / (1.0 - decay)).abs() < 1e-9);
        let (reset, _) = floats(&file, "node/nodes/fc1.lif/v_reset");
        let expected_reset = match config.neuron.rule.reset {
            Reset::LeakToThreshold => config.neuron.rule.threshold,
            _ => 0.0,
        };
        assert_eq!(reset[0], expected_reset as f32);

        let frames =
            Tensor::<B, 5>::random([5, 3, 2, 8, 8], Distribution::Uniform(0.0, 3.0), &device);
        let ours = net.forward(frames.clone(), Mode::Eval);
        let total: f64 = ours.layers.iter().map(|(_, s)| s.spikes).sum();
        assert!(total > 0.0, "{neuron}: the network must spike");
        let our_rates: Vec<f32> = ours.rates.into_data().to_vec().unwrap();
        let theirs = interpret(&file, frames);
        let worst = max_abs_diff(&our_rates, &theirs);
        assert!(
            worst <= 1e-6,
            "{neuron}: the NIR graph's rates differ by {worst}"
        );
    }
}

#[test]
fn what_nir_cannot_express_is_refused_with_the_layers_listed() {
    let _rng = seeded(2);
    let device = Default::default();
    let net = EventNetConfig::tiny(5, AttentionKind::Tcsa)
        .init::<B>(&device)
        .unwrap();
    let err = event_net_graph(&net, &NirOptions::default()).unwrap_err();
    let ExportError::Refused { format, layers } = &err else {
        panic!("{err}");
    };
    assert_eq!(*format, "NIR");
    assert!(
        layers.contains(&Refusal::new("conv0", "TCSA attention")),
        "{layers:?}"
    );
    let msg = err.to_string();
    for layer in [
        "conv0 (TCSA attention)",
        "conv1 (TCSA attention)",
        "fc0 (TA attention)",
        "fc1 (TA attention)",
    ] {
        assert!(msg.contains(layer), "{msg}");
    }

    let mut soft = EventNetConfig::tiny(5, AttentionKind::None);
    soft.neuron = soft.neuron.with_reset(Reset::Subtract);
    let net = soft.init::<B>(&device).unwrap();
    let msg = event_net_graph(&net, &NirOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("conv0.lif (subtract reset)") && msg.contains("fc1.lif"),
        "{msg}"
    );
}
