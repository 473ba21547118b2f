//! The im2col convolution and input gradient ([`snn_core::conv::im2col`]) against burn's own
//! `conv2d` and `conv2d_x_backward` in f64 on `Flex`: kernel sizes, padding, stride,
//! dilation, rectangular inputs and kernels, a bias, and chunks of one frame, of a few frames
//! (a ragged last chunk), of all frames and the default budget.

use burn::backend::Flex;
use burn::tensor::ops::{ConvOptions, ModuleOps};
use burn::tensor::{Tensor, TensorPrimitive};
use snn_core::conv::im2col::{conv2d_im2col, input_grad_im2col, input_grad_supported};

mod common;

use common::{flex_tensor as tensor, inner_values as host, Rng};

fn assert_close(ours: &[f64], expected: &[f64], what: &str) {
    assert_eq!(ours.len(), expected.len(), "{what}: sizes");
    let scale = expected.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(expected)
        .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff <= 1e-12 * scale, "{what}: max diff {diff:e}");
}

/// (frames, C_in, C_out, H, W, kernel, stride, padding, dilation)
type Case = (
    usize,
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
);

const CASES: [Case; 7] = [
    (5, 3, 4, 8, 8, [3, 3], [1, 1], [1, 1], [1, 1]),
    (4, 2, 5, 9, 7, [3, 3], [2, 2], [1, 1], [1, 1]),
    (3, 3, 2, 10, 10, [3, 3], [1, 1], [2, 2], [2, 2]),
    (3, 4, 3, 6, 6, [1, 1], [1, 1], [0, 0], [1, 1]),
    (4, 2, 3, 11, 9, [5, 3], [2, 1], [2, 1], [1, 1]),
    (3, 2, 3, 7, 9, [3, 5], [1, 1], [0, 2], [1, 1]),
    // Padding K - 1: the gradient's convolution has no padding.
    (3, 2, 3, 6, 7, [3, 3], [1, 1], [2, 2], [1, 1]),
];

#[test]
fn im2col_forward_matches_burns_conv2d() {
    let mut rng = Rng::new(11);
    for (n, c_in, c_out, h, w, kernel, stride, padding, dilation) in CASES {
        let options = ConvOptions::new(stride, padding, dilation, 1);
        let x = tensor(rng.spikes(n * c_in * h * w, 0.3), [n, c_in, h, w]);
        let weight = tensor(
            rng.uniform(c_out * c_in * kernel[0] * kernel[1], -1.0, 1.0),
            [c_out, c_in, kernel[0], kernel[1]],
        );
        let bias = tensor(rng.uniform(c_out, -1.0, 1.0), [c_out]);
        let expected = burn::tensor::module::conv2d(
            x.clone(),
            weight.clone(),
            Some(bias.clone()),
            options.clone(),
        );
        let dims = expected.dims();
        let expected = host(expected);
        for chunk in [Some(1), Some(2), Some(n), None] {
            let ours = conv2d_im2col(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                &options,
                chunk,
            );
            assert_eq!(ours.dims(), dims);
            assert_close(
                &host(ours),
                &expected,
                &format!(
                    "forward: frames {n}, kernel {kernel:?}, stride {stride:?}, \
                     padding {padding:?}, dilation {dilation:?}, chunk {chunk:?}"
                ),
            );
        }
        let no_bias = conv2d_im2col(x.clone(), weight.clone(), None, &options, None);
        let expected = burn::tensor::module::conv2d(x, weight, None, options);
        assert_close(&host(no_bias), &host(expected), "forward without bias");
    }
}

#[test]
fn im2col_input_gradient_matches_burns() {
    let mut rng = Rng::new(12);
    let mut checked = 0;
    for (n, c_in, c_out, h, w, kernel, stride, padding, dilation) in CASES {
        let options = ConvOptions::new(stride, padding, dilation, 1);
        if !input_grad_supported(&options, kernel) {
            continue;
        }
        let x = tensor(rng.spikes(n * c_in * h * w, 0.3), [n, c_in, h, w]);
        let weight = tensor(
            rng.uniform(c_out * c_in * kernel[0] * kernel[1], -1.0, 1.0),
            [c_out, c_in, kernel[0], kernel[1]],
        );
        let out = burn::tensor::module::conv2d(x.clone(), weight.clone(), None, options.clone());
        let grad = tensor(
            rng.uniform(out.shape().num_elements(), -1.0, 1.0),
            out.dims(),
        );
        let expected = host(Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(
            Flex::conv2d_x_backward(
                x.into_primitive().tensor(),
                weight.clone().into_primitive().tensor(),
                grad.clone().into_primitive().tensor(),
                options.clone(),
            ),
        )));
        for chunk in [Some(2), None] {
            let ours = input_grad_im2col(grad.clone(), weight.clone(), &options, chunk);
            assert_eq!(ours.dims(), [n, c_in, h, w]);
            assert_close(
                &host(ours),
                &expected,
                &format!("input gradient: kernel {kernel:?}, padding {padding:?}, chunk {chunk:?}"),
            );
        }
        checked += 1;
    }
    // The 3 x 3 (padding 1 and 2), the 3 x 5 (padding 0 and 2) and the 1 x 1 cases.
    assert_eq!(checked, 4, "stride-1 undilated cases");
}

#[test]
fn an_empty_batch_gives_an_empty_output() {
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let x = tensor(Vec::new(), [0, 2, 5, 5]);
    let weight = tensor(vec![0.5; 3 * 2 * 9], [3, 2, 3, 3]);
    let out = conv2d_im2col(x, weight.clone(), None, &options, None);
    assert_eq!(out.dims(), [0, 3, 5, 5]);
    let grad = input_grad_im2col(tensor(Vec::new(), [0, 3, 5, 5]), weight, &options, None);
    assert_eq!(grad.dims(), [0, 2, 5, 5]);
}
