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

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

/// How an archive is unpacked into the dataset root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extract {
    /// Kept as it is (a single data or documentation file).
    Keep,
    /// A `.zip`, unpacked into the root.
    Zip,
    /// A `.tar.gz`, unpacked into the root.
    TarGz,
    /// A `.tar`, unpacked into `root/<folder>`.
    TarInto(&'static str),
    /// A `.tar` of `.tar`s (ImageNet's train archive): each inner `<name>.tar` is unpacked into
    /// `root/<folder>/<name>/`.
    NestedTarsInto(&'static str),
}

/// One published file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Name under `root/download/`.
    pub file_name: String,
    /// Where to fetch it, tried in order. Empty when it can only be downloaded by hand.
    pub urls: Vec<String>,
    /// Published MD5 (lower-case hex), or `None` where none is published.
    pub md5: Option<String>,
    /// How to unpack it.
    pub extract: Extract,
}

/// A dataset's published files and what the root holds once they are extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The name on the command line (`gesture`, `nmnist`, ...).
    pub name: String,
    /// The dataset's full name.
    pub title: String,
    /// The page a person visits to download the files that have no direct URL.
    pub page: String,
    /// Extra instructions for a manual download (share codes, login, renaming).
    pub manual_note: String,
    /// The files.
    pub files: Vec<RemoteFile>,
    /// The folder, relative to the root, to point the dataset loader at.
    pub ready_folder: String,
}

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

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}

fn file(name: &str, urls: &[&str], md5: Option<&str>, extract: Extract) -> RemoteFile {
    RemoteFile {
        file_name: name.to_owned(),
        urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        md5: md5.map(str::to_owned),
        extract,
    }
}

/// The datasets this crate knows how to fetch or verify, with their published checksums.
pub fn manifests() -> Vec<Manifest> {
    let cifar = [
        ("airplane", "7712788", "0afd5c4bf9ae06af762a77b180354fdd"),
        ("automobile", "7712791", "8438dfeba3bc970c94962d995b1b9bdd"),
        ("bird", "7712794", "a9c207c91c55b9dc2002dc21c684d785"),
        ("cat", "7712812", "52c63c677c2b15fa5146a8daf4d56687"),
        ("deer", "7712815", "b6bf21f6c04d21ba4e23fc3e36c8a4a3"),
        ("dog", "7712818", "f379ebdf6703d16e0a690782e62639c3"),
        ("frog", "7712842", "cad6ed91214b1c7388a5f6ee56d08803"),
        ("horse", "7712851", "e7cbbf77bec584ffbf913f00e682782a"),
        ("ship", "7712836", "41c7bd7d6b251be82557c6cce9a7d5c9"),
        ("truck", "7712839", "89f3922fd147d9aeff89e76a2b0b70a7"),
    ];
    let mendeley = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files";
    vec![
        Manifest {
            name: "gesture".into(),
            title: "DVS128 Gesture (IBM, CC BY 4.0)".into(),
            page: "https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8/folder/50167556794"
                .into(),
            manual_note: "IBM publishes it in a Box folder (landing page \
                https://research.ibm.com/interactive/dvsgesture/); download DvsGesture.tar.gz \
                (about 3 GB) with a browser."
                .into(),
            files: vec![file(
                "DvsGesture.tar.gz",
                // norse's mirror of the same archive (same MD5); the Box folder is the source.
                &["https://kth.box.com/shared/static/7fk64kjuit6exwlzbzfetwoa93qsuoy4.gz"],
                Some("8a5c71fb11e24e5ca5b11866ca6c00a1"),
                Extract::TarGz,
            )],
            ready_folder: "DvsGesture".into(),
        },
        Manifest {
            name: "nmnist".into(),
            title: "N-MNIST (Orchard et al. 2015)".into(),
            page: "https://www.garrickorchard.com/datasets/n-mnist".into(),
            manual_note: String::new(),
            files: vec![
                file(
                    "Train.zip",
                    &[&format!(
                        "{mendeley}/39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded"
                    )],
                    Some("20959b8e626244a1b502305a9e6e2031"),
                    Extract::Zip,
                ),
                file(
                    "Test.zip",
                    &[&format!(
                        "{mendeley}/05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded"
                    )],
                    Some("69ca8762b2fe404d9b9bad1103e97832"),
                    Extract::Zip,
                ),
            ],
            ready_folder: ".".into(),
        },
        Manifest {
            name: "cifar10dvs".into(),
            title: "CIFAR10-DVS (Li et al. 2017), figshare article 4724671 v2".into(),
            page: "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671/2".into(),
            manual_note: String::new(),
            files: cifar
                .iter()
                .map(|(class, id, md5)| {
                    file(
                        &format!("{class}.zip"),
                        &[&format!("https://ndownloader.figshare.com/files/{id}")],
                        Some(md5),
                        Extract::Zip,
                    )
                })
                .collect(),
            ready_folder: ".".into(),
        },
        Manifest {
            name: "gait".into(),
            title: "DVS128 Gait (Wang et al.)".into(),
            page: "https://pan.baidu.com/s/1F3Uo-fVy1S7n5plmEXFl4w".into(),
            manual_note: "It is published only on Baidu Pan, with no checksums: day recordings \
                https://pan.baidu.com/s/1F3Uo-fVy1S7n5plmEXFl4w (code mk55), night recordings \
                https://pan.baidu.com/s/1vijraYQshlURRqF2I1zE8A (code ih83). Unpack them so that \
                the root holds the layout described in datasets/README.md (DVS128 Gait)."
                .into(),
            files: Vec::new(),
            ready_folder: ".".into(),
        },
        Manifest {
            name: "imagenet".into(),
            title: "ImageNet-1k (ILSVRC2012)".into(),
            page: "https://image-net.org/download-images.php".into(),
            manual_note: "image-net.org requires a login and accepting its terms; download the \
                train and val archives (and the devkit) there. The val images are unpacked flat: \
                sort them into class folders with valprep.sh, or put Kaggle's \
                LOC_val_solution.csv in the root."
                .into(),
            files: vec![
                file(
                    "ILSVRC2012_img_train.tar",
                    &[],
                    Some("1d675b47d978889d74fa0da5fadfb00e"),
                    Extract::NestedTarsInto("train"),
                ),
                file(
                    "ILSVRC2012_img_val.tar",
                    &[],
                    Some("29b22e2961454d5413ddabcf34fc5622"),
                    Extract::TarInto("val"),
                ),
                file(
                    "ILSVRC2012_devkit_t12.tar.gz",
                    &[],
                    Some("fa75699e90414af021442c21a62c3abf"),
                    Extract::Keep,
                ),
            ],
            ready_folder: ".".into(),
        },
    ]
}

/// The manifest called `name`.
pub fn manifest(name: &str) -> Result<Manifest, DownloadError> {
    let all = manifests();
    let known = all
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.iter()
        .find(|m| m.name == name)
        .cloned()
        .ok_or(DownloadError::UnknownDataset {
            name: name.to_owned(),
            known,
        })
}

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

/// Fetches `remote` into `target`, resuming `target.part` when the server honours ranges.
fn download(
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
                fs::rename(&part, target).map_err(io_err(target))?;
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
fn verify(
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
