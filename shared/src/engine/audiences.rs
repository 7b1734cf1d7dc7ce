//! Synced ad audiences (`audiences:` in definitions): after every input, a contact that
//! should be in an audience (a member of its segment who takes marketing, with an email
//! or a phone) and is not yet — or is and should not be any more (left the segment,
//! unsubscribed, bounced) — gets the change journaled and posted to the audience's
//! destination as a webhook whose key counts the contact's changes, so it goes once.

use serde_json::json;

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
            let ids = hashed(contact);
            let want = self.state.segments.contains(&audience.segment)
                && takes_marketing(contact)
                && ids.is_some();
            let have = self.state.audiences.contains(id);
            if want == have {
                continue;
            }
            let (change, list) = if want {
                ("add", "add")
            } else {
                ("remove", "remove")
            };
            if want {
                self.state.audiences.insert(id.clone());
            } else {
                self.state.audiences.remove(id);
            }
            self.state.audience_changes += 1;
            let entry = self.journal(Kind::AudienceChanged);
            entry.name = Some(id.clone());
            entry.value = Some(change.into());
            let contact = self.state.contact.id.clone();
            let mut body = json!({ "audience": id, "add": [], "remove": [] });
            // A removal of a contact that no longer has an address still says who: the
            // hashes it had are gone with the address, so the removal carries none.
            if let Some(ids) = ids {
                body[list] = json!([ids]);
            }
            self.out.effects.push(Effect::Webhook(WebhookCall {
                key: format!("{contact}/audience/{id}/{}", self.state.audience_changes),
                contact,
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
