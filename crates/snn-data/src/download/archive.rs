//! Extraction through a scratch folder, merged into place; entries that would leave the
//! folder (zip-slip, `..`) are refused.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use super::catalogue::Extract;
use super::fetch::{Phase, Progress};
use super::{io_err, DownloadError};

/// Unpacks `archive` into a scratch folder under `root`, then moves what it holds into place,
/// so an interrupted extraction never leaves a half-filled dataset folder behind.
pub fn extract(
    archive: &Path,
    kind: Extract,
    root: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DownloadError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scratch = root.join(format!(".extracting-{name}"));
    if scratch.exists() {
        fs::remove_dir_all(&scratch).map_err(io_err(&scratch))?;
    }
    fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
    let archive_err = |message: String| DownloadError::Archive {
        path: archive.to_owned(),
        message,
    };
    let mut entries = 0u64;
    let mut tick = |entries: &mut u64| {
        *entries += 1;
        progress(Progress {
            file: &name,
            phase: Phase::Extract,
            done: *entries,
            total: None,
        });
    };
    let open = || File::open(archive).map_err(io_err(archive));
    match kind {
        Extract::Keep => return Ok(()),
        Extract::Zip => {
            let mut zip = zip::ZipArchive::new(io::BufReader::new(open()?))
                .map_err(|e| archive_err(format!("not a readable zip: {e}")))?;
            for i in 0..zip.len() {
                let mut entry = zip
                    .by_index(i)
                    .map_err(|e| archive_err(format!("entry {i}: {e}")))?;
                let relative = entry.enclosed_name().ok_or_else(|| {
                    archive_err(format!("entry `{}` escapes the folder", entry.name()))
                })?;
                let dest = scratch.join(relative);
                if entry.is_dir() {
                    fs::create_dir_all(&dest).map_err(io_err(&dest))?;
                } else {
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent).map_err(io_err(parent))?;
                    }
                    let mut out = File::create(&dest).map_err(io_err(&dest))?;
                    io::copy(&mut entry, &mut out)
                        .map_err(|e| archive_err(format!("entry `{}`: {e}", entry.name())))?;
                }
                tick(&mut entries);
            }
        }
        Extract::TarGz => {
            let gz = flate2::read::GzDecoder::new(io::BufReader::new(open()?));
            unpack_tar(tar::Archive::new(gz), &scratch, &archive_err, &mut || {
                tick(&mut entries)
            })?;
        }
        Extract::TarInto(folder) => {
            let dest = scratch.join(folder);
            fs::create_dir_all(&dest).map_err(io_err(&dest))?;
            unpack_tar(
                tar::Archive::new(io::BufReader::new(open()?)),
                &dest,
                &archive_err,
                &mut || tick(&mut entries),
            )?;
        }
        Extract::NestedTarsInto(folder) => {
            let mut outer = tar::Archive::new(io::BufReader::new(open()?));
            let outer_entries = outer
                .entries()
                .map_err(|e| archive_err(format!("not a readable tar: {e}")))?;
            for entry in outer_entries {
                let entry = entry.map_err(|e| archive_err(format!("corrupt entry: {e}")))?;
                let path = entry
                    .path()
                    .map_err(|e| archive_err(format!("entry name: {e}")))?
                    .into_owned();
                let Some(stem) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".tar"))
                    .map(str::to_owned)
                else {
                    continue;
                };
                if stem.is_empty() || stem.contains(['/', '\\']) || stem == ".." {
                    return Err(archive_err(format!("inner archive `{}`", path.display())));
                }
                let dest = scratch.join(folder).join(&stem);
                fs::create_dir_all(&dest).map_err(io_err(&dest))?;
                unpack_tar(tar::Archive::new(entry), &dest, &archive_err, &mut || {
                    tick(&mut entries)
                })?;
            }
        }
    }
    merge_into(&scratch, root)?;
    fs::remove_dir_all(&scratch).map_err(io_err(&scratch))?;
    Ok(())
}

/// Moves the contents of `from` into `to`: folders are merged (two archives may share a top
/// folder, as N-MNIST's `Train.zip` and `Test.zip` could), files replace a leftover of an
/// earlier attempt.
fn merge_into(from: &Path, to: &Path) -> Result<(), DownloadError> {
    fs::create_dir_all(to).map_err(io_err(to))?;
    for item in fs::read_dir(from).map_err(io_err(from))? {
        let item = item.map_err(io_err(from))?;
        let source = item.path();
        let dest = to.join(item.file_name());
        if source.is_dir() && dest.is_dir() {
            merge_into(&source, &dest)?;
            continue;
        }
        if dest.is_dir() {
            fs::remove_dir_all(&dest).map_err(io_err(&dest))?;
        } else if dest.exists() {
            fs::remove_file(&dest).map_err(io_err(&dest))?;
        }
        fs::rename(&source, &dest).map_err(io_err(&dest))?;
    }
    Ok(())
}

fn unpack_tar<R: Read>(
    mut archive: tar::Archive<R>,
    dest: &Path,
    archive_err: &dyn Fn(String) -> DownloadError,
    tick: &mut dyn FnMut(),
) -> Result<(), DownloadError> {
    let entries = archive
        .entries()
        .map_err(|e| archive_err(format!("not a readable tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_err(format!("corrupt entry: {e}")))?;
        // `unpack_in` refuses paths that leave `dest` (returns false) and creates parents.
        let unpacked = entry
            .unpack_in(dest)
            .map_err(|e| archive_err(format!("unpacking: {e}")))?;
        if !unpacked {
            let path = entry.path().map(|p| p.display().to_string());
            return Err(archive_err(format!(
                "entry `{}` escapes the folder",
                path.unwrap_or_default()
            )));
        }
        tick();
    }
    Ok(())
}
