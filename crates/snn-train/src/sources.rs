//! Batch sources over event datasets: training windows (the official random-consecutive-slice
//! augmentation, or the window at the first event) and multi-clip test windows, framed MA-SNN
//! style from an [`EventStore`], in parallel, deterministically by (seed, epoch, sample).

use rayon::prelude::*;
use snn_data::frame::{Frames, WindowFraming};
use snn_data::loader::{epoch_batches, sample_rng, Batch};
use snn_data::store::EventStore;

use crate::trainer::{BatchSource, LabelledBatch};

/// How windows are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Shuffled every epoch; one window per sample, at a random start (`random_start`, the
    /// official RCS) or at the first event.
    Train {
        /// Random consecutive slice.
        random_start: bool,
    },
    /// In order; `clips` windows per sample spread over the recording (1: the first event).
    Test {
        /// Windows per sample.
        clips: usize,
    },
}

/// Framed windows of an [`EventStore`] as a [`BatchSource`].
#[derive(Debug, Clone)]
pub struct EventWindows {
    store: EventStore,
    framing: WindowFraming,
    batch: usize,
    seed: u64,
    sampling: Sampling,
}

impl EventWindows {
    /// Windows of `store` framed by `framing`, `batch` rows per batch.
    pub fn new(
        store: EventStore,
        framing: WindowFraming,
        batch: usize,
        seed: u64,
        sampling: Sampling,
    ) -> Self {
        Self {
            store,
            framing,
            batch: batch.max(1),
            seed,
            sampling,
        }
    }

    /// The store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    fn rows(&self) -> usize {
        match self.sampling {
            Sampling::Train { .. } => self.store.len(),
            Sampling::Test { clips } => self.store.len() * clips.max(1),
        }
    }

    fn error(&self, sample: usize, e: impl std::fmt::Display) -> String {
        format!("{} sample {sample}: {e}", self.store.root().display())
    }
}

impl BatchSource for EventWindows {
    fn batches(&self, _epoch: usize) -> usize {
        self.rows().div_ceil(self.batch)
    }

    fn batch(&self, epoch: usize, index: usize) -> Result<LabelledBatch, String> {
        match self.sampling {
            Sampling::Train { random_start } => {
                let batches =
                    epoch_batches(self.store.len(), self.batch, self.seed, epoch as u64, true);
                let indices = batches
                    .get(index)
                    .ok_or_else(|| format!("batch {index} of {}", batches.len()))?;
                let frames: Vec<(Frames, usize)> = indices
                    .par_iter()
                    .map(|&s| {
                        let events = self.store.read(s).map_err(|e| self.error(s, e))?;
                        let info = &self.store.samples()[s];
                        let start = if random_start {
                            let draw = sample_rng(self.seed, epoch as u64, s);
                            self.framing.random_start(info.first, info.last, draw)
                        } else {
                            info.first
                        };
                        Ok((self.framing.frames(&events, start), info.label))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(LabelledBatch::from_frames(
                    Batch::stack(&frames),
                    indices.clone(),
                ))
            }
            Sampling::Test { clips } => {
                let clips = clips.max(1);
                let rows: Vec<usize> =
                    (index * self.batch..((index + 1) * self.batch).min(self.rows())).collect();
                if rows.is_empty() {
                    return Err(format!("batch {index} of {}", self.batches(epoch)));
                }
                // Read each sample once, however many of its clips this batch holds.
                let mut samples: Vec<usize> = rows.iter().map(|r| r / clips).collect();
                samples.dedup();
                let per_sample: Vec<Vec<(usize, Frames, usize)>> = samples
                    .par_iter()
                    .map(|&s| {
                        let events = self.store.read(s).map_err(|e| self.error(s, e))?;
                        let info = &self.store.samples()[s];
                        let starts = self.framing.clip_starts(info.first, info.last, clips);
                        Ok(rows
                            .iter()
                            .filter(|&&r| r / clips == s)
                            .map(|&r| {
                                (
                                    r,
                                    self.framing.frames(&events, starts[r % clips]),
                                    info.label,
                                )
                            })
                            .collect())
                    })
                    .collect::<Result<_, String>>()?;
                let mut flat: Vec<(usize, Frames, usize)> =
                    per_sample.into_iter().flatten().collect();
                flat.sort_by_key(|(r, _, _)| *r);
                let ids: Vec<usize> = flat.iter().map(|(r, _, _)| r / clips).collect();
                let frames: Vec<(Frames, usize)> =
                    flat.into_iter().map(|(_, f, l)| (f, l)).collect();
                Ok(LabelledBatch::from_frames(Batch::stack(&frames), ids))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snn_data::Event;

    /// The store and its directory, which is removed when dropped (keep it while the store is
    /// read).
    fn store(name: &str) -> (EventStore, tempfile::TempDir) {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("snn-sources-{name}-"))
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        // Sample s: one event per ms for (s + 1) * 100 ms, label s % 3.
        let samples = (0..5).map(|s| {
            let events = (0..(s + 1) * 100)
                .map(|i| Event {
                    t: 5_000 + i as u64 * 1_000,
                    x: (i % 16) as u16,
                    y: 3,
                    on: i % 2 == 0,
                })
                .collect();
            Ok((s % 3, events))
        });
        let store = EventStore::open_or_build(dir, samples, |_| {}).unwrap();
        (store, tmp)
    }

    const FRAMING: WindowFraming = WindowFraming {
        steps: 4,
        dt_us: 10_000,
        sensor: 16,
        pool: 4,
    };

    #[test]
    fn train_windows_are_deterministic_shuffled_and_cover_every_sample() {
        let (store, _dir) = store("train");
        let source =
            EventWindows::new(store, FRAMING, 2, 9, Sampling::Train { random_start: true });
        assert_eq!(source.batches(0), 3);
        let epoch =
            |e| -> Vec<LabelledBatch> { (0..3).map(|i| source.batch(e, i).unwrap()).collect() };
        let (a, b, c) = (epoch(0), epoch(0), epoch(1));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut seen: Vec<usize> = a.iter().flat_map(|x| x.samples.clone()).collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        for batch in &a {
            assert_eq!(batch.shape[0], 4);
            assert_eq!(&batch.shape[2..], &[2, 4, 4]);
            let labels: Vec<usize> = batch.samples.iter().map(|s| s % 3).collect();
            assert_eq!(batch.labels, labels);
            // 40 ms of a 1 kHz stream: 40 events per window.
            let n = batch.shape[1];
            assert_eq!(batch.data.iter().sum::<f32>(), 40.0 * n as f32);
        }
    }

    #[test]
    fn test_clips_keep_sample_ids_and_span_the_recording() {
        let (store, _dir) = store("test");
        let source = EventWindows::new(store, FRAMING, 4, 0, Sampling::Test { clips: 3 });
        assert_eq!(source.batches(0), 4); // 15 rows
        let rows: Vec<LabelledBatch> = (0..4).map(|i| source.batch(0, i).unwrap()).collect();
        let ids: Vec<usize> = rows.iter().flat_map(|b| b.samples.clone()).collect();
        assert_eq!(ids, vec![0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
        assert!(source.batch(0, 4).is_err());
    }
}
