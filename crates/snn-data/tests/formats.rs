//! N-MNIST and AEDAT 2.0 on real fixtures and the reference's worked record; SpikingJelly
//! framing rules; property tests that malformed input never panics and counts are conserved.

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use snn_data::aedat2::{self, Dvs128Convention};
use snn_data::frame::{frames_by_count, SplitBy};
use snn_data::{nmnist, Event};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name)
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn real_nmnist_recording_decodes() {
    let bytes = std::fs::read(fixture("nmnist_sample.bin")).unwrap();
    assert_eq!(
        sha256(&bytes),
        "3c9159329633efbb6879bba1b430598b78cc06a779a55d1259ec13e203ad00ee"
    );
    let events = nmnist::read_file(&fixture("nmnist_sample.bin")).unwrap();
    assert_eq!(events.len(), 4_325);
    let ev = |x, y, on, t| Event { t, x, y, on };
    assert_eq!(
        events[..3],
        [
            ev(7, 15, true, 654),
            ev(19, 18, false, 2999),
            ev(21, 17, false, 3017)
        ]
    );
    assert_eq!(*events.last().unwrap(), ev(21, 14, true, 311_175));
    assert_eq!(events.iter().filter(|e| e.on).count(), 2_145);
    assert!(events.iter().all(|e| e.x < 34 && e.y < 34));
    let windows = [
        events.iter().filter(|e| e.t < 100_000).count(),
        events
            .iter()
            .filter(|e| (100_000..200_000).contains(&e.t))
            .count(),
        events.iter().filter(|e| e.t >= 200_000).count(),
    ];
    assert_eq!(windows, [1_369, 1_288, 1_668]);
}

#[test]
fn nmnist_overflow_markers_and_truncation() {
    // Event at t = 5, an overflow marker (y == 240), then an event at raw t = 3: 8192 + 3.
    let bytes = [1, 2, 0x80, 0, 5, 0, 240, 0, 0, 0, 3, 4, 0x00, 0, 3];
    let events = nmnist::parse(&bytes, "n.bin").unwrap();
    assert_eq!(events.iter().map(|e| e.t).collect::<Vec<_>>(), [5, 8195]);
    let err = nmnist::parse(&bytes[..13], "n.bin")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "n.bin: byte 10: 3 trailing bytes do not form a 5-byte event"
    );
}

#[test]
fn real_jaer_header_parses() {
    let bytes = std::fs::read(fixture("aedat2_davis346red_header_only.aedat")).unwrap();
    assert_eq!(
        sha256(&bytes),
        "91481480838a901503239605f4a57164b69407b8b469d11c5e62b5c91d243203"
    );
    let rec = aedat2::parse(&bytes, "header.aedat", Dvs128Convention::default()).unwrap();
    assert_eq!(rec.version(), Some(2));
    assert_eq!(rec.creation_time_ms(), Some(1_695_355_587_880));
    assert!(rec.events.is_empty());
    assert!(rec.header.iter().any(|l| l.contains("Davis346red")));
}

#[test]
fn worked_dvs128_record_under_each_convention() {
    // jAER x 10, y 20 (origin lower left), ON, t 1000: x_raw = 117, bit 0 clear.
    let mut bytes = b"#!AER-DAT2.0\r\n".to_vec();
    bytes.extend_from_slice(&[0x00, 0x00, 0x14, 0xEA, 0x00, 0x00, 0x03, 0xE8]);
    // An external event (bit 15) and a special event (bit 31) are skipped.
    bytes.extend_from_slice(&[0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x03, 0xE9]);
    bytes.extend_from_slice(&[0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xEA]);
    let decode = |c| aedat2::parse(&bytes, "w.aedat", c).unwrap().events;
    let ev = |x, y, on| vec![Event { t: 1000, x, y, on }];
    assert_eq!(decode(Dvs128Convention::Jaer), ev(10, 127 - 20, true));
    assert_eq!(
        decode(Dvs128Convention::SpikingJelly),
        ev(127 - 20, 127 - 117, true)
    );
    assert_eq!(decode(Dvs128Convention::TonicLegacy), ev(20, 117, false));
    let err = aedat2::parse(&bytes[..bytes.len() - 3], "w.aedat", Dvs128Convention::Jaer)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "w.aedat: byte 30: 5 trailing bytes do not form an 8-byte record"
    );
}

