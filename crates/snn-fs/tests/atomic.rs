//! Round trips, replacement, failure clean-up and concurrent writers of one path.

use std::fs;
use std::io;
use std::path::Path;

use snn_fs::{write_dir_atomic, write_file_atomic, write_file_atomic_with, DirError, Error};

/// Names in `dir` other than `keep`: leftovers of a write (temporary files or folders).
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

#[test]
fn file_round_trip_and_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.bin");
    write_file_atomic(&path, b"first").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"first");
    write_file_atomic(&path, b"second, longer").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second, longer");
    write_file_atomic_with(&path, |w| {
        w.write_all(b"third")?;
        w.write_all(b" in two parts")
    })
    .unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"third in two parts");
    assert_eq!(leftovers(tmp.path(), &["a.bin"]), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn files_get_the_usual_mode_not_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.txt");
    write_file_atomic(&path, b"x").unwrap();
    let reference = tmp.path().join("b.txt");
    fs::write(&reference, b"x").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), mode(&reference));
}

#[test]
fn failing_fill_leaves_old_file_and_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("report.md");
    write_file_atomic(&path, b"old").unwrap();
    let err = write_file_atomic_with(&path, |w| {
        w.write_all(&[b'x'; 100_000])?;
        Err(io::Error::other("encoder failed"))
    })
    .unwrap_err();
    assert_eq!(err.path, path);
    assert!(err.to_string().contains("report.md"), "{err}");
    assert!(err.to_string().contains("encoder failed"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert_eq!(leftovers(tmp.path(), &["report.md"]), Vec::<String>::new());
}

#[test]
fn missing_folder_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("no/such/folder/x.bin");
    let err = write_file_atomic(&path, b"x").unwrap_err();
    assert_eq!(err.path, path);
    assert_eq!(err.source.kind(), io::ErrorKind::NotFound);
}

#[test]
fn concurrent_file_writers_leave_one_whole_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("shared.bin");
    std::thread::scope(|s| {
        for writer in 0..4u8 {
            let path = &path;
            s.spawn(move || {
                for round in 0..50usize {
                    // Different lengths, so a mix of two writes would show.
                    let bytes = vec![writer; 1000 + 37 * round + writer as usize];
                    write_file_atomic(path, &bytes).unwrap();
                }
            });
        }
    });
    let bytes = fs::read(&path).unwrap();
    let writer = bytes[0];
    assert!(bytes.iter().all(|&b| b == writer));
    assert_eq!(bytes.len(), 1000 + 37 * 49 + writer as usize);
    assert_eq!(leftovers(tmp.path(), &["shared.bin"]), Vec::<String>::new());
}

/// A caller's own error type, into which each crate maps the writer's error.
#[derive(Debug)]
enum CallerError {
    Fs(Error),
    Fill(&'static str),
}

/// `write_dir_atomic` with the caller's error type.
fn write_dir(
    target: &Path,
    fill: impl FnOnce(&Path) -> Result<(), CallerError>,
) -> Result<(), CallerError> {
    write_dir_atomic(target, fill).map_err(|e: DirError<CallerError>| e.into_error(CallerError::Fs))
}

fn fill_dir(dir: &Path, text: &str) -> Result<(), CallerError> {
    fs::write(dir.join("a.txt"), text).unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/b.txt"), text).unwrap();
    Ok(())
}

#[test]
fn dir_round_trip_and_replace() {
    let tmp = tempfile::tempdir().unwrap();
    // Parent folders are created.
    let target = tmp.path().join("runs/last");
    write_dir(&target, |dir| fill_dir(dir, "one")).unwrap();
    assert_eq!(fs::read_to_string(target.join("sub/b.txt")).unwrap(), "one");
    fs::write(target.join("stale.txt"), "only in the old one").unwrap();
    write_dir(&target, |dir| {
        assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "a fresh directory");
        fill_dir(dir, "two")
    })
    .unwrap();
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "two");
    assert_eq!(fs::read_to_string(target.join("sub/b.txt")).unwrap(), "two");
    assert!(!target.join("stale.txt").exists(), "replaced, not merged");
    assert_eq!(
        leftovers(&tmp.path().join("runs"), &["last"]),
        Vec::<String>::new()
    );
}

#[test]
fn dir_replaces_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    fs::write(&target, "a file in the way").unwrap();
    write_dir(&target, |dir| fill_dir(dir, "dir")).unwrap();
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "dir");
    assert_eq!(leftovers(tmp.path(), &["out"]), Vec::<String>::new());
}

#[test]
fn failing_dir_fill_leaves_old_dir_and_no_temporary() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("best");
    write_dir(&target, |dir| fill_dir(dir, "old")).unwrap();
    let err = write_dir(&target, |dir| {
        fill_dir(dir, "new")?;
        Err(CallerError::Fill("model failed"))
    })
    .unwrap_err();
    assert!(matches!(err, CallerError::Fill("model failed")), "{err:?}");
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "old");
    assert_eq!(leftovers(tmp.path(), &["best"]), Vec::<String>::new());
}

#[test]
fn concurrent_dir_writers_leave_one_whole_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("last");
    std::thread::scope(|s| {
        for writer in 0..4 {
            let target = &target;
            s.spawn(move || {
                for round in 0..25 {
                    let text = format!("writer {writer} round {round}");
                    write_dir(target, |dir| fill_dir(dir, &text)).unwrap();
                }
            });
        }
    });
    let a = fs::read_to_string(target.join("a.txt")).unwrap();
    let b = fs::read_to_string(target.join("sub/b.txt")).unwrap();
    assert_eq!(a, b, "both files from one writer");
    assert!(a.ends_with("round 24"), "{a}");
    assert_eq!(fs::read_dir(&target).unwrap().count(), 2);
    assert_eq!(leftovers(tmp.path(), &["last"]), Vec::<String>::new());
}

#[test]
fn dir_error_names_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("file"), "not a folder").unwrap();
    let target = tmp.path().join("file/last");
    let err = write_dir(&target, |dir| fill_dir(dir, "x")).unwrap_err();
    match err {
        CallerError::Fs(e) => assert_eq!(e.path, target),
        other => panic!("{other:?}"),
    }
}
