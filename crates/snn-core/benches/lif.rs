//! Criterion benchmark: fused vs reference LIF, forward + backward, `[T=60, B=16, 64, 32, 32]`
//! f32 on the CPU backend. `cargo bench -p snn-core --bench lif`; `cargo xtask bench lif --json`
//! prints the same comparison as one JSON object.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};
use snn_core::{Lif, LifConfig};

type B = Autodiff<Flex>;

fn lif_forward_backward(c: &mut Criterion) {
    let device = Default::default();
    let lif: Lif<B> = LifConfig::ma_snn_event().init(&device).unwrap();
    let x = Tensor::<B, 5>::random(
        [60, 16, 64, 32, 32],
        Distribution::Uniform(-0.2, 0.45),
        &device,
    );

    let mut group = c.benchmark_group("lif_fwd_bwd_T60_B16_64x32x32_f32");
    // One reference iteration takes seconds: keep the sample small.
    group.sample_size(10);
    group.bench_function("fused", |b| {
        b.iter(|| {
            let x = x.clone().require_grad();
            let grads = lif.forward(x.clone()).sum().backward();
            x.grad(&grads).unwrap()
        })
    });
    group.bench_function("reference", |b| {
        b.iter(|| {
            let x = x.clone().require_grad();
            let grads = lif.forward_reference(x.clone()).0.sum().backward();
            x.grad(&grads).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, lif_forward_backward);
criterion_main!(benches);
