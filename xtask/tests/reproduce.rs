//! `cargo xtask reproduce gesture` end to end on a tiny synthetic DvsGesture folder (one trial
//! per split, the paper's full-size network and protocol otherwise): stopped after one of two
//! epochs, run again to finish, and the table, logs and report checked.

mod common;

use std::path::Path;

use common::{log_lines, ok, xtask};

/// Runs `xtask`, checks it succeeded, and parses the JSON object it printed.
fn json(args: &[&str]) -> serde_json::Value {
    let out = xtask(args, &[]);
    ok(&out);
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn epochs_logged(run: &Path) -> Vec<u64> {
    log_lines(run)
        .iter()
        .map(|line| line["epoch"].as_u64().unwrap())
        .collect()
}

#[test]
fn reproduce_stops_resumes_and_tabulates_beside_the_paper() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = dir.join("data");
    let root_arg = root.to_str().unwrap();
    let synth = [
        "synth", "gesture", "--root", root_arg, "--train", "1", "--test", "1",
    ];
    ok(&xtask(&synth, &[]));
    let data = root.join("DvsGesture");
    let out = dir.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "reproduce",
            "gesture",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "2",
            "--batch",
            "4",
            "--attention",
            "TCSA",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&args)
    };
    let epochs_done = |table: &serde_json::Value| -> Vec<u64> {
        table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["epochs_done"][0].as_u64().unwrap())
            .collect()
    };

    // Stopped after one epoch of two.
    let first = run(&["--epochs-now", "1"]);
    assert_eq!(epochs_done(&first), [1, 1]);

    // Run again: each run continues from its checkpoint instead of starting over.
    let table = run(&[]);
    assert_eq!(epochs_done(&table), [2, 2]);
    for model in ["vanilla", "TCSA"] {
        let run_dir = out.join("gesture").join(model).join("run0");
        assert_eq!(
            epochs_logged(&run_dir),
            [0, 1],
            "{model}: one line per epoch"
        );
        assert!(run_dir.join("best").join("model.safetensors").is_file());
    }

    // The table: the vanilla baseline and the variant, beside the paper's figures.
    let rows = table["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["vanilla", "+TCSA"]);
    for row in rows {
        let acc = row["acc_mean"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&acc), "accuracy {acc}");
        assert!(row["paper_acc"].as_f64().unwrap() > 90.0);
        assert!(row["energy_uj"].as_f64().unwrap() > 0.0);
        assert!(row["nasar"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(rows[0]["energy_ratio"].as_f64(), Some(1.0));
    // Attention lowers the firing rate of the freshly trained network, so its energy ratio
    // against the vanilla one is above 1.
    assert!(rows[1]["energy_ratio"].as_f64().unwrap() > 1.0);
    assert!(Path::new(table["report"].as_str().unwrap()).is_file());
}
