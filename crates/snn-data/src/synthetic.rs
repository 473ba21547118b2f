//! A synthetic DVS gesture dataset: a moving square whose motion depends on the class, written
//! as real AEDAT 3.1 recordings and label CSVs in the DvsGesture layout, so demos and tests go
//! through the real reader with no download.
//!
//! Classes 0..7 move in the eight compass directions (45 degrees apart), 8 and 9 circle
//! clockwise and counter-clockwise, 10 bobs up and down. Each trial varies position, size and
//! speed; every recording has background noise. Events come from occupancy changes between
//! 1 ms steps: ON where the square arrives, OFF where it leaves.

use std::collections::HashSet;
use std::io::BufWriter;
use std::path::Path;

use crate::aedat3;
use crate::error::DataError;
use crate::event::Event;
use crate::gesture::Split;
use crate::rng::SplitMix64;

/// Generator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticGestures {
    /// Training trials (each holds all 11 gestures).
    pub train_trials: usize,
    /// Test trials.
    pub test_trials: usize,
    /// Duration of one gesture in milliseconds.
    pub gesture_ms: u64,
    /// Pause between gestures in milliseconds.
    pub gap_ms: u64,
    /// Sensor size (square).
    pub sensor: usize,
    /// Mean background-noise events per millisecond.
    pub noise_per_ms: f64,
    /// Random seed.
    pub seed: u64,
}

impl Default for SyntheticGestures {
    /// 8 train and 3 test trials of 11 one-second gestures on a 128x128 sensor.
    fn default() -> Self {
        Self {
            train_trials: 8,
            test_trials: 3,
            gesture_ms: 1000,
            gap_ms: 200,
            sensor: 128,
            noise_per_ms: 1.0,
            seed: 7,
        }
    }
}

impl SyntheticGestures {
    /// Position of the square's centre for `class` at phase `s` in `[0, 1]`.
    fn position(class: usize, s: f64, centre: (f64, f64), reach: f64) -> (f64, f64) {
        let (cx, cy) = centre;
        match class {
            0..=7 => {
                let angle = class as f64 * std::f64::consts::FRAC_PI_4;
                let d = (s - 0.5) * 2.0 * reach;
                (cx + d * angle.cos(), cy - d * angle.sin())
            }
            8 | 9 => {
                let dir = if class == 8 { 1.0 } else { -1.0 };
                let a = dir * s * 2.0 * std::f64::consts::PI;
                (cx + 0.6 * reach * a.cos(), cy + 0.6 * reach * a.sin())
            }
            _ => (
                cx,
                cy + 0.6 * reach * (s * 6.0 * std::f64::consts::PI).sin(),
            ),
        }
    }

    /// The events of one gesture starting at `t0` microseconds.
    fn gesture_events(&self, class: usize, t0: u64, rng: &mut SplitMix64, out: &mut Vec<Event>) {
        let sensor = self.sensor as f64;
        let centre = (
            sensor / 2.0 + rng.uniform(-0.1, 0.1) * sensor,
            sensor / 2.0 + rng.uniform(-0.1, 0.1) * sensor,
        );
        let reach = sensor * rng.uniform(0.25, 0.32);
        let half = (sensor * rng.uniform(0.05, 0.08)).max(1.0);
        let covered = |(px, py): (f64, f64)| -> HashSet<(u16, u16)> {
            let mut set = HashSet::new();
            let (x0, x1) = (
                (px - half).round().max(0.0),
                (px + half).round().min(sensor - 1.0),
            );
            let (y0, y1) = (
                (py - half).round().max(0.0),
                (py + half).round().min(sensor - 1.0),
            );
            let (mut x, mut y) = (x0, y0);
            while y <= y1 {
                while x <= x1 {
                    set.insert((x as u16, y as u16));
                    x += 1.0;
                }
                x = x0;
                y += 1.0;
            }
            set
        };
        let mut previous = covered(Self::position(class, 0.0, centre, reach));
        for ms in 1..=self.gesture_ms {
            let t = t0 + ms * 1000;
            let now = covered(Self::position(
                class,
                ms as f64 / self.gesture_ms as f64,
                centre,
                reach,
            ));
            let mut step: Vec<Event> = now
                .difference(&previous)
                .map(|&(x, y)| Event { t, x, y, on: true })
                .chain(
                    previous
                        .difference(&now)
                        .map(|&(x, y)| Event { t, x, y, on: false }),
                )
                .collect();
            step.sort_by_key(|e| (e.y, e.x, e.on));
            out.extend(step);
            self.noise(t, rng, out);
            previous = now;
        }
    }

    fn noise(&self, t: u64, rng: &mut SplitMix64, out: &mut Vec<Event>) {
        let whole = self.noise_per_ms.floor() as u64;
        let extra = u64::from(rng.uniform(0.0, 1.0) < self.noise_per_ms.fract());
        for _ in 0..whole + extra {
            out.push(Event {
                t: t + rng.below(1000),
                x: rng.below(self.sensor as u64) as u16,
                y: rng.below(self.sensor as u64) as u16,
                on: rng.below(2) == 1,
            });
        }
    }

    /// Writes `root/DvsGesture/` (split files, `userNN_synthetic.aedat`, label CSVs), replacing
    /// any previous copy only once the new one is complete ([`snn_fs::write_dir_atomic`]).
    pub fn write(&self, root: &Path) -> Result<(), DataError> {
        let io = |path: &Path, e: std::io::Error| DataError::io(path, e);
        snn_fs::write_dir_atomic(&root.join("DvsGesture"), |tmp| {
            let mut rng = SplitMix64::new(self.seed);
            let mut lists = (String::new(), String::new());
            for trial in 0..self.train_trials + self.test_trials {
                let split = if trial < self.train_trials {
                    Split::Train
                } else {
                    Split::Test
                };
                let name = format!("user{:02}_synthetic", trial + 1);
                let mut order: Vec<usize> = (0..11).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let (mut events, mut csv) = (
                    Vec::new(),
                    String::from("class,startTime_usec,endTime_usec\n"),
                );
                let mut t = 1_000_000u64;
                for &class in &order {
                    let mut gesture = Vec::new();
                    self.gesture_events(class, t, &mut rng, &mut gesture);
                    gesture.sort_by_key(|e| e.t);
                    events.extend(gesture);
                    let end = t + (self.gesture_ms + 1) * 1000;
                    csv += &format!("{},{},{}\n", class + 1, t, end);
                    t = end + self.gap_ms * 1000;
                }
                let aedat = tmp.join(format!("{name}.aedat"));
                let file = std::fs::File::create(&aedat).map_err(|e| io(&aedat, e))?;
                aedat3::write(BufWriter::new(file), &events, "DVS128", 4096)
                    .map_err(|e| io(&aedat, e))?;
                let labels = tmp.join(format!("{name}_labels.csv"));
                std::fs::write(&labels, csv).map_err(|e| io(&labels, e))?;
                let list = if split == Split::Train {
                    &mut lists.0
                } else {
                    &mut lists.1
                };
                *list += &format!("{name}.aedat\n");
            }
            for (split, text) in [(Split::Train, &lists.0), (Split::Test, &lists.1)] {
                let path = tmp.join(split.file_name());
                std::fs::write(&path, text).map_err(|e| io(&path, e))?;
            }
            Ok(())
        })
        .map_err(|e| e.into_error(DataError::from_fs))
    }
}
