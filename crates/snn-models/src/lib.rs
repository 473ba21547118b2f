//! # snn-models
//!
//! The MA-SNN event networks (DVS128 Gesture / Gait), the 5-layer PLIF-style network and
//! Res-SNN-18/34/104 (MS-ResNet style), vanilla or with attention, with import of official
//! PyTorch checkpoints and golden equivalence against the official code.
//!
//! Not implemented yet: this crate is an empty workspace member so the dependency graph is fixed
//! (it depends on `snn-core` and `ma-attention`). See docs/ARCHITECTURE.md.
