//! How the event-conv ops run on burn's CubeCL backends (`Cuda`, `Wgpu`), chosen at run time:
//! a [`ConvKernel`] for each of the three convolutions of a training step (forward, input
//! gradient, weight gradient), together a [`CubeConvPlan`]; [`CubeConvAlgorithm`] names the
//! usual plans.
//!
//! Why: burn-cubecl's own default depends on its `autotune` feature. With it, every candidate
//! kernel is benchmarked on every new shape, and the first training step of the full-size
//! Gesture net spent 190 s compiling and timing matmul variants on an H100; without it, the
//! default is the direct kernel, 2.6 times slower than the implicit GEMM on an H200 (two of
//! three benchmarks sharing the GPU; `docs/gpu-results.md`). The `cuda` feature builds burn
//! without `autotune`, and the implicit GEMM is the default here. The three ops have different
//! shapes (the weight gradient reduces over every position of every frame into a small
//! result), so the best kernel can differ between them: `cargo xtask bench conv-kernels`
//! times every kernel on each op of the Gesture net and prints the fastest plan.
//!
//! The CPU backend (`Flex`) ignores the setting: it runs the event-driven kernels.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::error::{parse_name, ConfigError};

/// An implicit-GEMM routine of cubek, burn-cubecl's kernel library: how a cube loads its
/// stages of the two operands (synchronously or with asynchronous copies, TMA on Hopper and
/// later) and whether loading and computing are split between specialised planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GemmRoutine {
    /// Synchronous loads, cyclic over the cube's units (burn-cubecl's `ImplicitGemm`).
    SyncCyclic,
    /// Synchronous loads, strided.
    SyncStrided,
    /// Synchronous loads, one tile per plane.
    SyncTilewise,
    /// Asynchronous copies, cyclic.
    AsyncCyclic,
    /// Asynchronous copies, strided.
    AsyncStrided,
    /// Tensor Memory Accelerator loads (Hopper and later; not for the input gradient, which
    /// falls back to direct).
    AsyncTma,
    /// Loading and computing planes, asynchronous cyclic copies.
    SpecializedCyclic,
    /// Loading and computing planes, asynchronous strided copies.
    SpecializedStrided,
    /// Loading and computing planes, TMA loads (not for the input gradient either).
    SpecializedTma,
}

impl GemmRoutine {
    /// Every routine, in discriminant order.
    pub const ALL: [GemmRoutine; 9] = [
        Self::SyncCyclic,
        Self::SyncStrided,
        Self::SyncTilewise,
        Self::AsyncCyclic,
        Self::AsyncStrided,
        Self::AsyncTma,
        Self::SpecializedCyclic,
        Self::SpecializedStrided,
        Self::SpecializedTma,
    ];
    /// Their names, in the same order.
    pub const NAMES: [&'static str; 9] = [
        "sync-cyclic",
        "sync-strided",
        "sync-tilewise",
        "async-cyclic",
        "async-strided",
        "async-tma",
        "specialized-cyclic",
        "specialized-strided",
        "specialized-tma",
    ];
}

/// The matrix-unit instruction an implicit GEMM computes its tiles with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GemmTile {
    /// Cooperative matrix multiply-accumulate (WMMA on NVIDIA).
    Cmma,
    /// The lower-level MMA instruction (PTX `mma` on NVIDIA).
    Mma,
}

