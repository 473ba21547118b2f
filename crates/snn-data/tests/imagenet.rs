//! ImageNet layouts, decoding and transforms on small generated images (JPEG, PNG disguised
//! as JPEG, greyscale), so the real code paths run without the 150 GB dataset.

use std::path::Path;

use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use proptest::prelude::*;
use snn_data::imagenet::{
    decode_rgb, ImageNet, ImageNetSplit, ImageTransform, FLAT_VAL_LABEL_FILES, MEAN, STD,
};
use snn_data::loader::sample_rng;
use snn_data::DataError;

/// A fresh directory for one test, removed when it is dropped (also when the test fails).
fn temp_root(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("snn-imagenet-{name}-"))
        .tempdir()
        .unwrap()
}

/// An image whose red channel encodes x and green encodes y, so crops can be located.
fn coordinate_image(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 77]))
}

fn write(image: &RgbImage, path: &Path, format: ImageFormat) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save_with_format(path, format).unwrap();
}

const CLASSES: [&str; 3] = ["n01440764", "n01443537", "n15075141"];

/// train/<wnid>/ with two images each (one a PNG named .JPEG, one greyscale), and val/ either as
/// folders or flat.
fn build(root: &Path, val_folders: bool) {
    for (c, wnid) in CLASSES.iter().enumerate() {
        let dir = root.join("train").join(wnid);
        write(
            &coordinate_image(40 + c as u32, 30),
            &dir.join(format!("{wnid}_1.JPEG")),
            ImageFormat::Jpeg,
        );
        // A PNG with a .JPEG name, as a few real ImageNet files are.
        write(
            &coordinate_image(30, 50),
            &dir.join(format!("{wnid}_2.JPEG")),
            ImageFormat::Png,
        );
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    }
    let grey = GrayImage::from_fn(33, 33, |x, _| Luma([x as u8 * 7]));
    grey.save_with_format(
        root.join("train").join(CLASSES[2]).join("grey.JPEG"),
        ImageFormat::Jpeg,
    )
    .unwrap();
    for i in 1..=4u32 {
        let wnid = CLASSES[(i as usize * 2) % 3];
        let name = format!("ILSVRC2012_val_{i:08}.JPEG");
        let path = if val_folders {
            root.join("val").join(wnid).join(name)
        } else {
            root.join("val").join(name)
        };
        write(&coordinate_image(36, 36), &path, ImageFormat::Png);
    }
}

fn val_wnid(i: u32) -> &'static str {
    CLASSES[(i as usize * 2) % 3]
}

#[test]
fn train_folders_give_sorted_classes_and_skip_non_images() {
    let root_dir = temp_root("train");
    let root = root_dir.path();
    build(root, true);
    let data = ImageNet::open(root, ImageNetSplit::Train).unwrap();
    assert_eq!(data.classes, CLASSES);
    let labels: Vec<usize> = data.samples.iter().map(|s| s.label).collect();
    assert_eq!(labels, [0, 0, 1, 1, 2, 2, 2]);
    assert!(data
        .samples
        .iter()
        .all(|s| s.path.extension().unwrap() == "JPEG"));
}

