//! `cargo xtask summary`.

use anyhow::Result;
use burn::backend::Flex;
use clap::{Args, ValueEnum};
use ma_attention::AttentionKind;
use snn_models::{EventNetConfig, ModelSummary, PlifNetConfig, ResSnnConfig};

/// The networks `summary` knows.
#[derive(Clone, Copy, ValueEnum)]
pub enum Model {
    /// 3-layer DVS128 Gesture network (2x32x32 input).
    Gesture,
    /// Official Gait network (2x128x128 input).
    Gait,
    /// 5-layer PLIF-style network (2x128x128 input).
    Gesture5,
    /// Res-SNN-18 (3x224x224 input).
    Resnet18,
    /// Res-SNN-34.
    Resnet34,
    /// Res-SNN-104.
    Resnet104,
}

/// Options of `summary`.
#[derive(Args)]
pub struct SummaryArgs {
    /// Which network.
    #[arg(long, value_enum)]
    model: Model,
    /// Attention variant: no, TA, CA, SA, TCA, TSA, CSA, TCSA.
    #[arg(long, default_value = "no")]
    attention: AttentionKind,
    /// Time steps (default: 60 for gesture/gait, 20 for gesture5, 1 for the Res-SNNs).
    #[arg(long = "T")]
    steps: Option<usize>,
    /// Classes of the Res-SNNs.
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// Res-SNN-104 with the original MS-ResNet three-convolution stem.
    #[arg(long)]
    deep_stem: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Builds the model and summarises it.
pub fn summarise(args: &SummaryArgs) -> Result<ModelSummary> {
    let device = Default::default();
    let att = args.attention;
    Ok(match args.model {
        Model::Gesture => EventNetConfig::gesture(args.steps.unwrap_or(60), att)
            .init::<Flex>(&device)?
            .summary(),
        Model::Gait => EventNetConfig::gait(args.steps.unwrap_or(60), att)
            .init::<Flex>(&device)?
            .summary(),
        Model::Gesture5 => PlifNetConfig::gesture(args.steps.unwrap_or(20), att)
            .init::<Flex>(&device)?
            .summary(),
        Model::Resnet18 | Model::Resnet34 | Model::Resnet104 => {
            let steps = args.steps.unwrap_or(1);
            let (name, mut config) = match args.model {
                Model::Resnet18 => ("resnet18", ResSnnConfig::resnet18(args.classes, steps, att)),
                Model::Resnet34 => ("resnet34", ResSnnConfig::resnet34(args.classes, steps, att)),
                _ => (
                    "resnet104",
                    ResSnnConfig::resnet104(args.classes, steps, att),
                ),
            };
            config.deep_stem = args.deep_stem;
            config.init::<Flex>(&device)?.summary(name, 224, 224)
        }
    })
}

pub fn run(args: SummaryArgs) -> Result<()> {
    let summary = summarise(&args)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}
