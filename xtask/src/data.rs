//! `cargo xtask dataset-info` and `cargo xtask synth`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use snn_data::gesture::{sample_events, GestureDataset, Split};
use snn_data::synthetic::SyntheticGestures;

/// Datasets these commands know so far.
#[derive(Clone, Copy, ValueEnum)]
pub enum Dataset {
    /// DVS128 Gesture (AEDAT 3.1, DvsGesture layout).
    Gesture,
}

/// Options of `dataset-info`.
#[derive(Args)]
pub struct InfoArgs {
    /// Which dataset.
    #[arg(value_enum)]
    dataset: Dataset,
    /// The dataset folder (holding `DvsGesture/` or its contents).
    #[arg(long)]
    root: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Options of `synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Which dataset.
    #[arg(value_enum)]
    dataset: Dataset,
    /// Output folder (`DvsGesture/` is created inside).
    #[arg(long)]
    root: PathBuf,
    /// Training trials (11 gestures each).
    #[arg(long, default_value_t = 8)]
    train: usize,
    /// Test trials.
    #[arg(long, default_value_t = 3)]
    test: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn info(args: InfoArgs) -> Result<()> {
    let Dataset::Gesture = args.dataset;
    let data = GestureDataset::open(&args.root)?;
    let mut splits = serde_json::Map::new();
    let mut first_test_frames = Vec::new();
    for (name, split) in [("train", Split::Train), ("test", Split::Test)] {
        let (mut class_counts, mut events) = (vec![0usize; 11], Vec::new());
        for trial in data.trials(split) {
            let recording = data
                .read_events(trial)
                .with_context(|| format!("reading {}", trial.name))?;
            for row in &trial.rows {
                // Label files are validated on parsing: classes are 0..=10.
                class_counts[row.class] += 1;
                let sample = sample_events(&recording, row);
                if split == Split::Test && first_test_frames.is_empty() {
                    // 60 windows of 15 ms from the sample's first event, every event counted.
                    let start = sample.first().map_or(row.start, |e| e.t);
                    let mut counts = vec![0u64; 60];
                    for e in &sample {
                        let k = e.t.saturating_sub(start) / 15_000;
                        if let Some(c) = counts.get_mut(k as usize) {
                            *c += 1;
                        }
                    }
                    first_test_frames = counts;
                }
                events.push(sample.len());
            }
        }
        if !args.json {
            println!(
                "{name}: {} samples, class counts {class_counts:?}, {} events",
                events.len(),
                events.iter().sum::<usize>()
            );
        }
        splits.insert(
            name.into(),
            json!({"samples": events.len(), "class_counts": class_counts, "events": events}),
        );
    }
    if args.json {
        let out = json!({"dataset": "gesture", "splits": splits, "first_test_sample_frames_dt15ms_T60": first_test_frames});
        println!("{out}");
    }
    Ok(())
}

pub fn synth(args: SynthArgs) -> Result<()> {
    let Dataset::Gesture = args.dataset;
    let config = SyntheticGestures {
        train_trials: args.train,
        test_trials: args.test,
        seed: args.seed,
        ..Default::default()
    };
    config.write(&args.root)?;
    println!("wrote {}", args.root.join("DvsGesture").display());
    Ok(())
}
