//! # ma-attention
//!
//! Multi-dimensional attention for spiking networks: temporal (TA), channel (CA) and spatial (SA)
//! attention and their combinations (TCA, TSA, CSA, TCSA), in the official-code form and the
//! paper's per-step form.
//!
//! Not implemented yet: this crate is an empty workspace member so the dependency graph is fixed
//! (it depends on `snn-core` only). See docs/ARCHITECTURE.md.
