//! A per-sample event store on disk: each labelled sample's events in one compact file, so a
//! training loop can read any sample (for a random training window or a test clip) without
//! re-parsing whole recordings, and without holding a dataset's events in memory (DVS128
//! Gesture has about 3 x 10^8 of them).
//!
//! Layout of a store folder:
//! - `index.json`: format version, and per sample its label, first and last timestamp (us),
//!   event count and file name; written last, so a folder without it is an unfinished build;
//! - `NNNNNN.ev`: the magic `SNNEV001`, the event count (u64 LE), the first timestamp (u64 LE),
//!   then 8 bytes per event: time since the first event (u32 LE, us), x (u16 LE), and y with
//!   the polarity in the top bit (u16 LE).
//!
//! Every file is written atomically ([`snn_fs::write_file_atomic`]: a temporary file, fsync,
//! rename).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::event::Event;

const MAGIC: &[u8; 8] = b"SNNEV001";
const VERSION: u32 = 1;

/// One sample of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSample {
    /// Class index.
    pub label: usize,
    /// Timestamp of the first event (us); 0 for an empty sample.
    pub first: u64,
    /// Timestamp of the last event (us).
    pub last: u64,
    /// Number of events.
    pub events: usize,
    /// File name inside the store.
    pub file: String,
}

#[derive(Serialize, Deserialize)]
struct Index {
    version: u32,
    samples: Vec<StoredSample>,
}

/// A folder of per-sample event files; see the module docs.
#[derive(Debug, Clone)]
pub struct EventStore {
    root: PathBuf,
    samples: Vec<StoredSample>,
}

fn format_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Layout {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Encodes one sample's events (in time order).
fn encode(events: &[Event], path: &Path) -> Result<Vec<u8>, DataError> {
    let first = events.first().map_or(0, |e| e.t);
    let mut bytes = Vec::with_capacity(24 + 8 * events.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(events.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&first.to_le_bytes());
    for (i, e) in events.iter().enumerate() {
        let dt =
            e.t.checked_sub(first)
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| {
                    format_err(
                        path,
                        format!(
                            "event {i}: timestamp {} is before the first ({first}) or more than \
                         71 minutes after it",
                            e.t
                        ),
                    )
                })?;
        if e.x >= 1 << 15 || e.y >= 1 << 15 {
            return Err(format_err(
                path,
                format!("event {i}: coordinates ({}, {}) exceed 32767", e.x, e.y),
            ));
        }
        bytes.extend_from_slice(&dt.to_le_bytes());
        bytes.extend_from_slice(&e.x.to_le_bytes());
        bytes.extend_from_slice(&(e.y | (u16::from(e.on) << 15)).to_le_bytes());
    }
    Ok(bytes)
}

/// Decodes a sample file.
fn decode(bytes: &[u8], path: &Path) -> Result<Vec<Event>, DataError> {
    if bytes.len() < 24 || &bytes[..8] != MAGIC {
        return Err(format_err(
            path,
            "not an event-store file (bad magic or short header)",
        ));
    }
    let count = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default()) as usize;
    let first = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
    let body = &bytes[24..];
    if count.checked_mul(8) != Some(body.len()) {
        return Err(format_err(
            path,
            format!(
                "header says {count} events but the file holds {} bytes of events",
                body.len()
            ),
        ));
    }
    let events = body
        .chunks_exact(8)
        .map(|c| {
            let dt = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let x = u16::from_le_bytes([c[4], c[5]]);
            let yp = u16::from_le_bytes([c[6], c[7]]);
            Event {
                t: first + u64::from(dt),
                x,
                y: yp & 0x7fff,
                on: yp >> 15 == 1,
            }
        })
        .collect();
    Ok(events)
}

impl EventStore {
    /// Opens a finished store.
    pub fn open(root: &Path) -> Result<Self, DataError> {
        let path = root.join("index.json");
        let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
        let index: Index =
            serde_json::from_str(&text).map_err(|e| format_err(&path, e.to_string()))?;
        if index.version != VERSION {
            return Err(format_err(
                &path,
                format!(
                    "store format {} (this build reads {VERSION}); delete the folder to rebuild it",
                    index.version
                ),
            ));
        }
        Ok(Self {
            root: root.to_owned(),
            samples: index.samples,
        })
    }

