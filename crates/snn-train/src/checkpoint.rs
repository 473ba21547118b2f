//! Checkpoint directories: `model.safetensors` (official parameter names, so the official code
//! and ours read the same file), `config.json` (the full network config, so the directory alone
//! rebuilds the model) and `meta.json` (epoch, metrics). A directory is written next to its
//! destination and renamed into place, so a crash leaves the previous checkpoint intact.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::DType;
use snn_models::{load_official, save_official, EventNet, EventNetConfig, ModelError, StateDict};
use thiserror::Error;

/// Checkpoint errors.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// A JSON file that does not parse.
    #[error("{path}: {message}")]
    Json {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Building or loading the model.
    #[error(transparent)]
    Model(#[from] ModelError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes an event-network checkpoint to `dir` atomically.
pub fn save_event_net<B: Backend>(
    dir: &Path,
    model: &EventNet<B>,
    meta: &serde_json::Value,
) -> Result<(), CheckpointError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = dir.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    save_official(model).write(&tmp.join("model.safetensors"))?;
    let json = |value: &serde_json::Value, file: &str| -> Result<(), CheckpointError> {
        let path = tmp.join(file);
        let text = serde_json::to_string_pretty(value).map_err(|e| CheckpointError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(io(&path))
    };
    // A config that cannot be serialised would leave a checkpoint that cannot rebuild its model.
    let config = serde_json::to_value(model.config()).map_err(|e| CheckpointError::Json {
        path: tmp.join("config.json"),
        message: e.to_string(),
    })?;
    json(&config, "config.json")?;
    json(meta, "meta.json")?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}

/// Rebuilds an event network from a checkpoint directory, in `dtype`.
pub fn load_event_net<B: Backend>(
    dir: &Path,
    dtype: DType,
    device: &B::Device,
) -> Result<EventNet<B>, CheckpointError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let config: EventNetConfig =
        serde_json::from_str(&text).map_err(|e| CheckpointError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let mut model = config.init::<B>(device)?;
    let state = StateDict::read(&dir.join("model.safetensors"))?;
    load_official(&mut model, &state, dtype, device)?;
    Ok(model)
}
