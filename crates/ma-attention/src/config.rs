//! Which attention dimensions to use, their sizes, and how they are wired into the neuron.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::AttentionError;

/// The attention variants of the paper: any combination of temporal (T), channel (C) and
/// spatial (S) attention, applied in the order T, C, S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttentionKind {
    /// No attention (vanilla network).
    #[serde(rename = "no")]
    None,
    /// Temporal attention.
    #[serde(rename = "TA")]
    Ta,
    /// Channel attention.
    #[serde(rename = "CA")]
    Ca,
    /// Spatial attention.
    #[serde(rename = "SA")]
    Sa,
    /// Temporal, then channel.
    #[serde(rename = "TCA")]
    Tca,
    /// Temporal, then spatial.
    #[serde(rename = "TSA")]
    Tsa,
    /// Channel, then spatial.
    #[serde(rename = "CSA")]
    Csa,
    /// Temporal, then channel, then spatial.
    #[serde(rename = "TCSA")]
    Tcsa,
}

impl AttentionKind {
    /// Every variant, vanilla first, in the order of the paper's Table 6.
    pub const ALL: [AttentionKind; 8] = [
        AttentionKind::None,
        AttentionKind::Ta,
        AttentionKind::Ca,
        AttentionKind::Sa,
        AttentionKind::Tca,
        AttentionKind::Tsa,
        AttentionKind::Csa,
        AttentionKind::Tcsa,
    ];

    /// Whether temporal attention is part of this variant.
    pub fn temporal(self) -> bool {
        matches!(self, Self::Ta | Self::Tca | Self::Tsa | Self::Tcsa)
    }

    /// Whether channel attention is part of this variant.
    pub fn channel(self) -> bool {
        matches!(self, Self::Ca | Self::Tca | Self::Csa | Self::Tcsa)
    }

    /// Whether spatial attention is part of this variant.
    pub fn spatial(self) -> bool {
        matches!(self, Self::Sa | Self::Tsa | Self::Csa | Self::Tcsa)
    }

    /// The official name: `no`, `TA`, `CA`, `SA`, `TCA`, `TSA`, `CSA` or `TCSA`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "no",
            Self::Ta => "TA",
            Self::Ca => "CA",
            Self::Sa => "SA",
            Self::Tca => "TCA",
            Self::Tsa => "TSA",
            Self::Csa => "CSA",
            Self::Tcsa => "TCSA",
        }
    }
}

impl fmt::Display for AttentionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AttentionKind {
    type Err = AttentionError;

    /// Parses the official names, case-insensitively; `none` and `vanilla` mean `no`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if matches!(lower.as_str(), "none" | "vanilla") {
            return Ok(Self::None);
        }
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(&lower))
            .ok_or_else(|| AttentionError::UnknownKind(s.to_owned()))
    }
}

/// Where channel and spatial attention act (temporal attention always rescales the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionForm {
    /// The official code (and the official checkpoints and golden fixtures): every dimension
    /// rescales the pre-neuron input of the whole sequence; CA pools over `(T, H, W)` giving one
    /// channel vector per sample, SA pools over all `T x C` slices giving one map per sample.
    #[default]
    Official,
    /// The paper's Eq. 14: CA and SA rescale the membrane potential `U = H[t-1] + X[t]` at every
    /// time step inside the recurrence (weights recomputed per step from `U`), TA the input.
    /// Never released by the authors; offered for research. Runs step by step (no fused kernel).
    Paper,
}

