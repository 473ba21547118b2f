//! Any bytes after a valid AEDAT 3.1 header: the reader must return events or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use snn_data::aedat3::{ReadOptions, Reader};

fuzz_target!(|data: &[u8]| {
    let keep_invalid = data.first().is_some_and(|b| b & 1 == 1);
    let mut bytes = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n".to_vec();
    bytes.extend_from_slice(data);
    if let Ok(reader) = Reader::new(&bytes[..], "fuzz", ReadOptions { keep_invalid }) {
        let _ = reader.read_all();
    }
    // And the raw bytes as a whole file, header included.
    if let Ok(reader) = Reader::new(data, "fuzz", ReadOptions::default()) {
        let _ = reader.read_all();
    }
});
