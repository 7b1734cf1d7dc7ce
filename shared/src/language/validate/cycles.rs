//! Loops that never wait (a `goto` back without a wait in between) and segments defined
//! through themselves: both would spin for ever, so both are refused at deploy time.

use super::*;

/// A path from the goto's target back to the goto that passes no wait step, if any.
pub(super) fn waitless_loop(nodes: &[Node], goto_at: usize) -> Option<Vec<String>> {
    let NodeKind::Goto(target) = nodes[goto_at].kind else {
        return None;
    };
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut stack = vec![target];
    let mut seen = vec![false; nodes.len()];
    seen[target] = true;
    while let Some(n) = stack.pop() {
        if n == goto_at {
            let mut ids = vec![nodes[n].id.clone()];
            let mut cur = n;
            while let Some(&p) = parent.get(&cur) {
                ids.push(nodes[p].id.clone());
                cur = p;
            }
            ids.reverse();
            return Some(ids);
        }
        // Only waits that always wait break a loop: `for` more than 0s, or `until_time`.
        // (A past `until` date or an already-true condition passes straight through.)
        if matches!(nodes[n].kind, NodeKind::Wait(Wait::For(d)) if d.seconds() > 0)
            || matches!(nodes[n].kind, NodeKind::Wait(Wait::UntilTime { .. }))
        {
            continue;
        }
        for s in crate::program::successors(&nodes[n]) {
            if !seen[s] {
                seen[s] = true;
                parent.insert(s, n);
                stack.push(s);
            }
        }
    }
    None
}

/// A chain of segment references that comes back to `start`, if any.
pub(super) fn segment_cycle(defs: &Definitions, start: &str) -> Option<Vec<String>> {
    fn refs_of(c: &Condition) -> Vec<String> {
        let mut out = Vec::new();
        c.walk(&mut |c| {
            if let Condition::Segment(name) = c {
                out.push(name.clone());
            }
        });
        out
    }
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((name, chain)) = stack.pop() {
        let Some(condition) = defs.segments.get(&name) else {
            continue;
        };
        for next in refs_of(condition) {
            let mut longer = chain.clone();
            longer.push(next.clone());
            if next == start {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push((next, longer));
            }
        }
    }
    None
}
