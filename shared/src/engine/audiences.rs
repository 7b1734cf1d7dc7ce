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
use crate::hashed::{hashed, takes_marketing};
use crate::language::step::HttpMethod;
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
            let contact = &self.state.contact;
            let key = format!(
                "{}/audience/{id}/{}/{}",
                contact.id,
                contact.created_at.timestamp_micros(),
                self.state.audience_changes
            );
            let body = json!({ "audience": id, "add": add, "remove": remove });
            self.out.effects.push(Effect::Webhook(WebhookCall {
                key,
                contact: contact.id.clone(),
                workflow: String::new(),
                run: String::new(),
                step: String::new(),
                url: audience.destination.webhook.clone(),
                method: HttpMethod::Post,
                headers: audience.destination.headers.clone(),
                body,
                audience: Some(id.clone()),
            }));
        }
    }
}
