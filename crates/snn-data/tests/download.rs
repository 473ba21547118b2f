//! Downloads against a local HTTP server on loopback (no network): a transfer cut in the middle
//! resumes with a range request, checksums are enforced, archives are extracted safely and only
//! once, and offline or manual-only datasets give errors that say what to do.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use snn_data::download::{
    extract, fetch, manifest, manifests, md5_file, DownloadError, Extract, FetchOptions, Manifest,
    RemoteFile,
};

/// A fresh directory for one test, removed when it is dropped (also when the test fails).
fn temp_root(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("snn-download-{name}-"))
        .tempdir()
        .unwrap()
}

/// A tiny HTTP/1.1 file server. Files listed in `cut_once` are cut after half their bytes on
/// the first request; range requests get 206 answers. It records each request's Range header.
struct Server {
    base: String,
    ranges: Arc<RequestLog>,
}

/// Each request's path and the start of its `Range` header, if any.
type RequestLog = Mutex<Vec<(String, Option<String>)>>;

fn serve(files: HashMap<String, Vec<u8>>, cut_once: &[&str]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let log = ranges.clone();
    let mut cut: Vec<String> = cut_once.iter().map(|s| (*s).to_owned()).collect();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            handle(stream, &files, &mut cut, &log);
        }
    });
    Server { base, ranges }
}

fn handle(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    cut: &mut Vec<String>,
    log: &RequestLog,
) {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        request.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let range = text
        .lines()
        .find_map(|l| l.strip_prefix("Range: bytes="))
        .map(|r| r.trim_end_matches('-').to_owned());
    log.lock().unwrap().push((path.clone(), range.clone()));
    let Some(body) = files.get(&path) else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let len = body.len();
    // `/skew.bin` answers a range request with the wrong range (a broken server or proxy).
    let range = if path == "/skew.bin" && range.is_some() {
        Some("0".to_owned())
    } else {
        range
    };
    if let Some(start) = range.and_then(|r| r.parse::<usize>().ok()) {
        if start >= len {
            let _ = stream.write_all(
                format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n")
                    .as_bytes(),
            );
            return;
        }
        let _ = stream.write_all(
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                len - 1,
                len - start
            )
            .as_bytes(),
        );
        let _ = stream.write_all(&body[start..]);
        return;
    }
    let _ = stream.write_all(
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    if let Some(i) = cut.iter().position(|c| *c == path) {
        cut.remove(i);
        let _ = stream.write_all(&body[..len / 2]);
        return; // the connection closes early
    }
    let _ = stream.write_all(body);
}

fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn tar_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn md5_of(data: &[u8]) -> String {
    format!("{:x}", md5::compute(data))
}

fn remote(name: &str, urls: Vec<String>, data: &[u8], extract: Extract) -> RemoteFile {
    RemoteFile {
        file_name: name.into(),
        urls,
        md5: Some(md5_of(data)),
        extract,
    }
}

fn test_manifest(files: Vec<RemoteFile>, manual_note: &str) -> Manifest {
    Manifest {
        name: "test".into(),
        title: "Test data".into(),
        page: "https://example.org/test".into(),
        manual_note: manual_note.into(),
        files,
        ready_folder: "Data".into(),
    }
}

/// Options for the loopback server: no proxy from the environment (ureq ignores `NO_PROXY`,
/// so a machine with `HTTP_PROXY` set would otherwise send these requests away).
fn local() -> FetchOptions {
    FetchOptions {
        proxy_from_env: false,
        ..FetchOptions::default()
    }
}

fn quiet() -> impl FnMut(snn_data::download::Progress<'_>) {
    |_| {}
}

