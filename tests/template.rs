//! The SAM template passes cfn-lint (SAM transform included) with no errors and `sam
//! validate --lint`, and keeps
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

/// `sam validate --lint` (SAM CLI from PyPI, in .venv): the SAM transform and cfn-lint as
/// the SAM CLI runs them, offline. A copy of the template with a mistake is refused, so
/// the clean answer is not one the command gives everything.
#[test]
fn sam_validate_lint_is_clean() {
    let sam = std::env::var("SAM_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/sam"));
    let validate = |template: &std::path::Path| {
        let out = Command::new(&sam)
            .args(["validate", "--lint", "--template"])
            .arg(template)
            .env("SAM_CLI_TELEMETRY", "0")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}); run ./test.sh, which installs it into .venv",
                    sam.display()
                )
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (clean, text) = validate(&root().join("template.yaml"));
    assert!(clean && text.contains("is a valid SAM Template"), "{text}");
    let broken = std::env::temp_dir().join(format!("kairos-broken-{}.yaml", std::process::id()));
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    assert!(template.contains("BatchSize: 10"));
    std::fs::write(
        &broken,
        template.replacen("BatchSize: 10", "BatchSize: ten", 1),
    )
    .unwrap();
    let (clean, text) = validate(&broken);
    std::fs::remove_file(&broken).ok();
    assert!(!clean, "a broken template passed: {text}");
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

/// The resource names (two-space indented keys under `Resources:`) with their `Type:`.
fn resources(text: &str) -> Vec<(String, String)> {
    let body = text.split("\nResources:\n").nth(1).unwrap_or_default();
    let body = body.split("\nOutputs:").next().unwrap_or_default();
    let mut found = Vec::new();
    let mut name: Option<String> = None;
    for line in body.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            name = Some(line.trim().trim_end_matches(':').to_string());
        } else if let (Some(n), Some(kind)) = (&name, line.trim().strip_prefix("Type: ")) {
            if line.starts_with("    ") && !line.starts_with("     ") {
                found.push((n.clone(), kind.to_string()));
                name = None;
            }
        }
    }
    found
}

#[test]
fn every_dead_letter_queue_alarms_every_function_keeps_its_logs_and_the_table_stays() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let resources = resources(&text);
    let of = |kind: &str| -> Vec<String> {
        resources
            .iter()
            .filter(|(_, k)| k == kind)
            .map(|(n, _)| n.clone())
            .collect()
    };
    let queues = of("AWS::SQS::Queue");
    let dead_letters: Vec<&String> = queues
        .iter()
        .filter(|q| q.ends_with("DeadLetterQueue"))
        .collect();
    assert!(dead_letters.len() >= 5, "{dead_letters:?}");
    for dlq in dead_letters {
        assert!(
            text.contains(&format!("Value: !GetAtt {dlq}.QueueName }}]"))
                && text.contains(&format!("{}Alarm:", dlq.trim_end_matches("Queue"))),
            "no alarm on {dlq}"
        );
    }
    let functions = of("AWS::Serverless::Function");
    assert_eq!(functions.len(), 6, "{functions:?}");
    for function in &functions {
        assert!(
            text.contains(&format!(
                "LogGroupName: !Sub \"/aws/lambda/${{{function}}}\""
            )),
            "{function} has no log group with a retention"
        );
    }
    // Messages carry event properties and jobs inline: every queue is encrypted at rest.
    for queue in &queues {
        assert!(
            block(&text, queue).contains("SqsManagedSseEnabled: true"),
            "{queue} is not encrypted"
        );
    }
    let work = block(&text, "WorkQueue");
    assert!(
        work.contains("DeduplicationScope: messageGroup")
            && work.contains("FifoThroughputLimit: perMessageGroupId"),
        "the work queue is a high-throughput FIFO queue"
    );
    assert!(text.contains("DeletionProtectionEnabled: true"));
    assert!(text.contains("DeletionPolicy: Retain"));
}

