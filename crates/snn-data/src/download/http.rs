//! Resumable HTTP transfers: `<file>.part` continued with range requests, fsynced, then
//! renamed to `<file>`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use super::catalogue::RemoteFile;
use super::fetch::{Phase, Progress};
use super::{io_err, DownloadError};

/// Fetches `remote` into `target`, resuming `target.part` when the server honours ranges.
pub(super) fn download(
    agent: &ureq::Agent,
    remote: &RemoteFile,
    target: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DownloadError> {
    let part = target.with_file_name(format!("{}.part", remote.file_name));
    let mut last_error = None;
    for url in &remote.urls {
        match download_from(agent, url, &part, &remote.file_name, target, progress) {
            Ok(()) => {
                // The part is complete: make its bytes durable before its name (a part found
                // complete, answered with 416, may come from a run that never synced it), and
                // the rename before reporting success.
                File::open(&part)
                    .and_then(|f| f.sync_all())
                    .map_err(io_err(&part))?;
                fs::rename(&part, target).map_err(io_err(target))?;
                let dir = target.parent().unwrap_or(Path::new("."));
                snn_fs::sync_dir(dir).map_err(|e| DownloadError::Io {
                    path: e.path,
                    source: e.source,
                })?;
                return Ok(());
            }
            Err(err @ (DownloadError::Network { .. } | DownloadError::Http { .. })) => {
                last_error = Some(err);
            }
            Err(err) => return Err(err),
        }
    }
    Err(last_error.expect("a file with URLs"))
}

fn download_from(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    name: &str,
    target: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DownloadError> {
    let network = |message: String| DownloadError::Network {
        url: url.to_owned(),
        message,
        target: target.to_owned(),
    };
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(response) => response,
        // The part already holds the whole file.
        Err(ureq::Error::Status(416, _)) if have > 0 => return Ok(()),
        Err(ureq::Error::Status(status, _)) => {
            return Err(DownloadError::Http {
                url: url.to_owned(),
                status,
            })
        }
        Err(ureq::Error::Transport(t)) => {
            // Its Display repeats the URL, which the error already names.
            let detail = t.message().map(|m| format!(": {m}")).unwrap_or_default();
            return Err(network(format!("{}{detail}", t.kind())));
        }
    };
    // A 206 must continue exactly where the part ends (`Content-Range: bytes <have>-...`);
    // anything else would splice two different byte ranges, so it is refused.
    let resumed = response.status() == 206;
    if resumed {
        let start = response
            .header("Content-Range")
            .and_then(|v| v.trim().strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        if start != Some(have) {
            let _ = fs::remove_file(part);
            return Err(network(format!(
                "the server resumed at {start:?} instead of byte {have}; the partial file was \
                 removed, run again to download from the start"
            )));
        }
    }
    let length: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    let start = if resumed { have } else { 0 };
    let total = length.map(|l| l + start);
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(part)
        .map_err(io_err(part))?;
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = start;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(network(format!(
                    "transfer broke after {done} bytes ({e}); run again to resume"
                )))
            }
        };
        out.write_all(&buf[..n]).map_err(io_err(part))?;
        done += n as u64;
        progress(Progress {
            file: name,
            phase: Phase::Download,
            done,
            total,
        });
    }
    out.sync_all().map_err(io_err(part))?;
    if let Some(total) = total {
        if done != total {
            return Err(network(format!(
                "connection closed after {done} of {total} bytes; run again to resume"
            )));
        }
    }
    Ok(())
}