#[test]
fn interrupted_download_resumes_verifies_and_extracts_once() {
    // Large enough to need several reads, incompressible enough to stay large.
    let payload: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let zip = zip_bytes(&[("Data/Train/0/00001.bin", &payload), ("Data/README", b"hi")]);
    let tgz = gzip(&tar_bytes(&[("Data/labels.csv", b"class\n1\n")]));
    let server = serve(
        HashMap::from([
            ("/a.zip".to_owned(), zip.clone()),
            ("/b.tar.gz".to_owned(), tgz.clone()),
        ]),
        &["/a.zip"],
    );
    let manifest = test_manifest(
        vec![
            remote(
                "a.zip",
                vec![format!("{}/a.zip", server.base)],
                &zip,
                Extract::Zip,
            ),
            remote(
                "b.tar.gz",
                vec![format!("{}/b.tar.gz", server.base)],
                &tgz,
                Extract::TarGz,
            ),
        ],
        "",
    );
    let root_dir = temp_root("resume");
    let root = root_dir.path();
    let options = local();

    // First run: the server cuts a.zip in half.
    let err = fetch(&manifest, root, &options, &mut quiet()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::Network { .. }), "{msg}");
    assert!(msg.contains("resume") && msg.contains("a.zip"), "{msg}");
    let part = root.join("download/a.zip.part");
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        zip.len() as u64 / 2
    );
    assert!(!root.join("download/a.zip").exists());
    // The other file was fetched all the same.
    assert!(root.join("download/b.tar.gz").is_file());

    // Second run: resumes from the half with a range request, then verifies and extracts.
    let mut events = Vec::new();
    let report = fetch(&manifest, root, &options, &mut |p| {
        events.push((p.file.to_owned(), p.phase))
    })
    .unwrap();
    assert_eq!(report.downloaded, ["a.zip"]);
    assert_eq!(report.verified, ["a.zip", "b.tar.gz"]);
    assert_eq!(report.extracted, ["a.zip", "b.tar.gz"]);
    assert_eq!(report.ready, root.join("Data"));
    let requests = server.ranges.lock().unwrap().clone();
    let half = (zip.len() / 2).to_string();
    assert!(
        requests.contains(&("/a.zip".to_owned(), Some(half))),
        "{requests:?}"
    );
    assert_eq!(std::fs::read(root.join("download/a.zip")).unwrap(), zip);
    assert!(!part.exists());
    assert_eq!(
        std::fs::read(root.join("Data/Train/0/00001.bin")).unwrap(),
        payload
    );
    assert_eq!(
        std::fs::read(root.join("Data/labels.csv")).unwrap(),
        b"class\n1\n"
    );
    assert!(!root.join(".extracting-a.zip").exists());
    assert!(events
        .iter()
        .any(|(f, p)| f == "a.zip" && *p == snn_data::download::Phase::Verify));

    // Third run: nothing to fetch or extract; the archives are verified again.
    let served = server.ranges.lock().unwrap().len();
    let report = fetch(&manifest, root, &options, &mut quiet()).unwrap();
    assert!(report.downloaded.is_empty() && report.extracted.is_empty());
    assert_eq!(report.verified.len(), 2);
    assert_eq!(server.ranges.lock().unwrap().len(), served);
}

#[test]
fn a_wrong_checksum_is_refused_and_moved_aside() {
    let data = b"not what was published".to_vec();
    let server = serve(HashMap::from([("/x.zip".to_owned(), data.clone())]), &[]);
    let mut file = remote(
        "x.zip",
        vec![format!("{}/x.zip", server.base)],
        b"other",
        Extract::Zip,
    );
    file.md5 = Some(md5_of(b"the real thing"));
    let root_dir = temp_root("checksum");
    let root = root_dir.path();
    let err = fetch(&test_manifest(vec![file], ""), root, &local(), &mut quiet()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::Checksum { .. }), "{msg}");
    assert!(
        msg.contains(&md5_of(&data)) && msg.contains("x.zip"),
        "{msg}"
    );
    assert!(root.join("download/x.zip.bad").is_file());
    assert!(!root.join("download/x.zip").exists());
}

#[test]
fn offline_and_missing_files_say_what_to_do() {
    // A port nobody listens on: connection refused, as offline.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/gone.zip", closed.local_addr().unwrap());
    drop(closed);
    let root_dir = temp_root("offline");
    let root = root_dir.path();
    let file = remote("gone.zip", vec![url.clone()], b"x", Extract::Zip);
    let err = fetch(
        &test_manifest(vec![file.clone()], ""),
        root,
        &local(),
        &mut quiet(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DownloadError::Network { .. }), "{msg}");
    assert!(msg.contains(&url) && msg.contains("no network?"), "{msg}");
    assert!(msg.contains(&root.join("download/gone.zip").display().to_string()));

    // A 404 is an HTTP error naming the URL.
    let server = serve(HashMap::new(), &[]);
    let missing = remote(
        "m.zip",
        vec![format!("{}/m.zip", server.base)],
        b"x",
        Extract::Zip,
    );
    let msg = fetch(
        &test_manifest(vec![missing], ""),
        root,
        &local(),
        &mut quiet(),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("HTTP 404") && msg.contains("/m.zip"), "{msg}");

    // Manual-only files: the message lists them; once placed there they are verified and used.
    let tgz = gzip(&tar_bytes(&[("Data/a.txt", b"a")]));
    let manual = test_manifest(
        vec![remote("box.tar.gz", vec![], &tgz, Extract::TarGz)],
        "download it from the Box folder",
    );
    let root_dir = temp_root("manual");
    let root = root_dir.path();
    let msg = fetch(&manual, root, &local(), &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Box folder") && msg.contains("example.org/test"),
        "{msg}"
    );
    assert!(
        msg.contains("box.tar.gz") && msg.contains(&md5_of(&tgz)),
        "{msg}"
    );
    std::fs::write(root.join("download/box.tar.gz"), &tgz).unwrap();
    let report = fetch(&manual, root, &local(), &mut quiet()).unwrap();
    assert_eq!(report.extracted, ["box.tar.gz"]);
    assert_eq!(std::fs::read(root.join("Data/a.txt")).unwrap(), b"a");
}

