//! Class-folder datasets: DVS128 Gait (text events), N-MNIST and CIFAR10-DVS.
//!
//! - DVS128 Gait: `<root>/[origin/]{train,test}/<label>/<NNNNN>.txt`, one event per line,
//!   whitespace-separated `t x y p` integers (`p == 1` is ON); the label is the folder's integer
//!   name (MA-SNN indexes a 21-wide one-hot with it). The split is the one the folders fix.
//! - N-MNIST: `<root>/{Train,Test}/<digit>/<id>.bin`; the label is the digit folder.
//! - CIFAR10-DVS: `<root>/<class>/cifar10_<class>_<i>.aedat`, classes in alphabetical order
//!   (airplane 0 ... truck 9); SpikingJelly's split puts `i < 100` in test, the rest in train.

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::event::Event;
use crate::gesture::Split;

/// One sample file and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleFile {
    /// The file.
    pub path: PathBuf,
    /// Class index.
    pub label: usize,
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<_, _>>()?;
    paths.sort();
    Ok(paths)
}

/// Samples of `<dir>/<label>/*.<ext>` where every label folder is an integer, sorted by label
/// then file name.
fn integer_class_folders(dir: &Path, ext: &str) -> Result<Vec<SampleFile>, DataError> {
    let mut samples = Vec::new();
    for class_dir in entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let name = class_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label: usize = name.parse().map_err(|_| DataError::Layout {
            path: class_dir.clone(),
            message: format!("class folder name {name:?} is not an integer"),
        })?;
        for path in entries(&class_dir)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
        {
            samples.push(SampleFile { path, label });
        }
    }
    Ok(samples)
}

/// DVS128 Gait samples of a split.
pub fn gait_samples(root: &Path, split: Split) -> Result<Vec<SampleFile>, DataError> {
    let name = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    let dir = [root.join("origin").join(name), root.join(name)]
        .into_iter()
        .find(|d| d.is_dir())
        .ok_or_else(|| DataError::Layout {
            path: root.to_owned(),
            message: format!("no {name}/ or origin/{name}/ folder (DVS128 Gait is published on Baidu Pan only: download DVS128-Gait-Day or -Night by hand and extract it here)"),
        })?;
    integer_class_folders(&dir, "txt")
}

/// Parses a DVS128 Gait text recording; `name` appears in errors.
pub fn parse_gait_text(text: &str, name: &str) -> Result<Vec<Event>, DataError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let err = |message: String| DataError::Text {
            source_name: name.to_owned(),
            line: i + 1,
            message,
        };
        if fields.len() != 4 {
            return Err(err(format!(
                "expected `t x y p`, got {} fields",
                fields.len()
            )));
        }
        let num = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| err(format!("{what} is not a non-negative integer: {s:?}")))
        };
        let (t, x, y, p) = (
            num(fields[0], "t")?,
            num(fields[1], "x")?,
            num(fields[2], "y")?,
            num(fields[3], "p")?,
        );
        if x > u64::from(u16::MAX) || y > u64::from(u16::MAX) || p > 1 {
            return Err(err(format!("x {x}, y {y} or p {p} out of range")));
        }
        events.push(Event {
            t,
            x: x as u16,
            y: y as u16,
            on: p == 1,
        });
    }
    Ok(events)
}

/// Reads a DVS128 Gait text recording.
pub fn read_gait_file(path: &Path) -> Result<Vec<Event>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse_gait_text(&text, &path.display().to_string())
}

/// N-MNIST samples of a split (`Train/` or `Test/` under `root`).
pub fn nmnist_samples(root: &Path, split: Split) -> Result<Vec<SampleFile>, DataError> {
    let dir = root.join(match split {
        Split::Train => "Train",
        Split::Test => "Test",
    });
    if !dir.is_dir() {
        return Err(DataError::Layout {
            path: dir,
            message: "missing: extract Train.zip and Test.zip of N-MNIST here".into(),
        });
    }
    integer_class_folders(&dir, "bin")
}

/// CIFAR10-DVS classes in index order.
pub const CIFAR10_DVS_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// CIFAR10-DVS samples of a split under SpikingJelly's rule (recordings 0..99 of each class are
/// the test set).
pub fn cifar10_dvs_samples(root: &Path, split: Split) -> Result<Vec<SampleFile>, DataError> {
    let mut samples = Vec::new();
    for (label, class) in CIFAR10_DVS_CLASSES.iter().enumerate() {
        let dir = root.join(class);
        if !dir.is_dir() {
            return Err(DataError::Layout {
                path: dir,
                message: "missing class folder: extract the ten CIFAR10-DVS class zips here".into(),
            });
        }
        for path in entries(&dir)? {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(index) = stem
                .rsplit('_')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
            else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "aedat")
                && ((index < 100) == (split == Split::Test))
            {
                samples.push(SampleFile { path, label });
            }
        }
    }
    Ok(samples)
}