#[test]
fn val_layouts_agree() {
    let folders_dir = temp_root("val-folders");
    let folders = folders_dir.path();
    build(folders, true);
    let by_folder = ImageNet::open(folders, ImageNetSplit::Val).unwrap();

    let kaggle_dir = temp_root("val-kaggle");
    let kaggle = kaggle_dir.path();
    build(kaggle, false);
    let mut csv = String::from("ImageId,PredictionString\n");
    for i in (1..=4u32).rev() {
        csv += &format!(
            "ILSVRC2012_val_{i:08},{} 1 2 3 4 {} 5 6 7 8\n",
            val_wnid(i),
            CLASSES[0]
        );
    }
    std::fs::write(kaggle.join(FLAT_VAL_LABEL_FILES[0]), csv).unwrap();
    let by_csv = ImageNet::open(kaggle, ImageNetSplit::Val).unwrap();

    let lines_dir = temp_root("val-lines");
    let lines = lines_dir.path();
    build(lines, false);
    let text: String = (1..=4u32).map(|i| format!("{}\n", val_wnid(i))).collect();
    std::fs::write(lines.join(FLAT_VAL_LABEL_FILES[1]), text).unwrap();
    let by_lines = ImageNet::open(lines, ImageNetSplit::Val).unwrap();

    let mut folder_labels: Vec<(String, usize)> = by_folder
        .samples
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into(),
                s.label,
            )
        })
        .collect();
    folder_labels.sort();
    for flat in [&by_csv, &by_lines] {
        assert_eq!(flat.classes, CLASSES);
        let labels: Vec<(String, usize)> = flat
            .samples
            .iter()
            .map(|s| {
                (
                    s.path.file_name().unwrap().to_string_lossy().into(),
                    s.label,
                )
            })
            .collect();
        assert_eq!(labels, folder_labels);
    }
    assert_eq!(folder_labels[0].1, 2); // val 1 -> CLASSES[2]
}

#[test]
fn bad_layouts_say_what_is_wrong() {
    let root_dir = temp_root("bad");
    let root = root_dir.path();
    build(root, false);
    let err = ImageNet::open(root, ImageNetSplit::Val).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("LOC_val_solution.csv"), "{msg}");

    std::fs::write(root.join("ILSVRC2012_validation_ground_truth.txt"), "490\n").unwrap();
    let msg = ImageNet::open(root, ImageNetSplit::Val)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("meta.mat"), "{msg}");

    // A label count that does not match the images names the file.
    std::fs::write(root.join("val_wnids.txt"), "n01440764\n").unwrap();
    let err = ImageNet::open(root, ImageNetSplit::Val).unwrap_err();
    assert!(matches!(err, DataError::Text { .. }), "{err}");
    assert!(err.to_string().contains("val_wnids.txt"));
    std::fs::write(root.join("val_wnids.txt"), "n0144x764\n".repeat(4)).unwrap();
    let msg = ImageNet::open(root, ImageNetSplit::Val)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 1") && msg.contains("not a WNID"),
        "{msg}"
    );

    // A val class missing from train.
    std::fs::write(root.join("val_wnids.txt"), "n09999999\n".repeat(4)).unwrap();
    let msg = ImageNet::open(root, ImageNetSplit::Val)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("n09999999"), "{msg}");

    // An empty class folder, and no train folder at all.
    std::fs::create_dir_all(root.join("train/n02000000")).unwrap();
    let msg = ImageNet::open(root, ImageNetSplit::Train)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("n02000000"), "{msg}");
    let empty_dir = temp_root("empty");
    let empty = empty_dir.path();
    let msg = ImageNet::open(empty, ImageNetSplit::Train)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train"), "{msg}");
}

#[test]
fn decoding_sniffs_the_format_and_names_broken_files() {
    let root_dir = temp_root("decode");
    let root = root_dir.path();
    build(root, true);
    let png_named_jpeg = root.join("train").join(CLASSES[0]).join("n01440764_2.JPEG");
    let image = decode_rgb(&png_named_jpeg).unwrap();
    assert_eq!(image, coordinate_image(30, 50)); // lossless: exact
    let grey = decode_rgb(&root.join("train").join(CLASSES[2]).join("grey.JPEG")).unwrap();
    assert_eq!(grey.dimensions(), (33, 33));
    assert!(grey.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));

    let broken = root.join("broken.JPEG");
    let mut bytes =
        std::fs::read(root.join("train").join(CLASSES[0]).join("n01440764_1.JPEG")).unwrap();
    bytes.truncate(40);
    std::fs::write(&broken, &bytes).unwrap();
    let msg = decode_rgb(&broken).unwrap_err().to_string();
    assert!(msg.contains("broken.JPEG"), "{msg}");
    std::fs::write(&broken, b"hello").unwrap();
    let msg = decode_rgb(&broken).unwrap_err().to_string();
    assert!(msg.contains("broken.JPEG"), "{msg}");
}

