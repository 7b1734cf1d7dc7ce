//! A broadcast run reaching one member of its audience — once: the contact remembers the
//! runs that reached it — with the message, keyed by run and contact, due at the
//! throttle's slot and then at the broadcast's local time in the contact's timezone; or
//! the workflow it starts, with the business event as its trigger.

use chrono::{DateTime, Utc};

use super::{Command, Cx};
use crate::calendar::{next_local_time, parse_local_time};
use crate::model::broadcast::RunState;
use crate::model::contact::BROADCASTS_KEPT;
use crate::model::effect::{Effect, Message};
use crate::model::journal::Kind;
use crate::model::reason::Suppression;

impl Cx<'_> {
    pub(crate) fn receive_broadcast(&mut self, id: &str, number: u32, not_before: DateTime<Utc>) {
        let catalog = self.catalog;
        let (Some(definition), Some(run)) = (
            catalog.definitions().broadcasts.get(id),
            catalog.broadcast_run(id, number),
        ) else {
            return;
        };
        let run_id = run.id();
        if self.state.broadcasts.contains(&run_id) {
            return;
        }
        self.state.broadcasts.push_back(run_id.clone());
        if self.state.broadcasts.len() > BROADCASTS_KEPT {
            self.state.broadcasts.pop_front();
        }
        if run.state == RunState::Cancelled {
            // Counted as what it is: a member whose message was cancelled before it left.
            if let Some(send) = &definition.send {
                let entry = self.journal(Kind::MessageSuppressed);
                entry.broadcast = Some(id.to_string());
                entry.run = Some(run_id);
                entry.step = Some("send".into());
                entry.channel = Some(send.channel.as_str().to_string());
                entry.template = Some(send.template.clone());
                entry.reason = Some(Suppression::BroadcastCancelled.as_str().into());
            }
            return;
        }
        let entry = self.journal(Kind::BroadcastReceived);
        entry.broadcast = Some(id.to_string());
        entry.run = Some(run_id.clone());
        if let Some(send) = &definition.send {
            let mut due = not_before.max(self.now);
            if let Some(local) = definition
                .local_time
                .as_deref()
                .and_then(|t| parse_local_time(t).ok())
            {
                due = next_local_time(due, local, &[], self.state.contact.timezone);
            }
            let contact = self.state.contact.id.clone();
            self.out.effects.push(Effect::Send(Message {
                key: format!("{contact}/broadcast/{run_id}"),
                contact,
                workflow: String::new(),
                version: 0,
                run: run_id,
                step: "send".into(),
                channel: send.channel,
                template: send.template.clone(),
                category: send.category,
                event: run.event.clone(),
                due,
                held_at_goals: None,
                broadcast: Some(id.to_string()),
                provider_retries: 0,
                turn_at: None,
            }));
        }
        if let Some(workflow) = &definition.start {
            self.commands.push(Command::Start {
                workflow: workflow.clone(),
                trigger: run.event.clone(),
            });
        }
    }
}