#[test]
fn aedat2_timestamp_wraps_are_carried() {
    let mut bytes = b"#!AER-DAT2.0\n".to_vec();
    for ts in [0xFFFF_FFF0u32, 0x10] {
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&ts.to_be_bytes());
    }
    let rec = aedat2::parse(&bytes, "wrap", Dvs128Convention::Jaer).unwrap();
    assert_eq!(rec.events[1].t, (1u64 << 32) | 0x10);
}

fn at(events: &[u64]) -> Vec<Event> {
    events
        .iter()
        .map(|&t| Event {
            t,
            x: 0,
            y: 0,
            on: true,
        })
        .collect()
}

#[test]
fn spikingjelly_split_by_number() {
    // 10 events, 3 frames: d = 3, frames take 3, 3 and 3 + 1 leftover.
    let f = frames_by_count(&at(&(0..10).collect::<Vec<_>>()), 3, SplitBy::Number, 1, 1);
    assert_eq!(f.counts_per_step(), [3.0, 3.0, 4.0]);
    // Fewer events than frames: everything in the last frame.
    let f = frames_by_count(&at(&[5, 6]), 4, SplitBy::Number, 1, 1);
    assert_eq!(f.counts_per_step(), [0.0, 0.0, 0.0, 2.0]);
}

#[test]
fn spikingjelly_split_by_time() {
    // Span 0..=100, T = 4: dt = 25; windows [0,25) [25,50) [50,75) and [75, end].
    let f = frames_by_count(
        &at(&[0, 10, 24, 25, 60, 74, 75, 100]),
        4,
        SplitBy::Time,
        1,
        1,
    );
    assert_eq!(f.counts_per_step(), [3.0, 1.0, 2.0, 2.0]);
    // An empty window is an empty frame (SpikingJelly would crash).
    let f = frames_by_count(&at(&[0, 1, 100]), 4, SplitBy::Time, 1, 1);
    assert_eq!(f.counts_per_step(), [2.0, 0.0, 0.0, 1.0]);
}

proptest! {
    #[test]
    fn framing_conserves_in_range_events(raw in prop::collection::vec((0u64..10_000, 0u16..40, 0u16..40, any::<bool>()), 0..200), steps in 1usize..12, by_time in any::<bool>()) {
        let mut events: Vec<Event> = raw.into_iter().map(|(t, x, y, on)| Event { t, x, y, on }).collect();
        events.sort_by_key(|e| e.t);
        let split = if by_time { SplitBy::Time } else { SplitBy::Number };
        let f = frames_by_count(&events, steps, split, 32, 32);
        let inside = events.iter().filter(|e| e.x < 32 && e.y < 32).count() as f64;
        prop_assert_eq!(f.counts_per_step().iter().sum::<f64>(), inside);
    }

    #[test]
    fn framing_unordered_events_never_panics(raw in prop::collection::vec((any::<u64>(), 0u16..40, 0u16..40, any::<bool>()), 0..100), steps in 1usize..12) {
        // Not sorted: recordings with timestamp resets or corrupt events.
        let events: Vec<Event> = raw.into_iter().map(|(t, x, y, on)| Event { t, x, y, on }).collect();
        let inside = events.iter().filter(|e| e.x < 32 && e.y < 32).count() as f64;
        for split in [SplitBy::Number, SplitBy::Time] {
            let f = frames_by_count(&events, steps, split, 32, 32);
            prop_assert_eq!(f.counts_per_step().iter().sum::<f64>(), inside);
        }
        let _ = snn_data::frame::frames_by_duration(&events, 1000, 32, 32, 256);
    }

    #[test]
    fn aedat2_and_nmnist_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = aedat2::parse(&bytes, "fuzz", Dvs128Convention::Jaer);
        let _ = nmnist::parse(&bytes, "fuzz");
    }
}
