//! Event-to-frame integration.
//!
//! Frames are `[T, 2, H, W]` event counts, channel 0 = OFF, channel 1 = ON, row-major `(y, x)`
//! (tonic and SpikingJelly's layout). The official MA-SNN loader stores `[T, 2, X, Y]`
//! (x-major); [`Frames::transpose_xy`] converts for models trained on its frames.

use crate::event::Event;

/// `[T, 2, H, W]` count frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    /// Time steps.
    pub steps: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Counts, row-major `[T, 2, H, W]`.
    pub data: Vec<f32>,
}

impl Frames {
    /// Empty frames.
    pub fn zeros(steps: usize, height: usize, width: usize) -> Self {
        Self {
            steps,
            height,
            width,
            data: vec![0.0; steps * 2 * height * width],
        }
    }

    /// Total count per time step.
    pub fn counts_per_step(&self) -> Vec<f64> {
        let per_step = 2 * self.height * self.width;
        self.data
            .chunks(per_step.max(1))
            .map(|c| c.iter().map(|&v| f64::from(v)).sum())
            .collect()
    }

    /// The same frames with x and y swapped (`[T, 2, W, H]`), the official MA-SNN layout.
    pub fn transpose_xy(&self) -> Frames {
        let mut out = Frames::zeros(self.steps, self.width, self.height);
        for tc in 0..self.steps * 2 {
            for y in 0..self.height {
                for x in 0..self.width {
                    out.data[(tc * self.width + x) * self.height + y] =
                        self.data[(tc * self.height + y) * self.width + x];
                }
            }
        }
        out
    }
}

/// MA-SNN framing: `T` windows of `dt` microseconds from `start`, events counted per polarity
/// at `(y / pool, x / pool)`; events outside `[start, start + T*dt)` or outside the
/// `sensor / pool` grid are dropped (the official `my_chunk_evs_pol_dvs`, in row-major layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowFraming {
    /// Number of windows `T`.
    pub steps: usize,
    /// Window length in microseconds (15 ms in the paper: 15_000).
    pub dt_us: u64,
    /// Sensor height and width before pooling (128 for DVS128).
    pub sensor: usize,
    /// Spatial sum-pooling factor (4 gives 32x32).
    pub pool: usize,
}

impl WindowFraming {
    /// The paper's Gesture framing: 60 windows of 15 ms, 128x128 pooled by 4.
    pub fn ma_snn_gesture() -> Self {
        Self {
            steps: 60,
            dt_us: 15_000,
            sensor: 128,
            pool: 4,
        }
    }

    /// Output size after pooling.
    pub fn size(&self) -> usize {
        self.sensor / self.pool.max(1)
    }

    /// Frames of `events` (in time order) starting at `start` microseconds.
    pub fn frames(&self, events: &[Event], start: u64) -> Frames {
        let size = self.size();
        let mut frames = Frames::zeros(self.steps, size, size);
        let end = start.saturating_add(self.dt_us.saturating_mul(self.steps as u64));
        let pool = self.pool.max(1);
        for e in events {
            if e.t < start || e.t >= end || self.dt_us == 0 {
                continue;
            }
            let (x, y) = (e.x as usize / pool, e.y as usize / pool);
            if x >= size || y >= size {
                continue;
            }
            let t = ((e.t - start) / self.dt_us) as usize;
            let idx = ((t * 2 + usize::from(e.on)) * size + y) * size + x;
            frames.data[idx] += 1.0;
        }
        frames
    }

    /// A training window's start drawn uniformly from `[first, last - T*dt]` (the official
    /// random-consecutive-slice augmentation); the first event when the sample is shorter than
    /// the window. `draw` supplies random numbers (see [`crate::loader::sample_rng`]).
    pub fn random_start(&self, first: u64, last: u64, mut draw: impl FnMut() -> u64) -> u64 {
        let span = self.dt_us.saturating_mul(self.steps as u64);
        let room = last.saturating_sub(first).saturating_sub(span);
        first + draw() % (room + 1)
    }

