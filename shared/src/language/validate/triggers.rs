//! Triggers, segment references, property filters and conditions.

use super::*;

impl Checker<'_> {
    pub(super) fn triggers(&mut self, doc: &WorkflowDoc) -> Vec<Trigger> {
        let mut out = Vec::new();
        for (i, t) in doc.entry.triggers.iter().enumerate() {
            let path = format!("entry.triggers[{i}]");
            match self.trigger(&path, t) {
                Some(trigger) => out.push(trigger),
                None => continue,
            }
        }
        out
    }

    pub(super) fn trigger(&mut self, path: &str, t: &TriggerDoc) -> Option<Trigger> {
        let kinds = t.kinds();
        if kinds.len() != 1 {
            let found = if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            };
            self.error(path, format!("a trigger needs exactly one of event, tag_added, tag_removed, list_joined, list_left, field_changed, date, segment_entered (found: {found})"));
            return None;
        }
        if t.where_.is_some() && t.event.is_none() {
            self.error(
                &format!("{path}.where"),
                "`where` filters an event trigger's properties; this trigger has no `event`",
            );
        }
        if t.to.is_some() && t.field_changed.is_none() {
            self.error(
                &format!("{path}.to"),
                "`to` belongs to a field_changed trigger",
            );
        }
        if let Some(name) = &t.event {
            let where_ = t.where_.clone().unwrap_or_default();
            self.where_(&format!("{path}.where"), &where_);
            return Some(Trigger::Event {
                name: name.clone(),
                where_,
            });
        }
        if let Some(segment) = &t.segment_entered {
            self.segment_ref(&format!("{path}.segment_entered"), segment);
            return Some(Trigger::SegmentEntered(segment.clone()));
        }
        if let Some(segment) = &t.segment_left {
            self.segment_ref(&format!("{path}.segment_left"), segment);
            return Some(Trigger::SegmentLeft(segment.clone()));
        }
        if let Some(date) = &t.date {
            let at = match date.at.as_deref().map(parse_local_time) {
                Some(Err(e)) => {
                    self.error(&format!("{path}.date.at"), e);
                    None
                }
                Some(Ok(at)) => Some(at),
                None => None,
            };
            return Some(Trigger::Date(DateRule {
                field: date.field.clone(),
                each_year: date.each_year,
                at,
                offset: date.offset.unwrap_or(Offset::default()),
            }));
        }
        let simple = [
            (&t.tag_added, Trigger::TagAdded as fn(String) -> Trigger),
            (&t.tag_removed, Trigger::TagRemoved),
            (&t.list_joined, Trigger::ListJoined),
            (&t.list_left, Trigger::ListLeft),
        ];
        for (value, make) in simple {
            if let Some(v) = value {
                return Some(make(v.clone()));
            }
        }
        t.field_changed.as_ref().map(|field| Trigger::FieldChanged {
            field: field.clone(),
            to: t.to.clone(),
        })
    }

    pub(super) fn segment_ref(&mut self, path: &str, name: &str) {
        if let Some(defs) = self.refs.definitions {
            if !defs.segments.contains_key(name) {
                let known: Vec<&str> = defs.segments.keys().map(String::as_str).collect();
                self.error(
                    path,
                    format!(
                        "unknown segment `{name}` (defined: {})",
                        list_or_none(&known)
                    ),
                );
            }
        }
    }

    pub(super) fn where_(&mut self, path: &str, filter: &Where) {
        for (property, predicate) in filter {
            self.ops(&format!("{path}.{property}"), &predicate.0);
        }
    }

    pub(super) fn ops(&mut self, path: &str, ops: &Ops) {
        if ops.is_empty() {
            self.error(path, "no test given: use one of eq, ne, gt, gte, lt, lte, in, contains, starts_with, exists, older_than, within_last");
        }
        for (name, value) in [
            ("gt", &ops.gt),
            ("gte", &ops.gte),
            ("lt", &ops.lt),
            ("lte", &ops.lte),
        ] {
            if let Some(v) = value {
                if !(v.is_number() || v.is_string()) {
                    self.error(
                        &format!("{path}.{name}"),
                        format!("`{name}` compares with a number, a date or a string, not {v}"),
                    );
                }
            }
        }
    }

    pub(super) fn numeric_ops(&mut self, path: &str, ops: &Ops) {
        self.ops(path, ops);
        let others = Ops {
            eq: None,
            ne: None,
            gt: None,
            gte: None,
            lt: None,
            lte: None,
            in_: None,
            ..ops.clone()
        };
        if !others.is_empty() {
            self.error(
                path,
                "only eq, ne, gt, gte, lt and lte apply to a number here",
            );
        }
        for v in [
            &ops.eq, &ops.ne, &ops.gt, &ops.gte, &ops.lt, &ops.lte, &None,
        ]
        .into_iter()
        .flatten()
        {
            if !v.is_number() {
                self.error(path, format!("expected a number, found {v}"));
            }
        }
    }

    /// Checks a condition. `in_run`: run-relative tests (`since`, `match_key`) are allowed.
    pub(super) fn condition(&mut self, path: &str, condition: &Condition, in_run: bool) {
        match condition {
            Condition::All(list) | Condition::Any(list) => {
                let word = if matches!(condition, Condition::All(_)) {
                    "all"
                } else {
                    "any"
                };
                for (i, c) in list.iter().enumerate() {
                    self.condition(&format!("{path}.{word}[{i}]"), c, in_run);
                }
            }
            Condition::Not(inner) => self.condition(&format!("{path}.not"), inner, in_run),
            Condition::Field(test) => self.ops(&format!("{path}.field"), &test.test),
            Condition::Score(test) => self.numeric_ops(&format!("{path}.score"), &test.test),
            Condition::Segment(name) => self.segment_ref(&format!("{path}.segment"), name),
            Condition::Event(test) => {
                let path = format!("{path}.event");
                self.where_(&format!("{path}.where"), &test.where_);
                if let Some(count) = &test.count {
                    self.numeric_ops(&format!("{path}.count"), count);
                }
                if let Some(sum) = &test.sum {
                    self.numeric_ops(&format!("{path}.sum"), &sum.test);
                }
                if test.since.is_some() && !in_run {
                    self.error(
                        &format!("{path}.since"),
                        "`since` counts from a run's start or step; here there is no run",
                    );
                }
                if test.match_key && !(in_run && self.run_key) {
                    let why = if in_run {
                        "the workflow has no `entry.key`"
                    } else {
                        "here there is no run"
                    };
                    self.error(
                        &format!("{path}.match_key"),
                        format!("`match_key` compares with the run's key, but {why}"),
                    );
                }
            }
            Condition::Tag(_) | Condition::List(_) | Condition::InactiveFor(_) => {}
        }
    }
}
