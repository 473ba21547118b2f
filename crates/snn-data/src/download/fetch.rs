//! The whole procedure: find or download each file, verify it, extract it, and say what to
//! download by hand where that is the only way.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::archive::extract;
use super::catalogue::{Extract, Manifest, RemoteFile};
use super::http::download;
use super::verify::verify;
use super::{io_err, DownloadError};

/// What a long step is doing, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Receiving bytes.
    Download,
    /// Computing the MD5.
    Verify,
    /// Unpacking.
    Extract,
}

/// One progress report: `done` of `total` bytes (or entries, when extracting) of `file`.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The file.
    pub file: &'a str,
    /// The step.
    pub phase: Phase,
    /// Units done.
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
}

/// Settings of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Give up on a silent connection after this long.
    pub timeout: Duration,
    /// Unpack archives once verified.
    pub extract: bool,
    /// Use the proxy named by `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (ureq does not read
    /// `NO_PROXY`, so loopback tests switch this off).
    pub proxy_from_env: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            extract: true,
            proxy_from_env: true,
        }
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// Files downloaded now (rather than found).
    pub downloaded: Vec<String>,
    /// Files whose checksum was verified.
    pub verified: Vec<String>,
    /// Archives unpacked now.
    pub extracted: Vec<String>,
    /// The folder to point the dataset loader at.
    pub ready: PathBuf,
}

/// Downloads (or finds), verifies and extracts `manifest`'s files under `root`.
///
/// Files already in `root/download/` are verified, not fetched again; an unfinished
/// `.part` is resumed. Files without a URL (or whose URLs all fail) must be placed there by
/// hand: the error lists each with its page and instructions.
pub fn fetch(
    manifest: &Manifest,
    root: &Path,
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<FetchReport, DownloadError> {
    let download_dir = root.join("download");
    fs::create_dir_all(&download_dir).map_err(io_err(&download_dir))?;
    if manifest.files.is_empty() {
        return Err(DownloadError::Manual(manual_message(
            manifest,
            &download_dir,
            &[],
        )));
    }
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(options.timeout)
        .try_proxy_from_env(options.proxy_from_env)
        .build();
    let mut report = FetchReport {
        downloaded: Vec::new(),
        verified: Vec::new(),
        extracted: Vec::new(),
        ready: root.join(&manifest.ready_folder),
    };
    let mut missing = Vec::new();
    let mut network_error = None;
    for remote in &manifest.files {
        let target = download_dir.join(&remote.file_name);
        if !target.is_file() {
            if remote.urls.is_empty() {
                missing.push(remote);
                continue;
            }
            match download(&agent, remote, &target, progress) {
                Ok(()) => report.downloaded.push(remote.file_name.clone()),
                Err(err @ (DownloadError::Network { .. } | DownloadError::Http { .. })) => {
                    missing.push(remote);
                    network_error.get_or_insert(err);
                    continue;
                }
                Err(err) => return Err(err),
            }
        }
        if let Some(expected) = &remote.md5 {
            match verify(&target, expected, progress) {
                Ok(()) => report.verified.push(remote.file_name.clone()),
                // A mirror that served something else (a login page, say): say where the
                // real file is too.
                Err(err @ DownloadError::Checksum { .. }) if !manifest.manual_note.is_empty() => {
                    return Err(DownloadError::Manual(format!(
                        "{err}\n{}",
                        manual_message(manifest, &download_dir, &[remote])
                    )));
                }
                Err(err) => return Err(err),
            }
        }
    }
    if !missing.is_empty() {
        // A dataset with no manual route reports the network error itself.
        let mut message = manual_message(manifest, &download_dir, &missing);
        if let Some(err) = network_error {
            if manifest.manual_note.is_empty() {
                return Err(err);
            }
            message = format!("could not fetch it: {err}\n{message}");
        }
        return Err(DownloadError::Manual(message));
    }
    if options.extract {
        for remote in &manifest.files {
            let archive = download_dir.join(&remote.file_name);
            let marker = download_dir.join(format!("{}.extracted", remote.file_name));
            if remote.extract == Extract::Keep || marker.is_file() {
                continue;
            }
            extract(&archive, remote.extract, root, progress)?;
            fs::write(&marker, b"").map_err(io_err(&marker))?;
            report.extracted.push(remote.file_name.clone());
        }
    }
    Ok(report)
}

fn manual_message(manifest: &Manifest, download_dir: &Path, missing: &[&RemoteFile]) -> String {
    let mut msg = format!(
        "{} must be downloaded by hand: {}\n  page: {}\n",
        manifest.title, manifest.manual_note, manifest.page
    );
    if missing.is_empty() {
        msg += &format!(
            "  put it under {} (no archive for this command to verify)\n",
            download_dir.parent().unwrap_or(download_dir).display()
        );
    }
    for remote in missing {
        msg += &format!(
            "  put {} in {}{}\n",
            remote.file_name,
            download_dir.display(),
            remote
                .md5
                .as_ref()
                .map(|m| format!(" (MD5 {m})"))
                .unwrap_or_default()
        );
    }
    if !missing.is_empty() {
        msg += "then run the same command again: it verifies and extracts them.";
    }
    msg
}
