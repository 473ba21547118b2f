//! Which convolution algorithm the event-conv ops use on burn's CubeCL backends (`Cuda`,
//! `Wgpu`), chosen at run time.
//!
//! Why: burn-cubecl's own default depends on its `autotune` feature. With it, every candidate
//! kernel is benchmarked on every new shape, and the first training step of the full-size
//! Gesture net spent 190 s compiling and timing matmul variants on an H100; without it, the
//! default is the direct kernel, 2.6 times slower than the implicit GEMM on an H200 (two of
//! three benchmarks sharing the GPU; `docs/gpu-results.md`). The `cuda` feature builds burn
//! without `autotune`, and the implicit GEMM is the default here. The GPU check compares the
//! choices in one run (`scripts/gpu-check.sh`).
//!
//! The CPU backend (`Flex`) ignores the setting: it runs the event-driven kernels.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::error::{parse_name, ConfigError};

/// A convolution algorithm of burn-cubecl, for the forward pass and both gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CubeConvAlgorithm {
    /// burn-cubecl's own default strategy: autotuned among all algorithms when some crate of
    /// the build enables burn's `autotune` feature, the direct kernel otherwise.
    Burn,
    /// The direct kernel: one thread per output value, no workspace, no tuning.
    Direct,
    /// Implicit GEMM on the matrix units (CMMA: tensor cores on NVIDIA); the default. Where the
    /// device or the shape does not allow it, burn-cubecl reports an error and the op runs
    /// [`Direct`](Self::Direct) instead.
    #[default]
    ImplicitGemm,
    /// [`ImplicitGemm`](Self::ImplicitGemm), except for the weight gradient, which is computed
    /// as batched matrix products over chunks of frames, then summed
    /// ([`super::split_k`]): its reduction over every position of every frame is long and its
    /// output small, which a single GEMM runs on a fraction of a GPU.
    ImplicitGemmSplitK,
}

impl CubeConvAlgorithm {
    /// Every algorithm, in declaration order (a variant's index is its discriminant), which is
    /// also the order of [`CubeConvAlgorithm::NAMES`].
    pub const ALL: [CubeConvAlgorithm; 4] = [
        Self::Burn,
        Self::Direct,
        Self::ImplicitGemm,
        Self::ImplicitGemmSplitK,
    ];
    /// The names [`FromStr`] accepts (and [`fmt::Display`] writes).
    pub const NAMES: [&'static str; 4] =
        ["burn", "direct", "implicit-gemm", "implicit-gemm-split-k"];
}

impl fmt::Display for CubeConvAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

impl FromStr for CubeConvAlgorithm {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        parse_name("CubeCL convolution algorithm", s, &Self::NAMES, &Self::ALL)
    }
}

/// The process-wide choice (an index into [`CubeConvAlgorithm::ALL`]).
static ALGORITHM: AtomicU8 = AtomicU8::new(CubeConvAlgorithm::ImplicitGemm as u8);

/// Sets the algorithm the event-conv ops use on CubeCL backends from now on, process-wide.
pub fn set_cube_conv_algorithm(algorithm: CubeConvAlgorithm) {
    ALGORITHM.store(algorithm as u8, Ordering::Relaxed);
}

/// The algorithm the event-conv ops use on CubeCL backends ([`CubeConvAlgorithm::ImplicitGemm`]
/// unless [`set_cube_conv_algorithm`] chose another).
pub fn cube_conv_algorithm() -> CubeConvAlgorithm {
    CubeConvAlgorithm::ALL[ALGORITHM.load(Ordering::Relaxed) as usize]
}

/// How many convolutions (forward or gradient) asked for the implicit GEMM ran the direct
/// kernel instead, in this process: a benchmark of `implicit-gemm` that reports fallbacks
/// measured the direct kernel for those.
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// The number of implicit-GEMM convolutions that fell back to the direct kernel so far.
pub fn cube_conv_fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// Counts one fallback (CubeCL backends only).
#[cfg_attr(not(feature = "cubecl"), allow(dead_code))]
pub(crate) fn record_fallback() {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_list_the_choices() {
        for (i, algorithm) in CubeConvAlgorithm::ALL.into_iter().enumerate() {
            assert_eq!(algorithm as usize, i, "ALL is in discriminant order");
            assert_eq!(algorithm.to_string().parse(), Ok(algorithm));
            set_cube_conv_algorithm(algorithm);
            assert_eq!(cube_conv_algorithm(), algorithm);
        }
        set_cube_conv_algorithm(CubeConvAlgorithm::default());
        assert_eq!(cube_conv_algorithm(), CubeConvAlgorithm::ImplicitGemm);
        assert_eq!(" Direct ".parse(), Ok(CubeConvAlgorithm::Direct));
        let err = "winograd".parse::<CubeConvAlgorithm>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("winograd"), "{message}");
        assert!(
            message.contains("direct, implicit-gemm, implicit-gemm-split-k"),
            "{message}"
        );
    }
}
