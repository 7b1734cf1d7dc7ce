//! Golden tests: every example's journal, from `kairos simulate`, equals its checked-in
//! `expected.jsonl`. A change shows as a readable diff. To accept a deliberate change:
//! `KAIROS_BLESS=1 cargo test -p kairos --test examples`, then review `git diff examples/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.yaml").exists())
        .collect();
    dirs.sort();
    dirs
}

/// The first differing lines with a little context, as `-expected` / `+actual`.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let mut out = format!(
        "first difference at line {} (expected {} lines, got {}):\n",
        first + 1,
        e.len(),
        a.len()
    );
    for line in &e[first.saturating_sub(2)..first] {
        out.push_str(&format!("  {line}\n"));
    }
    for line in e.iter().skip(first).take(5) {
        out.push_str(&format!("- {line}\n"));
    }
    for line in a.iter().skip(first).take(5) {
        out.push_str(&format!("+ {line}\n"));
    }
    out
}

#[test]
fn every_example_has_the_expected_journal() {
    let dirs = examples();
    assert!(
        dirs.len() >= 10,
        "the ten example flows are checked in: {dirs:?}"
    );
    let mut failures = Vec::new();
    for dir in dirs {
        let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["simulate", "--json"])
            .arg(dir.join("scenario.yaml"))
            .output()
            .expect("kairos runs");
        let actual = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let expected_path = dir.join("expected.jsonl");
        if std::env::var_os("KAIROS_BLESS").is_some() {
            std::fs::write(&expected_path, &actual).expect("write expected.jsonl");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!("{}\n{}", dir.display(), diff(&expected, &actual)));
        }
        // The same with every contact but the one just saved packed between inputs (what
        // a simulation past 20,000 contacts does): the journal may not change.
        let packed = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["simulate", "--json"])
            .arg(dir.join("scenario.yaml"))
            .env("KAIROS_SIMULATE_OPEN_CONTACTS", "1")
            .output()
            .expect("kairos runs");
        let packed = String::from_utf8_lossy(&packed.stdout);
        if packed != actual {
            failures.push(format!(
                "{} (contacts packed)\n{}",
                dir.display(),
                diff(&actual, &packed)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "journals changed:\n\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_diff_is_readable() {
    let d = diff("a\nb\nc\n", "a\nB\nc\n");
    assert!(d.contains("first difference at line 2"));
    assert!(d.contains("- b\n") && d.contains("+ B\n"));
}

/// `kairos explain` for the contacts an example explains (`explain-<contact>.txt`, a
/// story a marketer reads), compared like the journals.
#[test]
fn every_explained_story_is_as_expected() {
    let mut stories = 0;
    let mut failures = Vec::new();
    for dir in examples() {
        for file in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            let name = file.file_name().to_string_lossy().into_owned();
            let Some(contact) = name
                .strip_prefix("explain-")
                .and_then(|n| n.strip_suffix(".txt"))
            else {
                continue;
            };
            stories += 1;
            let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
                .args(["explain", contact])
                .arg(dir.join("scenario.yaml"))
                .output()
                .expect("kairos runs");
            assert!(
                out.status.success(),
                "{}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let actual = String::from_utf8_lossy(&out.stdout).into_owned();
            if std::env::var_os("KAIROS_BLESS").is_some() {
                std::fs::write(file.path(), &actual).expect("write the story");
                continue;
            }
            let expected = std::fs::read_to_string(file.path()).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "{}/{name}\n{}",
                    dir.display(),
                    diff(&expected, &actual)
                ));
            }
        }
    }
    assert!(
        stories >= 3,
        "the welcome and abandoned-cart stories are checked in"
    );
    assert!(
        failures.is_empty(),
        "stories changed:\n\n{}",
        failures.join("\n")
    );
}
