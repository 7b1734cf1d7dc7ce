//! Checks of `broadcasts:` — one firing (`on` or `at`), one action (`send` or `start`), a
//! well-formed and well-typed `where.expr`, the audience, local time and throttle — and
//! of `audiences:` (a known segment, an http(s) destination).

use super::Checker;
use crate::calendar::{parse_local_time, parse_timestamp};
use crate::language::broadcast::{AudienceSync, Broadcast};
use crate::language::definitions::Definitions;
use crate::language::expr::Expr;

impl Checker<'_> {
    pub(super) fn broadcast(&mut self, path: &str, id: &str, b: &Broadcast) {
        self.slug(path, id, "broadcast id");
        match (&b.on, &b.at) {
            (Some(_), Some(_)) => self.error(
                path,
                "a broadcast fires `on` an event or `at` a time, not both",
            ),
            (None, None) => self.error(
                path,
                "say when it fires: `on: { business_event: … }` or `at: <time>`",
            ),
            (Some(on), None) => {
                if on.business_event.trim().is_empty() {
                    self.error(
                        &format!("{path}.on.business_event"),
                        "the event name cannot be empty",
                    );
                }
                if let Some(text) = &on.where_.expr {
                    if let Err(e) = Expr::parse(text) {
                        self.error(&format!("{path}.on.where.expr"), e);
                    }
                }
                self.where_(&format!("{path}.on.where"), &on.where_.props);
            }
            (None, Some(at)) => {
                if let Err(e) = parse_timestamp(at) {
                    self.error(&format!("{path}.at"), e);
                }
            }
        }
        self.condition(&format!("{path}.audience"), &b.audience, false);
        match (&b.send, &b.start) {
            (Some(_), Some(_)) => self.error(
                path,
                "a broadcast does one thing: `send` or `start`, not both",
            ),
            (None, None) => self.error(
                path,
                "say what it does: `send: { channel, template }` or `start: <workflow>`",
            ),
            (Some(send), None) => self.template_ref(
                &format!("{path}.send.template"),
                &send.template,
                send.channel,
            ),
            (None, Some(workflow)) => self.workflow_ref(&format!("{path}.start"), workflow),
        }
        if let Some(local) = &b.local_time {
            if let Err(e) = parse_local_time(local) {
                self.error(&format!("{path}.local_time"), e);
            }
        }
        if b.throttle.is_some_and(|t| t.per_minute == 0) {
            self.error(
                &format!("{path}.throttle.per_minute"),
                "0 per minute would never send",
            );
        }
    }

    pub(super) fn audience(&mut self, path: &str, id: &str, a: &AudienceSync, defs: &Definitions) {
        self.slug(path, id, "audience id");
        if !defs.segments.contains_key(&a.segment) {
            self.error(
                &format!("{path}.segment"),
                format!("unknown segment `{}`", a.segment),
            );
        }
        let url = &a.destination.webhook;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.error(
                &format!("{path}.destination.webhook"),
                format!("`{url}` is not an http(s) URL"),
            );
        }
        if a.destination
            .batch
            .is_some_and(|b| !(1..=10_000).contains(&b))
        {
            self.error(
                &format!("{path}.destination.batch"),
                "a batch is 1 to 10,000 changes",
            );
        }
    }
}