impl GemmTile {
    /// Both kinds, in discriminant order.
    pub const ALL: [GemmTile; 2] = [Self::Cmma, Self::Mma];
    /// Their names, in the same order.
    pub const NAMES: [&'static str; 2] = ["cmma", "mma"];
}

/// How one convolution op (forward, input gradient or weight gradient) runs on a CubeCL
/// backend. Named `burn`, `direct`, `im2col`, `split-k` (chunks of 64 k positions),
/// `split-k-<n>k` (chunks of `n` k positions, `n` a power of two from 1 to 1024: `split-k-16k`)
/// or `gemm-<routine>-<tile>` (e.g. `gemm-async-cyclic-mma`); `gemm` alone is
/// [`ConvKernel::GEMM`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvKernel {
    /// burn-cubecl's own default strategy: autotuned among all its kernels when some crate of
    /// the build enables burn's `autotune` feature, the direct kernel otherwise.
    Burn,
    /// The direct kernel: one thread per output value, no workspace, no tuning.
    Direct,
    /// An implicit GEMM on the matrix units (tensor cores on NVIDIA). Where the device or the
    /// shape does not allow it (cubek reports an error; the input gradient with a stride), the
    /// op runs [`Direct`](Self::Direct) instead and [`cube_conv_fallbacks`] counts it.
    Gemm(GemmRoutine, GemmTile),
    /// Weight gradient only: batched matrix products over chunks of frames, then summed
    /// ([`super::split_k`]); the reduction over every position of every frame is long and the
    /// output small, which a single GEMM runs on a fraction of a GPU. The value is the base-2
    /// logarithm of the positions a chunk aims at ([`super::split_k::chunks_for`]), within
    /// [`ConvKernel::SPLIT_K_LOG2`] (a plan with another is refused): shorter chunks make more
    /// products side by side, longer ones fewer partial sums.
    SplitK(u8),
    /// Forward and input gradient only: gathered patches times the weight, one batched matrix
    /// product per chunk of frames ([`super::im2col`]). One group only, and for the input
    /// gradient also stride 1, no dilation and padding below the kernel size
    /// ([`super::im2col::input_grad_supported`]); otherwise the op runs
    /// [`Direct`](Self::Direct), counted as a fallback ([`cube_conv_fallbacks`]).
    Im2col,
}

impl ConvKernel {
    /// burn-cubecl's implicit GEMM (`ConvStrategy::ImplicitGemm`): synchronous cyclic loads,
    /// CMMA tiles.
    pub const GEMM: ConvKernel = ConvKernel::Gemm(GemmRoutine::SyncCyclic, GemmTile::Cmma);
    /// Split-K with chunks of 64 k positions (`split-k`).
    pub const SPLIT_K: ConvKernel = ConvKernel::SplitK(16);
    /// The chunk lengths [`ConvKernel::all`] lists split-K with (base-2 logarithms): 4 k to
    /// 256 k positions.
    pub const SPLIT_K_CHUNKS: [u8; 4] = [12, 14, 16, 18];
    /// The chunk lengths split-K accepts (base-2 logarithms): 1 k to 1 M positions.
    pub const SPLIT_K_LOG2: std::ops::RangeInclusive<u8> = 10..=20;

    /// Whether this is a split-K kernel (any chunk length).
    pub fn is_split_k(self) -> bool {
        matches!(self, ConvKernel::SplitK(_))
    }

    /// Whether this kernel computes forward convolutions and input gradients (all but
    /// split-K).
    pub fn runs_forward(self) -> bool {
        !self.is_split_k()
    }

    /// Whether this kernel computes weight gradients (all but `im2col`).
    pub fn runs_weight_grad(self) -> bool {
        self != ConvKernel::Im2col
    }

    /// Every kernel: `burn`, `direct`, `im2col`, split-K by chunk length, then the implicit
    /// GEMMs by routine and tile.
    pub fn all() -> Vec<ConvKernel> {
        let gemms = GemmRoutine::ALL.into_iter().flat_map(|r| {
            GemmTile::ALL
                .into_iter()
                .map(move |t| ConvKernel::Gemm(r, t))
        });
        let split_k = Self::SPLIT_K_CHUNKS.into_iter().map(ConvKernel::SplitK);
        [ConvKernel::Burn, ConvKernel::Direct, ConvKernel::Im2col]
            .into_iter()
            .chain(split_k)
            .chain(gemms)
            .collect()
    }
}

