//! Splits as experiments: a simulated A/B test with known true conversion rates is found
//! significant, an A/A test is not, the false-positive rate of the test stays near 5 %, and
//! the numbers agree with an independent computation (Python's `statistics.NormalDist`).

mod support;

use kairos_core::experiment::{compare, p_value, wilson, z_for, BranchResult};
use kairos_core::{process, Contact, ContactState, Event, Input, JournalEntry};
use support::{catalog, t0};

const TEST: &str = r#"
id: subject-test
entry: { triggers: [ { event: signed_up } ] }
steps:
  - id: subject
    split:
      - { weight: 50, name: plain, steps: [ { id: plain, tag: { add: [plain] } } ] }
      - { weight: 50, name: emoji, steps: [ { id: emoji, tag: { add: [emoji] } } ] }
      - { weight: 10 }
    experiment: { goal: purchased }
  - id: purchased
    goal: { when: { event: { name: purchase } }, otherwise: wait, timeout: 7d }
"#;

/// A small deterministic generator (splitmix64) for who converts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `contacts` sign up; each converts with the rate of the branch it got (by its tag).
fn simulate(contacts: usize, rates: [f64; 3], seed: u64) -> Vec<BranchResult> {
    let catalog = catalog(&[TEST], None);
    let mut rng = Rng(seed);
    let mut journal: Vec<JournalEntry> = Vec::new();
    for i in 0..contacts {
        let mut state = ContactState::new(Contact::new(format!("c{seed}-{i}"), t0()));
        let out = process(
            &catalog,
            &mut state,
            Input::Event(Event::new("signed_up", t0())),
            t0(),
        );
        journal.extend(out.journal);
        let tags = &state.contact.tags;
        let rate = if tags.contains("plain") {
            rates[0]
        } else if tags.contains("emoji") {
            rates[1]
        } else {
            rates[2]
        };
        if rng.next() < rate {
            let at = t0() + chrono::Duration::hours(1);
            let out = process(
                &catalog,
                &mut state,
                Input::Event(Event::new("purchase", at)),
                at,
            );
            journal.extend(out.journal);
        }
    }
    let report = kairos_core::report::build(&journal, &catalog);
    report.workflows[0].experiments[0].branches.clone()
}

#[test]
fn an_ab_test_with_a_real_difference_is_significant() {
    let branches = simulate(4_400, [0.10, 0.13, 0.10], 7);
    let (plain, emoji, holdout) = (&branches[0], &branches[1], &branches[2]);
    assert_eq!(
        (
            plain.branch.as_str(),
            emoji.branch.as_str(),
            holdout.branch.as_str()
        ),
        ("plain", "emoji", "c")
    );
    assert!(holdout.holdout && !plain.holdout);
    for b in [plain, emoji] {
        assert!(
            (1_900..=2_100).contains(&b.entered),
            "about 2,000 per branch: {b:?}"
        );
    }
    assert!(emoji.conversion_rate > plain.conversion_rate);
    assert!(emoji.p_value.unwrap() < 0.05, "{emoji:?}");
    assert!(
        plain.interval[0] < 0.10 && 0.10 < plain.interval[1],
        "{plain:?}"
    );
}

#[test]
fn an_aa_test_is_not_significant_and_the_false_positive_rate_is_near_five_percent() {
    let branches = simulate(4_400, [0.10, 0.10, 0.10], 11);
    assert!(branches[1].p_value.unwrap() > 0.05, "{:?}", branches[1]);
    // Many A/A tests of 2,000 a branch: about 5 % come out "significant".
    let mut rng = Rng(99);
    let trials = 1_000;
    let mut positives = 0;
    for _ in 0..trials {
        let mut draw = || (0..2_000).filter(|_| rng.next() < 0.10).count() as u64;
        let (a, b) = (draw(), draw());
        if p_value(a, 2_000, b, 2_000).unwrap() < 0.05 {
            positives += 1;
        }
    }
    let rate = positives as f64 / trials as f64;
    assert!((0.03..=0.07).contains(&rate), "false positives: {rate}");
}

