//! Progress callbacks of the loop.

use super::record::EpochRecord;

/// Progress callbacks (progress bars, prints); every method has an empty default.
pub trait Observer {
    /// Before the first epoch of this invocation (`first` > 0 after a resume).
    fn start(&mut self, _first: usize, _epochs: usize) {}
    /// After each training batch.
    fn batch(&mut self, _epoch: usize, _index: usize, _batches: usize, _loss: f64) {}
    /// After each epoch (its checkpoint is written).
    fn epoch(&mut self, _record: &EpochRecord) {}
}

/// An observer that does nothing.
pub struct Quiet;
impl Observer for Quiet {}
