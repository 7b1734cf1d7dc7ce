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
    // Where in the journey: the run (a contact may be in two runs of one workflow).
    let run = e.run.as_deref().unwrap_or(wf);
    let trace = e.trace.as_deref();
    let reason = e.reason.as_deref().unwrap_or("");
    let what = match e.kind {
        Kind::Entered => {
            let on = if reason.is_empty() {
                String::new()
            } else {
                format!(" on {reason}")
            };
            format!("entered {run}{on}{}", because(trace))
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
                let name = t.observed.as_ref().map_or(branch.clone(), show);
                let how = if t.test.contains("winner") {
                    " (the experiment's winner)"
                } else {
                    ""
                };
                format!("{run} › {step}: split, took branch {name}{how}")
            }
            (Some(branch), _) => {
                format!("{run} › {step}: took the {branch} branch{}", because(trace))
            }
            (None, Some(_)) => format!("{run} › {step}: goal not reached{}", because(trace)),
            (None, None) => format!("{run} › {step}"),
        },
        Kind::Waiting => match e.until {
            Some(until) => format!(
                "{run} › {step}: waits until {}",
                until.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("{run} › {step}: waits for its condition"),
        },
        Kind::Woke => match (reason, trace) {
            ("timeout", Some(t)) => format!(
                "{run} › {step}: stopped waiting (timed out); still not: {}",
                t.reasons().join("; ")
            ),
            ("time", _) => format!("{run} › {step}: the wait is over"),
            _ => format!("{run} › {step}: woke{}", because(trace)),
        },
        Kind::GoalAchieved => format!("{run}: reached the goal {step}{}", because(trace)),
        Kind::Exited => {
            let why = match reason {
                "completed" => "finished its steps",
                "exit_when" => "its exit rule held",
                "goal_end" => "the goal was not reached (otherwise: end)",
                "ended" => "reached an end step",
                "stopped" => "another workflow stopped it",
                "merged" => "the profile merged into a contact already in this workflow",
                "step_limit" => "too many steps for one input (a safety limit)",
                other => other,
            };
            format!("{run} left at {step}: {why}{}", because(trace))
        }
        Kind::MessageSent => format!(
            "was sent the {} {} ({run} › {step})",
            e.channel.as_deref().unwrap_or("message"),
            e.template.as_deref().unwrap_or("")
        ),
        Kind::MessageSuppressed => format!(
            "the {} {} ({run} › {step}) was not sent: {}{}",
            e.channel.as_deref().unwrap_or("message"),
            e.template.as_deref().unwrap_or(""),
            words(reason),
            because(trace).replace(" because ", "; failed: ")
        ),
        Kind::MessageDelayed => format!(
            "the {} {} ({run} › {step}) was held until {}{}",
            e.channel.as_deref().unwrap_or("message"),
            e.template.as_deref().unwrap_or(""),
            e.until
                .map(|u| u.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            match (trace, e.reason.as_deref()) {
                (None, Some(reason)) => format!(" because {}", words(reason)),
                _ => because(trace),
            }
        ),
        Kind::MessageOpened => format!(
            "opened {} ({run} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        Kind::MessageClicked => format!(
            "clicked in {} ({run} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        Kind::AudienceChanged => format!(
            "{} the ad audience {}",
            match e.value.as_ref().and_then(|v| v.as_str()) {
                Some("add") => "was added to",
                Some("replace") => "has new identifiers in",
                _ => "was removed from",
            },
            e.name.as_deref().unwrap_or("")
        ),
        Kind::BroadcastReceived => format!("is in the audience of the broadcast {run}"),
        Kind::BroadcastFired => format!("the broadcast {run} fired"),
        Kind::BroadcastSkipped => format!(
            "the broadcast {} did not fire: {}",
            e.broadcast.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("")
        ),
        Kind::TagAdded => format!("got the tag {}", e.tag.as_deref().unwrap_or("")),
        Kind::TagRemoved => format!("lost the tag {}", e.tag.as_deref().unwrap_or("")),
        Kind::ListJoined => format!("joined the list {}", e.list.as_deref().unwrap_or("")),
        Kind::ListLeft => format!("left the list {}", e.list.as_deref().unwrap_or("")),
        Kind::ScoreChanged => {
            let name = e.name.as_deref().unwrap_or("lead");
            let origin = if reason.is_empty() {
                format!(" ({run} › {step})")
            } else {
                format!(" ({reason})")
            };
            format!("score {name} is now {}{origin}", e.score.unwrap_or(0))
        }
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
        Kind::SplitWinner => match e.branch.as_deref() {
            Some(branch) => format!(
                "experiment {wf} › {step}: branch {branch} won; new runs take it{}",
                because(trace)
            ),
            None => format!("experiment {wf} › {step}: no branch won; the weights hold"),
        },
        Kind::WebhookCalled => format!("{run} › {step}: webhook called"),
        Kind::Warning => format!("warning: {}", e.message.as_deref().unwrap_or("")),
        Kind::MessageRejected => format!(
            "the provider refused {} ({run} › {step})",
            e.template.as_deref().unwrap_or("a message")
        ),
        Kind::MessageRenderFailed => format!(
            "the provider could not render {} ({run} › {step})",
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
