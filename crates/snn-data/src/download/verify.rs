//! MD5 verification against the published checksums.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use super::fetch::{Phase, Progress};
use super::{io_err, DownloadError};

/// The MD5 of a file, lower-case hex.
pub fn md5_file(
    path: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<String, DownloadError> {
    let mut input = File::open(path).map_err(io_err(path))?;
    let total = input.metadata().map(|m| m.len()).ok();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut context = md5::Context::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        context.consume(&buf[..n]);
        done += n as u64;
        progress(Progress {
            file: &name,
            phase: Phase::Verify,
            done,
            total,
        });
    }
    Ok(format!("{:x}", context.finalize()))
}

/// Checks `path` against `expected`; a mismatch moves the file aside to `<file>.bad` so the
/// next run downloads it again.
pub(super) fn verify(
    path: &Path,
    expected: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DownloadError> {
    let actual = md5_file(path, progress)?;
    if actual.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    let moved_to = path.with_file_name(format!(
        "{}.bad",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    fs::rename(path, &moved_to).map_err(io_err(path))?;
    Err(DownloadError::Checksum {
        path: path.to_owned(),
        expected: expected.to_ascii_lowercase(),
        actual,
        moved_to,
    })
}
