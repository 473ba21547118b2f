//! The neuron's rules, each written once.
//!
//! For every time step (see [`crate::neuron::config`]):
//!
//! ```text
//! u = h + x                                  charge
//! s = H(u - threshold)                       spike test         FireTest::spike
//! h = s ? after_spike(u) : decay * u         state after step   FiringRule::next_state
//! ds/du ~ g(u - threshold)                   surrogate          Surrogate::derivative
//! ```
//!
//! and the partial derivatives of the state after the step, `R(u, s, decay)`, that BPTT needs
//! ([`FiringRule::d_state_d_u`], [`FiringRule::d_state_d_spike`],
//! [`FiringRule::d_state_d_decay`]).
//!
//! Each rule is written once, over [`Elementwise`] values, and every implementation calls it:
//! the CPU kernel on `f32`/`f64` scalars (one neuron at a time), the reference and the generic
//! fused path on burn tensors (all neurons at once), and the ONNX exporter on graph values
//! (`snn-export`). The CubeCL kernel is device code and keeps its own copy, which
//! `tests/cube_fused.rs` checks against these rules for every configuration (spike test x
//! reset x surrogate x reset detachment x decay gradient).
//!
//! Adding a surrogate or a reset is its formula here plus the CubeCL kernel's device copy; the
//! compiler then asks for the arms that only dispatch or describe (the variant and its
//! validation in `config`, the monomorphising dispatch in `fused/cpu.rs`, the constants in
//! `fused/cube.rs`).

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::config::{FireTest, FiringRule, Reset, Surrogate};

/// A comparison for [`Elementwise::indicator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `x >= c`.
    GreaterOrEqual,
    /// `x > c`.
    Greater,
    /// `x < c`.
    Less,
}

