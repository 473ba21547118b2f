//! ImageNet-1k (ILSVRC2012) in the folder layouts people actually have, decoded in parallel,
//! with torchvision's standard transforms.
//!
//! Layouts (facts in `shared/reference/datasets.md` section 3, copied into the docs):
//!
//! - `train/<wnid>/*.JPEG`, always in class folders;
//! - `val/<wnid>/*.JPEG` (reorganised by torchvision or `valprep.sh`), or a flat `val/` beside a
//!   ground-truth file naming each image's WNID: Kaggle's `LOC_val_solution.csv`
//!   (`ImageId,PredictionString`, first token the WNID), or `val_wnids.txt` /
//!   `imagenet_2012_validation_synset_labels.txt` (one WNID per line, in file-number order).
//!
//! The devkit's `ILSVRC2012_validation_ground_truth.txt` holds ILSVRC2012 IDs whose order is not
//! the WNID order and whose mapping lives in `meta.mat`; it is refused with a message saying
//! which of the accepted files to use instead, never silently mislabelled.
//!
//! Class indices follow torchvision's `ImageFolder`: the WNIDs sorted, so index 0 is
//! `n01440764` (tench). Images are sniffed from their bytes (a few ImageNet "JPEG"s are PNG or
//! CMYK) and converted to RGB; greyscale becomes three equal channels.
//!
//! Spiking networks see a static image repeated over T steps (direct encoding); that is the
//! model's choice, so batches here are plain `[B, 3, H, W]`.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{ImageReader, RgbImage};
use rayon::prelude::*;

use crate::error::DataError;
use crate::loader::sample_rng;

/// Per-channel mean of ImageNet in RGB order, as torchvision normalises.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// Per-channel standard deviation of ImageNet in RGB order.
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The ground-truth file names accepted beside a flat `val/` folder.
pub const FLAT_VAL_LABEL_FILES: [&str; 3] = [
    "LOC_val_solution.csv",
    "val_wnids.txt",
    "imagenet_2012_validation_synset_labels.txt",
];

/// Which ImageNet split to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageNetSplit {
    /// `train/`.
    Train,
    /// `val/`, the split papers report.
    Val,
}

impl ImageNetSplit {
    /// The folder name of the split.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
        }
    }
}

/// One image and its class index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSample {
    /// The image file.
    pub path: PathBuf,
    /// Index into [`ImageNet::classes`].
    pub label: usize,
}

