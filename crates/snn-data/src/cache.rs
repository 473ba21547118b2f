//! An on-disk cache of framed samples, keyed by every framing parameter.
//!
//! Each entry is one file `<key-hash>/<sample id>.frames`: a small header (magic, version, the
//! full key text, dimensions) followed by little-endian f32 counts. Entries are written to a
//! temporary file and renamed, so a crash never leaves half an entry; an entry whose header
//! does not match (other key, other version, truncated) is recomputed, never trusted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::DataError;
use crate::frame::Frames;

const MAGIC: &[u8; 8] = b"SNNFRM01";

/// A frame cache rooted at a folder.
#[derive(Debug, Clone)]
pub struct FrameCache {
    root: PathBuf,
}

/// FNV-1a, a stable hash for folder names (std's hasher is not stable across releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl FrameCache {
    /// A cache in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str, id: &str) -> PathBuf {
        self.root
            .join(format!("{:016x}", fnv1a(key)))
            .join(format!("{id}.frames"))
    }

    /// The cached frames of sample `id` under `key` (a text holding every framing parameter),
    /// computing and storing them on a miss.
    pub fn get_or_compute(
        &self,
        key: &str,
        id: &str,
        compute: impl FnOnce() -> Frames,
    ) -> Result<Frames, DataError> {
        let path = self.path(key, id);
        if let Some(frames) = read_entry(&path, key) {
            return Ok(frames);
        }
        let frames = compute();
        write_entry(&path, key, &frames)?;
        Ok(frames)
    }
}

fn read_entry(path: &Path, key: &str) -> Option<Frames> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let key_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let stored_key = rest.get(4..4 + key_len)?;
    if stored_key != key.as_bytes() {
        return None;
    }
    let dims = rest.get(4 + key_len..4 + key_len + 24)?;
    let dim = |i: usize| {
        u64::from_le_bytes(dims[i * 8..i * 8 + 8].try_into().unwrap_or_default()) as usize
    };
    let (steps, height, width) = (dim(0), dim(1), dim(2));
    let body = rest.get(4 + key_len + 24..)?;
    let n = steps
        .checked_mul(2)?
        .checked_mul(height)?
        .checked_mul(width)?;
    if body.len() != n.checked_mul(4)? {
        return None;
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(Frames {
        steps,
        height,
        width,
        data,
    })
}

fn write_entry(path: &Path, key: &str, frames: &Frames) -> Result<(), DataError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    // Unique per process and per write, so parallel writers never share a temporary file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut bytes = Vec::with_capacity(8 + 4 + key.len() + 24 + frames.data.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
    bytes.extend_from_slice(key.as_bytes());
    for d in [frames.steps, frames.height, frames.width] {
        bytes.extend_from_slice(&(d as u64).to_le_bytes());
    }
    for v in &frames.data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut file = std::fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    file.write_all(&bytes).map_err(|e| DataError::io(&tmp, e))?;
    file.sync_all().map_err(|e| DataError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}
