//! DVS128 Gesture: the `DvsGesture/` folder layout, label CSVs and samples.
//!
//! - `trials_to_train.txt` / `trials_to_test.txt`: one `.aedat` name per line (whitespace
//!   stripped, blank lines skipped).
//! - `<trial>_labels.csv` next to each `<trial>.aedat`: header `class,startTime_usec,endTime_usec`,
//!   1-based classes, rows in any order, `[start, end)` in the recording's microseconds.
//! - One sample per CSV row: 1176 train / 288 test on the real data. Samples are ordered by trial
//!   as listed in the split file, then by row order in the CSV.

use std::path::{Path, PathBuf};

use crate::aedat3::{self, ReadOptions};
use crate::error::DataError;
use crate::event::Event;

/// The 11 gesture classes, 0-based.
pub const CLASS_NAMES: [&str; 11] = [
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
];

/// Train or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// `trials_to_train.txt`.
    Train,
    /// `trials_to_test.txt`.
    Test,
}

impl Split {
    /// The split file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            Split::Train => "trials_to_train.txt",
            Split::Test => "trials_to_test.txt",
        }
    }
}

/// One row of a label CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelRow {
    /// 0-based class.
    pub class: usize,
    /// First microsecond (inclusive).
    pub start: u64,
    /// Last microsecond (exclusive).
    pub end: u64,
}

/// Parses a label CSV. `name` appears in errors.
pub fn parse_labels(text: &str, name: &str) -> Result<Vec<LabelRow>, DataError> {
    let err = |line: usize, message: String| DataError::Text {
        source_name: name.to_owned(),
        line,
        message,
    };
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || (i == 0 && line.starts_with("class")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 3 {
            return Err(err(
                i + 1,
                format!(
                    "expected 3 comma-separated fields, got {}: {line:?}",
                    fields.len()
                ),
            ));
        }
        let num = |s: &str, what: &str| {
            s.parse::<u64>().map_err(|_| {
                err(
                    i + 1,
                    format!("{what} is not a non-negative integer: {s:?}"),
                )
            })
        };
        let class = num(fields[0], "class")?;
        let (start, end) = (
            num(fields[1], "startTime_usec")?,
            num(fields[2], "endTime_usec")?,
        );
        if class == 0 || class > CLASS_NAMES.len() as u64 {
            return Err(err(
                i + 1,
                format!(
                    "class {class} is outside 1..={} (classes are 1-based)",
                    CLASS_NAMES.len()
                ),
            ));
        }
        if end < start {
            return Err(err(i + 1, format!("end {end} is before start {start}")));
        }
        rows.push(LabelRow {
            class: class as usize - 1,
            start,
            end,
        });
    }
    Ok(rows)
}

/// A recording and its labelled rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    /// The `.aedat` file name, e.g. `user01_natural.aedat`.
    pub name: String,
    /// Its label rows in file order.
    pub rows: Vec<LabelRow>,
}

/// An opened `DvsGesture/` folder: the split lists and every trial's labels.
#[derive(Debug, Clone)]
pub struct GestureDataset {
    root: PathBuf,
    train: Vec<Trial>,
    test: Vec<Trial>,
}

fn read_text(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))
}

impl GestureDataset {
    /// Opens `root` (the folder holding the split files, `.aedat` files and label CSVs; a
    /// `DvsGesture/` subfolder is looked into if the split files are not at the top).
    pub fn open(root: &Path) -> Result<Self, DataError> {
        let root = if root.join(Split::Train.file_name()).exists() {
            root.to_owned()
        } else if root
            .join("DvsGesture")
            .join(Split::Train.file_name())
            .exists()
        {
            root.join("DvsGesture")
        } else {
            return Err(DataError::Layout {
                path: root.to_owned(),
                message: "no trials_to_train.txt here or in DvsGesture/ (extract DvsGesture.tar.gz from the IBM DVS128 Gesture page into this folder)".into(),
            });
        };
        let split = |s: Split| -> Result<Vec<Trial>, DataError> {
            let list = read_text(&root.join(s.file_name()))?;
            list.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|name| {
                    let stem = name
                        .strip_suffix(".aedat")
                        .ok_or_else(|| DataError::Layout {
                            path: root.join(s.file_name()),
                            message: format!("entry {name:?} does not end in .aedat"),
                        })?;
                    let csv = root.join(format!("{stem}_labels.csv"));
                    let rows = parse_labels(&read_text(&csv)?, &csv.display().to_string())?;
                    Ok(Trial {
                        name: name.to_owned(),
                        rows,
                    })
                })
                .collect()
        };
        Ok(Self {
            train: split(Split::Train)?,
            test: split(Split::Test)?,
            root,
        })
    }

    /// The folder holding the recordings.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The trials of a split, in split-file order.
    pub fn trials(&self, split: Split) -> &[Trial] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// Number of samples (label rows) of a split.
    pub fn num_samples(&self, split: Split) -> usize {
        self.trials(split).iter().map(|t| t.rows.len()).sum()
    }

    /// Reads a trial's polarity events (invalid events dropped).
    pub fn read_events(&self, trial: &Trial) -> Result<Vec<Event>, DataError> {
        aedat3::read_file(&self.root.join(&trial.name), ReadOptions::default())
    }
}

/// The events of one label row: `start <= t < end`, in recording order.
pub fn sample_events(events: &[Event], row: &LabelRow) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.t >= row.start && e.t < row.end)
        .copied()
        .collect()
}
