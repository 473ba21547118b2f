//! The fused CPU kernel: one pass over `[T, N]` forward, one pass backward.
//!
//! Neurons are independent, so the `N` axis is cut into column blocks that rayon processes in
//! parallel; each block walks through time with its state in a small buffer that stays in
//! cache. Nothing is allocated per time step. The rules themselves are
//! [`crate::neuron::rule`]'s; the spike test, the surrogate and (forward) the reset are chosen
//! once per call and monomorphised into the loop by the `with_*` helpers, while the backward
//! pass reads the reset's partial derivatives from the rule per element (measured no slower).
//!
//! f32 and f64 run here; other dtypes fall back to [`super::generic`].

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{generic, LifForward, LifGrads, LifSpikes};
use crate::flex_util::{cast, contiguous, flex_from_vec, flex_scalar, typed_slice, KernelFloat};
use crate::neuron::config::{FireTest, FiringRule, Reset, Surrogate};
use crate::neuron::rule::{leak, Elementwise};

/// Neurons per parallel block: big enough to amortise scheduling, small enough that the
/// block's state stays in L1/L2 while it walks through time.
const BLOCK: usize = 4096;

/// Element types the neuron kernel runs on: the CPU kernels' floats, with the neuron's rules
/// ([`Elementwise`]) on them.
pub trait LifFloat: KernelFloat + Elementwise + From<f32> {}
impl LifFloat for f32 {}
impl LifFloat for f64 {}

/// Results of [`forward`].
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardOutput<E> {
    /// Spikes `[T, N]`, 0 or 1.
    pub spikes: Vec<E>,
    /// Membrane `u[t]` `[T, N]` (empty when not asked for).
    pub membrane: Vec<E>,
    /// Number of spikes.
    pub spike_count: u64,
}

/// Runs the recurrence over `x` (`[steps, N]` row-major) from a zero state.
pub fn forward<E: LifFloat>(
    x: &[E],
    steps: usize,
    decay: E,
    rule: &FiringRule,
) -> ForwardOutput<E> {
    ForwardJob {
        x,
        steps,
        decay,
        rule,
        keep_membrane: true,
    }
    .run()
}

/// [`forward`] without writing the membrane (inference needs only the spikes): one write
/// stream fewer. `membrane` of the result is empty.
pub fn forward_spikes<E: LifFloat>(
    x: &[E],
    steps: usize,
    decay: E,
    rule: &FiringRule,
) -> ForwardOutput<E> {
    ForwardJob {
        x,
        steps,
        decay,
        rule,
        keep_membrane: false,
    }
    .run()
}

struct ForwardJob<'a, E> {
    x: &'a [E],
    steps: usize,
    decay: E,
    rule: &'a FiringRule,
    keep_membrane: bool,
}

impl<E: LifFloat> ForwardJob<'_, E> {
    fn run(self) -> ForwardOutput<E> {
        // Each arm names its variant as a literal constant (not a binding of the matched value,
        // which the closure would capture as data), so the rule's `match` folds away inside the
        // monomorphised loop.
        match self.rule.fire_test {
            FireTest::GreaterOrEqual => self.with_fire(|v| FireTest::GreaterOrEqual.fires(v)),
            FireTest::Greater => self.with_fire(|v| FireTest::Greater.fires(v)),
        }
    }

    fn with_fire(self, fires: impl Fn(E) -> bool + Sync) -> ForwardOutput<E> {
        let (decay, threshold) = (self.decay, self.rule.threshold);
        // The state after a spike, `Reset::after_spike`: the reference path's rule.
        match self.rule.reset {
            Reset::Hard { value } => self.with_reset(fires, move |u| {
                Reset::Hard { value }.after_spike(u, decay, threshold)
            }),
            Reset::Subtract => self.with_reset(fires, move |u| {
                Reset::Subtract.after_spike(u, decay, threshold)
            }),
            Reset::LeakToThreshold => self.with_reset(fires, move |u| {
                Reset::LeakToThreshold.after_spike(u, decay, threshold)
            }),
        }
    }

    fn with_reset(
        self,
        fires: impl Fn(E) -> bool + Sync,
        after_spike: impl Fn(E) -> E + Sync,
    ) -> ForwardOutput<E> {
        let len = self.x.len();
        let n = len.checked_div(self.steps).unwrap_or(0);
        // Every element is written below: no zeroing of these (large) buffers first.
        let mut spikes: Vec<E> = Vec::with_capacity(len);
        let mut membrane: Vec<E> = Vec::with_capacity(if self.keep_membrane { len } else { 0 });
        let (decay, threshold) = (self.decay, cast::<E>(self.rule.threshold));
        let step = |x: &[E],
                    s: &mut [MaybeUninit<E>],
                    state: &mut [E],
                    mut u: Option<&mut [MaybeUninit<E>]>| {
            let mut count = E::zero();
            for (i, ((&xi, si), st)) in x.iter().zip(s.iter_mut()).zip(state.iter_mut()).enumerate()
            {
                let ui = *st + xi;
                let fired = fires(ui - threshold);
                if let Some(u) = u.as_deref_mut() {
                    u[i].write(ui);
                }
                let spike = if fired { E::one() } else { E::zero() };
                si.write(spike);
                count = count + spike;
                *st = if fired {
                    after_spike(ui)
                } else {
                    leak(ui, decay)
                };
            }
            count
        };
        let blocks = column_blocks(self.x, n);
        let u_blocks: Vec<Option<_>> = if self.keep_membrane {
            column_blocks_mut(&mut membrane.spare_capacity_mut()[..len], n)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            (0..blocks.len()).map(|_| None).collect()
        };
        let spike_count = blocks
            .into_par_iter()
            .zip(column_blocks_mut(
                &mut spikes.spare_capacity_mut()[..len],
                n,
            ))
            .zip(u_blocks)
            .map(|((x, s), mut u)| {
                let width = x.first().map_or(0, |row| row.len());
                let mut state = vec![E::zero(); width];
                let mut count = 0u64;
                for (t, (x, s)) in x.into_iter().zip(s).enumerate() {
                    let u_t = u.as_mut().map(|u| &mut *u[t]);
                    count += to_u64(step(x, s, &mut state, u_t));
                }
                count
            })
            .sum();
        // SAFETY: every row of every column block was written above (the blocks cover the
        // `[steps, n]` buffers; `n == 0` means `len == 0`).
        unsafe {
            spikes.set_len(len);
            if self.keep_membrane {
                membrane.set_len(len);
            }
        }
        ForwardOutput {
            spikes,
            membrane,
            spike_count,
        }
    }
}