impl fmt::Display for ConvKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvKernel::Burn => f.write_str("burn"),
            ConvKernel::Direct => f.write_str("direct"),
            ConvKernel::Im2col => f.write_str("im2col"),
            ConvKernel::SplitK(16) => f.write_str("split-k"),
            ConvKernel::SplitK(log2) if Self::SPLIT_K_LOG2.contains(log2) => {
                write!(f, "split-k-{}k", 1u32 << (log2 - 10))
            }
            // Out of range (refused by plan validation): written so that it says why.
            ConvKernel::SplitK(log2) => write!(f, "split-k-2^{log2}"),
            ConvKernel::Gemm(r, t) => write!(
                f,
                "gemm-{}-{}",
                GemmRoutine::NAMES[*r as usize],
                GemmTile::NAMES[*t as usize]
            ),
        }
    }
}

impl FromStr for ConvKernel {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        if s.trim().eq_ignore_ascii_case("gemm") {
            return Ok(ConvKernel::GEMM);
        }
        if let Some(log2) = split_k_log2(s.trim()) {
            return Ok(ConvKernel::SplitK(log2));
        }
        let all = ConvKernel::all();
        all.iter()
            .find(|k| k.to_string().eq_ignore_ascii_case(s.trim()))
            .copied()
            .ok_or_else(|| ConfigError::UnknownName {
                field: "CubeCL convolution kernel",
                value: s.to_owned(),
                expected: all
                    .iter()
                    .map(ToString::to_string)
                    .chain([
                        "gemm".to_owned(),
                        "split-k-<n>k (n = 1, 2, 4, .., 1024)".to_owned(),
                    ])
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// The chunk length of a `split-k-<n>k` name (base-2 logarithm of `n` x 1024), if it is one
/// with `n` a power of two in range.
fn split_k_log2(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    let n: u32 = lower
        .strip_prefix("split-k-")?
        .strip_suffix('k')?
        .parse()
        .ok()?;
    let log2 = 10 + n.checked_ilog2()? as u8;
    (n.is_power_of_two() && ConvKernel::SPLIT_K_LOG2.contains(&log2)).then_some(log2)
}

/// The kernel of each convolution op on the CubeCL backends. Written (and parsed) as a
/// [`CubeConvAlgorithm`] name when it is one of those plans, otherwise as
/// `forward=K,input=K,weight=K` with [`ConvKernel`] names; a parsed plan may leave ops out,
/// which keep the default plan's kernel ([`ConvKernel::GEMM`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CubeConvPlan {
    /// The forward convolution.
    pub forward: ConvKernel,
    /// The gradient with respect to the input (a transposed convolution).
    pub input_grad: ConvKernel,
    /// The gradient with respect to the weight.
    pub weight_grad: ConvKernel,
}

impl CubeConvPlan {
    /// The op names of the `op=kernel` form, in field order.
    pub const OPS: [&'static str; 3] = ["forward", "input", "weight"];

    /// The same kernel for the three ops.
    pub const fn uniform(kernel: ConvKernel) -> Self {
        CubeConvPlan {
            forward: kernel,
            input_grad: kernel,
            weight_grad: kernel,
        }
    }

    /// Checks that each op's kernel can run that op: [`ConvKernel::SplitK`] computes only
    /// weight gradients, [`ConvKernel::Im2col`] none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.misuse().map_or(Ok(()), |reason| {
            Err(ConfigError::BadConvPlan {
                plan: self.to_string(),
                reason,
            })
        })
    }

    /// Why the plan cannot run, if it cannot.
    fn misuse(&self) -> Option<String> {
        [("forward", self.forward), ("input", self.input_grad)]
            .into_iter()
            .find(|(_, kernel)| !kernel.runs_forward())
            .map(|(op, kernel)| format!("`{kernel}` computes weight gradients, not `{op}`"))
            .or_else(|| {
                (!self.weight_grad.runs_weight_grad()).then(|| {
                    format!(
                        "`{}` computes forward convolutions and input gradients, not `weight`",
                        self.weight_grad
                    )
                })
            })
            .or_else(|| match self.weight_grad {
                ConvKernel::SplitK(log2) if !ConvKernel::SPLIT_K_LOG2.contains(&log2) => Some(
                    format!("split-K chunks of 2^{log2} positions; from 2^10 to 2^20 are allowed"),
                ),
                _ => None,
            })
    }
}

