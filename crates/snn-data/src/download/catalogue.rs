//! The published datasets: URLs, MD5s and how each archive is unpacked (`manifests`, the
//! single copy of `shared/reference/datasets.md`'s facts in code).

use super::DownloadError;

/// How an archive is unpacked into the dataset root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extract {
    /// Kept as it is (a single data or documentation file).
    Keep,
    /// A `.zip`, unpacked into the root.
    Zip,
    /// A `.tar.gz`, unpacked into the root.
    TarGz,
    /// A `.tar`, unpacked into `root/<folder>`.
    TarInto(&'static str),
    /// A `.tar` of `.tar`s (ImageNet's train archive): each inner `<name>.tar` is unpacked into
    /// `root/<folder>/<name>/`.
    NestedTarsInto(&'static str),
}

/// One published file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Name under `root/download/`.
    pub file_name: String,
    /// Where to fetch it, tried in order. Empty when it can only be downloaded by hand.
    pub urls: Vec<String>,
    /// Published MD5 (lower-case hex), or `None` where none is published.
    pub md5: Option<String>,
    /// How to unpack it.
    pub extract: Extract,
}

/// A dataset's published files and what the root holds once they are extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The name on the command line (`gesture`, `nmnist`, ...).
    pub name: String,
    /// The dataset's full name.
    pub title: String,
    /// The page a person visits to download the files that have no direct URL.
    pub page: String,
    /// Extra instructions for a manual download (share codes, login, renaming).
    pub manual_note: String,
    /// The files.
    pub files: Vec<RemoteFile>,
    /// The folder, relative to the root, to point the dataset loader at.
    pub ready_folder: String,
}

fn file(name: &str, urls: &[&str], md5: Option<&str>, extract: Extract) -> RemoteFile {
    RemoteFile {
        file_name: name.to_owned(),
        urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        md5: md5.map(str::to_owned),
        extract,
    }
}

/// The datasets this crate knows how to fetch or verify, with their published checksums.
pub fn manifests() -> Vec<Manifest> {
    let cifar = [
        ("airplane", "7712788", "0afd5c4bf9ae06af762a77b180354fdd"),
        ("automobile", "7712791", "8438dfeba3bc970c94962d995b1b9bdd"),
        ("bird", "7712794", "a9c207c91c55b9dc2002dc21c684d785"),
        ("cat", "7712812", "52c63c677c2b15fa5146a8daf4d56687"),
        ("deer", "7712815", "b6bf21f6c04d21ba4e23fc3e36c8a4a3"),
        ("dog", "7712818", "f379ebdf6703d16e0a690782e62639c3"),
        ("frog", "7712842", "cad6ed91214b1c7388a5f6ee56d08803"),
        ("horse", "7712851", "e7cbbf77bec584ffbf913f00e682782a"),
        ("ship", "7712836", "41c7bd7d6b251be82557c6cce9a7d5c9"),
        ("truck", "7712839", "89f3922fd147d9aeff89e76a2b0b70a7"),
    ];
    let mendeley = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files";
    vec![
        Manifest {
            name: "gesture".into(),
            title: "DVS128 Gesture (IBM, CC BY 4.0)".into(),
            page: "https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8/folder/50167556794"
                .into(),
            manual_note: "IBM publishes it in a Box folder (landing page \
                https://research.ibm.com/interactive/dvsgesture/); download DvsGesture.tar.gz \
                (about 3 GB) with a browser."
                .into(),
            files: vec![file(
                "DvsGesture.tar.gz",
                // norse's mirror of the same archive (same MD5); the Box folder is the source.
                &["https://kth.box.com/shared/static/7fk64kjuit6exwlzbzfetwoa93qsuoy4.gz"],
                Some("8a5c71fb11e24e5ca5b11866ca6c00a1"),
                Extract::TarGz,
            )],
            ready_folder: "DvsGesture".into(),
        },
        Manifest {
            name: "nmnist".into(),
            title: "N-MNIST (Orchard et al. 2015)".into(),
            page: "https://www.garrickorchard.com/datasets/n-mnist".into(),
            manual_note: String::new(),
            files: vec![
                file(
                    "Train.zip",
                    &[&format!(
                        "{mendeley}/39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded"
                    )],
                    Some("20959b8e626244a1b502305a9e6e2031"),
                    Extract::Zip,
                ),
                file(
                    "Test.zip",
                    &[&format!(
                        "{mendeley}/05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded"
                    )],
                    Some("69ca8762b2fe404d9b9bad1103e97832"),
                    Extract::Zip,
                ),
            ],
            ready_folder: ".".into(),
        },
        Manifest {
            name: "cifar10dvs".into(),
            title: "CIFAR10-DVS (Li et al. 2017), figshare article 4724671 v2".into(),
            page: "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671/2".into(),
            manual_note: String::new(),
            files: cifar
                .iter()
                .map(|(class, id, md5)| {
                    file(
                        &format!("{class}.zip"),
                        &[&format!("https://ndownloader.figshare.com/files/{id}")],
                        Some(md5),
                        Extract::Zip,
                    )
                })
                .collect(),
            ready_folder: ".".into(),
        },
        Manifest {
            name: "gait".into(),
            title: "DVS128 Gait (Wang et al.)".into(),
            page: "https://pan.baidu.com/s/1F3Uo-fVy1S7n5plmEXFl4w".into(),
            manual_note: "It is published only on Baidu Pan, with no checksums: day recordings \
                https://pan.baidu.com/s/1F3Uo-fVy1S7n5plmEXFl4w (code mk55), night recordings \
                https://pan.baidu.com/s/1vijraYQshlURRqF2I1zE8A (code ih83). Unpack them so that \
                the root holds the layout described in datasets/README.md (DVS128 Gait)."
                .into(),
            files: Vec::new(),
            ready_folder: ".".into(),
        },
        Manifest {
            name: "imagenet".into(),
            title: "ImageNet-1k (ILSVRC2012)".into(),
            page: "https://image-net.org/download-images.php".into(),
            manual_note: "image-net.org requires a login and accepting its terms; download the \
                train and val archives (and the devkit) there. The val images are unpacked flat: \
                sort them into class folders with valprep.sh, or put Kaggle's \
                LOC_val_solution.csv in the root."
                .into(),
            files: vec![
                file(
                    "ILSVRC2012_img_train.tar",
                    &[],
                    Some("1d675b47d978889d74fa0da5fadfb00e"),
                    Extract::NestedTarsInto("train"),
                ),
                file(
                    "ILSVRC2012_img_val.tar",
                    &[],
                    Some("29b22e2961454d5413ddabcf34fc5622"),
                    Extract::TarInto("val"),
                ),
                file(
                    "ILSVRC2012_devkit_t12.tar.gz",
                    &[],
                    Some("fa75699e90414af021442c21a62c3abf"),
                    Extract::Keep,
                ),
            ],
            ready_folder: ".".into(),
        },
    ]
}

/// The manifest called `name`.
pub fn manifest(name: &str) -> Result<Manifest, DownloadError> {
    let all = manifests();
    let known = all
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.iter()
        .find(|m| m.name == name)
        .cloned()
        .ok_or(DownloadError::UnknownDataset {
            name: name.to_owned(),
            known,
        })
}