/// A per-row spike count (a sum of at most [`BLOCK`] ones, exact in f32) as an integer.
fn to_u64<E: KernelFloat>(count: E) -> u64 {
    num_traits::ToPrimitive::to_u64(&count).unwrap_or(0)
}

/// Results of [`backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct BackwardOutput<E> {
    /// `dL/dx`, `[T, N]`.
    pub grad_input: Vec<E>,
    /// `dL/d decay` (0 unless asked for).
    pub grad_decay: f64,
}

/// BPTT through the recurrence given the forward membrane (`[steps, N]`) and the upstream
/// gradients of spikes and/or membrane. See [`super::generic`] for the equations.
pub fn backward<E: LifFloat>(
    membrane: &[E],
    steps: usize,
    decay: E,
    grad_spikes: Option<&[E]>,
    grad_membrane: Option<&[E]>,
    rule: &FiringRule,
    want_decay_grad: bool,
) -> BackwardOutput<E> {
    BackwardJob {
        membrane,
        steps,
        decay,
        grad_spikes,
        grad_membrane,
        rule,
        want_decay_grad,
    }
    .run()
}

struct BackwardJob<'a, E> {
    membrane: &'a [E],
    steps: usize,
    decay: E,
    grad_spikes: Option<&'a [E]>,
    grad_membrane: Option<&'a [E]>,
    rule: &'a FiringRule,
    want_decay_grad: bool,
}