impl Default for CubeConvPlan {
    fn default() -> Self {
        CubeConvAlgorithm::default().into()
    }
}

impl fmt::Display for CubeConvPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match CubeConvAlgorithm::ALL
            .into_iter()
            .find(|a| CubeConvPlan::from(*a) == *self)
        {
            Some(algorithm) => write!(f, "{algorithm}"),
            None => write!(
                f,
                "forward={},input={},weight={}",
                self.forward, self.input_grad, self.weight_grad
            ),
        }
    }
}

impl FromStr for CubeConvPlan {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        if !s.contains('=') {
            return s.parse::<CubeConvAlgorithm>().map(Into::into);
        }
        let bad = |reason: String| ConfigError::BadConvPlan {
            plan: s.to_owned(),
            reason,
        };
        let mut plan = CubeConvPlan::default();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (op, kernel) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not `op=kernel`")))?;
            let kernel: ConvKernel = kernel.parse()?;
            let slot = match op.trim().to_ascii_lowercase().as_str() {
                "forward" => &mut plan.forward,
                "input" => &mut plan.input_grad,
                "weight" => &mut plan.weight_grad,
                other => {
                    return Err(bad(format!(
                        "unknown op `{other}`; expected one of: {}",
                        Self::OPS.join(", ")
                    )))
                }
            };
            *slot = kernel;
        }
        plan.misuse().map_or(Ok(plan), |reason| Err(bad(reason)))
    }
}

/// The usual plans, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CubeConvAlgorithm {
    /// [`ConvKernel::Burn`] for every op.
    Burn,
    /// [`ConvKernel::Direct`] for every op.
    Direct,
    /// [`ConvKernel::GEMM`] for every op; the default.
    #[default]
    ImplicitGemm,
    /// [`ConvKernel::GEMM`], except for the weight gradient: [`ConvKernel::SPLIT_K`].
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

    /// Its plan (`const`, for the process-wide default).
    pub const fn plan(self) -> CubeConvPlan {
        match self {
            Self::Burn => CubeConvPlan::uniform(ConvKernel::Burn),
            Self::Direct => CubeConvPlan::uniform(ConvKernel::Direct),
            Self::ImplicitGemm => CubeConvPlan::uniform(ConvKernel::GEMM),
            Self::ImplicitGemmSplitK => CubeConvPlan {
                weight_grad: ConvKernel::SPLIT_K,
                ..CubeConvPlan::uniform(ConvKernel::GEMM)
            },
        }
    }
}

