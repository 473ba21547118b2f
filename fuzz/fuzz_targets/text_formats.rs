//! Any text as a DvsGesture label CSV and as a DVS128 Gait recording.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = snn_data::gesture::parse_labels(&text, "fuzz.csv");
    let _ = snn_data::folders::parse_gait_text(&text, "fuzz.txt");
});