impl<E: LifFloat> BackwardJob<'_, E> {
    fn run(self) -> BackwardOutput<E> {
        match self.rule.fire_test {
            FireTest::GreaterOrEqual => self.with_fire(|v| FireTest::GreaterOrEqual.fires(v)),
            FireTest::Greater => self.with_fire(|v| FireTest::Greater.fires(v)),
        }
    }

    fn with_fire(self, fires: impl Fn(E) -> bool + Sync) -> BackwardOutput<E> {
        match self.rule.surrogate {
            s @ Surrogate::Rectangle { .. } => self.with_surrogate(fires, move |v| s.derivative(v)),
            s @ Surrogate::Sigmoid { .. } => self.with_surrogate(fires, move |v| s.derivative(v)),
            s @ Surrogate::Atan { .. } => self.with_surrogate(fires, move |v| s.derivative(v)),
            s @ Surrogate::Triangle { .. } => self.with_surrogate(fires, move |v| s.derivative(v)),
        }
    }

    fn with_surrogate(
        self,
        fires: impl Fn(E) -> bool + Sync,
        surrogate: impl Fn(E) -> E + Sync,
    ) -> BackwardOutput<E> {
        let beta = self.decay;
        // [dR/du, dR/ds, dR/d_decay] of the state after the step, R(u, s, decay): the rules of
        // `crate::neuron::rule`, with dR/ds = 0 when the reset is detached.
        let partials = move |rule: FiringRule, u: E, fired: bool| {
            let s = if fired { E::one() } else { E::zero() };
            [
                rule.d_state_d_u(s, beta),
                rule.d_state_d_spike(u, beta).unwrap_or(E::zero()),
                rule.d_state_d_decay(u, s),
            ]
        };
        // The rule is read per element here (a copy in the closure, not a literal: the reset's
        // `match` is loop-invariant and `bench lif` measured this no slower than per-reset
        // closures).
        let rule = *self.rule;
        self.with_partials(fires, surrogate, move |u, f| partials(rule, u, f))
    }

    fn with_partials(
        self,
        fires: impl Fn(E) -> bool + Sync,
        surrogate: impl Fn(E) -> E + Sync,
        partials: impl Fn(E, bool) -> [E; 3] + Sync,
    ) -> BackwardOutput<E> {
        let len = self.membrane.len();
        let n = len.checked_div(self.steps).unwrap_or(0);
        // Every element is written below: no zeroing first.
        let mut grad_input: Vec<E> = Vec::with_capacity(len);
        let threshold = cast::<E>(self.rule.threshold);
        let want_decay_grad = self.want_decay_grad;
        let u_blocks = column_blocks(self.membrane, n);
        let gs_blocks = optional_column_blocks(self.grad_spikes, n, u_blocks.len());
        let gu_blocks = optional_column_blocks(self.grad_membrane, n, u_blocks.len());
        let grad_decay = u_blocks
            .into_par_iter()
            .zip(gs_blocks)
            .zip(gu_blocks)
            .zip(column_blocks_mut(
                &mut grad_input.spare_capacity_mut()[..len],
                n,
            ))
            .map(|(((u, gs), gu), mut gx)| {
                let width = u.first().map_or(0, |row| row.len());
                let zeros = vec![E::zero(); width];
                let mut gh = vec![E::zero(); width];
                let mut grad_decay = 0.0f64;
                for t in (0..u.len()).rev() {
                    let gs_t = gs.as_ref().map_or(&zeros[..], |g| g[t]);
                    let gu_t = gu.as_ref().map_or(&zeros[..], |g| g[t]);
                    let mut row_decay = E::zero();
                    for ((((&u, &gs), &gu), gx), gh) in u[t]
                        .iter()
                        .zip(gs_t)
                        .zip(gu_t)
                        .zip(gx[t].iter_mut())
                        .zip(gh.iter_mut())
                    {
                        let v = u - threshold;
                        let [d_du, d_ds, d_decay] = partials(u, fires(v));
                        let g_spike = gs + *gh * d_ds;
                        let g_u = gu + *gh * d_du + g_spike * surrogate(v);
                        row_decay = row_decay + *gh * d_decay;
                        gx.write(g_u);
                        *gh = g_u;
                    }
                    if want_decay_grad {
                        grad_decay +=
                            num_traits::ToPrimitive::to_f64(&row_decay).unwrap_or(f64::NAN);
                    }
                }
                grad_decay
            })
            .sum();
        // SAFETY: the column blocks cover the buffer and every row of each was written.
        unsafe { grad_input.set_len(len) };
        BackwardOutput {
            grad_input,
            grad_decay,
        }
    }
}

/// Splits a row-major `[T, n]` buffer into column blocks: block `c` holds, for every `t`, the
/// elements `[c * BLOCK, (c + 1) * BLOCK)` of row `t`.
fn column_blocks<E>(buf: &[E], n: usize) -> Vec<Vec<&[E]>> {
    let mut blocks: Vec<Vec<&[E]>> = Vec::new();
    if n == 0 {
        return blocks;
    }
    for row in buf.chunks(n) {
        for (c, piece) in row.chunks(BLOCK).enumerate() {
            if c == blocks.len() {
                blocks.push(Vec::with_capacity(buf.len() / n));
            }
            blocks[c].push(piece);
        }
    }
    blocks
}

/// [`column_blocks`] of an optional buffer: `blocks` times `None` when it is absent.
fn optional_column_blocks<E>(buf: Option<&[E]>, n: usize, blocks: usize) -> Vec<Option<Vec<&[E]>>> {
    match buf {
        Some(buf) => column_blocks(buf, n).into_iter().map(Some).collect(),
        None => (0..blocks).map(|_| None).collect(),
    }
}

/// Mutable version of [`column_blocks`].
fn column_blocks_mut<E>(buf: &mut [E], n: usize) -> Vec<Vec<&mut [E]>> {
    let mut blocks: Vec<Vec<&mut [E]>> = Vec::new();
    if n == 0 {
        return blocks;
    }
    let rows = buf.len() / n;
    for row in buf.chunks_mut(n) {
        for (c, piece) in row.chunks_mut(BLOCK).enumerate() {
            if c == blocks.len() {
                blocks.push(Vec::with_capacity(rows));
            }
            blocks[c].push(piece);
        }
    }
    blocks
}