impl From<CubeConvAlgorithm> for CubeConvPlan {
    fn from(algorithm: CubeConvAlgorithm) -> Self {
        algorithm.plan()
    }
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

/// The process-wide plan.
static PLAN: RwLock<CubeConvPlan> = RwLock::new(CubeConvAlgorithm::ImplicitGemm.plan());

/// Sets the plan the event-conv ops use on CubeCL backends from now on, process-wide, after
/// checking it ([`CubeConvPlan::validate`]).
pub fn set_cube_conv_plan(plan: CubeConvPlan) -> Result<(), ConfigError> {
    plan.validate()?;
    *PLAN.write().unwrap_or_else(|e| e.into_inner()) = plan;
    Ok(())
}

/// Sets one of the usual plans ([`set_cube_conv_plan`]).
pub fn set_cube_conv_algorithm(algorithm: CubeConvAlgorithm) {
    *PLAN.write().unwrap_or_else(|e| e.into_inner()) = algorithm.plan();
}

/// The plan the event-conv ops use on CubeCL backends ([`CubeConvAlgorithm::ImplicitGemm`]'s
/// unless [`set_cube_conv_plan`] chose another).
pub fn cube_conv_plan() -> CubeConvPlan {
    *PLAN.read().unwrap_or_else(|e| e.into_inner())
}

/// How many convolutions (forward or gradient) asked for an implicit GEMM or `im2col` ran the
/// direct kernel instead, in this process: a benchmark of such a kernel that reports
/// fallbacks measured the direct kernel for those.
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// The number of implicit-GEMM or `im2col` convolutions that fell back to the direct kernel so
/// far.
pub fn cube_conv_fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// Why the latest fallback happened (e.g. "stride [2, 2]: the implicit-GEMM input gradient
/// needs stride 1"), or `None` before the first one.
pub fn cube_conv_last_fallback() -> Option<String> {
    LAST_FALLBACK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

static LAST_FALLBACK: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Counts one fallback and records why (CubeCL backends only).
#[cfg_attr(not(feature = "cubecl"), allow(dead_code))]
pub(crate) fn record_fallback(reason: String) {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
    *LAST_FALLBACK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_and_bad_names_list_the_choices() {
        for (i, algorithm) in CubeConvAlgorithm::ALL.into_iter().enumerate() {
            assert_eq!(algorithm as usize, i, "ALL is in discriminant order");
            assert_eq!(algorithm.to_string().parse(), Ok(algorithm));
            // A usual plan is written by its name, and its name parses as a plan.
            assert_eq!(
                CubeConvPlan::from(algorithm).to_string(),
                algorithm.to_string()
            );
            assert_eq!(algorithm.to_string().parse(), Ok(algorithm.plan()));
        }
        assert_eq!(" Direct ".parse(), Ok(CubeConvAlgorithm::Direct));
        let err = "winograd".parse::<CubeConvAlgorithm>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("winograd"), "{message}");
        assert!(
            message.contains("direct, implicit-gemm, implicit-gemm-split-k"),
            "{message}"
        );
    }

    #[test]
    fn kernel_names_round_trip() {
        let all = ConvKernel::all();
        assert_eq!(all.len(), 3 + 4 + 9 * 2);
        assert_eq!("im2col".parse(), Ok(ConvKernel::Im2col));
        assert!(ConvKernel::Im2col.runs_forward() && !ConvKernel::Im2col.runs_weight_grad());
        assert!(!ConvKernel::SPLIT_K.runs_forward() && ConvKernel::SPLIT_K.runs_weight_grad());
        assert!(ConvKernel::GEMM.runs_forward() && ConvKernel::GEMM.runs_weight_grad());
        for (i, routine) in GemmRoutine::ALL.into_iter().enumerate() {
            assert_eq!(routine as usize, i);
        }
        for kernel in &all {
            assert_eq!(kernel.to_string().parse(), Ok(*kernel), "{kernel}");
        }
        let names: std::collections::HashSet<String> = all.iter().map(|k| k.to_string()).collect();
        assert_eq!(names.len(), all.len(), "names are distinct");
        assert_eq!("GEMM".parse(), Ok(ConvKernel::GEMM));
        assert_eq!(ConvKernel::SPLIT_K.to_string(), "split-k");
        assert_eq!("split-k-64k".parse(), Ok(ConvKernel::SPLIT_K));
        assert_eq!("split-k-16k".parse(), Ok(ConvKernel::SplitK(14)));
        assert_eq!(ConvKernel::SplitK(18).to_string(), "split-k-256k");
        assert!(ConvKernel::SplitK(12).is_split_k() && !ConvKernel::GEMM.is_split_k());
        assert!("split-k-3k".parse::<ConvKernel>().is_err());
        assert_eq!("Split-K-1k".parse(), Ok(ConvKernel::SplitK(10)));
        assert_eq!("split-k-1024k".parse(), Ok(ConvKernel::SplitK(20)));
        for bad in ["split-k-2048k", "split-k-0k", "split-k-k", "split-k-16"] {
            assert!(bad.parse::<ConvKernel>().is_err(), "{bad}");
        }
        for log2 in ConvKernel::SPLIT_K_LOG2 {
            let kernel = ConvKernel::SplitK(log2);
            assert_eq!(kernel.to_string().parse(), Ok(kernel));
        }
        // Out of range: written without panicking, and refused in a plan.
        for log2 in [0, 9, 21, 200, u8::MAX] {
            let kernel = ConvKernel::SplitK(log2);
            assert_eq!(kernel.to_string(), format!("split-k-2^{log2}"));
            let plan = CubeConvPlan {
                weight_grad: kernel,
                ..CubeConvPlan::default()
            };
            let err = plan.validate().unwrap_err().to_string();
            assert!(err.contains("2^10 to 2^20"), "{err}");
        }
        assert_eq!(ConvKernel::GEMM.to_string(), "gemm-sync-cyclic-cmma");
        assert_eq!(
            "gemm-specialized-tma-mma".parse(),
            Ok(ConvKernel::Gemm(GemmRoutine::SpecializedTma, GemmTile::Mma))
        );
        let message = "gemm-fast".parse::<ConvKernel>().unwrap_err().to_string();
        assert!(message.contains("gemm-async-tma-cmma"), "{message}");
    }

    #[test]
    fn plans_parse_per_op_and_reject_split_k_outside_the_weight_gradient() {
        let plan: CubeConvPlan = "forward=gemm-async-cyclic-mma, weight=split-k"
            .parse()
            .unwrap();
        assert_eq!(
            plan,
            CubeConvPlan {
                forward: ConvKernel::Gemm(GemmRoutine::AsyncCyclic, GemmTile::Mma),
                input_grad: ConvKernel::GEMM,
                weight_grad: ConvKernel::SPLIT_K,
            }
        );
        assert_eq!(
            plan.to_string(),
            "forward=gemm-async-cyclic-mma,input=gemm-sync-cyclic-cmma,weight=split-k"
        );
        assert_eq!(plan.to_string().parse(), Ok(plan));
        // A plan that equals a usual one is written by that name.
        let usual: CubeConvPlan = "weight=split-k".parse().unwrap();
        assert_eq!(usual.to_string(), "implicit-gemm-split-k");

        for bad in [
            "forward=split-k",
            "input=split-k-16k",
            "bias=direct",
            "forward",
        ] {
            let err = bad.parse::<CubeConvPlan>().unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::BadConvPlan { .. } | ConfigError::UnknownName { .. }
                ),
                "{bad}: {err}"
            );
        }
        let err = "forward=split-k".parse::<CubeConvPlan>().unwrap_err();
        assert!(err.to_string().contains("weight gradients"), "{err}");
        let plan: CubeConvPlan = "forward=im2col,input=im2col,weight=split-k-4k"
            .parse()
            .unwrap();
        assert_eq!(
            (plan.forward, plan.input_grad),
            (ConvKernel::Im2col, ConvKernel::Im2col)
        );
        let err = "weight=im2col".parse::<CubeConvPlan>().unwrap_err();
        assert!(err.to_string().contains("not `weight`"), "{err}");
        let err = "input=tiled".parse::<CubeConvPlan>().unwrap_err();
        assert!(err.to_string().contains("`tiled`"), "{err}");
        assert!(set_cube_conv_plan(CubeConvPlan::uniform(ConvKernel::SPLIT_K)).is_err());
    }

    #[test]
    fn the_process_wide_plan_is_set_and_read() {
        let plan = CubeConvPlan {
            forward: ConvKernel::Direct,
            ..CubeConvPlan::default()
        };
        set_cube_conv_plan(plan).unwrap();
        assert_eq!(cube_conv_plan(), plan);
        set_cube_conv_algorithm(CubeConvAlgorithm::Burn);
        assert_eq!(cube_conv_plan(), CubeConvPlan::uniform(ConvKernel::Burn));
        set_cube_conv_algorithm(CubeConvAlgorithm::default());
        assert_eq!(cube_conv_plan(), CubeConvPlan::default());
    }
}