#[test]
fn archives_cannot_write_outside_the_root() {
    let root_dir = temp_root("slip");
    let root = root_dir.path();
    let evil = root.join("evil.zip");
    std::fs::write(&evil, zip_bytes(&[("../outside.txt", b"x")])).unwrap();
    let err = extract(&evil, Extract::Zip, &root.join("data"), &mut quiet()).unwrap_err();
    assert!(err.to_string().contains("escapes"), "{err}");
    assert!(!root.join("outside.txt").exists());

    let broken = root.join("broken.tar.gz");
    std::fs::write(&broken, b"\x1f\x8b garbage").unwrap();
    let err = extract(&broken, Extract::TarGz, root, &mut quiet()).unwrap_err();
    assert!(err.to_string().contains("broken.tar.gz"), "{err}");
}

#[test]
fn imagenet_style_nested_tars_become_class_folders() {
    let root_dir = temp_root("nested");
    let root = root_dir.path();
    let inner_a = tar_bytes(&[("n01_1.JPEG", b"a1"), ("n01_2.JPEG", b"a2")]);
    let inner_b = tar_bytes(&[("n02_1.JPEG", b"b1")]);
    let outer = root.join("train.tar");
    std::fs::write(
        &outer,
        tar_bytes(&[("n01.tar", &inner_a), ("n02.tar", &inner_b)]),
    )
    .unwrap();
    extract(&outer, Extract::NestedTarsInto("train"), root, &mut quiet()).unwrap();
    assert_eq!(
        std::fs::read(root.join("train/n01/n01_2.JPEG")).unwrap(),
        b"a2"
    );
    assert_eq!(
        std::fs::read(root.join("train/n02/n02_1.JPEG")).unwrap(),
        b"b1"
    );
    let flat = root.join("val.tar");
    std::fs::write(&flat, tar_bytes(&[("v_1.JPEG", b"v")])).unwrap();
    extract(&flat, Extract::TarInto("val"), root, &mut quiet()).unwrap();
    assert_eq!(std::fs::read(root.join("val/v_1.JPEG")).unwrap(), b"v");
}

#[test]
fn built_in_manifests_are_well_formed() {
    let all = manifests();
    let mut names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len());
    for m in &all {
        for f in &m.files {
            if let Some(md5) = &f.md5 {
                assert!(
                    md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}",
                    f.file_name
                );
            }
            assert!(
                !f.urls.is_empty() || !m.manual_note.is_empty(),
                "{}: no URL and no manual route",
                f.file_name
            );
            assert!(f.urls.iter().all(|u| u.starts_with("https://")));
        }
        assert!(!m.files.is_empty() || !m.manual_note.is_empty());
    }
    assert_eq!(manifest("cifar10dvs").unwrap().files.len(), 10);
    let msg = manifest("mnist").unwrap_err().to_string();
    assert!(msg.contains("gesture") && msg.contains("nmnist"), "{msg}");

    // Baidu-only data: the instructions, with the share codes.
    let root_dir = temp_root("gait");
    let root = root_dir.path();
    let msg = fetch(&manifest("gait").unwrap(), root, &local(), &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("mk55") && msg.contains("ih83"), "{msg}");
}

#[test]
fn md5_matches_a_known_value() {
    let root_dir = temp_root("md5");
    let root = root_dir.path();
    let path = root.join("abc");
    std::fs::write(&path, b"abc").unwrap();
    assert_eq!(
        md5_file(&path, &mut quiet()).unwrap(),
        "900150983cd24fb0d6963f7d28e17f72"
    );
}

#[test]
fn a_resume_at_the_wrong_offset_is_refused() {
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let server = serve(HashMap::from([("/skew.bin".to_owned(), data.clone())]), &[]);
    let root_dir = temp_root("skew");
    let root = root_dir.path();
    std::fs::create_dir_all(root.join("download")).unwrap();
    std::fs::write(root.join("download/skew.bin.part"), &data[..100]).unwrap();
    let file = remote(
        "skew.bin",
        vec![format!("{}/skew.bin", server.base)],
        &data,
        Extract::Keep,
    );
    let msg = fetch(
        &test_manifest(vec![file.clone()], ""),
        root,
        &local(),
        &mut quiet(),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("instead of byte 100"), "{msg}");
    assert!(!root.join("download/skew.bin.part").exists());
    // From scratch (no part), the whole file arrives and verifies.
    let report = fetch(&test_manifest(vec![file], ""), root, &local(), &mut quiet()).unwrap();
    assert_eq!(report.downloaded, ["skew.bin"]);
    assert_eq!(std::fs::read(root.join("download/skew.bin")).unwrap(), data);
}
