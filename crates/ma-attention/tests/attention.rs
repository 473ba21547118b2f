//! The attention kit against an independent plain-Rust implementation (nested loops over f64),
//! finite-difference gradient checks, the official max-pool tie rule, and parameter counts.

// The plain reference below mirrors the equations with explicit index loops on purpose.
#![allow(clippy::needless_range_loop)]

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, TensorData};
use ma_attention::{
    AttentionConfig, AttentionError, AttentionForm, AttentionKind, AttentionLifConfig,
    InputMismatch, MultiDimAttention,
};
use snn_core::LifConfig;
use snn_testkit::max_abs_diff;

type B = Autodiff<Flex>;

// ---- helpers --------------------------------------------------------------------------------

fn pseudo_random(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lo + (hi - lo) * ((state >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

fn tensor<const D: usize>(values: Vec<f64>, dims: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, dims),
        (&Default::default(), DType::F64),
    )
}

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Builds the block in f64 with every weight redrawn from a fixed sequence.
fn block(config: &AttentionConfig, seed: u64) -> MultiDimAttention<B> {
    block_with(config, seed, -0.8)
}

/// [`block`] with MLP weights drawn from `[lo, 0.8]`.
fn block_with(config: &AttentionConfig, seed: u64, lo: f64) -> MultiDimAttention<B> {
    let mut att = config.init::<B>(&Default::default()).unwrap();
    let redraw = |p: &Param<Tensor<B, 2>>, s: u64| {
        let dims = p.dims();
        Param::from_tensor(tensor(pseudo_random(dims[0] * dims[1], s, lo, 0.8), dims))
    };
    if let Some(ta) = att.temporal.as_mut() {
        ta.mlp.squeeze = redraw(&ta.mlp.squeeze, seed + 1);
        ta.mlp.excite = redraw(&ta.mlp.excite, seed + 2);
    }
    if let Some(ca) = att.channel.as_mut() {
        ca.mlp.squeeze = redraw(&ca.mlp.squeeze, seed + 3);
        ca.mlp.excite = redraw(&ca.mlp.excite, seed + 4);
    }
    if let Some(sa) = att.spatial.as_mut() {
        let dims = sa.weight.dims();
        sa.weight = Param::from_tensor(tensor(
            pseudo_random(dims.iter().product(), seed + 5, -0.5, 0.5),
            dims,
        ));
    }
    att
}

// ---- the plain-Rust reference ---------------------------------------------------------------

struct Plain {
    w0: Vec<f64>,
    w1: Vec<f64>,
    hidden: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Plain {
    fn from(mlp: &ma_attention::SharedMlp<B>) -> Self {
        Self {
            hidden: mlp.squeeze.dims()[0],
            w0: values(mlp.squeeze.val()),
            w1: values(mlp.excite.val()),
        }
    }
    /// sigmoid(W1 relu(W0 avg) + W1 relu(W0 max)) for one descriptor pair of length n.
    fn weights(&self, avg: &[f64], max: &[f64]) -> Vec<f64> {
        let n = avg.len();
        let branch = |d: &[f64]| -> Vec<f64> {
            let hidden: Vec<f64> = (0..self.hidden)
                .map(|j| {
                    (0..n)
                        .map(|k| self.w0[j * n + k] * d[k])
                        .sum::<f64>()
                        .max(0.0)
                })
                .collect();
            (0..n)
                .map(|i| {
                    (0..self.hidden)
                        .map(|j| self.w1[i * self.hidden + j] * hidden[j])
                        .sum()
                })
                .collect()
        };
        let (a, m) = (branch(avg), branch(max));
        a.iter().zip(&m).map(|(x, y)| sigmoid(x + y)).collect()
    }
}

fn pool(vals: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = vals.clone().count() as f64;
    (
        vals.clone().sum::<f64>() / n,
        vals.fold(f64::NEG_INFINITY, f64::max),
    )
}

/// Official-form attention over x[t][b][c][h][w] (time-first, row-major).
fn plain_official(att: &MultiDimAttention<B>, x: &[f64], d: [usize; 5]) -> Vec<f64> {
    let [tt, bb, cc, hh, ww] = d;
    let at = |t: usize, b: usize, c: usize, h: usize, w: usize| {
        (((t * bb + b) * cc + c) * hh + h) * ww + w
    };
    let mut out = x.to_vec();
    if let Some(ta) = &att.temporal {
        let mlp = Plain::from(&ta.mlp);
        for b in 0..bb {
            let (mut avg, mut max) = (vec![0.0; tt], vec![0.0; tt]);
            for t in 0..tt {
                let slice = (0..cc * hh * ww).map(|i| out[at(t, b, 0, 0, 0) + i]);
                (avg[t], max[t]) = pool(slice);
            }
            let g = mlp.weights(&avg, &max);
            for t in 0..tt {
                for i in 0..cc * hh * ww {
                    out[at(t, b, 0, 0, 0) + i] *= g[t];
                }
            }
        }
    }
    if let Some(ca) = &att.channel {
        let mlp = Plain::from(&ca.mlp);
        for b in 0..bb {
            let (mut avg, mut max) = (vec![0.0; cc], vec![0.0; cc]);
            for c in 0..cc {
                let cells: Vec<f64> = (0..tt)
                    .flat_map(|t| (0..hh * ww).map(move |i| (t, i)))
                    .map(|(t, i)| out[at(t, b, c, 0, 0) + i])
                    .collect();
                (avg[c], max[c]) = pool(cells.into_iter());
            }
            let g = mlp.weights(&avg, &max);
            for t in 0..tt {
                for c in 0..cc {
                    for i in 0..hh * ww {
                        out[at(t, b, c, 0, 0) + i] *= g[c];
                    }
                }
            }
        }
    }
    if let Some(sa) = &att.spatial {
        let k = sa.weight.dims()[3];
        let wconv = values(sa.weight.val());
        for b in 0..bb {
            let mut maps = vec![0.0; 2 * hh * ww];
            for h in 0..hh {
                for w in 0..ww {
                    let cells: Vec<f64> = (0..tt)
                        .flat_map(|t| (0..cc).map(move |c| (t, c)))
                        .map(|(t, c)| out[at(t, b, c, h, w)])
                        .collect();
                    let (a, m) = pool(cells.into_iter());
                    maps[h * ww + w] = a;
                    maps[hh * ww + h * ww + w] = m;
                }
            }
            let r = (k / 2) as isize;
            for h in 0..hh {
                for w in 0..ww {
                    let mut acc = 0.0;
                    for ch in 0..2 {
                        for dy in -r..=r {
                            for dx in -r..=r {
                                let (y, x_) = (h as isize + dy, w as isize + dx);
                                if y < 0 || x_ < 0 || y >= hh as isize || x_ >= ww as isize {
                                    continue;
                                }
                                let wi = (ch * k + (dy + r) as usize) * k + (dx + r) as usize;
                                acc +=
                                    wconv[wi] * maps[ch * hh * ww + y as usize * ww + x_ as usize];
                            }
                        }
                    }
                    let g = sigmoid(acc);
                    for t in 0..tt {
                        for c in 0..cc {
                            out[at(t, b, c, h, w)] *= g;
                        }
                    }
                }
            }
        }
    }
    if att.config().trailing_relu && att.config().kind != AttentionKind::None {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    out
}

// ---- tests ----------------------------------------------------------------------------------

#[test]
fn every_variant_matches_the_plain_implementation() {
    let d = [6, 2, 4, 5, 5];
    let n: usize = d.iter().product();
    for (i, kind) in AttentionKind::ALL.into_iter().enumerate() {
        for kernel in [3, 7] {
            let config = AttentionConfig::official(kind, 6, 4)
                .with_t_ratio(2)
                .with_c_ratio(2)
                .with_sa_kernel(kernel);
            let att = block(&config, 10 * i as u64);
            let x = pseudo_random(n, 99 + i as u64, -1.0, 2.0);
            let ours = values(att.forward(tensor(x.clone(), d)));
            let plain = plain_official(&att, &x, d);
            assert!(
                max_abs_diff(&ours, &plain) <= 1e-13,
                "{kind} k{kernel}: {}",
                max_abs_diff(&ours, &plain)
            );
            if kind != AttentionKind::None {
                assert!(
                    max_abs_diff(&ours, &x) > 1e-3,
                    "{kind}: attention changed nothing"
                );
            }
        }
    }
}

#[test]
fn temporal_attention_works_on_fc_layers() {
    // [T, B, F]: the official fc variant pools over the features of each step.
    let (t, b, f) = (10, 3, 7);
    let config = AttentionConfig::official(AttentionKind::Ta, t, f);
    let att = block(&config, 3);
    let x = pseudo_random(t * b * f, 5, -1.0, 1.0);
    let ours = values(att.forward(tensor(x.clone(), [t, b, f])));
    // Same as the conv case with C = F and H = W = 1.
    let plain = plain_official(&att, &x, [t, b, f, 1, 1]);
    assert!(max_abs_diff(&ours, &plain) <= 1e-13);
}

#[test]
fn returned_weights_are_the_applied_ones() {
    let d = [4, 2, 3, 3, 3];
    let config = AttentionConfig::official(AttentionKind::Tcsa, 4, 3)
        .with_t_ratio(2)
        .with_c_ratio(1)
        .with_trailing_relu(false);
    let att = block(&config, 7);
    let x = tensor(pseudo_random(d.iter().product(), 8, 0.1, 1.0), d);
    let (out, w) = att.forward_with_weights(x.clone());
    let g_t: Tensor<B, 5> = w.temporal.unwrap().reshape([4, 2, 1, 1, 1]);
    let g_c: Tensor<B, 5> = w.channel.unwrap().reshape([1, 2, 3, 1, 1]);
    let g_s: Tensor<B, 5> = w.spatial.unwrap().reshape([1, 2, 1, 3, 3]);
    let expected = x * g_t * g_c * g_s;
    assert!(max_abs_diff(&values(out), &values(expected)) <= 1e-14);
}

/// The paper's per-step form against plain loops: TA on the input, then per step
/// U = H + X_t, U <- g_c(U) U (pool over H, W), U <- g_s(U) U (pool over C), fire, reset.
#[test]
fn paper_form_matches_the_plain_recurrence() {
    let d = [5, 2, 3, 4, 4];
    let [tt, bb, cc, hh, ww] = d;
    let n: usize = d.iter().product();
    for kind in [
        AttentionKind::Tcsa,
        AttentionKind::Ca,
        AttentionKind::Sa,
        AttentionKind::Ta,
    ] {
        let config = AttentionConfig::paper(kind, tt, cc)
            .with_t_ratio(2)
            .with_c_ratio(1);
        let mut unit = AttentionLifConfig {
            attention: config,
            neuron: LifConfig::ma_snn_event(),
        }
        .init::<B>(&Default::default())
        .unwrap();
        unit.attention = block(&config, 21);
        let x = pseudo_random(n, 31, 0.0, 3.0);
        let (spikes, weights) = unit.forward_with_weights(tensor(x.clone(), d));
        let spikes = values(spikes);

        // Plain: TA first (official TA code on the input), then the recurrence.
        let ta_only = {
            let mut ta_cfg = config;
            ta_cfg.kind = if kind.temporal() {
                AttentionKind::Ta
            } else {
                AttentionKind::None
            };
            ta_cfg.trailing_relu = false;
            let mut ta_block = ta_cfg.init::<B>(&Default::default()).unwrap();
            ta_block.temporal = unit.attention.temporal.clone();
            plain_official(&ta_block, &x, d)
        };
        let ca = unit.attention.channel.as_ref().map(|c| Plain::from(&c.mlp));
        let sa = unit
            .attention
            .spatial
            .as_ref()
            .map(|s| values(s.weight.val()));
        let per_step = cc * hh * ww;
        let mut h_state = vec![vec![0.0; per_step]; bb];
        let mut expected = vec![0.0; n];
        for t in 0..tt {
            for b in 0..bb {
                let base = (t * bb + b) * per_step;
                let mut u: Vec<f64> = (0..per_step)
                    .map(|i| h_state[b][i] + ta_only[base + i])
                    .collect();
                if let Some(mlp) = &ca {
                    let (mut avg, mut max) = (vec![0.0; cc], vec![0.0; cc]);
                    for c in 0..cc {
                        (avg[c], max[c]) = pool(u[c * hh * ww..(c + 1) * hh * ww].iter().copied());
                    }
                    let g = mlp.weights(&avg, &max);
                    for c in 0..cc {
                        u[c * hh * ww..(c + 1) * hh * ww]
                            .iter_mut()
                            .for_each(|v| *v *= g[c]);
                    }
                }
                if let Some(wconv) = &sa {
                    let k = 7usize;
                    let mut maps = vec![0.0; 2 * hh * ww];
                    for p in 0..hh * ww {
                        (maps[p], maps[hh * ww + p]) = pool((0..cc).map(|c| u[c * hh * ww + p]));
                    }
                    let r = (k / 2) as isize;
                    let mut g = vec![0.0; hh * ww];
                    for y in 0..hh as isize {
                        for x_ in 0..ww as isize {
                            let mut acc = 0.0;
                            for ch in 0..2 {
                                for dy in -r..=r {
                                    for dx in -r..=r {
                                        let (yy, xx) = (y + dy, x_ + dx);
                                        if yy < 0
                                            || xx < 0
                                            || yy >= hh as isize
                                            || xx >= ww as isize
                                        {
                                            continue;
                                        }
                                        acc += wconv
                                            [(ch * k + (dy + r) as usize) * k + (dx + r) as usize]
                                            * maps[ch * hh * ww + yy as usize * ww + xx as usize];
                                    }
                                }
                            }
                            g[y as usize * ww + x_ as usize] = sigmoid(acc);
                        }
                    }
                    for c in 0..cc {
                        for p in 0..hh * ww {
                            u[c * hh * ww + p] *= g[p];
                        }
                    }
                }
                for i in 0..per_step {
                    let s = if u[i] >= 0.3 { 1.0 } else { 0.0 };
                    expected[base + i] = s;
                    h_state[b][i] = 0.3 * (s * 0.3 + (1.0 - s) * u[i]);
                }
            }
        }
        assert_eq!(spikes, expected, "{kind}");
        let fired: f64 = spikes.iter().sum();
        assert!(
            fired > 0.05 * n as f64 && fired < 0.95 * n as f64,
            "{kind}: {fired} of {n} spiked"
        );
        if kind.channel() {
            assert_eq!(
                weights.channel.unwrap().dims(),
                [tt, bb, cc],
                "per-step channel weights"
            );
        }
        if kind.spatial() {
            assert_eq!(
                weights.spatial.unwrap().dims(),
                [tt, bb, hh, ww],
                "per-step spatial maps"
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let d = [4, 2, 3, 4, 4];
    let n: usize = d.iter().product();
    let config = AttentionConfig::official(AttentionKind::Tcsa, 4, 3)
        .with_t_ratio(2)
        .with_c_ratio(1);
    let att = block(&config, 41);
    let x0 = pseudo_random(n, 43, 0.05, 1.0);
    let w = tensor(pseudo_random(n, 44, -1.0, 1.0), d);
    let loss = |att: &MultiDimAttention<B>, x: Tensor<B, 5>| (att.forward(x) * w.clone()).sum();

    let x = tensor(x0.clone(), d).require_grad();
    let grads = loss(&att, x.clone()).backward();
    let grad_x = values(x.grad(&grads).unwrap());
    let ta = att.temporal.as_ref().unwrap();
    let grad_w0 = values(ta.mlp.squeeze.val().grad(&grads).unwrap());
    let grad_sa = values(
        att.spatial
            .as_ref()
            .unwrap()
            .weight
            .val()
            .grad(&grads)
            .unwrap(),
    );

    let eps = 1e-6;
    let scalar = |att: &MultiDimAttention<B>, x: Vec<f64>| values(loss(att, tensor(x, d)))[0];
    for i in (0..n).step_by(7) {
        let (mut up, mut down) = (x0.clone(), x0.clone());
        up[i] += eps;
        down[i] -= eps;
        let fd = (scalar(&att, up) - scalar(&att, down)) / (2.0 * eps);
        assert!(
            (fd - grad_x[i]).abs() <= 1e-6 * grad_x[i].abs().max(1.0),
            "x[{i}]: fd {fd} vs {}",
            grad_x[i]
        );
    }
    // One weight of the temporal MLP and one of the SA convolution.
    let perturbed = |f: &dyn Fn(&mut MultiDimAttention<B>, f64), delta: f64| {
        let mut a = att.clone();
        f(&mut a, delta);
        scalar(&a, x0.clone())
    };
    let bump_w0 = |a: &mut MultiDimAttention<B>, delta: f64| {
        let ta = a.temporal.as_mut().unwrap();
        let mut v = values(ta.mlp.squeeze.val());
        v[1] += delta;
        ta.mlp.squeeze = Param::from_tensor(tensor(v, ta.mlp.squeeze.dims()));
    };
    let fd = (perturbed(&bump_w0, eps) - perturbed(&bump_w0, -eps)) / (2.0 * eps);
    assert!(
        (fd - grad_w0[1]).abs() <= 1e-6 * grad_w0[1].abs().max(1.0),
        "W0: fd {fd} vs {}",
        grad_w0[1]
    );
    let bump_sa = |a: &mut MultiDimAttention<B>, delta: f64| {
        let sa = a.spatial.as_mut().unwrap();
        let mut v = values(sa.weight.val());
        v[4] += delta;
        sa.weight = Param::from_tensor(tensor(v, sa.weight.dims()));
    };
    let fd = (perturbed(&bump_sa, eps) - perturbed(&bump_sa, -eps)) / (2.0 * eps);
    assert!(
        (fd - grad_sa[4]).abs() <= 1e-6 * grad_sa[4].abs().max(1.0),
        "SA: fd {fd} vs {}",
        grad_sa[4]
    );
}

/// With a constant input every max-pool is a tie. The official code gives the max branch's
/// gradient to the first maximum only; the average branch and the direct path are the same for
/// every element. So exactly one element per pooled group gets a different gradient: the first.
#[test]
fn max_pool_ties_send_the_gradient_to_the_first_element() {
    let d = [3, 1, 2, 2, 2];
    let n: usize = d.iter().product();
    for kind in [AttentionKind::Ta, AttentionKind::Ca, AttentionKind::Sa] {
        let config = AttentionConfig::official(kind, 3, 2)
            .with_t_ratio(1)
            .with_c_ratio(1)
            .with_trailing_relu(false);
        // Positive MLP weights keep the ReLUs open, so the pooled descriptors get gradient.
        let att = block_with(&config, 51, 0.1);
        let x = tensor(vec![0.7; n], d).require_grad();
        let grads = att.forward(x.clone()).sum().backward();
        let g = values(x.grad(&grads).unwrap());
        let at = |t: usize, c: usize, p: usize| (t * 2 + c) * 4 + p;
        // The pooled groups and their first element in the official row-major order.
        let groups: Vec<Vec<usize>> = match kind {
            AttentionKind::Ta => (0..3)
                .map(|t| {
                    (0..2)
                        .flat_map(|c| (0..4).map(move |p| at(t, c, p)))
                        .collect()
                })
                .collect(),
            AttentionKind::Ca => (0..2)
                .map(|c| {
                    (0..3)
                        .flat_map(|t| (0..4).map(move |p| at(t, c, p)))
                        .collect()
                })
                .collect(),
            _ => (0..4)
                .map(|p| {
                    (0..3)
                        .flat_map(|t| (0..2).map(move |c| at(t, c, p)))
                        .collect()
                })
                .collect(),
        };
        for group in groups {
            let first = g[group[0]];
            let rest: Vec<f64> = group[1..].iter().map(|&i| g[i]).collect();
            assert!(
                rest.iter().all(|v| (v - rest[0]).abs() < 1e-12),
                "{kind}: the others differ among themselves: {rest:?}"
            );
            assert!(
                (first - rest[0]).abs() > 1e-9,
                "{kind}: the first maximum got no extra gradient ({first} vs {})",
                rest[0]
            );
        }
    }
}

#[test]
fn parameter_counts_follow_the_official_code() {
    let device = Default::default();
    for kind in AttentionKind::ALL {
        let config = AttentionConfig::official(kind, 60, 128);
        let att = config.init::<B>(&device).unwrap();
        assert_eq!(att.num_params(), config.param_count(), "{kind}");
    }
    assert_eq!(
        AttentionConfig::official(AttentionKind::Ta, 60, 64).param_count(),
        2 * 60 * 12
    );
    assert_eq!(
        AttentionConfig::official(AttentionKind::Ca, 60, 64).param_count(),
        2 * 64 * 8
    );
    assert_eq!(
        AttentionConfig::official(AttentionKind::Sa, 60, 64).param_count(),
        18
    );
    assert_eq!(
        AttentionConfig::paper(AttentionKind::Sa, 60, 64).param_count(),
        98
    );

    // The full Gesture net (T 60, r_t 5, r_c 8, k 3): conv layers of 64, 128, 128 channels get
    // the variant; the two FC layers get TA only, and only in the variants containing T.
    let expected = [
        (AttentionKind::Ta, 7_200),
        (AttentionKind::Ca, 9_216),
        (AttentionKind::Sa, 54),
        (AttentionKind::Tca, 16_416),
        (AttentionKind::Tsa, 7_254),
        (AttentionKind::Csa, 9_270),
        (AttentionKind::Tcsa, 16_470),
    ];
    for (kind, total) in expected {
        let conv: usize = [64, 128, 128]
            .iter()
            .map(|&c| {
                AttentionConfig::official(kind, 60, c)
                    .init::<B>(&device)
                    .unwrap()
                    .num_params()
            })
            .sum();
        let fc_kind = if kind.temporal() {
            AttentionKind::Ta
        } else {
            AttentionKind::None
        };
        let fc: usize = [256, 11]
            .iter()
            .map(|&f| {
                AttentionConfig::official(fc_kind, 60, f)
                    .init::<B>(&device)
                    .unwrap()
                    .num_params()
            })
            .sum();
        assert_eq!(conv + fc, total, "{kind}");
    }
}

#[test]
fn variants_parse_and_round_trip() {
    for kind in AttentionKind::ALL {
        assert_eq!(kind.name().parse::<AttentionKind>().unwrap(), kind);
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.name()));
        assert_eq!(serde_json::from_str::<AttentionKind>(&json).unwrap(), kind);
    }
    assert_eq!(
        "tcsa".parse::<AttentionKind>().unwrap(),
        AttentionKind::Tcsa
    );
    assert_eq!(
        "vanilla".parse::<AttentionKind>().unwrap(),
        AttentionKind::None
    );
    let err = "TCX".parse::<AttentionKind>().unwrap_err();
    assert!(err.to_string().contains("TCX"));
}

#[test]
fn bad_configurations_are_errors() {
    let device = Default::default();
    let too_short = AttentionConfig::official(AttentionKind::Ta, 4, 8); // floor(4 / 5) = 0
    assert!(matches!(
        too_short.init::<B>(&device).unwrap_err(),
        AttentionError::EmptyHidden {
            dimension: "temporal",
            ..
        }
    ));
    let kernel = AttentionConfig::official(AttentionKind::Sa, 4, 8).with_sa_kernel(5);
    assert_eq!(
        kernel.init::<B>(&device).unwrap_err(),
        AttentionError::SpatialKernel(5)
    );
    let relu = AttentionConfig::paper(AttentionKind::Ca, 10, 8).with_trailing_relu(true);
    assert_eq!(
        relu.init::<B>(&device).unwrap_err(),
        AttentionError::PaperFormRelu
    );
    assert_eq!(
        AttentionConfig::paper(AttentionKind::Ca, 10, 8).form,
        AttentionForm::Paper
    );
}

#[test]
fn mismatched_inputs_are_explained() {
    let att = AttentionConfig::official(AttentionKind::Csa, 6, 4)
        .with_c_ratio(2)
        .init::<B>(&Default::default())
        .unwrap();
    let err = att.check_input(&[6, 2, 5, 3, 3]).unwrap_err();
    assert_eq!(
        err,
        AttentionError::Shape {
            dims: vec![6, 2, 5, 3, 3],
            mismatch: InputMismatch::Channels { expected: 4 },
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("C = 4"), "{msg}");
    let msg = att.check_input(&[6, 2, 4]).unwrap_err().to_string();
    assert!(msg.contains("[T, B, C, H, W]"), "{msg}");
    assert!(att.check_input(&[6, 2, 4, 3, 3]).is_ok());
}
