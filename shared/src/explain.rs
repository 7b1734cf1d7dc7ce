//! A contact's story in plain words, from its journal and the decision traces in it:
//! why it entered (or did not), which branch it took and why, what it waited for, why a
//! message went out, waited or was not sent. `kairos explain` prints it; the HTTP API
//! serves it (`GET /v1/contacts/{id}/journal?explain=1`).

use crate::model::journal::{JournalEntry, Kind};
use crate::model::trace::{show, Trace};

/// One line per entry that tells something, oldest first; with `workflow`, only what
/// happened in that workflow.
pub fn story(entries: &[JournalEntry], workflow: Option<&str>) -> Vec<String> {
    entries
        .iter()
        .filter(|e| workflow.is_none_or(|w| e.workflow.as_deref() == Some(w)))
        .filter_map(line)
        .collect()
}

fn because(trace: Option<&Trace>) -> String {
    match trace {
        Some(t) => format!(" because {}", t.reasons().join("; ")),
        None => String::new(),
    }
}

fn words(code: &str) -> String {
    code.replace('_', " ")
}

fn line(e: &JournalEntry) -> Option<String> {
    let at = e.at.format("%Y-%m-%d %H:%M:%S UTC");
    let wf = e.workflow.as_deref().unwrap_or("");
    let step = e.step.as_deref().unwrap_or("");
    let trace = e.trace.as_deref();
    let reason = e.reason.as_deref().unwrap_or("");
    let what = match e.kind {
        Kind::Entered => {
            let on = if reason.is_empty() {
                String::new()
            } else {
                format!(" on {reason}")
            };
            format!("entered {wf}{on}{}", because(trace))
        }
        Kind::EntryRefused => {
            let why = match reason {
                "reentry" => "its reentry rule does not allow another run now",
                "segment" => "it is not in the entry segment",
                other => other,
            };
            format!("did not enter {wf}: {why}{}", because(trace))
        }
        Kind::Step => match (&e.branch, trace) {
            (Some(branch), Some(t)) if t.test.starts_with("split") => {
                format!("{wf} › {step}: split, took branch {branch}")
            }
            (Some(branch), _) => {
                format!("{wf} › {step}: took the {branch} branch{}", because(trace))
            }
            (None, Some(_)) => format!("{wf} › {step}: goal not reached{}", because(trace)),
            (None, None) => format!("{wf} › {step}"),
        },
        Kind::Waiting => match e.until {
            Some(until) => format!(
                "{wf} › {step}: waits until {}",
                until.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("{wf} › {step}: waits for its condition"),
        },
        Kind::Woke => match (reason, trace) {
            ("timeout", Some(t)) => format!(
                "{wf} › {step}: stopped waiting (timed out); still not: {}",
                t.reasons().join("; ")
            ),
            _ => format!("{wf} › {step}: woke ({}){}", words(reason), because(trace)),
        },
        Kind::GoalAchieved => format!("{wf}: reached the goal {step}{}", because(trace)),
        Kind::Exited => format!("left {wf} at {step}: {}{}", words(reason), because(trace)),
        Kind::MessageSent => format!(
            "was sent the {} {} ({wf} › {step})",
            e.channel.as_deref().unwrap_or("message"),
            e.template.as_deref().unwrap_or("")
        ),
        Kind::MessageSuppressed => format!(
            "the {} {} ({wf} › {step}) was not sent: {}{}",
            e.channel.as_deref().unwrap_or("message"),
            e.template.as_deref().unwrap_or(""),
            words(reason),
            because(trace).replace(" because ", "; failed: ")
        ),
        Kind::MessageDelayed => format!(
            "the {} {} ({wf} › {step}) was held until {}{}",
            e.channel.as_deref().unwrap_or("message"),
            e.template.as_deref().unwrap_or(""),
            e.until
                .map(|u| u.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            because(trace)
        ),
        Kind::MessageOpened => format!(
            "opened {} ({wf} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        Kind::MessageClicked => format!(
            "clicked in {} ({wf} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        Kind::TagAdded => format!("got the tag {}", e.tag.as_deref().unwrap_or("")),
        Kind::TagRemoved => format!("lost the tag {}", e.tag.as_deref().unwrap_or("")),
        Kind::ListJoined => format!("joined the list {}", e.list.as_deref().unwrap_or("")),
        Kind::ListLeft => format!("left the list {}", e.list.as_deref().unwrap_or("")),
        Kind::ScoreChanged => format!(
            "score {} is now {} ({})",
            e.name.as_deref().unwrap_or("lead"),
            e.score.unwrap_or(0),
            reason
        ),
        Kind::FieldSet => format!(
            "field {} set to {}",
            e.field.as_deref().unwrap_or(""),
            e.value.as_ref().map(show).unwrap_or_default()
        ),
        Kind::SegmentEntered => format!(
            "entered the segment {}{}",
            e.name.as_deref().unwrap_or(""),
            because(trace)
        ),
        Kind::SegmentLeft => format!(
            "left the segment {}{}",
            e.name.as_deref().unwrap_or(""),
            because(trace)
        ),
        Kind::Merged => format!(
            "profile {} merged into {}",
            e.from.as_deref().unwrap_or(""),
            e.into.as_deref().unwrap_or("")
        ),
        Kind::WebhookCalled => format!("{wf} › {step}: webhook called"),
        Kind::Warning => format!("warning: {}", e.message.as_deref().unwrap_or("")),
        Kind::MessageRejected => format!(
            "the provider refused {} ({wf} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        Kind::MessageRenderFailed => format!(
            "the provider could not render {} ({wf} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        // Bookkeeping that answers no "why".
        Kind::Migrated
        | Kind::MessageDelivered
        | Kind::MessageAccepted
        | Kind::MessageDelayedByProvider => return None,
    };
    Some(format!("{at}  {what}"))
}
