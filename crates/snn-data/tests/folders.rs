//! Gait text events, class-folder layouts and splits, fixed-duration framing.

use std::path::Path;

use snn_data::folders::{
    cifar10_dvs_samples, gait_samples, nmnist_samples, parse_gait_text, read_gait_file,
};
use snn_data::frame::frames_by_duration;
use snn_data::gesture::Split;
use snn_data::Event;

fn touch(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn gait_text_parses_and_errors_name_the_line() {
    let events = parse_gait_text("10 3 4 1\n\n25 127 0 0\n", "a.txt").unwrap();
    assert_eq!(
        events,
        [
            Event {
                t: 10,
                x: 3,
                y: 4,
                on: true
            },
            Event {
                t: 25,
                x: 127,
                y: 0,
                on: false
            }
        ]
    );
    let err = parse_gait_text("1 2 3 1\n1 2 3\n", "b.txt")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "b.txt: line 2: expected `t x y p`, got 3 fields");
    let err = parse_gait_text("1 2 3 2\n", "c.txt")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1") && err.contains("out of range"),
        "{err}"
    );
}

#[test]
fn layouts_and_splits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folders");
    // Gait under origin/, labels from folder names.
    touch(&root.join("gait/origin/train/3/00001.txt"), "5 1 1 1\n");
    touch(&root.join("gait/origin/train/12/00002.txt"), "6 2 2 0\n");
    touch(&root.join("gait/origin/test/3/00003.txt"), "7 3 3 1\n");
    let train = gait_samples(&root.join("gait"), Split::Train).unwrap();
    assert_eq!(
        train.iter().map(|s| s.label).collect::<Vec<_>>(),
        [12, 3],
        "sorted by folder name"
    );
    assert_eq!(read_gait_file(&train[1].path).unwrap()[0].t, 5);
    assert_eq!(
        gait_samples(&root.join("gait"), Split::Test).unwrap().len(),
        1
    );
    touch(&root.join("gait2/train/abc/1.txt"), "");
    let err = gait_samples(&root.join("gait2"), Split::Train)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"abc\" is not an integer"), "{err}");
    let err = gait_samples(&root.join("nothing"), Split::Train)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Baidu"), "{err}");

    // N-MNIST.
    touch(&root.join("nmnist/Train/7/00001.bin"), "");
    touch(&root.join("nmnist/Train/0/00002.bin"), "");
    let nm = nmnist_samples(&root.join("nmnist"), Split::Train).unwrap();
    assert_eq!(nm.iter().map(|s| s.label).collect::<Vec<_>>(), [0, 7]);
    assert!(nmnist_samples(&root.join("nmnist"), Split::Test).is_err());

    // CIFAR10-DVS: recordings 0..99 are test.
    for class in snn_data::folders::CIFAR10_DVS_CLASSES {
        for i in [0, 99, 100, 999] {
            touch(
                &root.join(format!("c10/{class}/cifar10_{class}_{i}.aedat")),
                "",
            );
        }
    }
    let test = cifar10_dvs_samples(&root.join("c10"), Split::Test).unwrap();
    let train = cifar10_dvs_samples(&root.join("c10"), Split::Train).unwrap();
    assert_eq!((test.len(), train.len()), (20, 20));
    assert!(test.iter().all(|s| {
        let n = s.path.file_stem().unwrap().to_string_lossy().into_owned();
        n.ends_with("_0") || n.ends_with("_99")
    }));
    assert_eq!(
        test.iter().filter(|s| s.label == 9).count(),
        2,
        "truck is class 9"
    );
}

#[test]
fn fixed_duration_frames() {
    let ev = |t| Event {
        t,
        x: 0,
        y: 0,
        on: true,
    };
    let frames = |events: &[Event]| frames_by_duration(events, 100, 1, 1, 64).unwrap();
    // Span 0..=250 with d = 100: F = 3; floor(t'/100) = 0, 0, 1, 2, 2.
    let f = frames(&[ev(1000), ev(1099), ev(1100), ev(1200), ev(1250)]);
    assert_eq!(f.counts_per_step(), [2.0, 1.0, 2.0]);
    // Exact multiple: the final event (floor = F) joins the last frame.
    assert_eq!(
        frames(&[ev(0), ev(100), ev(200)]).counts_per_step(),
        [1.0, 2.0]
    );
    // One timestamp: one frame.
    assert_eq!(frames(&[ev(5), ev(5)]).counts_per_step(), [2.0]);
    assert_eq!(frames(&[]).steps, 0);
    // A corrupt timestamp far in the future: refused, not allocated.
    assert!(frames_by_duration(&[ev(0), ev(1 << 40)], 100, 128, 128, 10_000).is_none());
}
