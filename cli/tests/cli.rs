//! The `kairos` command as a user runs it: exit codes, error messages with file, path and
//! line, and no panics on broken input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn kairos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(args)
        .output()
        .expect("the kairos binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `files` into a fresh directory under the target dir and returns their paths.
fn files(test: &str, files: &[(&str, &str)]) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    files
        .iter()
        .map(|(name, body)| {
            let path = dir.join(name);
            std::fs::write(&path, body).unwrap();
            path.display().to_string()
        })
        .collect()
}

fn example() -> String {
    format!(
        "{}/../examples/welcome-series/workflow.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn validate_accepts_the_example() {
    let out = kairos(&["validate", &example()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(workflow `welcome-series`, 10 steps)"));
}

#[test]
fn broken_files_name_file_path_and_line_and_exit_non_zero() {
    let paths = files(
        "broken",
        &[
            ("syntax.yaml", "id: x\nsteps: [\n  - id: a\n"),
            (
                "unknown.yaml",
                "id: y\nsteps:\n  - id: a\n    tag: { add: [t] }\n    colour: red\n",
            ),
            (
                "duration.yaml",
                "id: z\nsteps:\n  - id: a\n    wait: { for: 3x }\n",
            ),
        ],
    );
    let out = kairos(&["validate", &paths[0], &paths[1], &paths[2]]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("syntax.yaml:") && err.contains("YAML syntax"),
        "{err}"
    );
    assert!(
        err.contains("unknown.yaml:5: error at steps[0].colour: unknown field `colour`"),
        "{err}"
    );
    assert!(
        err.contains("duration.yaml:4: error at steps[0].wait.for: bad duration \"3x\""),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_file_is_an_error_not_a_panic() {
    let out = kairos(&["validate", "/nonexistent/flow.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/flow.yaml: error: cannot read the file"));
}

#[test]
fn references_between_files_and_definitions() {
    let paths = files(
        "refs",
        &[
            ("a.yaml", "id: a\nsteps: [ { id: go, start: b }, { id: mail, send: { channel: email, template: hello } } ]\n"),
            ("b.yaml", "id: b\nsteps: [ { id: x, if: { segment: vip }, then: [ { id: y, end: true } ] } ]\n"),
            ("defs.yaml", "segments: { vip: { tag: vip } }\ntemplates: { hello: { subject: Hi, text: Hello } }\n"),
        ],
    );
    let out = kairos(&["validate", &paths[0], &paths[1], "--definitions", &paths[2]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kairos(&["validate", &paths[0]]);
    assert!(
        text(&out.stderr).contains("unknown workflow `b`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn lint_warns_and_exits_zero() {
    let paths = files("lint", &[("w.yaml", "id: w\nentry: { reentry: concurrent }\nsteps:\n  - { id: a, wait: { until: { tag: x } } }\n")]);
    let out = kairos(&["lint", &paths[0]]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("w.yaml:2: warning at entry.reentry"),
        "{stdout}"
    );
    assert!(
        stdout.contains("w.yaml:4: warning at steps[0].wait"),
        "{stdout}"
    );
}

#[test]
fn graph_prints_mermaid_and_dot() {
    let out = kairos(&["graph", &example()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart TD\n"));
    assert!(mermaid.contains("s4 -->|then| s5"), "{mermaid}");
    assert!(mermaid.contains("s4 -->|else| s6"), "{mermaid}");
    assert!(mermaid.contains("s9 --> done"), "{mermaid}");
    let out = kairos(&["graph", "--format", "dot", &example()]);
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph \"welcome-series\" {"), "{dot}");
    assert!(dot.contains("s8 [shape=hexagon"), "{dot}");
}

#[test]
fn schema_is_generated_from_the_types() {
    let out = kairos(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "WorkflowDoc");
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("steps")));
    assert_eq!(schema["additionalProperties"], false);
    let step = &schema["$defs"]["StepDoc"]["properties"];
    for kind in [
        "send", "wait", "if", "split", "goal", "tag", "list", "score", "set", "start", "stop",
        "webhook", "goto", "end",
    ] {
        assert!(
            step.get(kind).is_some(),
            "step kind {kind} missing from the schema"
        );
    }
}

#[test]
fn simulate_prints_json_lines_on_a_pipe_and_a_report() {
    let scenario = format!(
        "{}/../examples/course-promotion/scenario.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = kairos(&["simulate", &scenario, "--report"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for line in &lines[..lines.len() - 1] {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["at", "contact", "kind"] {
            assert!(entry.get(key).is_some(), "{line}");
        }
    }
    let report: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    let steps = &report["report"]["workflows"][0]["steps"];
    let goal = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "enrolled")
        .unwrap();
    assert_eq!(goal["goal_conversions"], 1);
    assert_eq!(goal["conversion_rate"], 0.5);
    assert!(
        text(&out.stderr).is_empty(),
        "no progress on a pipe: {}",
        text(&out.stderr)
    );
}

#[test]
fn broken_scenarios_name_file_path_and_line() {
    let paths = files(
        "scenario",
        &[
            ("flow.yaml", "id: flow\nentry: { triggers: [ { event: go } ] }\nsteps: [ { id: a, end: true } ]\n"),
            (
                "bad.yaml",
                "until: 3d\nworkflows: [ flow.yaml ]\ncontacts:\n  - { id: c1, timezone: Mars/Base }\ntimeline:\n  - { at: 1x, contact: c1, event: go }\n",
            ),
            (
                "bad2.yaml",
                "until: 3d\nworkflows: [ flow.yaml, missing.yaml ]\ntimeline:\n  - { at: 1d, contact: c1, event: go, tag_added: x }\n  - { at: 5d, contact: c1, event: go }\n  - { at: 1d, contact: c1, colour: red }\n",
            ),
        ],
    );
    let out = kairos(&["simulate", &paths[1]]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yaml:6: error at timeline[0].at: bad duration \"1x\""),
        "{err}"
    );
    assert!(text(&out.stdout).is_empty(), "no partial journal");
    let out = kairos(&["simulate", &paths[2]]);
    let err = text(&out.stderr);
    assert!(
        err.contains("bad2.yaml:6: error at timeline[2].colour: unknown field `colour`"),
        "{err}"
    );
    // Shape errors stop parsing; fix them and the semantic checks report together.
    let fixed = paths[2].replace("bad2", "bad3");
    std::fs::write(&fixed, "until: 3d\nworkflows: [ flow.yaml, missing.yaml ]\ncontacts: [ { id: c1, timezone: Mars/Base } ]\ntimeline:\n  - { at: 1d, contact: c1, event: go, tag_added: x }\n  - { at: 5d, contact: c1, event: go }\n").unwrap();
    let out = kairos(&["simulate", &fixed]);
    let err = text(&out.stderr);
    assert!(
        err.contains("bad3.yaml:2: error at workflows[1]: ")
            && err.contains("missing.yaml: cannot read the file"),
        "{err}"
    );
    assert!(
        err.contains("bad3.yaml:3: error at contacts[0].timezone: unknown timezone \"Mars/Base\""),
        "{err}"
    );
    assert!(err.contains("bad3.yaml:5: error at timeline[0]: a timeline entry has one action; found event, tag_added"), "{err}");
    assert!(
        err.contains(
            "bad3.yaml:6: error at timeline[1].at: 5d is after the end of the simulation (3d)"
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn simulate_table_output_is_readable() {
    let scenario = format!(
        "{}/../examples/abandoned-cart/scenario.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    // --json off and stdout a pipe: still JSON (the table is for terminals); the table
    // formatter itself is exercised through the library.
    let out = kairos(&["simulate", &scenario]);
    assert!(text(&out.stdout).starts_with('{'));
}

#[test]
fn scenario_contacts_and_inline_workflows() {
    let paths = files(
        "scenario-contacts",
        &[
            (
                "s.yaml",
                "until: 10d\nworkflows:\n  - id: inline\n    steps:\n      - { id: a, goto: nowhere }\ncontacts: [ { id: ann } ]\ntimeline:\n  - { at: 1d, contact: bob, identify: { email: bob@example.com } }\n  - { at: 2d, contact: bob, event: go }\n  - { at: 3d, contact: bobb, event: go }\n  - { at: 9d, contact: ann, event: go }\n  - { at: 5d, contact: cy, identify: { email: cy@example.com } }\n  - { at: 4d, contact: cy, event: go }\n",
            ),
            ("list.yaml", "- 1\n- 2\n"),
        ],
    );
    let out = kairos(&["simulate", &paths[0]]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(
            "s.yaml:5: error at workflows[0].steps[0].goto: goto names an unknown step `nowhere`"
        ),
        "{err}"
    );
    assert!(
        err.contains("s.yaml:10: error at timeline[2].contact: unknown contact `bobb`"),
        "{err}"
    );
    // Written after its `identify`, but happening before it.
    assert!(
        err.contains("s.yaml:13: error at timeline[5].contact: unknown contact `cy`"),
        "{err}"
    );
    assert!(
        !err.contains("timeline[1]")
            && !err.contains("timeline[0]")
            && !err.contains("timeline[3]")
            && !err.contains("timeline[4]"),
        "{err}"
    );
    let out = kairos(&["validate", &paths[1]]);
    assert!(
        text(&out.stderr).contains("list.yaml:1: error: the file must hold a map of keys"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn graph_report_for_another_workflow_is_an_error() {
    let scenario = format!(
        "{}/../examples/course-promotion/scenario.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = kairos(&["simulate", &scenario, "--report", "--json"]);
    let paths = files("graph-report", &[("report.json", &text(&out.stdout))]);
    let course = format!(
        "{}/../examples/course-promotion/workflow.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = kairos(&["graph", &course, "--report", &paths[0]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("converted 1 (50%)"),
        "{}",
        text(&out.stdout)
    );
    let out = kairos(&["graph", &example(), "--report", &paths[0]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the report has no counts for workflow `welcome-series`"));
}

#[test]
fn template_errors_are_caught_by_validate() {
    let paths = files(
        "liquid",
        &[
            (
                "w.yaml",
                "id: w\nsteps: [ { id: a, send: { channel: email, template: t } } ]\n",
            ),
            (
                "defs.yaml",
                "templates:\n  t:\n    subject: \"Hi {{ contact.first_name \"\n    text: ok\n",
            ),
        ],
    );
    let out = kairos(&["validate", &paths[0], "--definitions", &paths[1]]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("defs.yaml:3: error at templates.t.subject: Liquid syntax"),
        "{err}"
    );
}

#[test]
fn template_files_are_read_and_a_missing_one_is_named() {
    let paths = files(
        "template-files",
        &[
            (
                "w.yaml",
                "id: w\nsteps: [ { id: a, send: { channel: email, template: t } } ]\n",
            ),
            (
                "defs.yaml",
                "templates:\n  t: { subject: Hi, html: mail/t.html }\n",
            ),
        ],
    );
    let out = kairos(&["validate", &paths[0], "--definitions", &paths[1]]);
    assert!(
        text(&out.stderr).contains("defs.yaml:2: error at templates.t.html: cannot read"),
        "{}",
        text(&out.stderr)
    );
    let dir = std::path::Path::new(&paths[1])
        .parent()
        .unwrap()
        .join("mail");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.html"), "<p>{{ contact.first_name </p>").unwrap();
    let out = kairos(&["validate", &paths[0], "--definitions", &paths[1]]);
    assert!(
        text(&out.stderr).contains("error at templates.t.html: Liquid syntax"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        dir.join("t.html"),
        "<p>Hi {{ contact.first_name | default: 'you' }}</p>",
    )
    .unwrap();
    assert!(kairos(&["validate", &paths[0], "--definitions", &paths[1]])
        .status
        .success());
}
