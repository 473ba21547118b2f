//! Any bytes as an AEDAT 2.0 file, under every DVS128 convention.
#![no_main]
use libfuzzer_sys::fuzz_target;
use snn_data::aedat2::{parse, Dvs128Convention};

fuzz_target!(|data: &[u8]| {
    for convention in [Dvs128Convention::SpikingJelly, Dvs128Convention::Jaer, Dvs128Convention::TonicLegacy] {
        if let Ok(rec) = parse(data, "fuzz", convention) {
            let _ = (rec.version(), rec.creation_time_ms());
        }
    }
});
