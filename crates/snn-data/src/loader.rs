//! Batching: deterministic shuffling by seed and epoch, framing in parallel, time-first batches.

use rayon::prelude::*;

use crate::frame::Frames;
use crate::rng::SplitMix64;

/// A batch of frames, time-first `[T, B, 2, H, W]` (the workspace's layout), with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Time steps.
    pub steps: usize,
    /// Samples.
    pub batch: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Counts, row-major `[T, B, 2, H, W]`.
    pub data: Vec<f32>,
    /// Class of each sample.
    pub labels: Vec<usize>,
}

impl Batch {
    /// Stacks per-sample `[T, 2, H, W]` frames into a time-first batch.
    ///
    /// # Panics
    /// If the frames differ in shape (a framing bug, not a data problem).
    pub fn stack(samples: &[(Frames, usize)]) -> Batch {
        let (steps, height, width) = samples
            .first()
            .map_or((0, 0, 0), |(f, _)| (f.steps, f.height, f.width));
        let per_step = 2 * height * width;
        let batch = samples.len();
        let mut data = vec![0.0; steps * batch * per_step];
        for (b, (frames, _)) in samples.iter().enumerate() {
            assert_eq!(
                (frames.steps, frames.height, frames.width),
                (steps, height, width),
                "frames of one batch must share a shape"
            );
            for t in 0..steps {
                let dst = (t * batch + b) * per_step;
                data[dst..dst + per_step]
                    .copy_from_slice(&frames.data[t * per_step..(t + 1) * per_step]);
            }
        }
        Batch {
            steps,
            batch,
            height,
            width,
            data,
            labels: samples.iter().map(|(_, l)| *l).collect(),
        }
    }
}

/// A random generator for one (seed, epoch, sample) triple, so that random choices such as a
/// training window's start do not depend on thread scheduling.
pub fn sample_rng(seed: u64, epoch: u64, sample: usize) -> impl FnMut() -> u64 {
    let mut rng = SplitMix64::new(
        seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407)
            ^ (sample as u64).wrapping_mul(0x9FB2_1C65_1E98_DF25),
    );
    move || rng.next_u64()
}

/// Sample indices of each batch of an epoch: a Fisher-Yates permutation determined by
/// `(seed, epoch)` when `shuffle`, the natural order otherwise; the last batch may be smaller.
pub fn epoch_batches(
    samples: usize,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    shuffle: bool,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..samples).collect();
    if shuffle {
        let mut rng = SplitMix64::new(seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03));
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
    }
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Frames every sample of `indices` in parallel (rayon) with `frame(index)` and stacks them.
pub fn load_batch<E: Send>(
    indices: &[usize],
    frame: impl Fn(usize) -> Result<(Frames, usize), E> + Sync,
) -> Result<Batch, E> {
    let samples: Vec<(Frames, usize)> = indices
        .par_iter()
        .map(|&i| frame(i))
        .collect::<Result<_, E>>()?;
    Ok(Batch::stack(&samples))
}
