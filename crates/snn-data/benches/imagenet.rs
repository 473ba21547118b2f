//! ImageNet batch throughput (`cargo bench -p snn-data --bench imagenet`): 32 JPEGs of the
//! typical 500 x 375 size, decoded and transformed in parallel into `[32, 3, 224, 224]`, with the
//! training transform (RandomResizedCrop + flip) and the evaluation one (Resize + CenterCrop).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use image::{ImageFormat, Rgb, RgbImage};
use snn_data::imagenet::{ImageNet, ImageNetSplit, ImageTransform};

/// The dataset, and the temporary directory holding it (removed when dropped).
fn dataset() -> (ImageNet, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    for i in 0..32u32 {
        let dir = root.join("train").join(format!("n{:08}", i % 4));
        std::fs::create_dir_all(&dir).unwrap();
        // Smooth gradients with some texture, so the JPEG is of ordinary size.
        let image = RgbImage::from_fn(500, 375, |x, y| {
            Rgb([
                (x / 2) as u8,
                (y / 2) as u8,
                ((x * 7 + y * 13 + i * 31) % 256) as u8,
            ])
        });
        image
            .save_with_format(dir.join(format!("img_{i}.JPEG")), ImageFormat::Jpeg)
            .unwrap();
    }
    (ImageNet::open(&root, ImageNetSplit::Train).unwrap(), tmp)
}

fn batches(c: &mut Criterion) {
    let (data, _dir) = dataset();
    let indices: Vec<usize> = (0..data.samples.len()).collect();
    let mut group = c.benchmark_group("imagenet");
    group.throughput(Throughput::Elements(indices.len() as u64));
    group.sample_size(10);
    for (name, transform) in [
        ("train_batch32", ImageTransform::imagenet_train()),
        ("eval_batch32", ImageTransform::imagenet_eval()),
    ] {
        group.bench_function(name, |b| {
            let mut epoch = 0;
            b.iter(|| {
                epoch += 1;
                data.load_batch(&indices, &transform, 1, epoch).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, batches);
criterion_main!(benches);
