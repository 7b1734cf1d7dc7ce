//! The SAM template passes cfn-lint (SAM transform included) with no errors, and keeps
//! the promises the design makes: every SQS consumer reports partial batch failures, and
//! queue visibility timeouts are at least 6× the function timeout.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn cfn_lint_finds_no_errors() {
    let cfn_lint = std::env::var("CFN_LINT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/cfn-lint"));
    let out = Command::new(&cfn_lint)
        .arg(root().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run ./test.sh, which installs it into .venv",
                cfn_lint.display()
            )
        });
    let code = out.status.code().unwrap_or(-1);
    // cfn-lint exit codes are a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    assert_eq!(
        code & 2,
        0,
        "cfn-lint errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sqs_consumers_report_batch_failures_and_queues_outlast_functions() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    // Event sources, one per line (`Type: SQS`); a function's `DeadLetterQueue: { Type:
    // SQS, … }` is not one.
    let sqs_events = text.lines().filter(|l| l.trim() == "Type: SQS").count();
    assert_eq!(sqs_events, 3, "evaluate, wakeup, dispatch");
    assert_eq!(
        text.matches("FunctionResponseTypes: [ReportBatchItemFailures]")
            .count(),
        sqs_events
    );
    let timeout: u32 = text
        .split("Timeout: ")
        .nth(1)
        .and_then(|t| t.lines().next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap();
    for line in text.lines().filter(|l| l.contains("VisibilityTimeout:")) {
        let visibility: u32 = line.split(':').nth(1).unwrap().trim().parse().unwrap();
        assert!(
            visibility >= 6 * timeout,
            "{line} (function timeout {timeout})"
        );
    }
    for binary in [
        "intake", "evaluate", "wakeup", "sweep", "dispatch", "feedback",
    ] {
        assert!(
            text.contains(&format!("BuildProperties: {{ Binary: {binary} }}")),
            "{binary} is in the template"
        );
    }
}
