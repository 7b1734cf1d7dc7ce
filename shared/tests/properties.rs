//! Properties: the engine is deterministic, its persisted state is complete (stopping after
//! any prefix of inputs, saving and loading, then going on gives the same result as one
//! pass), and no input text makes the parser or validator panic.

mod support;

use std::collections::BTreeSet;

use chrono::Duration;
use kairos_core::language::validate::References;
use kairos_core::language::{load_definitions, load_workflow};
use kairos_core::{
    process, Catalog, Contact, ContactState, Effect, Event, Input, JournalEntry, Timer,
};
use proptest::prelude::*;
use support::{catalog, t0};

const FLOWS: [&str; 3] = [
    r#"
id: nurture
entry: { triggers: [ { event: signed_up } ], reentry: after_exit }
exit_when: { tag: unsubscribed }
steps:
  - { id: hello, send: { channel: email, template: hello } }
  - { id: w1, wait: { for: 2d } }
  - id: check
    if: { event: { name: purchase, within: 30d, sum: { of: amount, gt: 50 } } }
    then: [ { id: vip, tag: { add: [vip] } } ]
    else:
      - id: ab
        split: [ { weight: 1, steps: [ { id: a, score: { add: 5 } } ] }, { weight: 1, steps: [ { id: b, score: { add: 1 } } ] } ]
  - { id: bought, goal: { when: { tag: customer }, scope: anywhere, otherwise: wait, timeout: 5d } }
  - { id: bye, send: { channel: email, template: bye } }
"#,
    r#"
id: cart
entry: { triggers: [ { event: cart_updated } ], reentry: concurrent, key: cart_id }
steps:
  - { id: hold, wait: { until: { event: { name: purchase, match_key: true, since: run_start } }, timeout: 1d } }
  - { id: nudge, send: { channel: sms, template: nudge } }
  - { id: mark, tag: { add: [customer] } }
"#,
    r#"
id: tagger
entry: { triggers: [ { tag_added: customer } ] }
steps:
  - { id: morning, wait: { until_time: "09:00", days: [mon, wed, fri] } }
  - { id: set, set: { stage: customer } }
"#,
];

#[derive(Clone, Debug)]
enum Step {
    Wait(i64),
    Event(&'static str, u8),
    Tag(&'static str, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..=72).prop_map(Step::Wait),
        (
            prop::sample::select(vec![
                "signed_up",
                "purchase",
                "cart_updated",
                "page_viewed",
                "email_opened"
            ]),
            0u8..3
        )
            .prop_map(|(n, k)| Step::Event(n, k)),
        (
            prop::sample::select(vec!["customer", "unsubscribed", "vip"]),
            any::<bool>()
        )
            .prop_map(|(t, on)| Step::Tag(t, on)),
    ]
}

/// Runs the steps with timers fired in due order; returns the journal and final state.
/// `save_after`: after this many steps, the state goes through JSON (a store round trip).
fn run(
    catalog: &Catalog,
    steps: &[Step],
    save_after: Option<usize>,
) -> (Vec<JournalEntry>, ContactState) {
    let mut state = ContactState::new(Contact::new("c1", t0()));
    let mut now = t0();
    let mut timers: BTreeSet<Timer> = BTreeSet::new();
    let mut journal = Vec::new();
    let mut apply = |state: &mut ContactState, input: Input, now, timers: &mut BTreeSet<Timer>| {
        let out = process(catalog, state, input, now);
        journal.extend(out.journal);
        for e in out.effects {
            if let Effect::Timer(t) = e {
                timers.insert(t);
            }
        }
    };
    for (i, s) in steps.iter().enumerate() {
        if save_after == Some(i) {
            let text = serde_json::to_string(&state).unwrap();
            state = serde_json::from_str(&text).unwrap();
        }
        match s {
            Step::Wait(hours) => {
                let end = now + Duration::hours(*hours);
                while let Some(t) = timers.first().cloned().filter(|t| t.due <= end) {
                    timers.remove(&t);
                    now = now.max(t.due);
                    apply(&mut state, Input::Timer(t), now, &mut timers);
                }
                now = end;
            }
            Step::Event(name, k) => {
                let e = Event::new(*name, now)
                    .with("cart_id", *k as i64)
                    .with("amount", 20 * *k as i64);
                apply(&mut state, Input::Event(e), now, &mut timers);
            }
            Step::Tag(tag, on) => {
                let (add, remove) = if *on {
                    (vec![tag.to_string()], vec![])
                } else {
                    (vec![], vec![tag.to_string()])
                };
                apply(&mut state, Input::Tags { add, remove }, now, &mut timers);
            }
        }
    }
    (journal, state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn same_inputs_same_journal_and_prefix_replay_matches(steps in prop::collection::vec(step(), 1..60), cut in 0usize..60) {
        let catalog = catalog(&FLOWS, None);
        let (journal_a, state_a) = run(&catalog, &steps, None);
        let (journal_b, state_b) = run(&catalog, &steps, None);
        prop_assert_eq!(&journal_a, &journal_b);
        prop_assert_eq!(&state_a, &state_b);
        let (journal_c, state_c) = run(&catalog, &steps, Some(cut.min(steps.len())));
        prop_assert_eq!(&journal_a, &journal_c);
        prop_assert_eq!(state_a, state_c);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = load_workflow("fuzz.yaml", &text, References::default());
        let _ = load_workflow("fuzz.json", &text, References::default());
        let _ = load_definitions("fuzz.yaml", &text);
    }

    #[test]
    fn mutated_workflows_never_panic(flow in 0usize..3, at in 0usize..2000, cut in 0usize..40, insert in "[ \\n\\-:{}\\[\\],a-z0-9\"]{0,12}") {
        // Start from a valid file and damage it: the parser and validator must answer, not panic.
        let source = FLOWS[flow];
        let mut at = at % source.len();
        while !source.is_char_boundary(at) { at -= 1; }
        let end = (at + cut).min(source.len());
        let end = (end..=source.len()).find(|i| source.is_char_boundary(*i)).unwrap_or(source.len());
        let text = format!("{}{}{}", &source[..at], insert, &source[end..]);
        let defs = kairos_core::language::definitions::Definitions::default();
        let known: BTreeSet<String> = ["cart".to_string()].into();
        let refs = References { definitions: Some(&defs), workflows: Some(&known) };
        if let Ok(wf) = load_workflow("fuzz.yaml", &text, refs) {
            let _ = kairos_core::language::lint::lint_workflow(&wf, "fuzz.yaml", Some(&defs));
            let mut c = Catalog::default();
            let _ = c.deploy(wf);
        }
    }
}