/// The images of one split and the class list they index.
#[derive(Debug, Clone)]
pub struct ImageNet {
    /// WNIDs, sorted: the class index is the position here.
    pub classes: Vec<String>,
    /// Samples ordered by class, then by file name (train and folder val), or by file name
    /// (flat val).
    pub samples: Vec<ImageSample>,
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpeg" | "jpg" | "png"))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Class folders of `dir` (sorted names) and, for each, its sorted image files.
fn class_folders(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, DataError> {
    let mut classes = Vec::new();
    let mut empty = Vec::new();
    for entry in sorted_entries(dir)? {
        if !entry.is_dir() {
            continue;
        }
        let images: Vec<PathBuf> = sorted_entries(&entry)?
            .into_iter()
            .filter(|p| p.is_file() && is_image_file(p))
            .collect();
        let name = file_name(&entry);
        if images.is_empty() {
            empty.push(name.clone());
        }
        classes.push((name, images));
    }
    if !empty.is_empty() {
        return Err(DataError::Layout {
            path: dir.to_owned(),
            message: format!(
                "class folder(s) without any .JPEG/.jpg/.png image: {}",
                empty.join(", ")
            ),
        });
    }
    Ok(classes)
}

impl ImageNet {
    /// Reads the split's file list under `root` (the folder holding `train/` and `val/`).
    ///
    /// The class list comes from `train/` when it exists (so train and val agree even if a
    /// val folder is missing a class), otherwise from the val folders or labels.
    pub fn open(root: &Path, split: ImageNetSplit) -> Result<Self, DataError> {
        let train_dir = root.join("train");
        let train_classes = if train_dir.is_dir() {
            Some(class_folders(&train_dir)?)
        } else {
            None
        };
        match split {
            ImageNetSplit::Train => {
                let folders = train_classes.ok_or_else(|| DataError::Layout {
                    path: train_dir.clone(),
                    message: "no train/ folder (expected train/<wnid>/*.JPEG)".into(),
                })?;
                if folders.is_empty() {
                    return Err(DataError::Layout {
                        path: train_dir,
                        message: "no class folders (expected train/<wnid>/*.JPEG)".into(),
                    });
                }
                let classes: Vec<String> = folders.iter().map(|(n, _)| n.clone()).collect();
                let samples = folders
                    .into_iter()
                    .enumerate()
                    .flat_map(|(label, (_, files))| {
                        files
                            .into_iter()
                            .map(move |path| ImageSample { path, label })
                    })
                    .collect();
                Ok(Self { classes, samples })
            }
            ImageNetSplit::Val => {
                let known = train_classes.map(|f| f.into_iter().map(|(n, _)| n).collect());
                Self::open_val(&root.join("val"), root, known)
            }
        }
    }

    fn open_val(
        val_dir: &Path,
        root: &Path,
        known: Option<Vec<String>>,
    ) -> Result<Self, DataError> {
        if !val_dir.is_dir() {
            return Err(DataError::Layout {
                path: val_dir.to_owned(),
                message: "no val/ folder".into(),
            });
        }
        let folders = class_folders(val_dir)?;
        // (file, wnid) pairs, from class folders or from a ground-truth file.
        let labelled: Vec<(PathBuf, String)> = if !folders.is_empty() {
            folders
                .into_iter()
                .flat_map(|(wnid, files)| files.into_iter().map(move |f| (f, wnid.clone())))
                .collect()
        } else {
            flat_val_labels(val_dir, root)?
        };
        let classes = match known {
            Some(classes) => classes,
            None => labelled
                .iter()
                .map(|(_, w)| w.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let mut samples = Vec::with_capacity(labelled.len());
        for (path, wnid) in labelled {
            let label = classes
                .binary_search(&wnid)
                .map_err(|_| DataError::Layout {
                    path: path.clone(),
                    message: format!(
                        "class {wnid} is not among the {} train classes",
                        classes.len()
                    ),
                })?;
            samples.push(ImageSample { path, label });
        }
        Ok(Self { classes, samples })
    }

    /// Decodes and transforms the samples at `indices` in parallel into one `[B, 3, S, S]`
    /// batch. Random choices come from `(seed, epoch, sample index)`, so the batch does not
    /// depend on thread scheduling.
    pub fn load_batch(
        &self,
        indices: &[usize],
        transform: &ImageTransform,
        seed: u64,
        epoch: u64,
    ) -> Result<ImageBatch, DataError> {
        let size = transform.output_size() as usize;
        let per_image = 3 * size * size;
        let mut images = vec![0f32; indices.len() * per_image];
        images
            .par_chunks_mut(per_image)
            .zip(indices.par_iter())
            .try_for_each(|(out, &index)| {
                let sample = self.samples.get(index).ok_or_else(|| DataError::Layout {
                    path: PathBuf::new(),
                    message: format!(
                        "sample index {index} out of range ({} samples)",
                        self.samples.len()
                    ),
                })?;
                let image = decode_rgb(&sample.path)?;
                let mut rng = sample_rng(seed, epoch, index);
                transform.apply(&image, &mut rng, out);
                Ok(())
            })?;
        Ok(ImageBatch {
            images,
            labels: indices.iter().map(|&i| self.samples[i].label).collect(),
            shape: [indices.len(), 3, size, size],
        })
    }
}

/// Labels of a flat `val/` folder from the first ground-truth file found.
fn flat_val_labels(val_dir: &Path, root: &Path) -> Result<Vec<(PathBuf, String)>, DataError> {
    let files: Vec<PathBuf> = sorted_entries(val_dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    if files.is_empty() {
        return Err(DataError::Layout {
            path: val_dir.to_owned(),
            message: "neither class folders nor images".into(),
        });
    }
    let candidates = FLAT_VAL_LABEL_FILES
        .iter()
        .flat_map(|name| [root.join(name), val_dir.join(name)]);
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
        let name = path.display().to_string();
        return if path.extension().is_some_and(|e| e == "csv") {
            kaggle_labels(&text, &name, val_dir, &files)
        } else {
            wnid_per_line_labels(&text, &name, &files)
        };
    }
    let devkit = root.join("ILSVRC2012_validation_ground_truth.txt");
    let hint = if devkit.is_file() {
        " (the devkit's ILSVRC2012_validation_ground_truth.txt holds ILSVRC2012 IDs whose WNIDs \
         are only in meta.mat: sort val/ into class folders with valprep.sh or torchvision, or \
         use Kaggle's LOC_val_solution.csv)"
    } else {
        ""
    };
    Err(DataError::Layout {
        path: val_dir.to_owned(),
        message: format!(
            "flat val/ folder without a ground-truth file; expected one of {} in {} or in val/{hint}",
            FLAT_VAL_LABEL_FILES.join(", "),
            root.display()
        ),
    })
}

fn is_wnid(s: &str) -> bool {
    s.len() == 9 && s.starts_with('n') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Kaggle's `ImageId,PredictionString` (first token of the prediction string is the WNID).
fn kaggle_labels(
    text: &str,
    name: &str,
    val_dir: &Path,
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, String)>, DataError> {
    let mut by_id = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if i == 0 || line.is_empty() {
            continue; // header
        }
        let err = |message: String| DataError::Text {
            source_name: name.to_owned(),
            line: i + 1,
            message,
        };
        let (id, prediction) = line
            .split_once(',')
            .ok_or_else(|| err("expected `ImageId,PredictionString`".into()))?;
        let wnid = prediction.split_whitespace().next().unwrap_or_default();
        if !is_wnid(wnid) {
            return Err(err(format!("`{wnid}` is not a WNID (nXXXXXXXX)")));
        }
        by_id.insert(id.trim().to_owned(), wnid.to_owned());
    }
    files
        .iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            by_id
                .get(&stem)
                .map(|w| (path.clone(), w.clone()))
                .ok_or_else(|| DataError::Layout {
                    path: val_dir.join(file_name(path)),
                    message: format!("no row for `{stem}` in {name}"),
                })
        })
        .collect()
}

/// One WNID per line, in the order of the sorted val file names.
fn wnid_per_line_labels(
    text: &str,
    name: &str,
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, String)>, DataError> {
    let mut wnids = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !is_wnid(line) {
            return Err(DataError::Text {
                source_name: name.to_owned(),
                line: i + 1,
                message: format!("`{line}` is not a WNID (nXXXXXXXX)"),
            });
        }
        wnids.push(line.to_owned());
    }
    if wnids.len() != files.len() {
        return Err(DataError::Text {
            source_name: name.to_owned(),
            line: wnids.len(),
            message: format!(
                "{} labels for {} images in val/ (one WNID per image, in file-name order)",
                wnids.len(),
                files.len()
            ),
        });
    }
    Ok(files.iter().cloned().zip(wnids).collect())
}

/// Decodes an image file as RGB, whatever its extension says (the format is sniffed from the
/// bytes; greyscale, CMYK and alpha are converted).
pub fn decode_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let image_error = |message: String| DataError::Layout {
        path: path.to_owned(),
        message,
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(image_error("not a JPEG or PNG image".into()));
    }
    let image = reader
        .decode()
        .map_err(|e| image_error(format!("cannot decode: {e}")))?;
    Ok(image.into_rgb8())
}

