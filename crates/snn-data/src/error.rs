//! Errors of the data crate: every one names the file and where in it.

use std::path::PathBuf;

use thiserror::Error;

/// Anything that can go wrong reading a dataset.
#[derive(Debug, Error)]
pub enum DataError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// A binary file is malformed at a byte offset.
    #[error("{source_name}: byte {offset}: {message}")]
    Binary {
        /// The file (or stream) name.
        source_name: String,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A text file is malformed at a line.
    #[error("{source_name}: line {line}: {message}")]
    Text {
        /// The file name.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A dataset folder does not have the expected layout.
    #[error("{path}: {message}")]
    Layout {
        /// The folder or file.
        path: PathBuf,
        /// What is missing or wrong.
        message: String,
    },
}

impl DataError {
    /// A failed atomic write ([`snn_fs`]), as the I/O error on its target.
    pub(crate) fn from_fs(e: snn_fs::Error) -> Self {
        Self::io(e.path, e.source)
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
