//! Synced ad audiences: entering the segment adds the contact (hashed), leaving removes
//! it, unsubscribing removes it although it stays in the segment, each change is one
//! webhook with its own key (claimed before the call: a retry posts it once), and nothing is
//! pushed for a contact without an address.

mod support;

use kairos_core::hashed::sha256_hex;
use kairos_core::{Effect, Event, Input, Kind, Profile};
use serde_json::{json, Value};
use support::World;

const DEFINITIONS: &str = r#"
segments:
  vip: { tag: vip }
audiences:
  fb-vip:
    segment: vip
    destination: { webhook: "https://connector.example/meta", batch: 1000, headers: { Authorization: "Bearer x" } }
"#;

/// The audience webhooks the last inputs asked for: (the key's change number, body).
fn pushes(world: &World) -> Vec<(String, Value)> {
    world
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Webhook(call) if call.audience.as_deref() == Some("fb-vip") => {
                assert_eq!(call.url, "https://connector.example/meta");
                assert_eq!(call.headers["Authorization"], "Bearer x");
                let prefix = format!(
                    "c1/audience/fb-vip/{}/",
                    world.state.contact.created_at.timestamp_micros()
                );
                let change = call
                    .key
                    .strip_prefix(&prefix)
                    .expect("a key per contact, its creation and change");
                Some((change.to_string(), call.body.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn changes_of_membership_and_consent_are_pushed_once_each() {
    let mut world = World::with_definitions(&[], DEFINITIONS);
    world.state.contact.email = Some(" Ann@Example.com".into());
    world.tag("vip");
    let ann = json!([{ "email_sha256": sha256_hex("ann@example.com"), "phone_sha256": "" }]);
    assert_eq!(
        pushes(&world),
        [(
            "1".to_string(),
            json!({ "audience": "fb-vip", "add": ann, "remove": [] })
        )]
    );
    assert_eq!(world.only(&[Kind::AudienceChanged]).len(), 1);

    // Nothing changes: nothing is pushed.
    world.clear();
    world.event("page_viewed", json!({}));
    assert!(pushes(&world).is_empty());

    // A new address: out under the old, in under the new.
    world.clear();
    world.input(Input::Identify(Profile {
        email: Some("ann@new.example".into()),
        ..Profile::default()
    }));
    let new = json!([{ "email_sha256": sha256_hex("ann@new.example"), "phone_sha256": "" }]);
    assert_eq!(
        pushes(&world),
        [(
            "2".to_string(),
            json!({ "audience": "fb-vip", "add": new, "remove": ann })
        )]
    );

    // Unsubscribing removes her under the address she was added with last, though she
    // is still a VIP.
    world.clear();
    world.input(Input::Event(Event::new("unsubscribed", world.now)));
    assert_eq!(
        pushes(&world),
        [(
            "3".to_string(),
            json!({ "audience": "fb-vip", "add": [], "remove": new })
        )]
    );

    // Leaving the segment now changes nothing more for the audience.
    world.clear();
    world.untag("vip");
    assert!(pushes(&world).is_empty());
}

#[test]
fn leaving_the_segment_removes_and_a_contact_without_an_address_is_never_pushed() {
    let mut world = World::with_definitions(&[], DEFINITIONS);
    world.state.contact.phone = Some("+4915112345678".into());
    world.tag("vip");
    world.clear();
    world.untag("vip");
    let pushed = pushes(&world);
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        pushed[0].1["remove"][0]["phone_sha256"],
        sha256_hex("4915112345678")
    );

    let mut nobody = World::with_definitions(&[], DEFINITIONS);
    nobody.tag("vip");
    assert!(
        pushes(&nobody).is_empty(),
        "no email, no phone: nothing to match on"
    );
}