/// The arithmetic the neuron's rules are written in: implemented for `f32` and `f64` (one
/// neuron), for burn tensors (a layer of neurons, broadcasting `[1, ..]` operands such as the
/// decay) and, in `snn-export`, for ONNX graph values.
///
/// Spikes are 0/1 values of the same type, so one rule serves every implementation.
pub trait Elementwise: Clone {
    /// `self + rhs`.
    fn add(self, rhs: Self) -> Self;
    /// `self - rhs`.
    fn sub(self, rhs: Self) -> Self;
    /// `self * rhs`.
    fn mul(self, rhs: Self) -> Self;
    /// `self + c`.
    fn add_scalar(self, c: f64) -> Self;
    /// `self * c`.
    fn mul_scalar(self, c: f64) -> Self;
    /// `self / c`.
    fn div_scalar(self, c: f64) -> Self;
    /// `c / self`.
    fn scalar_div(self, c: f64) -> Self;
    /// `-self`.
    fn neg(self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// `max(self, 0)`.
    fn clamp_min_zero(self) -> Self;
    /// 1 where `self cmp c` holds, else 0.
    fn indicator(self, cmp: Compare, c: f64) -> Self;
    /// The constant `c`, shaped (and placed) like `self`.
    fn constant_like(&self, c: f64) -> Self;
    /// `if_spike` where `spike` is 1, `otherwise` where it is 0; differentiable in `spike`
    /// (as `if_spike * spike + otherwise * (1 - spike)`) where the type is.
    fn select(spike: Self, if_spike: Self, otherwise: Self) -> Self;
}

macro_rules! scalar_elementwise {
    ($t:ty) => {
        impl Elementwise for $t {
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline(always)]
            fn add_scalar(self, c: f64) -> Self {
                self + c as $t
            }
            #[inline(always)]
            fn mul_scalar(self, c: f64) -> Self {
                self * c as $t
            }
            #[inline(always)]
            fn div_scalar(self, c: f64) -> Self {
                self / c as $t
            }
            #[inline(always)]
            fn scalar_div(self, c: f64) -> Self {
                c as $t / self
            }
            #[inline(always)]
            fn neg(self) -> Self {
                -self
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn clamp_min_zero(self) -> Self {
                if self > 0.0 {
                    self
                } else {
                    0.0
                }
            }
            #[inline(always)]
            fn indicator(self, cmp: Compare, c: f64) -> Self {
                let c = c as $t;
                let holds = match cmp {
                    Compare::GreaterOrEqual => self >= c,
                    Compare::Greater => self > c,
                    Compare::Less => self < c,
                };
                if holds {
                    1.0
                } else {
                    0.0
                }
            }
            #[inline(always)]
            fn constant_like(&self, c: f64) -> Self {
                c as $t
            }
            #[inline(always)]
            fn select(spike: Self, if_spike: Self, otherwise: Self) -> Self {
                if spike != 0.0 {
                    if_spike
                } else {
                    otherwise
                }
            }
        }
    };
}

scalar_elementwise!(f32);
scalar_elementwise!(f64);

impl<B: Backend, const D: usize> Elementwise for Tensor<B, D> {
    fn add(self, rhs: Self) -> Self {
        Tensor::add(self, rhs)
    }
    fn sub(self, rhs: Self) -> Self {
        Tensor::sub(self, rhs)
    }
    fn mul(self, rhs: Self) -> Self {
        Tensor::mul(self, rhs)
    }
    fn add_scalar(self, c: f64) -> Self {
        Tensor::add_scalar(self, c)
    }
    fn mul_scalar(self, c: f64) -> Self {
        Tensor::mul_scalar(self, c)
    }
    fn div_scalar(self, c: f64) -> Self {
        Tensor::div_scalar(self, c)
    }
    fn scalar_div(self, c: f64) -> Self {
        self.recip().mul_scalar(c)
    }
    fn neg(self) -> Self {
        Tensor::neg(self)
    }
    fn abs(self) -> Self {
        Tensor::abs(self)
    }
    fn exp(self) -> Self {
        Tensor::exp(self)
    }
    fn clamp_min_zero(self) -> Self {
        self.clamp_min(0.0)
    }
    fn indicator(self, cmp: Compare, c: f64) -> Self {
        let mask = match cmp {
            Compare::GreaterOrEqual => self.clone().greater_equal_elem(c),
            Compare::Greater => self.clone().greater_elem(c),
            Compare::Less => self.clone().lower_elem(c),
        };
        self.zeros_like().mask_fill(mask, 1.0)
    }
    fn constant_like(&self, c: f64) -> Self {
        self.full_like(c)
    }
    fn select(spike: Self, if_spike: Self, otherwise: Self) -> Self {
        // The full-size operand first: `if_spike` / `otherwise` may be `[1, ..]` (the decay),
        // and burn-flex broadcasts a small left operand element by element.
        let keep = spike.clone().neg().add_scalar(1.0);
        spike.mul(if_spike) + keep.mul(otherwise)
    }
}

impl FireTest {
    /// The spike, 1 or 0, at `v = u - threshold`.
    #[inline(always)]
    pub fn spike<M: Elementwise>(self, v: M) -> M {
        match self {
            FireTest::GreaterOrEqual => v.indicator(Compare::GreaterOrEqual, 0.0),
            FireTest::Greater => v.indicator(Compare::Greater, 0.0),
        }
    }