    /// Start times of `clips` test windows spread evenly over `[first, last]` of a sample (the
    /// official 10-clip test protocol); a single clip starts at the first event.
    pub fn clip_starts(&self, first: u64, last: u64, clips: usize) -> Vec<u64> {
        let span = self.dt_us.saturating_mul(self.steps as u64);
        let room = last.saturating_sub(first).saturating_sub(span);
        match clips {
            0 => Vec::new(),
            1 => vec![first],
            n => (0..n)
                .map(|i| first + room * i as u64 / (n as u64 - 1))
                .collect(),
        }
    }
}

/// How SpikingJelly (`integrate_events_by_fixed_frames_number`) splits a sample into `T` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitBy {
    /// Equal event counts: frame `i` takes events `[i*d, (i+1)*d)` with `d = N / T` (integer
    /// division); the last frame also takes the `N mod T` leftovers.
    Number,
    /// Equal durations: `dt = (t_last - t_first) / T` (integer microseconds); frame `i` takes
    /// `t_first + i*dt <= t < t_first + (i+1)*dt`, the last frame everything from its start on.
    /// SpikingJelly crashes on an empty window and when all events share one timestamp; here the
    /// window is an empty frame, and with `dt = 0` every event lands in the last frame.
    Time,
}

/// SpikingJelly's fixed-frame-count integration of a sample's events (in time order) into
/// `[T, 2, H, W]` counts; events outside `width x height` are dropped.
pub fn frames_by_count(
    events: &[Event],
    steps: usize,
    split: SplitBy,
    height: usize,
    width: usize,
) -> Frames {
    let mut frames = Frames::zeros(steps, height, width);
    let n = events.len();
    if steps == 0 || n == 0 {
        return frames;
    }
    let first = events[0].t;
    // Saturating: a recording that is not in time order (a timestamp reset, a corrupt event)
    // must not underflow; such events fall into frame 0.
    let dt = events[n - 1].t.saturating_sub(first) / steps as u64;
    let per_frame = (n / steps).max(1);
    for (i, e) in events.iter().enumerate() {
        let (x, y) = (e.x as usize, e.y as usize);
        if x >= width || y >= height {
            continue;
        }
        let k = match split {
            // With fewer events than frames, everything goes to the last frame.
            SplitBy::Number if n < steps => steps - 1,
            SplitBy::Number => i / per_frame,
            SplitBy::Time => {
                e.t.saturating_sub(first)
                    .checked_div(dt)
                    .map_or(steps - 1, |k| k as usize)
            }
        };
        // Leftovers go to the last frame.
        let k = k.min(steps - 1);
        frames.data[((k * 2 + usize::from(e.on)) * height + y) * width + x] += 1.0;
    }
    frames
}

/// SpikingJelly 2.x fixed-duration integration: with `t' = t - t_first`, `F = ceil(t'_last / d)`
/// frames (at least 1), frame `k` takes the events with `floor(t' / d) == k` and the last frame
/// every remaining event. The frame count varies per sample. (SpikingJelly fails when all
/// events share one timestamp; here that is one frame.)
///
/// Returns `None` when the sample would need more than `max_frames` frames: one corrupt
/// timestamp must not turn into an enormous allocation.
pub fn frames_by_duration(
    events: &[Event],
    duration_us: u64,
    height: usize,
    width: usize,
    max_frames: usize,
) -> Option<Frames> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Some(Frames::zeros(0, height, width));
    };
    let d = duration_us.max(1);
    let steps = last.t.saturating_sub(first.t).div_ceil(d).max(1);
    if steps > max_frames as u64 {
        return None;
    }
    let steps = steps as usize;
    let mut frames = Frames::zeros(steps, height, width);
    for e in events {
        let (x, y) = (e.x as usize, e.y as usize);
        if x >= width || y >= height {
            continue;
        }
        let k = ((e.t.saturating_sub(first.t) / d) as usize).min(steps - 1);
        frames.data[((k * 2 + usize::from(e.on)) * height + y) * width + x] += 1.0;
    }
    Some(frames)
}
