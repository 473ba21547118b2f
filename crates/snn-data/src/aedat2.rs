//! AEDAT 2.0 (jAER; CIFAR10-DVS and DVS128 recordings): `#` header lines, then big-endian
//! records of an `i32` address and an `i32` timestamp (microseconds).
//!
//! DVS128 addresses: bit 0 polarity, bits 1..7 `x_raw`, bits 8..14 `y_raw`, bit 15 an
//! external/sync event and bit 31 a special event (both skipped). Libraries disagree on how to
//! turn that into image coordinates, so the convention is an option ([`Dvs128Convention`]).

use std::path::Path;

use crate::error::DataError;
use crate::event::Event;

/// How DVS128 addresses map to `(x, y, polarity)` with the origin at the top left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dvs128Convention {
    /// SpikingJelly's CIFAR10-DVS loader: `x = 127 - y_raw`, `y = 127 - x_raw`, ON when bit 0
    /// is clear. Images appear upright; the safest route to published CIFAR10-DVS numbers.
    #[default]
    SpikingJelly,
    /// jAER's `DVS128.Extractor`: `x = 127 - x_raw`, `y = 127 - y_raw` (jAER's origin is the
    /// lower left, flipped here to the top left), ON when bit 0 is clear.
    Jaer,
    /// tonic's legacy `read_dvs_128`: `x = (addr >> 8) & 0x7F` (that is, `y_raw`),
    /// `y = (addr >> 1) & 0x7F` (`x_raw`), ON when bit 0 is set. No flips.
    TonicLegacy,
}

impl Dvs128Convention {
    fn decode(self, addr: u32) -> (u16, u16, bool) {
        let bit0 = addr & 1 != 0;
        let x_raw = ((addr >> 1) & 0x7F) as u16;
        let y_raw = ((addr >> 8) & 0x7F) as u16;
        match self {
            Dvs128Convention::SpikingJelly => (127 - y_raw, 127 - x_raw, !bit0),
            Dvs128Convention::Jaer => (127 - x_raw, 127 - y_raw, !bit0),
            Dvs128Convention::TonicLegacy => (y_raw, x_raw, bit0),
        }
    }
}

/// A parsed AEDAT 2.0 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Header lines (without line endings).
    pub header: Vec<String>,
    /// DVS events (external and special events skipped).
    pub events: Vec<Event>,
}

impl Recording {
    /// The format version from the first line (`#!AER-DAT2.0` gives 2), if present.
    pub fn version(&self) -> Option<u32> {
        let first = self.header.first()?.strip_prefix("#!AER-DAT")?;
        first.split('.').next()?.parse().ok()
    }

    /// `# Creation time: System.currentTimeMillis() <ms>`, if present.
    pub fn creation_time_ms(&self) -> Option<u64> {
        self.header
            .iter()
            .find_map(|l| l.split("System.currentTimeMillis()").nth(1))
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Parses an AEDAT 2.0 file's bytes; `name` appears in errors. A timestamp smaller than its
/// predecessor is taken as a 32-bit wrap and carried into the 64-bit time.
pub fn parse(
    bytes: &[u8],
    name: &str,
    convention: Dvs128Convention,
) -> Result<Recording, DataError> {
    let mut header = Vec::new();
    let mut pos = 0usize;
    // The header ends at the first line that does not start with '#'.
    while pos < bytes.len() && bytes[pos] == b'#' {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i + 1);
        let line = String::from_utf8_lossy(&bytes[pos..end]);
        header.push(line.trim_end_matches(['\n', '\r']).to_owned());
        pos = end;
    }
    let body = &bytes[pos..];
    let whole = body.len() / 8 * 8;
    if whole != body.len() {
        return Err(DataError::Binary {
            source_name: name.to_owned(),
            offset: (pos + whole) as u64,
            message: format!(
                "{} trailing bytes do not form an 8-byte record",
                body.len() - whole
            ),
        });
    }
    let mut events = Vec::with_capacity(body.len() / 8);
    let (mut wraps, mut last) = (0u64, 0u32);
    for rec in body.chunks_exact(8) {
        let addr = u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]]);
        let ts = u32::from_be_bytes([rec[4], rec[5], rec[6], rec[7]]);
        if ts < last {
            wraps += 1;
        }
        last = ts;
        if addr & 0x8000_8000 != 0 {
            continue; // special (bit 31) or external (bit 15) event
        }
        let (x, y, on) = convention.decode(addr);
        events.push(Event {
            t: (wraps << 32) | u64::from(ts),
            x,
            y,
            on,
        });
    }
    Ok(Recording { header, events })
}

/// Reads an AEDAT 2.0 file.
pub fn read_file(path: &Path, convention: Dvs128Convention) -> Result<Recording, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes, &path.display().to_string(), convention)
}