    /// Whether a neuron at `v = u - threshold` fires ([`FireTest::spike`] as a `bool`).
    #[inline(always)]
    pub fn fires<M: Elementwise + PartialEq + From<f32>>(self, v: M) -> bool {
        self.spike(v) != M::from(0.0)
    }
}

impl Surrogate {
    /// The surrogate derivative `g(v)` at `v = u - threshold`, used for `d s / d u` in the
    /// backward pass.
    #[inline(always)]
    pub fn derivative<M: Elementwise>(self, v: M) -> M {
        match self {
            Surrogate::Rectangle { lens } => v
                .abs()
                .indicator(Compare::Less, lens)
                .mul_scalar(0.5 / lens),
            Surrogate::Sigmoid { alpha } => {
                let sig = v
                    .mul_scalar(alpha)
                    .neg()
                    .exp()
                    .add_scalar(1.0)
                    .scalar_div(1.0);
                let rest = sig.clone().neg().add_scalar(1.0);
                sig.mul_scalar(alpha).mul(rest)
            }
            Surrogate::Atan { alpha } => {
                let z = v.mul_scalar(core::f64::consts::FRAC_PI_2 * alpha);
                z.clone().mul(z).add_scalar(1.0).scalar_div(alpha * 0.5)
            }
            Surrogate::Triangle { width } => v
                .abs()
                .div_scalar(width)
                .neg()
                .add_scalar(1.0)
                .clamp_min_zero()
                .div_scalar(width),
        }
    }
}

impl Reset {
    /// The state after a spike at membrane `u`: the hard reset's value, `decay * (u -
    /// threshold)` for the subtract reset, `decay * threshold` for the official MA-SNN reset.
    #[inline(always)]
    pub fn after_spike<M: Elementwise>(self, u: M, decay: M, threshold: f64) -> M {
        match self {
            Reset::Hard { value } => u.constant_like(value),
            Reset::Subtract => u.add_scalar(-threshold).mul(decay),
            Reset::LeakToThreshold => decay.mul_scalar(threshold),
        }
    }
}

/// The state after a step without a spike: `decay * u` (written `u * decay`, the full-size
/// operand first for tensors; the same value).
#[inline(always)]
pub fn leak<M: Elementwise>(u: M, decay: M) -> M {
    u.mul(decay)
}

impl FiringRule {
    /// The spike, 1 or 0, at membrane `u`.
    #[inline(always)]
    pub fn spike<M: Elementwise>(&self, u: M) -> M {
        self.fire_test.spike(u.add_scalar(-self.threshold))
    }

    /// The surrogate derivative `g(u - threshold)` at membrane `u`.
    #[inline(always)]
    pub fn surrogate_derivative<M: Elementwise>(&self, u: M) -> M {
        self.surrogate.derivative(u.add_scalar(-self.threshold))
    }

    /// The state after the step, `R(u, s, decay)`: [`Reset::after_spike`] where `s` is 1,
    /// [`leak`] where it is 0. With tensors it is differentiable in `s` (the caller detaches `s`
    /// first when [`FiringRule::detach_reset`] is set).
    #[inline(always)]
    pub fn next_state<M: Elementwise>(&self, u: M, s: M, decay: M) -> M {
        let after = self
            .reset
            .after_spike(u.clone(), decay.clone(), self.threshold);
        M::select(s, after, leak(u, decay))
    }

    /// `dR/du` at membrane `u` with spike `s`: the leak factor, or 0 after a spike unless the
    /// reset subtracts.
    #[inline(always)]
    pub fn d_state_d_u<M: Elementwise>(&self, s: M, decay: M) -> M {
        match self.reset {
            Reset::Subtract => decay,
            Reset::Hard { .. } | Reset::LeakToThreshold => {
                M::select(s, decay.constant_like(0.0), decay)
            }
        }
    }

    /// `dR/ds` at membrane `u`, or `None` when the reset is detached (the spike is then a
    /// constant in the reset expression, and no gradient flows through it).
    #[inline(always)]
    pub fn d_state_d_spike<M: Elementwise>(&self, u: M, decay: M) -> Option<M> {
        if self.detach_reset {
            return None;
        }
        Some(match self.reset {
            Reset::Hard { value } => u.mul(decay).neg().add_scalar(value),
            Reset::Subtract => decay.mul_scalar(-self.threshold),
            Reset::LeakToThreshold => u.neg().add_scalar(self.threshold).mul(decay),
        })
    }