fn normalized(value: u8, channel: usize) -> f32 {
    (f32::from(value) / 255.0 - MEAN[channel]) / STD[channel]
}

#[test]
fn eval_transform_is_resize_then_centre_crop_then_normalise() {
    // Shorter side already 20: the resize is the identity, so the crop is visible exactly.
    let image = coordinate_image(25, 20);
    let transform = ImageTransform::Eval {
        resize: 20,
        crop: 16,
    };
    let mut out = vec![0f32; 3 * 16 * 16];
    transform.apply(&image, &mut || 0, &mut out);
    // left = round((25 - 16) / 2) = round(4.5) = 4 (half to even, as Python); top = 2.
    for y in 0..16 {
        for x in 0..16 {
            let at = |c: usize| out[c * 256 + y * 16 + x];
            assert_eq!(at(0), normalized((x + 4) as u8, 0));
            assert_eq!(at(1), normalized((y + 2) as u8, 1));
            assert_eq!(at(2), normalized(77, 2));
        }
    }
    // The standard transform gives 224 x 224 from any size.
    let big = coordinate_image(300, 260);
    let mut out = vec![0f32; 3 * 224 * 224];
    ImageTransform::imagenet_eval().apply(&big, &mut || 0, &mut out);
    assert!(out.iter().all(|v| v.is_finite()));
}

#[test]
fn train_transform_flips_half_the_time() {
    // Whole-image crop at the image's own size: the output is the image or its mirror.
    let image = coordinate_image(12, 12);
    let transform = ImageTransform::Train {
        size: 12,
        scale: (1.0, 1.0),
        ratio: (1.0, 1.0),
        flip: true,
    };
    let mut flips = 0;
    for sample in 0..64 {
        let mut out = vec![0f32; 3 * 144];
        transform.apply(&image, &mut sample_rng(1, 0, sample), &mut out);
        let first_red = out[0];
        if first_red == normalized(11, 0) {
            flips += 1;
            assert_eq!(out[11], normalized(0, 0));
        } else {
            assert_eq!(first_red, normalized(0, 0));
            assert_eq!(out[11], normalized(11, 0));
        }
    }
    assert!((16..=48).contains(&flips), "{flips} flips in 64");
}

#[test]
fn batches_are_parallel_deterministic_and_labelled() {
    let root_dir = temp_root("batch");
    let root = root_dir.path();
    build(root, true);
    let data = ImageNet::open(root, ImageNetSplit::Train).unwrap();
    let transform = ImageTransform::Train {
        size: 24,
        scale: (0.08, 1.0),
        ratio: (0.75, 4.0 / 3.0),
        flip: true,
    };
    let indices = [6, 0, 3, 2];
    let a = data.load_batch(&indices, &transform, 9, 1).unwrap();
    let b = data.load_batch(&indices, &transform, 9, 1).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.shape, [4, 3, 24, 24]);
    assert_eq!(a.labels, [2, 0, 1, 1]);
    // Another epoch draws other crops.
    let c = data.load_batch(&indices, &transform, 9, 2).unwrap();
    assert_ne!(a.images, c.images);
    // One sample alone is the same as within the batch.
    let single = data.load_batch(&[3], &transform, 9, 1).unwrap();
    let per = 3 * 24 * 24;
    assert_eq!(single.images, a.images[2 * per..3 * per]);

    let err = data.load_batch(&[99], &transform, 9, 1).unwrap_err();
    assert!(err.to_string().contains("99"));
}

proptest! {
    #[test]
    fn random_resized_crops_fit_the_image(
        width in 1u32..3000,
        height in 1u32..3000,
        seed in any::<u64>(),
        lo in 0.01f64..1.0,
    ) {
        let mut rng = sample_rng(seed, 0, 0);
        let crop = ImageTransform::random_resized_crop(
            width, height, (lo, 1.0), (3.0 / 4.0, 4.0 / 3.0), &mut rng);
        prop_assert!(crop.width >= 1 && crop.height >= 1);
        prop_assert!(crop.left + crop.width <= width);
        prop_assert!(crop.top + crop.height <= height);
    }
}
