//! AEDAT 3.1 (DvsGesture and other cAER/DV recordings): a streaming reader of polarity events
//! and a writer.
//!
//! Layout (little-endian): a text header of `#`-lines ending with `#!END-HEADER`, then packets
//! of a 28-byte header (type, source, event size, timestamp offset, timestamp overflow,
//! capacity, number, valid) followed by `capacity x size` payload bytes. Polarity events
//! (type 1) are 8 bytes: `u32 data` (bit 0 valid, bit 1 polarity, bits 2..16 y, bits 17..31 x)
//! and an `i32` timestamp; the full time is `(overflow << 31) | timestamp`. Other packet types
//! are skipped.
//!
//! Every malformed input is an error naming the source and byte offset; nothing panics.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::error::DataError;
use crate::event::Event;

/// Packet type of polarity events.
const POLARITY: i16 = 1;
/// Size of a packet header.
const PACKET_HEADER: usize = 28;
/// Largest header line accepted (real headers are far shorter).
const MAX_HEADER_LINE: usize = 64 * 1024;
/// Largest payload accepted for one packet, a guard against absurd capacities.
const MAX_PAYLOAD: u64 = 1 << 30;
/// Payload bytes decoded at a time (a multiple of 8): memory stays bounded whatever a corrupt
/// header claims.
const CHUNK: usize = 64 * 1024;

/// Reading options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Keep events whose valid bit is clear (SpikingJelly keeps them; libcaer drops them).
    pub keep_invalid: bool,
}

impl Default for ReadOptions {
    /// Drops invalid events, as libcaer does.
    fn default() -> Self {
        Self {
            keep_invalid: false,
        }
    }
}

/// The text header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Every header line without its line ending, `#!AER-DAT3.1` and `#!END-HEADER` included.
    pub lines: Vec<String>,
}

impl Header {
    /// The value of the first `#Source <id>: <description>` line, if any.
    pub fn source(&self) -> Option<&str> {
        self.lines
            .iter()
            .find_map(|l| {
                l.strip_prefix("#Source ")
                    .or_else(|| l.strip_prefix("#-Source "))
            })
            .and_then(|rest| rest.split_once(": ").map(|(_, d)| d))
    }
}

/// A streaming AEDAT 3.1 reader.
pub struct Reader<R: Read> {
    input: BufReader<R>,
    name: String,
    offset: u64,
    options: ReadOptions,
    header: Header,
    payload: Vec<u8>,
}

impl Reader<std::fs::File> {
    /// Opens a file.
    pub fn open(path: &Path, options: ReadOptions) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        Self::new(file, path.display().to_string(), options)
    }
}

impl<R: Read> Reader<R> {
    /// Reads the header from `input`; `name` appears in errors.
    pub fn new(input: R, name: impl Into<String>, options: ReadOptions) -> Result<Self, DataError> {
        let mut reader = Self {
            input: BufReader::with_capacity(64 * 1024, input),
            name: name.into(),
            offset: 0,
            options,
            header: Header::default(),
            payload: Vec::new(),
        };
        reader.read_header()?;
        Ok(reader)
    }

