//! Checkpoint directories: `model.safetensors` (official parameter names, so the official code
//! and ours read the same file), `config.json` (the full network config, so the directory alone
//! rebuilds the model) and `meta.json` (epoch, metrics). A directory is written next to its
//! destination and renamed into place ([`snn_fs::write_dir_atomic`]: unique temporary name,
//! fsync, the previous directory moved aside first), so a crash leaves a whole checkpoint.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::DType;
use snn_models::{load_official, save_official, EventNet, ModelError, OfficialSlots, StateDict};

use crate::net::{Net, NetConfig};
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
    save_model(dir, model, model.config(), meta, |_| Ok(()))
}

/// Writes a checkpoint of any network to `dir` atomically; `extra` may add files to the
/// temporary directory before it is renamed into place (the trainer's optimiser and state).
pub fn save_net<B: Backend>(
    dir: &Path,
    model: &Net<B>,
    meta: &serde_json::Value,
    extra: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<(), CheckpointError> {
    save_model(dir, model, &model.config(), meta, extra)
}

/// Writes `value` as pretty JSON to `path`, atomically ([`snn_fs::write_file_atomic`]).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), CheckpointError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CheckpointError::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    snn_fs::write_file_atomic(path, text.as_bytes()).map_err(|e| CheckpointError::Io {
        path: e.path,
        source: e.source,
    })
}

/// Reads JSON from `path`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn save_model<B: Backend, M: OfficialSlots<B> + Module<B> + Clone>(
    dir: &Path,
    model: &M,
    config: &impl serde::Serialize,
    meta: &serde_json::Value,
    extra: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<(), CheckpointError> {
    snn_fs::write_dir_atomic(dir, |tmp| {
        save_official(model).write(&tmp.join("model.safetensors"))?;
        write_json(&tmp.join("config.json"), config)?;
        write_json(&tmp.join("meta.json"), meta)?;
        extra(tmp)
    })
    .map_err(|e| {
        e.into_error(|e| CheckpointError::Io {
            path: e.path,
            source: e.source,
        })
    })
}

/// Rebuilds any network from a checkpoint directory, in `dtype`.
pub fn load_net<B: Backend>(
    dir: &Path,
    dtype: DType,
    device: &B::Device,
) -> Result<Net<B>, CheckpointError> {
    let path = dir.join("config.json");
    let value: serde_json::Value = read_json(&path)?;
    let config = NetConfig::from_json(value).map_err(|e| CheckpointError::Json {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut model = config.init::<B>(device)?;
    let state = StateDict::read(&dir.join("model.safetensors"))?;
    load_official(&mut model, &state, dtype, device)?;
    Ok(model)
}

/// Rebuilds an event network from a checkpoint directory, in `dtype`; a checkpoint of another
/// network is an error naming it.
pub fn load_event_net<B: Backend>(
    dir: &Path,
    dtype: DType,
    device: &B::Device,
) -> Result<EventNet<B>, CheckpointError> {
    match load_net::<B>(dir, dtype, device)? {
        Net::Event(net) => Ok(net),
        other => Err(CheckpointError::Json {
            path: dir.join("config.json"),
            message: format!(
                "holds a {} network, not an event network",
                match other {
                    Net::Plif(_) => "PLIF",
                    _ => "Res-SNN",
                }
            ),
        }),
    }
}