/// A batch of images, `[B, 3, S, S]` row-major, and their class indices.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBatch {
    /// Normalised pixels, `[B, 3, S, S]`.
    pub images: Vec<f32>,
    /// Class index of each image.
    pub labels: Vec<usize>,
    /// `[B, 3, S, S]`.
    pub shape: [usize; 4],
}

/// torchvision's standard ImageNet transforms, ending in `ToTensor` and `Normalize`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageTransform {
    /// `RandomResizedCrop(size, scale, ratio)`, then `RandomHorizontalFlip(0.5)` if `flip`.
    Train {
        /// Output side.
        size: u32,
        /// Range of the crop's area as a fraction of the image.
        scale: (f64, f64),
        /// Range of the crop's aspect ratio (width / height).
        ratio: (f64, f64),
        /// Mirror half of the images (the MA-SNN ImageNet recipe does not).
        flip: bool,
    },
    /// `Resize(resize)` of the shorter side, then `CenterCrop(crop)`.
    Eval {
        /// Shorter side after resizing.
        resize: u32,
        /// Output side.
        crop: u32,
    },
}

/// A crop rectangle: top, left, height, width (torchvision's `i, j, h, w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// First row.
    pub top: u32,
    /// First column.
    pub left: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

/// A uniform draw in `[0, 1)` from 53 random bits.
fn unit(rng: &mut impl FnMut() -> u64) -> f64 {
    (rng() >> 11) as f64 / (1u64 << 53) as f64
}

