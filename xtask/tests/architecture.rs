//! `docs/ARCHITECTURE.md` stays a true map: every crate of the workspace and every folder under
//! a crate's `src/` has an entry in it (written as `` `crates/NAME` `` for a crate and
//! `` `crates/NAME/src/FOLDER/` `` for a folder). Adding a crate or a source folder without
//! saying in the map what it is for fails here.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The folders under `dir`, recursively, as paths relative to `root` with `/` separators.
fn folders(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    entries.sort();
    for path in entries {
        let relative = path.strip_prefix(root).expect("under the root");
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push(name);
        folders(root, &path, out);
    }
}

/// The workspace members named in the root `Cargo.toml`.
fn members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("the root manifest");
    let start = manifest.find("members = [").expect("a members list");
    let end = start + manifest[start..].find(']').expect("the list's end");
    manifest[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_crate_and_source_folder_is_in_the_map() {
    let root = workspace_root();
    let map = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("the map");
    let members = members(&root);
    assert!(members.len() >= 7, "found only {members:?}");
    let mut missing = Vec::new();
    for member in &members {
        if !map.contains(&format!("`{member}`")) {
            missing.push(format!("`{member}`"));
        }
        let mut sub = Vec::new();
        folders(&root, &root.join(member).join("src"), &mut sub);
        for folder in sub {
            let entry = format!("`{folder}/`");
            if !map.contains(&entry) {
                missing.push(entry);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md has no entry for {}: add a line saying what each is for",
        missing.join(", ")
    );
}

#[test]
fn the_check_sees_folders() {
    // The walk finds the folders it must (so the test above cannot pass by finding nothing).
    let root = workspace_root();
    let mut sub = Vec::new();
    folders(&root, &root.join("crates/snn-core/src"), &mut sub);
    assert!(
        sub.iter().any(|f| f == "crates/snn-core/src/neuron/fused"),
        "{sub:?}"
    );
}
