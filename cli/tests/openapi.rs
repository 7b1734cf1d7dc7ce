//! The committed OpenAPI document against `kairos serve`, by the ecosystem's own tools
//! (installed into `.venv` by `./test.sh`): openapi-spec-validator says it is a valid
//! OpenAPI 3.1 document, the server serves exactly it, and schemathesis — generating
//! requests from it, valid and invalid — finds no 5xx, no status the document does not
//! list, no undocumented content type and no answer that breaks its schema.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Server;

const KEY: &str = "openapi-key";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv(tool: &str) -> PathBuf {
    root().join(".venv/bin").join(tool)
}

fn run(command: &mut Command) -> (bool, String) {
    let out = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?} ({e}); run ./test.sh, which installs it")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_document_is_valid_openapi_and_what_serve_answers() {
    let committed = root().join("schemas/openapi.json");
    let (ok, out) = run(Command::new(venv("openapi-spec-validator")).arg(&committed));
    assert!(ok, "{out}");

    let data = std::env::temp_dir().join(format!("kairos-openapi-{}", std::process::id()));
    let server = Server::start(&data, KEY, &[("KAIROS_WRITE_KEY", "openapi-write")]);
    let served: serde_json::Value = get_json(&format!("{}/openapi.json", server.url));
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&committed).unwrap()).unwrap();
    assert_eq!(served, committed, "serve answers the committed document");

    // Something to read back: a workflow, the definitions, a contact.
    let deploy = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["deploy", "examples/welcome-series", "--url", &server.url])
        .current_dir(root())
        .env("KAIROS_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        deploy.status.success(),
        "{}",
        String::from_utf8_lossy(&deploy.stderr)
    );

    // Two passes: edge cases of every parameter and body (the coverage phase) except the
    // two document routes, whose schema (the whole workflow language) gives tens of
    // thousands of cases; then examples and random requests for every route.
    let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
    let passes: [&[&str]; 2] = [
        &[
            "--phases",
            "coverage",
            "--exclude-path",
            "/v1/workflows/{id}",
            "--exclude-path",
            "/v1/definitions",
        ],
        &["--phases", "examples,fuzzing"],
    ];
    for pass in passes {
        let (ok, out) = run(Command::new(venv("schemathesis"))
            .args(["run", "--url", &server.url, "--no-color", "--workers", "2"])
            .args(["--checks", checks, "--max-examples", "10", "--seed", "1"])
            .args(["--generation-database", "none", "--max-redirects", "0"])
            .args(["--header", &format!("Authorization: Bearer {KEY}")])
            .args(pass)
            .arg("--report-dir")
            .arg(data.join("schemathesis"))
            .arg(root().join("schemas/openapi.json"))
            .current_dir(&data));
        assert!(ok, "schemathesis {pass:?} found problems:\n{out}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

fn get_json(url: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() })
}