/// Configuration of a [`MultiDimAttention`](crate::MultiDimAttention) block for one layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttentionConfig {
    /// Which dimensions.
    pub kind: AttentionKind,
    /// Time steps `T` of the sequences (sizes the temporal MLP).
    pub steps: usize,
    /// Channels `C` of the layer (sizes the channel MLP; the feature count for FC layers).
    pub channels: usize,
    /// Temporal reduction `r_t`: the hidden size is `floor(T / r_t)`.
    pub t_ratio: usize,
    /// Channel reduction `r_c`: the hidden size is `floor(C / r_c)`.
    pub c_ratio: usize,
    /// Spatial-attention kernel size, 3 (official code) or 7 (paper).
    pub sa_kernel: usize,
    /// Apply a ReLU after the combination (official code: yes; paper: no).
    pub trailing_relu: bool,
    /// Official (sequence-level) or paper (per-step, inside the recurrence) wiring.
    pub form: AttentionForm,
}

impl AttentionConfig {
    /// The official code's settings: `r_t = 5`, `r_c = 8` (the released configs), SA kernel 3,
    /// trailing ReLU, official form.
    pub fn official(kind: AttentionKind, steps: usize, channels: usize) -> Self {
        Self {
            kind,
            steps,
            channels,
            t_ratio: 5,
            c_ratio: 8,
            sa_kernel: 3,
            trailing_relu: true,
            form: AttentionForm::Official,
        }
    }

    /// The paper's formulation: SA kernel 7, no trailing ReLU, CA/SA per step on the membrane.
    pub fn paper(kind: AttentionKind, steps: usize, channels: usize) -> Self {
        Self {
            sa_kernel: 7,
            trailing_relu: false,
            form: AttentionForm::Paper,
            ..Self::official(kind, steps, channels)
        }
    }

    /// Sets `r_t`.
    pub fn with_t_ratio(mut self, ratio: usize) -> Self {
        self.t_ratio = ratio;
        self
    }

    /// Sets `r_c`.
    pub fn with_c_ratio(mut self, ratio: usize) -> Self {
        self.c_ratio = ratio;
        self
    }

    /// Sets the SA kernel size (3 or 7).
    pub fn with_sa_kernel(mut self, kernel: usize) -> Self {
        self.sa_kernel = kernel;
        self
    }

    /// Turns the trailing ReLU on or off.
    pub fn with_trailing_relu(mut self, relu: bool) -> Self {
        self.trailing_relu = relu;
        self
    }

    /// Hidden size of the temporal MLP, `floor(T / r_t)`.
    pub fn temporal_hidden(&self) -> usize {
        self.steps.checked_div(self.t_ratio).unwrap_or(0)
    }

    /// Hidden size of the channel MLP, `floor(C / r_c)`.
    pub fn channel_hidden(&self) -> usize {
        self.channels.checked_div(self.c_ratio).unwrap_or(0)
    }

    /// Parameters this block adds, as the official code counts them:
    /// TA `2 T floor(T/r_t)`, CA `2 C floor(C/r_c)`, SA `2 k^2`.
    pub fn param_count(&self) -> usize {
        let mut n = 0;
        if self.kind.temporal() {
            n += 2 * self.steps * self.temporal_hidden();
        }
        if self.kind.channel() {
            n += 2 * self.channels * self.channel_hidden();
        }
        if self.kind.spatial() {
            n += 2 * self.sa_kernel * self.sa_kernel;
        }
        n
    }

    /// Checks that every used dimension has a non-empty MLP and a supported kernel.
    pub fn validate(&self) -> Result<(), AttentionError> {
        if self.kind.temporal() && self.temporal_hidden() == 0 {
            return Err(AttentionError::EmptyHidden {
                dimension: "temporal",
                size: self.steps,
                ratio: self.t_ratio,
            });
        }
        if self.kind.channel() && self.channel_hidden() == 0 {
            return Err(AttentionError::EmptyHidden {
                dimension: "channel",
                size: self.channels,
                ratio: self.c_ratio,
            });
        }
        if self.kind.spatial() && !matches!(self.sa_kernel, 3 | 7) {
            return Err(AttentionError::SpatialKernel(self.sa_kernel));
        }
        if self.form == AttentionForm::Paper && self.trailing_relu {
            return Err(AttentionError::PaperFormRelu);
        }
        Ok(())
    }
}
