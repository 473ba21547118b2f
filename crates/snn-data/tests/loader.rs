//! Batching, deterministic shuffling and training-window sampling.

use snn_data::frame::{Frames, WindowFraming};
use snn_data::loader::{epoch_batches, load_batch, sample_rng, Batch};

#[test]
fn epochs_are_deterministic_permutations() {
    let a = epoch_batches(23, 5, 42, 0, true);
    assert_eq!(a, epoch_batches(23, 5, 42, 0, true));
    assert_ne!(
        a,
        epoch_batches(23, 5, 42, 1, true),
        "another epoch, another order"
    );
    assert_ne!(
        a,
        epoch_batches(23, 5, 43, 0, true),
        "another seed, another order"
    );
    assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 5, 5, 3]);
    let mut all: Vec<usize> = a.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all, (0..23).collect::<Vec<_>>());
    assert_eq!(epoch_batches(4, 3, 1, 0, false), [vec![0, 1, 2], vec![3]]);
}

#[test]
fn batches_are_time_first() {
    let frames = |v: f32| Frames {
        steps: 2,
        height: 1,
        width: 1,
        data: vec![v, v + 0.5, v + 1.0, v + 1.5],
    };
    let batch = Batch::stack(&[(frames(10.0), 3), (frames(20.0), 7)]);
    assert_eq!(
        (batch.steps, batch.batch, batch.height, batch.width),
        (2, 2, 1, 1)
    );
    // [T, B, 2]: step 0 of sample 0, step 0 of sample 1, step 1 of sample 0, ...
    assert_eq!(batch.data, [10.0, 10.5, 20.0, 20.5, 11.0, 11.5, 21.0, 21.5]);
    assert_eq!(batch.labels, [3, 7]);
}

#[test]
fn parallel_loading_matches_sequential_and_propagates_errors() {
    let frame = |i: usize| -> Result<(Frames, usize), String> {
        if i == 99 {
            return Err(format!("sample {i} is broken"));
        }
        Ok((
            Frames {
                steps: 1,
                height: 1,
                width: 2,
                data: vec![i as f32; 4],
            },
            i % 3,
        ))
    };
    let indices: Vec<usize> = (0..40).rev().collect();
    let parallel = load_batch(&indices, frame).unwrap();
    let sequential = Batch::stack(
        &indices
            .iter()
            .map(|&i| frame(i).unwrap())
            .collect::<Vec<_>>(),
    );
    assert_eq!(parallel, sequential);
    assert_eq!(
        load_batch(&[1, 99, 2], frame).unwrap_err(),
        "sample 99 is broken"
    );
}

#[test]
fn training_windows_stay_inside_the_sample() {
    let framing = WindowFraming {
        steps: 60,
        dt_us: 15_000,
        sensor: 128,
        pool: 4,
    };
    for sample in 0..200 {
        let start = framing.random_start(1_000_000, 3_000_000, sample_rng(7, 3, sample));
        assert!((1_000_000..=3_000_000 - 900_000).contains(&start));
        assert_eq!(
            start,
            framing.random_start(1_000_000, 3_000_000, sample_rng(7, 3, sample))
        );
    }
    // Shorter than the window: start at the first event.
    assert_eq!(framing.random_start(5, 100, sample_rng(1, 1, 1)), 5);
}
