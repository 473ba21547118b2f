//! Dataset downloads: the published URLs and checksums, resumable transfers, verification and
//! extraction. Behind the `download` feature (it brings an HTTP client); `cargo xtask download`
//! is the command-line front end.
//!
//! Layout under the dataset root `R`:
//!
//! - `R/download/<file>`: each archive, kept after extraction so it can be verified again;
//! - `R/download/<file>.part`: an unfinished transfer, resumed with an HTTP range request;
//! - `R/download/<file>.extracted`: written once the archive is fully extracted into `R`.
//!
//! Datasets published only behind a web page (IBM Box, Baidu Pan, image-net.org's login) are
//! not fetched: [`fetch`] says what to download, from where, and where to put it, then verifies
//! and extracts what the user placed there. Facts (URLs, MD5s, layouts) come from
//! `shared/reference/datasets.md`; [`manifests`] is their single copy in code.
//!
//! The parts: `catalogue` (the manifests), `fetch` (the whole procedure, progress and
//! reports), `http` (resumable transfers), `verify` (MD5s) and `archive` (safe extraction).

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

mod archive;
mod catalogue;
mod fetch;
mod http;
mod verify;

pub use archive::extract;
pub use catalogue::{manifest, manifests, Extract, Manifest, RemoteFile};
pub use fetch::{fetch, FetchOptions, FetchReport, Phase, Progress};
pub use verify::md5_file;

/// What goes wrong fetching a dataset: every error names the URL or file involved.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// No manifest under that name.
    #[error("unknown dataset `{name}`; known: {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: io::Error,
    },
    /// The server could not be reached or the transfer broke.
    #[error(
        "{url}: {message}\n  (no network? download it by hand to {target} and run the command \
         again: the file is verified and extracted)"
    )]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
        /// Where the file belongs.
        target: PathBuf,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Http {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A file's MD5 differs from the published one.
    #[error(
        "{path}: MD5 {actual} does not match the published {expected}; the file was moved to \
         {moved_to} (delete it once you have looked)"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The published MD5.
        expected: String,
        /// The MD5 of the file.
        actual: String,
        /// Where the bad file now is.
        moved_to: PathBuf,
    },
    /// Files must be downloaded by hand first.
    #[error("{0}")]
    Manual(String),
    /// An archive is corrupt or unsafe to unpack.
    #[error("{path}: {message}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}
