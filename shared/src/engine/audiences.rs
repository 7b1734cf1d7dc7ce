//! Synced ad audiences (`audiences:` in definitions): after every input, a contact that
//! should be in an audience (a member of its segment who takes marketing, with an email
//! or a phone) and is not yet is added; one that is and should not be any more (left the
//! segment, unsubscribed, bounced) is removed with the identifiers it was added with; one
//! whose address changed is removed under the old and added under the new. Each change is
//! journaled and posted as a webhook whose key counts the contact's changes (and names
//! the contact's creation, so a contact deleted and created again starts anew): claimed
//! before the call, it goes once.

use serde_json::{json, Value};

use super::Cx;
use crate::hashed::{hashed, takes_marketing, HashedIds};
use crate::language::broadcast::AudienceSync;
use crate::language::definitions::Definitions;
use crate::language::step::HttpMethod;
use crate::model::contact::ContactState;
use crate::model::effect::{Effect, WebhookCall};
use crate::model::journal::Kind;

impl Cx<'_> {
    pub(crate) fn sync_audiences(&mut self) {
        let catalog = self.catalog;
        for (id, audience) in &catalog.definitions().audiences {
            let contact = &self.state.contact;
            let want = hashed(contact).filter(|_| {
                self.state.segments.contains(&audience.segment) && takes_marketing(contact)
            });
            let have = self.state.audiences.get(id).cloned();
            if want == have {
                continue;
            }
            let (add, remove, change) = match (&want, &have) {
                (Some(new), None) => (vec![new.clone()], vec![], "add"),
                (None, Some(old)) => (vec![], vec![old.clone()], "remove"),
                (Some(new), Some(old)) => (vec![new.clone()], vec![old.clone()], "replace"),
                (None, None) => continue,
            };
            match want {
                Some(ids) => self.state.audiences.insert(id.clone(), ids),
                None => self.state.audiences.remove(id),
            };
            self.state.audience_changes += 1;
            let entry = self.journal(Kind::AudienceChanged);
            entry.name = Some(id.clone());
            entry.value = Some(Value::from(change));
            let call = change_call(self.state, id, audience, add, remove);
            self.out.effects.push(Effect::Webhook(call));
        }
    }
}

/// The contact's removal from every synced audience it is in, for its deletion (queued as
/// [`crate::engine::Input::Farewell`] before its records go).
pub fn farewell(state: &ContactState, definitions: &Definitions) -> Vec<WebhookCall> {
    let mut state = state.clone();
    let mut calls = Vec::new();
    for (id, ids) in std::mem::take(&mut state.audiences) {
        let Some(audience) = definitions.audiences.get(&id) else {
            continue;
        };
        state.audience_changes += 1;
        calls.push(change_call(&state, &id, audience, vec![], vec![ids]));
    }
    calls
}

/// One audience change as a webhook call: its key counts the contact's changes and names
/// the contact's creation.
fn change_call(
    state: &ContactState,
    id: &str,
    audience: &AudienceSync,
    add: Vec<HashedIds>,
    remove: Vec<HashedIds>,
) -> WebhookCall {
    let contact = &state.contact;
    WebhookCall {
        key: format!(
            "{}/audience/{id}/{}/{}",
            contact.id,
            contact.created_at.timestamp_micros(),
            state.audience_changes
        ),
        contact: contact.id.clone(),
        workflow: String::new(),
        run: String::new(),
        step: String::new(),
        url: audience.destination.webhook.clone(),
        method: HttpMethod::Post,
        headers: audience.destination.headers.clone(),
        body: json!({ "audience": id, "add": add, "remove": remove }),
        audience: Some(id.to_string()),
    }
}
