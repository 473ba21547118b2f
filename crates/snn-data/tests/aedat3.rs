//! AEDAT 3.1: the reference's worked byte-level example, round trips, and malformed input
//! (never a panic; errors name the source and byte offset).

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use snn_data::aedat3::{self, ReadOptions, Reader};
use snn_data::{DataError, Event};

/// The worked example of the dataset reference (§1.6): a special packet, a polarity packet with
/// capacity 3 (one invalid event) and a polarity packet with overflow 1.
fn worked_example() -> Vec<u8> {
    let header = "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n";
    let body: [u8; 124] = [
        0x00, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x00, //
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00,
        0x00, //
        0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x00, //
        0x53, 0x00, 0x14, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x00, 0xc8, 0x00, 0x00,
        0x00, //
        0xfd, 0x01, 0x00, 0x00, 0x2c, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00,
        0x00, //
        0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, //
        0x01, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x0a, 0x00, 0x07, 0x00, 0x00, 0x00,
    ];
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&body);
    bytes
}

fn read(bytes: &[u8], options: ReadOptions) -> Result<Vec<Event>, DataError> {
    Reader::new(bytes, "test.aedat", options)?.read_all()
}

#[test]
fn worked_example_decodes_as_documented() {
    let bytes = worked_example();
    assert_eq!(bytes.len(), 229);
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "3a413f77d70c08d40e004c58566bf915872599d06178a0f8c7de56fb03739310"
    );

    let events = read(&bytes, ReadOptions::default()).unwrap();
    let ev = |t, x, y, on| Event { t, x, y, on };
    assert_eq!(
        events,
        [
            ev(100, 10, 20, true),
            ev(300, 0, 127, false),
            ev((1 << 31) | 7, 5, 6, true)
        ]
    );

    let all = read(&bytes, ReadOptions { keep_invalid: true }).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[1], ev(200, 127, 0, false));

    let reader = Reader::new(&bytes[..], "x", ReadOptions::default()).unwrap();
    assert_eq!(reader.header().source(), Some("DVS128"));
    assert_eq!(reader.header().lines.len(), 5);
}

#[test]
fn truncation_names_the_offset() {
    let bytes = worked_example();
    // Cut inside the last packet's payload (it starts at byte 0xd9 + 4 = 221).
    let err = read(&bytes[..225], ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("test.aedat: byte 221: file truncated"),
        "{err}"
    );
    // Cut inside a packet header.
    let err = read(&bytes[..110], ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("byte 105") && err.contains("packet header"),
        "{err}"
    );
    // No END-HEADER line.
    let err = read(b"#!AER-DAT3.1\r\n#Format: RAW\r\n", ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("END-HEADER"), "{err}");
    // Not AEDAT 3.
    let err = read(b"#!AER-DAT2.0\r\n", ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("byte 0") && err.contains("AEDAT 3"), "{err}");
}

#[test]
fn absurd_packet_headers_are_rejected() {
    let mut bytes = worked_example();
    // Packet 2 starts at byte 141 (0x8d); its event number (0xa1) exceeds its capacity.
    bytes[0xa1] = 9;
    let err = read(&bytes, ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("byte 141") && err.contains("bad packet header"),
        "{err}"
    );
    // A capacity larger than the rest of the file: the three events are read, then the unused
    // slots (starting at byte 193) run past the end.
    let mut bytes = worked_example();
    bytes[0x9d] = 9;
    let err = read(&bytes, ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("byte 193") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn a_huge_claimed_packet_is_a_truncation_not_an_allocation() {
    // Found by fuzzing: a 28-byte header claiming 100 million events used to make the reader
    // allocate the whole payload before noticing the file ends. Payloads are now read in chunks.
    let mut bytes = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n".to_vec();
    bytes.extend_from_slice(&1i16.to_le_bytes());
    bytes.extend_from_slice(&1i16.to_le_bytes());
    for v in [8i32, 4, 0, 100_000_000, 100_000_000, 100_000_000] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[0u8; 16]);
    let err = read(&bytes, ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = aedat3::read_file(
        std::path::Path::new("/nonexistent/trial.aedat"),
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/trial.aedat"));
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0u64..5_000, 0u16..128, 0u16..128, any::<bool>()), 0..300).prop_map(
        |mut raw| {
            // Non-decreasing times, some beyond the 31-bit range so the overflow counter is used.
            raw.sort_by_key(|r| r.0);
            raw.into_iter()
                .map(|(t, x, y, on)| Event {
                    t: t * 1_000_000,
                    x,
                    y,
                    on,
                })
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn write_then_read_round_trips(events in arb_events(), per_packet in 1usize..50) {
        let mut bytes = Vec::new();
        aedat3::write(&mut bytes, &events, "DVS128", per_packet).unwrap();
        prop_assert_eq!(read(&bytes, ReadOptions::default()).unwrap(), events);
    }

    #[test]
    fn arbitrary_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n".to_vec();
        bytes.extend(tail);
        let _ = read(&bytes, ReadOptions::default());
    }

    #[test]
    fn corrupted_recordings_never_panic(events in arb_events(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut bytes = Vec::new();
        aedat3::write(&mut bytes, &events, "DVS128", 16).unwrap();
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        let cut = cut.index(bytes.len() + 1);
        let _ = read(&bytes[..cut], ReadOptions::default());
    }
}
