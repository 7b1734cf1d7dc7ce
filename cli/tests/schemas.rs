//! The published JSON Schemas: the committed `schemas/*.schema.json` are what `kairos
//! schema` generates (regenerate with `KAIROS_BLESS=1`), valid JSON Schema 2020-12 by an
//! independent validator (check-jsonschema, installed into `.venv` by `./test.sh`), every
//! example passes them, and broken files fail them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check_jsonschema(args: &[&Path]) -> (bool, String) {
    let binary = root().join(".venv/bin/check-jsonschema");
    let out = Command::new(&binary)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run ./test.sh, which installs it",
                binary.display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const SCHEMAS: [(&str, &str); 4] = [
    ("", "workflow.schema.json"),
    ("--definitions", "definitions.schema.json"),
    ("--scenario", "scenario.schema.json"),
    ("--openapi", "openapi.json"),
];

/// The JSON Schema files (the OpenAPI document is checked by `openapi.rs`).
fn json_schemas() -> impl Iterator<Item = &'static str> {
    SCHEMAS
        .iter()
        .map(|(_, f)| *f)
        .filter(|f| f.ends_with(".schema.json"))
}

#[test]
fn the_committed_schemas_are_current() {
    for (flag, file) in SCHEMAS {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kairos"));
        command.arg("schema");
        if !flag.is_empty() {
            command.arg(flag);
        }
        let generated = String::from_utf8(command.output().unwrap().stdout).unwrap();
        let path = root().join("schemas").join(file);
        if std::env::var_os("KAIROS_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{file} is stale: run `KAIROS_BLESS=1 cargo test -p kairos --test schemas`"
        );
    }
}

#[test]
fn the_schemas_are_valid_and_every_example_passes_them() {
    let schemas = root().join("schemas");
    let files: Vec<PathBuf> = json_schemas().map(|f| schemas.join(f)).collect();
    let mut args: Vec<&Path> = vec![Path::new("--check-metaschema")];
    args.extend(files.iter().map(PathBuf::as_path));
    let (ok, out) = check_jsonschema(&args);
    assert!(ok, "{out}");

    let examples = root().join("examples");
    let mut workflows = Vec::new();
    let mut scenarios = Vec::new();
    let mut definitions = vec![examples.join("definitions.yaml")];
    for dir in std::fs::read_dir(&examples)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
    {
        for file in std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
        {
            match file.file_name().and_then(|n| n.to_str()) {
                Some("scenario.yaml") => scenarios.push(file),
                Some("definitions.yaml") => definitions.push(file),
                Some(name) if name.ends_with(".yaml") => workflows.push(file),
                _ => {}
            }
        }
    }
    assert!(workflows.len() >= 10 && scenarios.len() >= 10);
    for (schema, files) in [
        ("workflow.schema.json", workflows),
        ("scenario.schema.json", scenarios),
        ("definitions.schema.json", definitions),
    ] {
        let schema = schemas.join(schema);
        let mut args: Vec<&Path> = vec![Path::new("--schemafile"), &schema];
        args.extend(files.iter().map(PathBuf::as_path));
        let (ok, out) = check_jsonschema(&args);
        assert!(ok, "{out}");
    }
}

#[test]
fn broken_files_fail_the_schemas() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("broken-schema-files");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "two-kinds.yaml",
            "id: ok\nsteps:\n  - { id: a, wait: { for: 1d }, tag: { add: [x] } }\n",
        ),
        ("no-kind.yaml", "id: ok\nsteps:\n  - { id: a }\n"),
        (
            "not-a-slug.yaml",
            "id: Not A Slug\nsteps:\n  - { id: a, end: true }\n",
        ),
        (
            "step-not-a-slug.yaml",
            "id: ok\nsteps:\n  - { id: \"a b\", end: true }\n",
        ),
        (
            "unknown-key.yaml",
            "id: ok\nsteps:\n  - { id: a, end: true, colour: red }\n",
        ),
        (
            "wait-as-string.yaml",
            "id: ok\nsteps:\n  - { id: a, wait: 3d }\n",
        ),
        ("no-steps.yaml", "id: ok\n"),
    ];
    let schema = root().join("schemas/workflow.schema.json");
    for (name, text) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let (ok, out) = check_jsonschema(&[Path::new("--schemafile"), &schema, &file]);
        assert!(!ok, "{name} passed the schema: {out}");
    }
}

/// Every property an editor completes says what it is.
#[test]
fn every_property_has_a_description() {
    fn walk(node: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    for (key, prop) in props {
                        if prop.get("description").is_none() {
                            missing.push(format!("{at}.{key}"));
                        }
                    }
                }
                for (key, value) in map {
                    walk(value, &format!("{at}/{key}"), missing);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, at, missing)),
            _ => {}
        }
    }
    for file in json_schemas() {
        let text = std::fs::read_to_string(root().join("schemas").join(file)).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut missing = Vec::new();
        walk(&schema, "", &mut missing);
        assert!(missing.is_empty(), "{file}: no description at {missing:?}");
    }
}