#[test]
fn the_numbers_agree_with_pythons_statistics_module() {
    let counts = [(200u64, 2_000u64), (260, 2_000), (7, 31)];
    let results = compare(
        &counts
            .iter()
            .enumerate()
            .map(|(i, (x, n))| (format!("b{i}"), false, *n, *x))
            .collect::<Vec<_>>(),
    );
    let script = r#"
import json, math, sys
from statistics import NormalDist
N = NormalDist()
z = N.inv_cdf(0.975)
counts = json.loads(sys.argv[1])
out = []
x0, n0 = counts[0]
for x, n in counts:
    p = x / n
    centre = (p + z*z/(2*n)) / (1 + z*z/n)
    half = z / (1 + z*z/n) * math.sqrt(p*(1-p)/n + z*z/(4*n*n))
    pooled = (x0 + x) / (n0 + n)
    se = math.sqrt(pooled*(1-pooled)*(1/n0 + 1/n))
    pv = 2 * (1 - N.cdf(abs((x/n - x0/n0) / se))) if se > 0 else None
    out.append([max(0, centre-half), min(1, centre+half), pv])
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &serde_json::to_string(&counts).unwrap()])
        .output()
        .expect("python3 runs (./test.sh needs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<(f64, f64, Option<f64>)> = serde_json::from_slice(&out.stdout).unwrap();
    for (i, (lo, hi, p)) in expected.iter().enumerate() {
        let r = &results[i];
        assert!(
            (r.interval[0] - lo).abs() < 1e-9 && (r.interval[1] - hi).abs() < 1e-9,
            "{r:?} vs {lo} {hi}"
        );
        if i > 0 {
            assert!(
                (r.p_value.unwrap() - p.unwrap()).abs() < 1e-9,
                "{r:?} vs {p:?}"
            );
        }
    }
    assert!((z_for(0.95) - 1.959963984540054).abs() < 1e-9);
    assert_eq!(wilson(0, 0, 1.96), [0.0, 0.0]);
}

const WINNER: &str = r#"
id: offer-test
entry: { triggers: [ { event: signed_up } ] }
steps:
  - id: offer
    split:
      - { weight: 1, name: ten-percent, steps: [ { id: small, tag: { add: [small] } } ] }
      - { weight: 1, name: free-shipping, steps: [ { id: shipping, tag: { add: [shipping] } } ] }
    experiment: { goal: bought, winner: { after: 1d, min_per_branch: 200, confidence: 0.95 } }
  - id: bought
    goal: { when: { event: { name: purchase } }, otherwise: wait, timeout: 7d }
"#;

use support::ready;

#[test]
fn a_winner_is_decided_once_when_due_and_takes_every_new_run() {
    winner_run(0.20, true);
}

#[test]
fn without_a_winner_at_the_one_look_the_weights_hold_for_good() {
    winner_run(0.05, false);
}

/// 1,000 sign-ups, free shipping converting at `shipping_rate` (the other branch at 5 %).
fn winner_run(shipping_rate: f64, wins: bool) {
    use kairos_core::adapters::memory::MemoryStore;
    use kairos_core::ports::ContactStore;
    use kairos_core::service::experiments::due_decisions;

    let mut catalog = catalog(&[WINNER], None);
    let store = MemoryStore::default();
    let mut rng = Rng(5);
    let sign_up = |catalog: &kairos_core::Catalog, id: String, rng: &mut Rng, at| {
        let mut state = ContactState::new(Contact::new(id, at));
        let mut journal = process(
            catalog,
            &mut state,
            Input::Event(Event::new("signed_up", at)),
            at,
        )
        .journal;
        let rate = if state.contact.tags.contains("shipping") {
            shipping_rate
        } else {
            0.05
        };
        if rng.next() < rate {
            journal.extend(
                process(
                    catalog,
                    &mut state,
                    Input::Event(Event::new("purchase", at)),
                    at,
                )
                .journal,
            );
        }
        (state, journal)
    };
    for i in 0..1_000 {
        let (_, journal) = sign_up(&catalog, format!("c{i}"), &mut rng, t0());
        ready(store.append_journal(&journal)).unwrap();
    }
    // Not before `after`.
    let early = ready(due_decisions(
        &store,
        &catalog,
        t0() + chrono::Duration::hours(12),
    ))
    .unwrap();
    assert!(early.is_empty());
    let later = t0() + chrono::Duration::days(2);
    let decisions = ready(due_decisions(&store, &catalog, later)).unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let d = &decisions[0];
    let expected = if wins { "free-shipping" } else { "" };
    assert_eq!(
        (d.workflow.as_str(), d.step.as_str(), d.branch.as_str()),
        ("offer-test", "offer", expected)
    );
    assert_eq!(d.entry.kind, kairos_core::Kind::SplitWinner);
    assert_eq!(d.entry.branch.is_some(), wins);
    catalog.set_winner(&d.workflow, &d.step, &d.branch);
    ready(store.append_journal(std::slice::from_ref(&d.entry))).unwrap();
    // Decided, either way: no second look.
    assert!(ready(due_decisions(
        &store,
        &catalog,
        later + chrono::Duration::days(9)
    ))
    .unwrap()
    .is_empty());
    // With a winner every new run takes it, and says why; without, the weights hold.
    let mut shipping = 0;
    for i in 0..50 {
        let (state, journal) = sign_up(&catalog, format!("n{i}"), &mut rng, later);
        shipping += usize::from(state.contact.tags.contains("shipping"));
        let split = journal
            .iter()
            .find(|e| e.step.as_deref() == Some("offer"))
            .unwrap();
        assert_eq!(split.trace.as_ref().unwrap().test.contains("winner"), wins);
    }
    if wins {
        assert_eq!(shipping, 50);
    } else {
        assert!((10..40).contains(&shipping), "{shipping} of 50: by weight");
    }
}