    /// `dR/d decay` at membrane `u` with spike `s` (for a learnable decay).
    #[inline(always)]
    pub fn d_state_d_decay<M: Elementwise>(&self, u: M, s: M) -> M {
        let after_spike = match self.reset {
            Reset::Hard { .. } => u.constant_like(0.0),
            Reset::Subtract => u.clone().add_scalar(-self.threshold),
            Reset::LeakToThreshold => u.constant_like(self.threshold),
        };
        M::select(s, after_spike, u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::config::LifConfig;

    /// Central differences of `R(u, s, decay)` in each argument, with `s` in {0, 1} held
    /// fixed for `u` and `decay` and moved linearly (the blend) for `s`.
    #[test]
    fn partials_are_the_derivatives_of_the_next_state() {
        let h = 1e-6;
        for reset in [
            Reset::Hard { value: 0.0 },
            Reset::Hard { value: -0.4 },
            Reset::Subtract,
            Reset::LeakToThreshold,
        ] {
            let rule = LifConfig::ma_snn_event().with_reset(reset).rule;
            for &u in &[-0.7_f64, 0.1, 0.9, 2.3] {
                for &s in &[0.0_f64, 1.0] {
                    let decay = 0.35;
                    let r = |u: f64, s: f64, d: f64| {
                        // The blend in s, as the tensor implementation differentiates it.
                        let after = reset.after_spike(u, d, rule.threshold);
                        after * s + leak(u, d) * (1.0 - s)
                    };
                    let du = (r(u + h, s, decay) - r(u - h, s, decay)) / (2.0 * h);
                    let ds = (r(u, s + h, decay) - r(u, s - h, decay)) / (2.0 * h);
                    let dd = (r(u, s, decay + h) - r(u, s, decay - h)) / (2.0 * h);
                    let close = |a: f64, b: f64| (a - b).abs() < 1e-8;
                    assert!(
                        close(rule.d_state_d_u(s, decay), du),
                        "{reset:?} u={u} s={s}"
                    );
                    assert!(
                        close(rule.d_state_d_spike(u, decay).unwrap(), ds),
                        "{reset:?} u={u} s={s}"
                    );
                    assert!(
                        close(rule.d_state_d_decay(u, s), dd),
                        "{reset:?} u={u} s={s}"
                    );
                    assert_eq!(rule.next_state(u, s, decay), r(u, s, decay));
                }
            }
            let detached = FiringRule {
                detach_reset: true,
                ..rule
            };
            assert!(detached.d_state_d_spike(0.5, 0.3).is_none());
        }
    }

    #[test]
    fn scalar_and_tensor_rules_agree() {
        use burn::tensor::TensorData;
        type T = Tensor<burn_flex::Flex, 1>;
        let device = Default::default();
        let v: Vec<f64> = (0..41).map(|i| -1.0 + 0.05 * i as f64).collect();
        let tensor = |xs: &[f64]| {
            T::from_data(
                TensorData::new(xs.to_vec(), [xs.len()]),
                (&device, burn::tensor::DType::F64),
            )
        };
        let values = |t: T| t.into_data().iter::<f64>().collect::<Vec<_>>();
        for s in [
            Surrogate::Rectangle { lens: 0.25 },
            Surrogate::Sigmoid { alpha: 4.0 },
            Surrogate::Atan { alpha: 2.0 },
            Surrogate::Triangle { width: 0.7 },
        ] {
            let got = values(s.derivative(tensor(&v)));
            for (g, &x) in got.iter().zip(&v) {
                assert!((g - s.derivative(x)).abs() < 1e-15, "{s:?} at {x}");
            }
        }
        for test in [FireTest::GreaterOrEqual, FireTest::Greater] {
            let got = values(test.spike(tensor(&v)));
            for (g, &x) in got.iter().zip(&v) {
                assert_eq!(*g, test.spike(x), "{test:?} at {x}");
            }
        }
    }
}
