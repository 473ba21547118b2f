//! The polarity event shared by every event-camera format.

/// One DVS polarity event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Event {
    /// Timestamp in microseconds (64-bit, overflow already applied).
    pub t: u64,
    /// Column, 0 at the left.
    pub x: u16,
    /// Row, 0 at the top.
    pub y: u16,
    /// Polarity: true = ON (brightness increase).
    pub on: bool,
}
