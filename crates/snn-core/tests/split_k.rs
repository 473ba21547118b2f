//! The split-K weight gradient ([`snn_core::conv::split_k`]) against burn's own
//! `conv2d_weight_backward` in f64 on `Flex`: kernel sizes, padding, stride, dilation,
//! rectangular inputs and every divisor of the frame count as the chunk count.

use burn::backend::Flex;
use burn::tensor::ops::{ConvOptions, ModuleOps};
use burn::tensor::{Tensor, TensorPrimitive};
use snn_core::conv::split_k::{chunks_for, weight_grad_split_k, CHUNK_LEN};

mod common;

use common::{flex_tensor as tensor, inner_values as host, Rng};

#[test]
fn split_k_weight_gradient_matches_burns() {
    let mut rng = Rng::new(5);
    // (frames, C_in, C_out, H, W, kernel, stride, padding, dilation)
    let cases = [
        (6, 3, 4, 8, 8, [3, 3], [1, 1], [1, 1], [1, 1]),
        (4, 2, 5, 9, 7, [3, 3], [2, 2], [1, 1], [1, 1]),
        (6, 3, 2, 10, 10, [3, 3], [1, 1], [2, 2], [2, 2]),
        (3, 4, 3, 6, 6, [1, 1], [1, 1], [0, 0], [1, 1]),
        (4, 2, 3, 11, 9, [5, 3], [2, 1], [2, 1], [1, 1]),
    ];
    for (n, c_in, c_out, h, w, kernel, stride, padding, dilation) in cases {
        let options = ConvOptions::new(stride, padding, dilation, 1);
        let x = tensor(rng.spikes(n * c_in * h * w, 0.3), [n, c_in, h, w]);
        let weight = tensor(
            rng.uniform(c_out * c_in * kernel[0] * kernel[1], -1.0, 1.0),
            [c_out, c_in, kernel[0], kernel[1]],
        );
        let out = burn::tensor::module::conv2d(x.clone(), weight.clone(), None, options.clone());
        let out_dims = out.dims();
        let grad = tensor(rng.uniform(out.shape().num_elements(), -1.0, 1.0), out_dims);
        let expected = host(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
            Flex::conv2d_weight_backward(
                x.clone().into_primitive().tensor(),
                weight.into_primitive().tensor(),
                grad.clone().into_primitive().tensor(),
                options.clone(),
            ),
        )));
        for chunks in (1..=n).filter(|s| n % s == 0) {
            let ours = weight_grad_split_k(x.clone(), grad.clone(), kernel, &options, chunks);
            assert_eq!(ours.dims(), [c_out, c_in, kernel[0], kernel[1]]);
            let ours = host(ours);
            let scale = expected.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            let diff = ours
                .iter()
                .zip(&expected)
                .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                diff <= 1e-12 * scale,
                "frames {n}, kernel {kernel:?}, stride {stride:?}, padding {padding:?}, \
                 dilation {dilation:?}, {chunks} chunks: max diff {diff:e}"
            );
        }
    }
    assert_eq!(chunks_for(6, 64, CHUNK_LEN), 1);
}
