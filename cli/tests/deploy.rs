//! `kairos deploy` against `kairos serve`, as CI would run it on merge: the first deploy,
//! a redeploy that changes nothing, a changed workflow that becomes a new version, and a
//! broken file that deploys nothing at all.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const KEY: &str = "deploy-test-key";

mod support;

use support::Server;

fn deploy(dir: &Path, url: &str, extra: &[&str]) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .arg("deploy")
        .arg(dir)
        .args(["--url", url])
        .args(extra)
        .env("KAIROS_API_KEY", KEY)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code().unwrap_or(-1), text)
}

async fn version(url: &str, id: &str) -> Option<u64> {
    let response = reqwest::Client::new()
        .get(format!("{url}/v1/workflows/{id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .ok()?;
    response.json::<Value>().await.ok()?["version"].as_u64()
}

/// A small project: definitions with a template in a file, and two workflows.
fn project(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(
        dir.join("templates/hello.html"),
        "<p>Hello {{ contact.first_name | default: 'there' }}</p>",
    )
    .unwrap();
    std::fs::write(
        dir.join("definitions.yaml"),
        "templates:\n  hello: { subject: Hello, html: templates/hello.html }\n",
    )
    .unwrap();
    std::fs::write(dir.join("flows/welcome.yaml"), "id: welcome\nentry: { triggers: [ { event: signed_up } ] }\nsteps:\n  - { id: hi, send: { channel: email, template: hello } }\n").unwrap();
    std::fs::write(dir.join("flows/tagger.yaml"), "id: tagger\nentry: { triggers: [ { event: bought } ] }\nsteps:\n  - { id: tag, tag: { add: [buyer] } }\n").unwrap();
    // A scenario is not a workflow: left alone.
    std::fs::write(
        dir.join("flows/scenario.yaml"),
        "start: \"2026-01-05T08:00:00Z\"\nuntil: 1d\nworkflows: [ welcome.yaml ]\ntimeline: []\n",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_plans_applies_and_refuses_broken_files() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let server = Server::start(&tmp.join("deploy-data"), KEY, &[]);
    let dir = tmp.join("deploy-project");
    project(&dir);

    let (code, out) = deploy(&dir, &server.url, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would deploy: welcome new"), "{out}");
    assert_eq!(
        version(&server.url, "welcome").await,
        None,
        "a dry run changes nothing"
    );

    let (code, out) = deploy(&dir, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("deployed: definitions") && out.contains("deployed: welcome version 1"),
        "{out}"
    );
    assert_eq!(version(&server.url, "tagger").await, Some(1));

    let (code, out) = deploy(&dir, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("definitions unchanged") && out.contains("welcome unchanged, version 1"),
        "{out}"
    );
    assert!(!out.contains("deployed:"), "{out}");

    std::fs::write(dir.join("flows/tagger.yaml"), "id: tagger\nentry: { triggers: [ { event: bought } ] }\nsteps:\n  - { id: tag, tag: { add: [buyer, customer] } }\n").unwrap();
    let (code, out) = deploy(&dir, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("tagger changed, version 1 → 2") && out.contains("deployed: tagger version 2"),
        "{out}"
    );
    assert_eq!(version(&server.url, "tagger").await, Some(2));

    // One broken file: nothing goes, not even the valid change beside it.
    std::fs::write(dir.join("flows/tagger.yaml"), "id: tagger\nentry: { triggers: [ { event: bought } ] }\nsteps:\n  - { id: tag, tag: { add: [buyer] } }\n").unwrap();
    std::fs::write(
        dir.join("flows/broken.yaml"),
        "id: broken\nsteps:\n  - { id: s, wait: { for: soon } }\n",
    )
    .unwrap();
    let (code, out) = deploy(&dir, &server.url, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("broken.yaml") && out.contains("nothing was deployed"),
        "{out}"
    );
    assert_eq!(version(&server.url, "tagger").await, Some(2));

    // A wrong key is the stack refusing: exit 2.
    std::fs::remove_file(dir.join("flows/broken.yaml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .arg("deploy")
        .arg(&dir)
        .args(["--url", &server.url])
        .env("KAIROS_API_KEY", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("API key was refused"));
}