impl ImageTransform {
    /// `RandomResizedCrop(224)` with torchvision's defaults and a horizontal flip.
    pub fn imagenet_train() -> Self {
        Self::Train {
            size: 224,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip: true,
        }
    }

    /// `Resize(256)` then `CenterCrop(224)`.
    pub fn imagenet_eval() -> Self {
        Self::Eval {
            resize: 256,
            crop: 224,
        }
    }

    /// The side of the square output.
    pub fn output_size(&self) -> u32 {
        match *self {
            Self::Train { size, .. } => size,
            Self::Eval { crop, .. } => crop,
        }
    }

    /// torchvision's `RandomResizedCrop.get_params` for a `width x height` image: ten tries
    /// at a random area and log-uniform aspect, then a centre crop with the aspect clamped.
    /// Python's `round` rounds half to even, so this does too.
    pub fn random_resized_crop(
        width: u32,
        height: u32,
        scale: (f64, f64),
        ratio: (f64, f64),
        rng: &mut impl FnMut() -> u64,
    ) -> Crop {
        let (w_img, h_img) = (width as f64, height as f64);
        let area = w_img * h_img;
        let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
        for _ in 0..10 {
            let target = area * (scale.0 + (scale.1 - scale.0) * unit(rng));
            let aspect = (log_lo + (log_hi - log_lo) * unit(rng)).exp();
            let w = (target * aspect).sqrt().round_ties_even();
            let h = (target / aspect).sqrt().round_ties_even();
            if 0.0 < w && w <= w_img && 0.0 < h && h <= h_img {
                let (w, h) = (w as u32, h as u32);
                let top = (rng() % u64::from(height - h + 1)) as u32;
                let left = (rng() % u64::from(width - w + 1)) as u32;
                return Crop {
                    top,
                    left,
                    height: h,
                    width: w,
                };
            }
        }
        let in_ratio = w_img / h_img;
        let (w, h) = if in_ratio < ratio.0.min(ratio.1) {
            (
                width,
                ((w_img / ratio.0.min(ratio.1)).round_ties_even() as u32).max(1),
            )
        } else if in_ratio > ratio.0.max(ratio.1) {
            (
                ((h_img * ratio.0.max(ratio.1)).round_ties_even() as u32).max(1),
                height,
            )
        } else {
            (width, height)
        };
        let (w, h) = (w.min(width), h.min(height));
        Crop {
            top: (height - h) / 2,
            left: (width - w) / 2,
            height: h,
            width: w,
        }
    }

    /// torchvision's `Resize(size)` output for an int size: the shorter side becomes `size`,
    /// the longer `int(size * long / short)` (truncated, as torchvision does).
    pub fn resized_dims(width: u32, height: u32, size: u32) -> (u32, u32) {
        let (short, long) = (width.min(height), width.max(height));
        let new_long = ((u64::from(size) * u64::from(long)) / u64::from(short)) as u32;
        if width <= height {
            (size, new_long)
        } else {
            (new_long, size)
        }
    }

    /// torchvision's `CenterCrop` offsets: `round((H - crop) / 2)`, half to even. An image
    /// smaller than the crop is an error upstream; here the crop is clamped to the image.
    pub fn center_crop(width: u32, height: u32, crop: u32) -> Crop {
        let offset = |side: u32| ((f64::from(side.saturating_sub(crop))) / 2.0).round_ties_even();
        Crop {
            top: offset(height) as u32,
            left: offset(width) as u32,
            height: crop.min(height),
            width: crop.min(width),
        }
    }