    /// The text header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn error(&self, offset: u64, message: impl Into<String>) -> DataError {
        DataError::Binary {
            source_name: self.name.clone(),
            offset,
            message: message.into(),
        }
    }

    fn read_header(&mut self) -> Result<(), DataError> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let start = self.offset;
            let n = (&mut self.input)
                .take(MAX_HEADER_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.error(start, e.to_string()))?;
            if n == 0 {
                return Err(self.error(
                    start,
                    "end of file inside the header (no `#!END-HEADER` line)",
                ));
            }
            if n > MAX_HEADER_LINE {
                return Err(self.error(start, "header line longer than 64 KiB"));
            }
            self.offset += n as u64;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']).to_owned();
            if self.header.lines.is_empty() {
                if !text.starts_with("#!AER-DAT3.") {
                    return Err(self.error(
                        start,
                        format!("not an AEDAT 3.x file: first line is {text:?}"),
                    ));
                }
            } else if !text.starts_with('#') {
                return Err(self.error(
                    start,
                    format!("header line does not start with '#': {text:?}"),
                ));
            }
            let end = text == "#!END-HEADER";
            self.header.lines.push(text);
            if end {
                return Ok(());
            }
        }
    }

    /// Reads exactly `buf.len()` bytes, or reports a truncation at the current offset.
    /// Returns false at a clean end of file (no byte read).
    fn read_exact_or_eof(&mut self, buf: &mut [u8], what: &str) -> Result<bool, DataError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(self.error(
                        self.offset,
                        format!(
                            "file truncated: {what} of {} bytes ends after {filled}",
                            buf.len()
                        ),
                    ))
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error(self.offset + filled as u64, e.to_string())),
            }
        }
        self.offset += buf.len() as u64;
        Ok(true)
    }

    /// Skips `n` bytes without buffering them, or reports a truncation at the current offset.
    fn skip(&mut self, n: u64, what: &str) -> Result<(), DataError> {
        let at = self.offset;
        let skipped = std::io::copy(&mut (&mut self.input).take(n), &mut std::io::sink())
            .map_err(|e| self.error(at, e.to_string()))?;
        self.offset += skipped;
        if skipped < n {
            return Err(self.error(
                at,
                format!("file truncated: {what} of {n} bytes ends after {skipped}"),
            ));
        }
        Ok(())
    }

    /// Appends the polarity events of the next polarity packet to `out`, skipping other
    /// packets. Returns false at the end of the file. Memory use is bounded by a small chunk,
    /// whatever the packet header claims.
    pub fn read_packet(&mut self, out: &mut Vec<Event>) -> Result<bool, DataError> {
        loop {
            let at = self.offset;
            let mut head = [0u8; PACKET_HEADER];
            if !self.read_exact_or_eof(&mut head, "a packet header")? {
                return Ok(false);
            }
            let i16_at = |o: usize| i16::from_le_bytes([head[o], head[o + 1]]);
            let i32_at =
                |o: usize| i32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
            let (kind, size, ts_offset) = (i16_at(0), i32_at(4), i32_at(8));
            let (overflow, capacity, number) = (i32_at(12), i32_at(16), i32_at(20));
            if size <= 0 || capacity < 0 || number < 0 || number > capacity {
                return Err(self.error(
                    at,
                    format!("bad packet header: event size {size}, capacity {capacity}, number {number}"),
                ));
            }
            let payload = size as u64 * capacity as u64;
            if payload > MAX_PAYLOAD {
                return Err(self.error(
                    at,
                    format!("packet payload of {payload} bytes is implausible"),
                ));
            }
            if kind != POLARITY {
                self.skip(payload, "a packet payload")?;
                continue;
            }
            if size != 8 || ts_offset != 4 {
                return Err(self.error(
                    at,
                    format!("polarity packet with event size {size} and timestamp offset {ts_offset} (expected 8 and 4)"),
                ));
            }
            if overflow < 0 {
                return Err(self.error(at, format!("negative timestamp overflow {overflow}")));
            }
            let high = (overflow as u64) << 31;
            let keep_invalid = self.options.keep_invalid;
            let mut remaining = number as usize * 8;
            let mut buf = std::mem::take(&mut self.payload);
            while remaining > 0 {
                buf.resize(remaining.min(CHUNK), 0);
                match self.read_exact_or_eof(&mut buf, "a packet payload") {
                    Ok(true) => {}
                    Ok(false) => {
                        self.payload = buf;
                        return Err(
                            self.error(self.offset, "file truncated: packet payload missing")
                        );
                    }
                    Err(e) => {
                        self.payload = buf;
                        return Err(e);
                    }
                }
                remaining -= buf.len();
                for raw in buf.chunks_exact(8) {
                    let data = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
                    let ts = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
                    if data & 1 == 0 && !keep_invalid {
                        continue;
                    }
                    out.push(Event {
                        t: high | u64::from(ts),
                        x: ((data >> 17) & 0x7FFF) as u16,
                        y: ((data >> 2) & 0x7FFF) as u16,
                        on: data & 2 != 0,
                    });
                }
            }
            self.payload = buf;
            // Unused slots (capacity > number) are skipped.
            self.skip((capacity - number) as u64 * 8, "unused packet slots")?;
            return Ok(true);
        }
    }

    /// Reads every remaining polarity event.
    pub fn read_all(mut self) -> Result<Vec<Event>, DataError> {
        let mut events = Vec::new();
        while self.read_packet(&mut events)? {}
        Ok(events)
    }
}

/// Reads every polarity event of an AEDAT 3.1 file.
pub fn read_file(path: &Path, options: ReadOptions) -> Result<Vec<Event>, DataError> {
    Reader::open(path, options)?.read_all()
}

/// Writes events as AEDAT 3.1 (`#Source 1: <source>`), in packets of at most
/// `events_per_packet` valid polarity events. Times above the 31-bit range are split into the
/// packet overflow counter, so events must be in non-decreasing time order.
pub fn write<W: Write>(
    mut out: W,
    events: &[Event],
    source: &str,
    events_per_packet: usize,
) -> std::io::Result<()> {
    write!(
        out,
        "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: {source}\r\n#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n"
    )?;
    let per_packet = events_per_packet.max(1);
    let mut start = 0;
    while start < events.len() {
        // A packet holds events of one overflow epoch.
        let epoch = events[start].t >> 31;
        let mut end = start;
        while end < events.len() && end - start < per_packet && events[end].t >> 31 == epoch {
            end += 1;
        }
        let n = (end - start) as i32;
        let mut head = Vec::with_capacity(PACKET_HEADER);
        head.extend_from_slice(&POLARITY.to_le_bytes());
        head.extend_from_slice(&1i16.to_le_bytes());
        for v in [8i32, 4, epoch as i32, n, n, n] {
            head.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&head)?;
        let mut payload = Vec::with_capacity(8 * (end - start));
        for e in &events[start..end] {
            let data = 1u32
                | (u32::from(e.on) << 1)
                | (u32::from(e.y & 0x7FFF) << 2)
                | (u32::from(e.x & 0x7FFF) << 17);
            payload.extend_from_slice(&data.to_le_bytes());
            payload.extend_from_slice(&((e.t & 0x7FFF_FFFF) as u32).to_le_bytes());
        }
        out.write_all(&payload)?;
        start = end;
    }
    Ok(())
}
