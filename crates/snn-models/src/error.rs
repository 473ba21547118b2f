//! Errors of the model crate.

use std::path::PathBuf;

use thiserror::Error;

/// Anything that can go wrong building, loading or saving a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A configuration that cannot describe a network.
    #[error("model config: {model} {field}: {reason}")]
    Config {
        /// The network (`event net`, `plif net`, `res-snn`).
        model: &'static str,
        /// The offending field of its config (`pools`, `size`, `widths`).
        field: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// Attention configuration error.
    #[error(transparent)]
    Attention(#[from] ma_attention::AttentionError),
    /// Neuron configuration error.
    #[error(transparent)]
    Neuron(#[from] snn_core::ConfigError),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// The file is not valid safetensors, or holds an unsupported dtype.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A state dict that does not fit the model: every problem is listed.
    #[error(
        "state dict does not fit the model:{}{}{}",
        list("missing", missing),
        list("unexpected", unexpected),
        list("wrong shape", mismatched)
    )]
    StateDict {
        /// Names the model needs but the state dict lacks.
        missing: Vec<String>,
        /// Names in the state dict the model does not have.
        unexpected: Vec<String>,
        /// `name: expected [..], found [..]`.
        mismatched: Vec<String>,
    },
}

fn list(what: &str, names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("\n  {what} ({}): {}", names.len(), names.join(", "))
    }
}
