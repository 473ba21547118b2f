//! `cargo xtask download <dataset> --root DIR`: fetch (or find), verify and extract a dataset,
//! with a progress bar per file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use snn_data::download::{fetch, manifest, manifests, FetchOptions, Phase, Progress};

/// Options of `download`.
#[derive(Args)]
pub struct DownloadArgs {
    /// Which dataset: gesture, nmnist, cifar10dvs, gait, imagenet (`--list` describes them).
    #[arg(required_unless_present = "list")]
    dataset: Option<String>,
    /// The dataset root: archives go to `ROOT/download/`, their contents into `ROOT`.
    #[arg(long, required_unless_present = "list")]
    root: Option<PathBuf>,
    /// Verify the archives but do not unpack them.
    #[arg(long)]
    no_extract: bool,
    /// List the known datasets, their files and checksums.
    #[arg(long)]
    list: bool,
}

pub fn run(args: DownloadArgs) -> Result<()> {
    if args.list {
        for m in manifests() {
            println!("{:<11} {}", m.name, m.title);
            for f in &m.files {
                let source = if f.urls.is_empty() {
                    "by hand".to_owned()
                } else {
                    f.urls.join(" | ")
                };
                println!(
                    "            {}  md5 {}  {source}",
                    f.file_name,
                    f.md5.as_deref().unwrap_or("(none published)")
                );
            }
            if !m.manual_note.is_empty() {
                println!("            by hand: {}", m.page);
            }
        }
        return Ok(());
    }
    let (Some(name), Some(root)) = (args.dataset, args.root) else {
        unreachable!("clap requires both without --list");
    };
    let manifest = manifest(&name)?;
    let options = FetchOptions {
        extract: !args.no_extract,
        ..FetchOptions::default()
    };
    let mut bar: Option<(String, Phase, ProgressBar)> = None;
    let mut on_progress = |p: Progress<'_>| {
        let fresh = !matches!(&bar, Some((f, ph, _)) if f == p.file && *ph == p.phase);
        if fresh {
            if let Some((_, _, old)) = bar.take() {
                old.finish();
            }
            let verb = match p.phase {
                Phase::Download => "downloading",
                Phase::Verify => "verifying",
                Phase::Extract => "extracting",
            };
            let new = match p.total {
                Some(total) => ProgressBar::new(total).with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{msg} {spinner} {pos} entries")
                        .expect("valid template"),
                ),
            };
            new.set_message(format!("{verb} {}", p.file));
            bar = Some((p.file.to_owned(), p.phase, new));
        }
        if let Some((_, _, b)) = &bar {
            b.set_position(p.done);
        }
    };
    let result = fetch(&manifest, &root, &options, &mut on_progress);
    if let Some((_, _, b)) = bar {
        b.finish();
    }
    let report = result?;
    println!(
        "{}: {} downloaded, {} verified, {} extracted; ready at {}",
        manifest.name,
        report.downloaded.len(),
        report.verified.len(),
        report.extracted.len(),
        report.ready.display()
    );
    Ok(())
}
