//! Rescaling a tensor by attention weights that broadcast over some of its axes.
//!
//! `x * g` with a broadcast `g` is correct on every backend, but on the CPU backend a
//! broadcast over a leading or middle axis walks both tensors element by element, an order of
//! magnitude slower than its vectorised paths (same shape, or a per-row scalar over trailing
//! axes). [`scale`] first repeats `g` along the broadcast axes that are not trailing, which is
//! cheap next to `x`, so the product takes a vectorised path. Same values, same gradients.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `x * g`, where `g` has `x`'s rank and each of its axes is 1 or `x`'s size.
pub fn scale<B: Backend, const D: usize>(x: Tensor<B, D>, g: Tensor<B, D>) -> Tensor<B, D> {
    let x_dims = x.dims();
    let g_dims = g.dims();
    // Trailing axes that broadcast stay size 1: the product handles them as per-row scalars.
    let trailing = g_dims
        .iter()
        .zip(&x_dims)
        .rev()
        .take_while(|(g, x)| **g == 1 || **x == 1)
        .count();
    let mut g = g;
    for axis in 0..D - trailing {
        if g_dims[axis] == 1 && x_dims[axis] > 1 {
            g = g.repeat_dim(axis, x_dims[axis]);
        }
    }
    x * g
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    type B = Autodiff<Flex>;

    #[test]
    fn matches_the_plain_broadcast_product_and_its_gradients() {
        let device = Default::default();
        for g_shape in [
            [1, 3, 4, 1, 1],
            [1, 3, 1, 5, 6],
            [2, 3, 1, 1, 1],
            [1, 1, 1, 1, 1],
        ] {
            let x = Tensor::<B, 5>::random([2, 3, 4, 5, 6], Distribution::Default, &device)
                .require_grad();
            let g = Tensor::<B, 5>::random(g_shape, Distribution::Default, &device).require_grad();
            let fast = scale(x.clone(), g.clone());
            let plain = x.clone() * g.clone();
            fast.clone()
                .into_data()
                .assert_approx_eq::<f32>(&plain.clone().into_data(), Default::default());
            let w = Tensor::<B, 5>::random([2, 3, 4, 5, 6], Distribution::Default, &device);
            let grads_fast = (fast * w.clone()).sum().backward();
            let grads_plain = (plain * w).sum().backward();
            for t in [&x, &g] {
                t.grad(&grads_fast)
                    .unwrap()
                    .into_data()
                    .assert_approx_eq::<f32>(
                        &t.grad(&grads_plain).unwrap().into_data(),
                        Default::default(),
                    );
            }
        }
    }
}