    /// Transforms `image` into `out` (`3 * S * S` floats, CHW, normalised).
    ///
    /// Resampling is bilinear with the filter widened when shrinking (as PIL's bilinear
    /// resize does); values can differ from PIL's in the last bits of a byte.
    pub fn apply(&self, image: &RgbImage, rng: &mut impl FnMut() -> u64, out: &mut [f32]) {
        let size = self.output_size();
        let (resized, mirror) = match *self {
            Self::Train {
                size,
                scale,
                ratio,
                flip,
            } => {
                let c = Self::random_resized_crop(image.width(), image.height(), scale, ratio, rng);
                let crop = imageops::crop_imm(image, c.left, c.top, c.width, c.height).to_image();
                let resized = resize(&crop, size, size);
                (resized, flip && rng() & 1 == 1)
            }
            Self::Eval { resize: side, crop } => {
                let (w, h) = Self::resized_dims(image.width(), image.height(), side);
                // torchvision pads an image smaller than the crop; here it is stretched to the
                // crop instead (only reachable with `resize < crop`).
                let resized = resize(image, w.max(crop), h.max(crop));
                let c = Self::center_crop(resized.width(), resized.height(), crop);
                let cropped =
                    imageops::crop_imm(&resized, c.left, c.top, c.width, c.height).to_image();
                (cropped, false)
            }
        };
        to_normalized_chw(&resized, size, mirror, out);
    }
}

fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    imageops::resize(image, width, height, FilterType::Triangle)
}

/// `ToTensor` and `Normalize`: HWC bytes to CHW `(x / 255 - mean) / std`.
fn to_normalized_chw(image: &RgbImage, size: u32, mirror: bool, out: &mut [f32]) {
    let s = size as usize;
    debug_assert_eq!(image.dimensions(), (size, size));
    debug_assert_eq!(out.len(), 3 * s * s);
    for (y, row) in image.rows().enumerate() {
        for (x, pixel) in row.enumerate() {
            let col = if mirror { s - 1 - x } else { x };
            for c in 0..3 {
                out[c * s * s + y * s + col] = (f32::from(pixel[c]) / 255.0 - MEAN[c]) / STD[c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wnids_are_recognised() {
        assert!(is_wnid("n01440764"));
        assert!(!is_wnid("n0144076"));
        assert!(!is_wnid("x01440764"));
        assert!(!is_wnid("n0144076a"));
    }

    #[test]
    fn resize_keeps_aspect_and_truncates() {
        assert_eq!(ImageTransform::resized_dims(500, 375, 256), (341, 256));
        assert_eq!(ImageTransform::resized_dims(375, 500, 256), (256, 341));
        assert_eq!(ImageTransform::resized_dims(256, 256, 256), (256, 256));
    }

    #[test]
    fn center_crop_rounds_half_to_even() {
        // (341 - 224) / 2 = 58.5 -> 58; (257 - 224) / 2 = 16.5 -> 16; (259-224)/2 = 17.5 -> 18.
        assert_eq!(ImageTransform::center_crop(341, 256, 224).left, 58);
        assert_eq!(ImageTransform::center_crop(257, 256, 224).left, 16);
        assert_eq!(ImageTransform::center_crop(259, 256, 224).left, 18);
        assert_eq!(ImageTransform::center_crop(259, 256, 224).top, 16);
    }

    #[test]
    fn random_resized_crop_falls_back_to_a_clamped_centre_crop() {
        // A generator that always yields the top of the range makes every try too large for a
        // very wide image: area fraction 1 at aspect 4/3 does not fit 1000 x 10.
        let mut max = || u64::MAX;
        let crop =
            ImageTransform::random_resized_crop(1000, 10, (1.0, 1.0), (0.75, 4.0 / 3.0), &mut max);
        // in_ratio 100 > 4/3: h = 10, w = round(10 * 4/3) = 13, centred.
        assert_eq!(
            crop,
            Crop {
                top: 0,
                left: (1000 - 13) / 2,
                height: 10,
                width: 13
            }
        );
    }
}
