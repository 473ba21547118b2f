//! DvsGesture layout and labels (real label file), framing, and the synthetic generator read
//! back through the real reader.

use snn_data::frame::WindowFraming;
use snn_data::gesture::{parse_labels, sample_events, GestureDataset, Split, CLASS_NAMES};
use snn_data::synthetic::SyntheticGestures;
use snn_data::Event;

/// The real `user01_natural_labels.csv` of DVS128 Gesture (IBM, CC BY 4.0), copied with its
/// provenance into tests/fixtures/events/.
const REAL_LABELS: &str = include_str!("fixtures/events/dvsgesture_user01_natural_labels.csv");

#[test]
fn real_label_file_parses() {
    let rows = parse_labels(REAL_LABELS, "user01_natural_labels.csv").unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(
        (rows[0].class, rows[0].start, rows[0].end),
        (0, 53_036_986, 59_508_469)
    );
    // Rows are not in class order and arm roll (class 8, 0-based 7) appears twice.
    let classes: Vec<usize> = rows.iter().map(|r| r.class).collect();
    assert_eq!(classes.iter().filter(|&&c| c == 7).count(), 2);
    assert!(classes.windows(2).any(|w| w[0] > w[1]));
    assert_eq!(CLASS_NAMES[7], "arm_roll");
}

#[test]
fn bad_label_lines_name_the_line() {
    let err = parse_labels(
        "class,startTime_usec,endTime_usec\n1,10,20\n2,x,30\n",
        "f.csv",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "f.csv: line 3: startTime_usec is not a non-negative integer: \"x\""
    );
    let err = parse_labels("0,1,2\n", "g.csv").unwrap_err().to_string();
    assert!(err.contains("line 1") && err.contains("1-based"), "{err}");
    let err = parse_labels("12,1,2\n", "g.csv").unwrap_err().to_string();
    assert!(
        err.contains("line 1") && err.contains("class 12 is outside 1..=11"),
        "{err}"
    );
    let err = parse_labels("1,5,2\n", "h.csv").unwrap_err().to_string();
    assert!(err.contains("before start"), "{err}");
}

#[test]
fn ma_snn_windows_count_and_pool() {
    let framing = WindowFraming {
        steps: 3,
        dt_us: 10,
        sensor: 8,
        pool: 4,
    };
    let ev = |t, x, y, on| Event { t, x, y, on };
    let events = [
        ev(100, 0, 0, true),
        ev(105, 3, 3, true),
        ev(110, 7, 0, false),
        ev(129, 4, 4, true),
        ev(130, 0, 0, true),
        ev(99, 0, 0, true),
    ];
    let f = framing.frames(&events, 100);
    assert_eq!((f.steps, f.height, f.width), (3, 2, 2));
    // Window 0: two ON events pooled into (0, 0). Window 1: one OFF at (y0, x1). Window 2: ON at (1, 1).
    let at = |t: usize, c: usize, y: usize, x: usize| f.data[((t * 2 + c) * 2 + y) * 2 + x];
    assert_eq!(at(0, 1, 0, 0), 2.0);
    assert_eq!(at(1, 0, 0, 1), 1.0);
    assert_eq!(at(2, 1, 1, 1), 1.0);
    assert_eq!(f.counts_per_step(), [2.0, 1.0, 1.0]);
    let xy = f.transpose_xy();
    // [T, 2, X, Y]: the OFF event of window 1 now sits at (x 1, y 0).
    let at_xy = |t: usize, c: usize, x: usize, y: usize| xy.data[((t * 2 + c) * 2 + x) * 2 + y];
    assert_eq!(at_xy(1, 0, 1, 0), 1.0);
    assert_eq!(at_xy(1, 0, 0, 1), 0.0);
    assert_eq!(framing.clip_starts(0, 100, 3), [0, 35, 70]);
}

#[test]
fn synthetic_dataset_reads_back_through_the_real_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("synth");
    let config = SyntheticGestures {
        train_trials: 2,
        test_trials: 1,
        gesture_ms: 200,
        gap_ms: 50,
        ..Default::default()
    };
    config.write(&root).unwrap();
    let data = GestureDataset::open(&root).unwrap();
    assert_eq!(
        (
            data.num_samples(Split::Train),
            data.num_samples(Split::Test)
        ),
        (22, 11)
    );
    let trial = &data.trials(Split::Test)[0];
    let events = data.read_events(trial).unwrap();
    assert!(
        events.windows(2).all(|w| w[0].t <= w[1].t),
        "recordings are in time order"
    );
    let mut classes: Vec<usize> = trial.rows.iter().map(|r| r.class).collect();
    classes.sort();
    assert_eq!(classes, (0..11).collect::<Vec<_>>());
    for row in &trial.rows {
        let sample = sample_events(&events, row);
        assert!(
            sample.len() > 300,
            "class {} has only {} events",
            row.class,
            sample.len()
        );
        assert!(sample.iter().all(|e| e.x < 128 && e.y < 128));
    }
    // Same seed, same bytes.
    let again = tmp.path().join("synth2");
    config.write(&again).unwrap();
    let a = std::fs::read(root.join("DvsGesture").join(&trial.name)).unwrap();
    let b = std::fs::read(again.join("DvsGesture").join(&trial.name)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn missing_layout_is_explained() {
    let err = GestureDataset::open(std::path::Path::new("/nonexistent/gesture"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trials_to_train.txt") && err.contains("/nonexistent/gesture"),
        "{err}"
    );
}
