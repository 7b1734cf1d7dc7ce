//! Human-readable output: journal rows, report tables, diagnostics.

use kairos_core::report::Report;
use kairos_core::{Diagnostic, JournalEntry};

pub fn diagnostics(errors: &[Diagnostic]) -> String {
    let mut text = errors
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    text.push_str(&format!("\n{} error(s)", errors.len()));
    text
}

/// One journal entry as a table row: time, contact, kind, workflow/step, details.
pub fn table_row(e: &JournalEntry) -> String {
    let kind = serde_json::to_value(e.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let place = match (&e.workflow, &e.step) {
        (Some(w), Some(s)) => format!("{w}/{s}"),
        (Some(w), None) => w.clone(),
        _ => String::new(),
    };
    let mut details = Vec::new();
    let fields = [
        ("channel", &e.channel),
        ("template", &e.template),
        ("reason", &e.reason),
        ("branch", &e.branch),
        ("tag", &e.tag),
        ("list", &e.list),
        ("field", &e.field),
        ("name", &e.name),
        ("url", &e.url),
        ("message", &e.message),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            details.push(format!("{key}={v}"));
        }
    }
    if let Some(score) = e.score {
        details.push(format!("score={score}"));
    }
    if let Some(value) = &e.value {
        details.push(format!("value={value}"));
    }
    if let Some(until) = e.until {
        details.push(format!("until={}", until.format("%Y-%m-%d %H:%M")));
    }
    let row = format!(
        "{}  {:<10} {:<18} {:<36} {}",
        e.at.format("%Y-%m-%d %H:%M"),
        e.contact,
        kind,
        place,
        details.join(" ")
    );
    row.trim_end().to_string()
}

pub fn report_table(report: &Report) -> String {
    let mut out = String::new();
    for w in &report.workflows {
        let exits: Vec<String> = w.exited.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(
            "\n{}: entered {}, active {}, exited {}\n",
            w.workflow,
            w.entered,
            w.active,
            exits.join(" ")
        ));
        out.push_str(&format!(
            "  {:<24} {:>8} {:>7} {:>7} {:>6} {:>7} {:>6} {:>10} {:>9} {:>6} {:>7}\n",
            "step",
            "entered",
            "now_at",
            "passed",
            "goal",
            "rate",
            "sent",
            "suppressed",
            "delivered",
            "opened",
            "clicked"
        ));
        for s in &w.steps {
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let rate = s
                .conversion_rate
                .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
            out.push_str(&format!(
                "  {:<24} {:>8} {:>7} {:>7} {:>6} {:>7} {:>6} {:>10} {:>9} {:>6} {:>7}\n",
                s.step,
                s.entered,
                s.now_at,
                s.passed,
                opt(s.goal_conversions),
                rate,
                opt(s.sent),
                opt(s.suppressed),
                opt(s.delivered),
                opt(s.opened),
                opt(s.clicked)
            ));
        }
        for x in &w.experiments {
            out.push_str(&format!(
                "  experiment {} (goal {}){}\n",
                x.step,
                x.goal,
                x.winner
                    .as_ref()
                    .map_or(String::new(), |w| format!(", winner {w}"))
            ));
            for b in &x.branches {
                let versus = match (b.difference, b.p_value) {
                    (Some(d), Some(p)) => format!("{:+.1} pts vs first, p = {p:.3}", d * 100.0),
                    (Some(d), None) => format!("{:+.1} pts vs first", d * 100.0),
                    _ => "baseline".into(),
                };
                out.push_str(&format!(
                    "    {:<12}{} {:>6} entered {:>6} converted {:>6.1}% [{:.1}–{:.1}%]  {versus}\n",
                    b.branch,
                    if b.holdout { " (holdout)" } else { "" },
                    b.entered,
                    b.converted,
                    b.conversion_rate * 100.0,
                    b.interval[0] * 100.0,
                    b.interval[1] * 100.0,
                ));
            }
        }
    }
    if !report.broadcasts.is_empty() {
        out.push_str(&format!(
            "\nbroadcasts\n  {:<24} {:>8} {:>6} {:>10} {:>9} {:>6} {:>7}\n",
            "run", "audience", "sent", "suppressed", "delivered", "opened", "clicked"
        ));
        for b in &report.broadcasts {
            let suppressed: u64 = b.suppressed.values().sum();
            out.push_str(&format!(
                "  {:<24} {:>8} {:>6} {:>10} {:>9} {:>6} {:>7}\n",
                b.run, b.audience, b.sent, suppressed, b.delivered, b.opened, b.clicked
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kairos_core::Kind;

    #[test]
    fn table_rows_show_time_contact_kind_place_and_details() {
        let at = "2026-01-05T08:00:00Z".parse().unwrap();
        let mut e = JournalEntry::new(at, "ann", Kind::MessageSuppressed);
        e.workflow = Some("welcome".into());
        e.step = Some("hello".into());
        e.channel = Some("email".into());
        e.reason = Some("unsubscribed".into());
        let row = table_row(&e);
        assert!(row.starts_with("2026-01-05 08:00  ann "), "{row}");
        assert!(row.contains("message_suppressed"));
        assert!(row.contains("welcome/hello"));
        assert!(row.ends_with("channel=email reason=unsubscribed"), "{row}");
    }
}
