//! # snn-export
//!
//! Export of trained networks to ONNX (verified by running the export) and to NIR.
//!
//! Not implemented yet: this crate is an empty workspace member so the dependency graph is fixed
//! (it depends on `snn-models`). See docs/ARCHITECTURE.md.
