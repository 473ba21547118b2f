//! `cargo xtask export --checkpoint DIR --format onnx|nir --out FILE`: writes the model and, beside it,
//! `FILE.sample.safetensors` with a real input batch and our own output on it, so the export can
//! be checked in any runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use burn::backend::Flex;
use burn::tensor::{DType, Tensor, TensorData};
use clap::{Args, ValueEnum};
use safetensors::tensor::{Dtype, TensorView};
use snn_data::frame::WindowFraming;
use snn_data::gesture::{GestureDataset, Split, CLASS_NAMES};
use snn_export::nir::{self, NirOptions};
use snn_export::onnx::{export_event_net, node_list, to_bytes, OnnxOptions};
use snn_export::write_file;
use snn_models::Mode;

use crate::test_samples::first_event_frames;
use snn_train::checkpoint::load_event_net;

/// Export formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// ONNX, opset 17: the whole sequence unrolled over T, standard operators only.
    Onnx,
    /// NIR (HDF5), for attention-free networks: Conv2d, SumPool2d + Scale, Flatten, Affine, LIF.
    Nir,
}

/// Options of `export`.
#[derive(Args)]
pub struct ExportArgs {
    /// A checkpoint directory (`model.safetensors`, `config.json`, `meta.json`), such as
    /// `target/demo/tcsa/best`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "onnx")]
    format: Format,
    /// The model file to write.
    #[arg(long)]
    out: PathBuf,
    /// The DvsGesture-layout dataset to take the sample batch from (default: the one recorded
    /// in the checkpoint's `meta.json`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Samples in the sample batch (the first test samples).
    #[arg(long, default_value_t = 4)]
    batch: usize,
}

/// The framing and data folder a checkpoint was trained with (written by `demo`).
fn framing_and_data(meta: &serde_json::Value, path: &Path) -> Result<(WindowFraming, PathBuf)> {
    let framing = &meta["framing"];
    let field = |key: &str| {
        framing[key]
            .as_u64()
            .with_context(|| format!("{}: no framing.{key}", path.display()))
    };
    let framing = WindowFraming {
        steps: field("steps")? as usize,
        dt_us: field("dt_us")?,
        sensor: field("sensor")? as usize,
        pool: field("pool")? as usize,
    };
    let data = meta["data"]
        .as_str()
        .map(PathBuf::from)
        .with_context(|| format!("{}: no data folder recorded; pass --data", path.display()))?;
    Ok((framing, data))
}

/// The framing and dataset folder a checkpoint records in its `meta.json`, checked against the
/// model's input size and T.
pub(crate) fn checkpoint_framing(
    checkpoint: &Path,
    config: &snn_models::EventNetConfig,
) -> Result<(WindowFraming, PathBuf)> {
    let meta_path = checkpoint.join("meta.json");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&meta_path)
            .with_context(|| format!("reading {}", meta_path.display()))?,
    )
    .with_context(|| format!("parsing {}", meta_path.display()))?;
    let (framing, data) = framing_and_data(&meta, &meta_path)?;
    if framing.steps != config.steps || framing.size() != config.height {
        bail!(
            "{}: framing ({} steps, {}x{}) does not match the model ({} steps, {}x{})",
            meta_path.display(),
            framing.steps,
            framing.size(),
            framing.size(),
            config.steps,
            config.height,
            config.width
        );
    }
    Ok((framing, data))
}

pub fn run(args: ExportArgs) -> Result<()> {
    ensure!(args.batch > 0, "--batch must be at least 1");
    let device = Default::default();
    let net = load_event_net::<Flex>(&args.checkpoint, DType::F32, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let config = net.config().clone();
    let (framing, recorded_data) = checkpoint_framing(&args.checkpoint, &config)?;

    // A real batch: the first test samples, framed from their first event as in evaluation.
    let data_root = args.data.unwrap_or(recorded_data);
    let data = GestureDataset::open(&data_root)
        .with_context(|| format!("opening the dataset at {}", data_root.display()))?;
    let frames = first_event_frames(&data, Split::Test, &framing, Some(args.batch))?;
    ensure!(
        !frames.is_empty(),
        "{}: no test samples",
        data_root.display()
    );
    let batch = snn_data::loader::Batch::stack(&frames);
    let shape = [batch.steps, batch.batch, 2, batch.height, batch.width];
    let input = batch.data;
    let x = Tensor::<Flex, 5>::from_data(TensorData::new(input.clone(), shape), &device);
    let output: Vec<f32> = net.forward(x, Mode::Eval).rates.into_data().to_vec()?;

    let class_names = if config.classes == CLASS_NAMES.len() {
        CLASS_NAMES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        Vec::new()
    };
    let written = match args.format {
        Format::Onnx => {
            let model = export_event_net(
                &net,
                &OnnxOptions {
                    class_names,
                    layer_spikes: false,
                },
            )?;
            write_file(&args.out, &to_bytes(&model)?)?;
            format!(
                "ONNX, {} nodes, input frames {:?} = [T, batch, C, H, W], output rates [batch, {}]",
                node_list(&model).len(),
                shape,
                config.classes
            )
        }
        Format::Nir => {
            let options = NirOptions::default();
            let graph = nir::event_net_graph(&net, &options)?;
            nir::write(&graph, &args.out)?;
            format!(
                "NIR, {} nodes, dt {} s; input one frame [C, H, W] per step, output spikes \
                 (rates = their mean over T)",
                graph.nodes.len(),
                options.dt
            )
        }
    };

    let as_bytes = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    let (input_bytes, output_bytes) = (as_bytes(&input), as_bytes(&output));
    let tensors = HashMap::from([
        (
            "input".to_owned(),
            TensorView::new(Dtype::F32, shape.to_vec(), &input_bytes)?,
        ),
        (
            "output".to_owned(),
            TensorView::new(Dtype::F32, vec![shape[1], config.classes], &output_bytes)?,
        ),
    ]);
    let sample_path = PathBuf::from(format!("{}.sample.safetensors", args.out.display()));
    write_file(
        &sample_path,
        &safetensors::serialize(tensors, None).context("serialising the sample")?,
    )?;
    println!(
        "wrote {} ({written}) and {} (input and our output on {} test samples)",
        args.out.display(),
        sample_path.display(),
        shape[1]
    );
    Ok(())
}