/// The `Flex` forward pass: the kernel for f32 and f64 (the membrane only when
/// `keep_membrane`), the generic path for other dtypes (which always has it).
fn flex_forward_pass(
    input: FloatTensor<Flex>,
    decay: FloatTensor<Flex>,
    rule: &FiringRule,
    keep_membrane: bool,
) -> (LifSpikes<Flex>, Option<FlexTensor>) {
    fn run<E: LifFloat>(
        input: FlexTensor,
        decay: f64,
        rule: &FiringRule,
        keep_membrane: bool,
    ) -> (LifSpikes<Flex>, Option<FlexTensor>) {
        let shape = input.shape();
        let input = contiguous::<E>(&input);
        let x = typed_slice::<E>(&input);
        let job = if keep_membrane {
            forward
        } else {
            forward_spikes
        };
        let out = job(x, shape[0], cast::<E>(decay), rule);
        let spikes = LifSpikes {
            spikes: flex_from_vec(out.spikes, shape.clone()),
            // In f64 whatever the input dtype: f32 counts are inexact above 2^24 spikes.
            spike_count: flex_from_vec(vec![out.spike_count as f64], Shape::new([1])),
        };
        (
            spikes,
            keep_membrane.then(|| flex_from_vec(out.membrane, shape)),
        )
    }
    match input.dtype() {
        DType::F32 => run::<f32>(input, flex_scalar(decay), rule, keep_membrane),
        DType::F64 => run::<f64>(input, flex_scalar(decay), rule, keep_membrane),
        _ => {
            let LifForward {
                spikes,
                membrane,
                spike_count,
            } = generic::forward::<Flex>(input, decay, rule);
            (
                LifSpikes {
                    spikes,
                    spike_count,
                },
                Some(membrane),
            )
        }
    }
}

/// [`super::LifBackend::lif_forward`] for `Flex`.
pub(crate) fn flex_forward(
    input: FloatTensor<Flex>,
    decay: FloatTensor<Flex>,
    rule: &FiringRule,
) -> LifForward<Flex> {
    let (out, membrane) = flex_forward_pass(input, decay, rule, true);
    LifForward {
        spikes: out.spikes,
        membrane: membrane.expect("the membrane was asked for"),
        spike_count: out.spike_count,
    }
}

/// [`super::LifBackend::lif_forward_spikes`] for `Flex`: the kernel without the membrane.
pub(crate) fn flex_forward_spikes(
    input: FloatTensor<Flex>,
    decay: FloatTensor<Flex>,
    rule: &FiringRule,
) -> LifSpikes<Flex> {
    flex_forward_pass(input, decay, rule, false).0
}

/// [`super::LifBackend::lif_backward`] for `Flex`.
pub(crate) fn flex_backward(
    membrane: FloatTensor<Flex>,
    decay: FloatTensor<Flex>,
    grad_spikes: Option<FloatTensor<Flex>>,
    grad_membrane: Option<FloatTensor<Flex>>,
    rule: &FiringRule,
    want_decay_grad: bool,
) -> LifGrads<Flex> {
    fn run<E: LifFloat>(
        membrane: FlexTensor,
        decay: FlexTensor,
        grad_spikes: Option<FlexTensor>,
        grad_membrane: Option<FlexTensor>,
        rule: &FiringRule,
        want_decay_grad: bool,
    ) -> LifGrads<Flex> {
        let shape = membrane.shape();
        let decay_dtype = decay.dtype();
        let membrane = contiguous::<E>(&membrane);
        // Upstream gradients may arrive in another dtype only if the graph mixed dtypes;
        // bring them to the membrane's so the kernel sees one element type.
        let prepare = |g: FlexTensor| {
            let g = if g.dtype() == E::dtype() {
                g
            } else {
                FlexTensor::from_data(g.into_data().convert::<E>())
            };
            contiguous::<E>(&g)
        };
        let grad_spikes = grad_spikes.map(prepare);
        let grad_membrane = grad_membrane.map(prepare);
        let out = backward(
            typed_slice(&membrane),
            shape[0],
            cast::<E>(flex_scalar(decay)),
            grad_spikes.as_ref().map(typed_slice),
            grad_membrane.as_ref().map(typed_slice),
            rule,
            want_decay_grad,
        );
        LifGrads {
            input: flex_from_vec(out.grad_input, shape),
            decay: want_decay_grad.then(|| {
                FlexTensor::from_data(
                    TensorData::new(vec![out.grad_decay], Shape::new([1]))
                        .convert_dtype(decay_dtype),
                )
            }),
        }
    }
    match membrane.dtype() {
        DType::F32 => run::<f32>(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            rule,
            want_decay_grad,
        ),
        DType::F64 => run::<f64>(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            rule,
            want_decay_grad,
        ),
        _ => generic::backward::<Flex>(
            membrane,
            decay,
            grad_spikes,
            grad_membrane,
            rule,
            want_decay_grad,
        ),
    }
}