/// The lines of resource `name` in the template, up to the next key indented by two
/// spaces (the next resource).
fn block(text: &str, name: &str) -> String {
    let header = format!("  {name}:");
    let mut lines = text.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "{name} is not in the template");
    let next_resource =
        |l: &&str| l.starts_with("  ") && !l.starts_with("   ") && !l.trim_start().starts_with('#');
    lines
        .take_while(|l| !next_resource(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn secrets_come_from_ssm_and_each_function_reads_only_its_own() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    // No secret as a plain environment variable or a template parameter value.
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("KAIROS_") && (line.contains("SECRET") || line.contains("KEY")) {
            assert!(
                line.split(':').next().unwrap().ends_with("_PARAMETER"),
                "a secret in the environment: {line}"
            );
        }
    }
    assert!(!text.contains("NoEcho"), "a secret passed as a parameter");
    let reads = |function: &str, parameter: &str| {
        block(&text, function).contains(&format!(
            "SSMParameterWithSlashPrefixReadPolicy: {{ ParameterName: !Ref {parameter} }}"
        ))
    };
    for function in [
        "IntakeFunction",
        "EvaluateFunction",
        "WakeupFunction",
        "SweepFunction",
        "DispatchFunction",
        "FeedbackFunction",
    ] {
        assert!(
            reads(function, "StoreKeyParameter"),
            "{function}: store key"
        );
        let signs_or_verifies = ["IntakeFunction", "DispatchFunction"].contains(&function);
        assert_eq!(
            reads(function, "UnsubscribeSecretParameter"),
            signs_or_verifies,
            "{function}: unsubscribe secret"
        );
        assert_eq!(
            block(&text, function).contains("KAIROS_UNSUBSCRIBE_SECRET_PARAMETER"),
            signs_or_verifies,
            "{function}: unsubscribe secret's name"
        );
        assert_eq!(
            reads(function, "ApiKeyParameter"),
            function == "IntakeFunction",
            "{function}: API key"
        );
    }
    assert!(text.contains("KAIROS_STORE_KEY_PARAMETER: !Ref StoreKeyParameter"));
}

/// The dashboard's body is JSON once CloudFormation substitutes it, names only resources
/// of the template, and shows every queue and function; SES's reputation has alarms; the
/// queue consumers run at 128 MB, intake at 256.
#[test]
fn the_dashboard_shows_every_queue_and_function_and_ses_reputation_alarms() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let names: Vec<String> = resources(&text).into_iter().map(|(n, _)| n).collect();
    let dashboard = block(&text, "Dashboard");
    let body: String = dashboard
        .lines()
        .skip_while(|l| !l.contains("DashboardBody: !Sub |"))
        .skip(1)
        .take_while(|l| l.starts_with("        "))
        .collect::<Vec<_>>()
        .join("\n");
    // What `!Sub` replaces: `${Resource}`, `${Resource.Attribute}`, `${AWS::Region}`.
    let mut substituted = String::new();
    let mut rest = body.as_str();
    let mut referenced = Vec::new();
    while let Some(start) = rest.find("${") {
        substituted.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${") + start;
        let name = &rest[start + 2..end];
        if !name.starts_with("AWS::") {
            referenced.push(name.split('.').next().unwrap().to_string());
        }
        substituted.push_str("resolved");
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    let json: serde_json::Value = serde_json::from_str(&substituted)
        .unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{substituted}"));
    assert_eq!(json["widgets"].as_array().unwrap().len(), 6);
    for name in &referenced {
        assert!(
            names.contains(name),
            "the dashboard names {name}, not in the template"
        );
    }
    for name in names
        .iter()
        .filter(|n| n.ends_with("Function") || n.ends_with("Queue"))
    {
        assert!(
            referenced.contains(name),
            "the dashboard does not show {name}"
        );
    }
    for (alarm, metric) in [
        ("SesBounceRateAlarm", "Reputation.BounceRate"),
        ("SesComplaintRateAlarm", "Reputation.ComplaintRate"),
    ] {
        let block = block(&text, alarm);
        assert!(
            block.contains(&format!("MetricName: {metric}"))
                && block.contains("AlarmActions: [!Ref AlarmTopic]"),
            "{alarm}"
        );
    }
    assert!(
        text.contains("    MemorySize: 128\n"),
        "the functions' default"
    );
    assert!(block(&text, "IntakeFunction").contains("MemorySize: 256"));
}