    /// Opens the store at `root`, or builds it from `samples` (label and events of each
    /// sample, in order) when it has no index yet. `progress` is called after each sample.
    pub fn open_or_build<I>(
        root: &Path,
        samples: I,
        mut progress: impl FnMut(usize),
    ) -> Result<Self, DataError>
    where
        I: IntoIterator<Item = Result<(usize, Vec<Event>), DataError>>,
    {
        if root.join("index.json").exists() {
            return Self::open(root);
        }
        std::fs::create_dir_all(root).map_err(|e| DataError::io(root, e))?;
        let mut stored = Vec::new();
        for (i, sample) in samples.into_iter().enumerate() {
            let (label, events) = sample?;
            let file = format!("{i:06}.ev");
            let path = root.join(&file);
            snn_fs::write_file_atomic(&path, &encode(&events, &path)?)
                .map_err(DataError::from_fs)?;
            stored.push(StoredSample {
                label,
                first: events.first().map_or(0, |e| e.t),
                last: events.last().map_or(0, |e| e.t),
                events: events.len(),
                file,
            });
            progress(i + 1);
        }
        let index = Index {
            version: VERSION,
            samples: stored,
        };
        let text = serde_json::to_string(&index).map_err(|e| format_err(root, e.to_string()))?;
        snn_fs::write_file_atomic(&root.join("index.json"), text.as_bytes())
            .map_err(DataError::from_fs)?;
        Self::open(root)
    }

    /// The samples, in order.
    pub fn samples(&self) -> &[StoredSample] {
        &self.samples
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the store has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The events of sample `index`.
    pub fn read(&self, index: usize) -> Result<Vec<Event>, DataError> {
        let sample = self.samples.get(index).ok_or_else(|| {
            format_err(
                &self.root,
                format!("sample {index} of a store with {}", self.samples.len()),
            )
        })?;
        let path = self.root.join(&sample.file);
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let events = decode(&bytes, &path)?;
        if events.len() != sample.events {
            return Err(format_err(
                &path,
                format!(
                    "holds {} events, the index says {}",
                    events.len(),
                    sample.events
                ),
            ));
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, x: u16, y: u16, on: bool) -> Event {
        Event { t, x, y, on }
    }

    #[test]
    fn round_trip_and_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let a = vec![
            ev(1_000, 0, 127, true),
            ev(1_500, 127, 0, false),
            ev(90_000, 5, 6, true),
        ];
        let samples = vec![Ok((3, a.clone())), Ok((1, Vec::new()))];
        let mut seen = 0;
        let store = EventStore::open_or_build(&dir, samples, |n| seen = n).unwrap();
        assert_eq!(seen, 2);
        assert_eq!(store.len(), 2);
        assert_eq!(store.read(0).unwrap(), a);
        assert_eq!(store.samples()[0].label, 3);
        assert_eq!(
            (store.samples()[0].first, store.samples()[0].last),
            (1_000, 90_000)
        );
        assert!(store.read(1).unwrap().is_empty());
        // Reopening does not rebuild (the iterator would be consumed otherwise).
        let again = EventStore::open_or_build(&dir, Vec::new(), |_| panic!("rebuilt")).unwrap();
        assert_eq!(again.samples(), store.samples());
        // A truncated file is an error naming it.
        let path = dir.join("000000.ev");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = store.read(0).unwrap_err().to_string();
        assert!(
            err.contains("000000.ev") && err.contains("header says 3 events"),
            "{err}"
        );
        assert!(store.read(7).is_err());
    }

    #[test]
    fn a_too_long_sample_is_refused() {
        let long = vec![ev(0, 0, 0, true), ev(u64::from(u32::MAX) + 1, 0, 0, true)];
        assert!(encode(&long, Path::new("x.ev")).is_err());
        assert!(encode(&[ev(0, 40_000, 0, true)], Path::new("x.ev")).is_err());
    }
}
