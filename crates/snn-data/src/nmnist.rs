//! N-MNIST (and N-Caltech101) `.bin` files: headerless 5-byte events.
//!
//! Byte 0 is x, byte 1 is y, bit 7 of byte 2 the polarity (1 = ON), and the remaining 23 bits
//! (`(b2 & 0x7F) << 16 | b3 << 8 | b4`) the timestamp in microseconds. An event with `y == 240`
//! is a timestamp-overflow marker (Orchard's reader and tonic): 8192 us are added to every later
//! timestamp and the marker is dropped.

use std::path::Path;

use crate::error::DataError;
use crate::event::Event;

/// Parses the bytes of a `.bin` file; `name` appears in errors.
pub fn parse(bytes: &[u8], name: &str) -> Result<Vec<Event>, DataError> {
    let whole = bytes.len() / 5 * 5;
    if whole != bytes.len() {
        return Err(DataError::Binary {
            source_name: name.to_owned(),
            offset: whole as u64,
            message: format!(
                "{} trailing bytes do not form a 5-byte event",
                bytes.len() - whole
            ),
        });
    }
    let mut events = Vec::with_capacity(bytes.len() / 5);
    let mut overflow = 0u64;
    for e in bytes.chunks_exact(5) {
        if e[1] == 240 {
            overflow += 1 << 13;
            continue;
        }
        let ts = (u64::from(e[2] & 0x7F) << 16) | (u64::from(e[3]) << 8) | u64::from(e[4]);
        events.push(Event {
            t: ts + overflow,
            x: u16::from(e[0]),
            y: u16::from(e[1]),
            on: e[2] & 0x80 != 0,
        });
    }
    Ok(events)
}

/// Reads a `.bin` file.
pub fn read_file(path: &Path) -> Result<Vec<Event>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes, &path.display().to_string())
}
