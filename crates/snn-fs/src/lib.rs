//! # snn-fs
//!
//! Atomic files and directories, the one way every crate of the workspace writes a file or
//! folder that a reader (or a crash) must never see half-written.
//!
//! - [`write_file_atomic`] and [`write_file_atomic_with`] (streaming): the content goes to a
//!   temporary file beside the target, which is fsynced, renamed over the target, and the
//!   folder is fsynced, so after a crash the path holds either the old content or the new.
//! - [`write_dir_atomic`]: the caller fills a fresh temporary directory beside the target;
//!   every file and folder in it is fsynced, then it is renamed into place, replacing an
//!   existing directory (moved aside first, removed afterwards), and the parent is fsynced.
//!   A crash leaves one of the two complete directories: the target, or the previous one
//!   under a hidden `.<name>.old-*` folder beside it.
//!
//! Temporary names are `.<name>.tmp-<random>` in the target's folder (the same file system,
//! so the rename is atomic), created exclusively, so concurrent writers of one path, in one
//! process or several, never share a temporary file: the last rename wins and the target is
//! always one writer's complete content. A write that fails (including the caller's closure)
//! removes its temporary file or directory and leaves the target as it was.
//!
//! Files are created with mode `0o666` and directories `0o777` before the umask, like
//! [`std::fs::write`] and [`std::fs::create_dir`] (not the owner-only modes of `tempfile`).

#![warn(missing_docs)]

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// An atomic write failed; `path` is the file or directory being written (not its temporary
/// name).
#[derive(Debug, Error)]
#[error("{path}: {source}")]
pub struct Error {
    /// The target file or directory.
    pub path: PathBuf,
    /// What happened.
    pub source: io::Error,
}

impl Error {
    fn at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error {
            path: path.to_owned(),
            source,
        }
    }
}

/// Why [`write_dir_atomic`] failed: a file-system step, or the caller's `fill`.
#[derive(Debug, Error)]
pub enum DirError<E> {
    /// Creating, syncing or renaming the directory failed.
    #[error(transparent)]
    Fs(Error),
    /// The caller's `fill` failed; the temporary directory was removed.
    #[error(transparent)]
    Fill(E),
}

impl<E> DirError<E> {
    /// The caller's error, with a file-system failure turned into one by `fs` (each crate
    /// maps it into its own I/O variant).
    pub fn into_error(self, fs: impl FnOnce(Error) -> E) -> E {
        match self {
            DirError::Fs(e) => fs(e),
            DirError::Fill(e) => e,
        }
    }
}

/// How many times [`write_dir_atomic`] moves a directory that another writer renamed into
/// place aside before giving up.
const REPLACE_ATTEMPTS: usize = 100;

/// The folder holding `path` (`.` for a bare name) and its file name.
fn split(path: &Path) -> io::Result<(&Path, String)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// A builder of temporary names `.<name>.<kind>-<random>` with the usual modes.
fn builder<'a>(prefix: &'a str, _mode: u32) -> tempfile::Builder<'a, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).rand_bytes(8);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(_mode));
    }
    builder
}

/// Writes `bytes` to `path` atomically (see the crate docs).
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_file_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes what `fill` produces to `path` atomically (see the crate docs). The writer is
/// buffered. If `fill` fails, the temporary file is removed, `path` is untouched, and the
/// error is returned naming `path`.
pub fn write_file_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    let err = Error::at(path);
    let result = (|| {
        let (dir, name) = split(path)?;
        let prefix = format!(".{name}.tmp-");
        let tmp = builder(&prefix, 0o666).tempfile_in(dir)?;
        let mut w = BufWriter::new(tmp);
        fill(&mut w)?;
        let tmp = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        fsync_dir(dir)
    })();
    result.map_err(err)
}

/// Writes a directory at `target` atomically: `fill` fills a fresh, empty temporary directory
/// beside it (the path it is given), which is then fsynced with everything in it and renamed
/// into place, replacing an existing `target` (see the crate docs). The parent folders are
/// created. If `fill` fails, the temporary directory is removed, `target` is untouched, and
/// `fill`'s error is returned as [`DirError::Fill`].
pub fn write_dir_atomic<E>(
    target: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), DirError<E>> {
    let fs_err = |e| DirError::Fs(Error::at(target)(e));
    let (parent, name) = split(target).map_err(fs_err)?;
    fs::create_dir_all(parent).map_err(fs_err)?;
    let prefix = format!(".{name}.tmp-");
    let tmp = builder(&prefix, 0o777).tempdir_in(parent).map_err(fs_err)?;
    fill(tmp.path()).map_err(DirError::Fill)?;
    let result = (|| {
        sync_tree(tmp.path())?;
        let old_prefix = format!(".{name}.old-");
        let mut aside: Option<tempfile::TempDir> = None;
        for attempt in 0..REPLACE_ATTEMPTS {
            match fs::rename(tmp.path(), target) {
                Ok(()) => {
                    // Renamed: nothing is left at the temporary path to clean up.
                    let _ = tmp.keep();
                    fsync_dir(parent)?;
                    // The target is already the new directory: failing to remove the old one
                    // (moved aside under a `.old-` name) leaves litter, not a failed write.
                    if let Some(old) = aside {
                        let _ = old.close();
                    }
                    return Ok(());
                }
                Err(e) if occupied(&e) => {
                    // Move the current directory (or a concurrent writer's) aside; it may
                    // have gone already, then try again.
                    let holder = match &mut aside {
                        Some(holder) => holder,
                        None => aside.insert(builder(&old_prefix, 0o700).tempdir_in(parent)?),
                    };
                    match fs::rename(target, holder.path().join(attempt.to_string())) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "another writer kept replacing it ({REPLACE_ATTEMPTS} attempts)"
        )))
    })();
    result.map_err(fs_err)
}

/// Whether a rename failed because something is already at the destination.
fn occupied(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AlreadyExists
            | io::ErrorKind::DirectoryNotEmpty
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory
    )
}

/// Fsyncs every file and folder under `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    fsync_dir(dir)
}

/// Fsyncs a directory, so that names created, renamed or removed in it are durable (after a
/// rename done by hand, say). A no-op where directories cannot be opened as files (Windows).
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    fsync_dir(dir).map_err(Error::at(dir))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
