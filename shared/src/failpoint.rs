//! Named failpoints at the boundaries of the pipeline and the accept path, so tests can
//! make a crash or a failure happen exactly there instead of hoping a `kill -9` lands in
//! the right instruction.
//!
//! | name | where |
//! |---|---|
//! | `accept.after_queue` | an input is queued, its name not yet claimed |
//! | `evaluate.after_save` | the partition is saved with its outbox, nothing handed on |
//! | `evaluate.after_hand_on` | the outbox is handed on, not yet cleared |
//! | `dispatch.after_claim` | a message's key is claimed, the provider not called |
//! | `dispatch.after_send` | the provider took the message, the send not yet recorded |
//! | `queue.before_ack` | an entry's effect is stored, the entry not yet acknowledged |
//!
//! Armed two ways: in a process, `KAIROS_FAILPOINTS=name=action[@n],…` (read once), where
//! `action` is `crash` (the process aborts there, as a power cut would stop it) or `error`
//! (a retryable failure), and `@n` makes the n-th pass through the point the one that
//! fails (default: the first); in a test, [`arm`] on the current thread. Unarmed, a
//! failpoint costs two atomic loads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::ports::PortError;

/// What an armed failpoint does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Abort the process on the spot.
    Crash,
    /// Fail with a retryable [`PortError::Unavailable`].
    Error,
}

#[derive(Clone, Copy, Debug)]
struct Armed {
    action: Action,
    /// Passes left before it fires (1: the next one).
    countdown: u64,
}

static ANY: AtomicBool = AtomicBool::new(false);

thread_local! {
    static LOCAL: RefCell<HashMap<String, Armed>> = RefCell::new(HashMap::new());
}

fn from_env() -> &'static Mutex<HashMap<String, Armed>> {
    static POINTS: OnceLock<Mutex<HashMap<String, Armed>>> = OnceLock::new();
    POINTS.get_or_init(|| {
        let mut points = HashMap::new();
        for spec in std::env::var("KAIROS_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
        {
            let Some((name, rest)) = spec.trim().split_once('=') else {
                continue;
            };
            let (action, nth) = rest.split_once('@').unwrap_or((rest, "1"));
            let action = match action {
                "crash" => Action::Crash,
                "error" => Action::Error,
                _ => continue,
            };
            let countdown = nth.parse().unwrap_or(1).max(1);
            points.insert(name.to_string(), Armed { action, countdown });
        }
        if !points.is_empty() {
            ANY.store(true, Ordering::Relaxed);
        }
        Mutex::new(points)
    })
}

/// Arms `name` on this thread: the `nth` pass (1: the next) does `action`, once.
pub fn arm(name: &str, action: Action, nth: u64) {
    ANY.store(true, Ordering::Relaxed);
    LOCAL.with(|points| {
        points.borrow_mut().insert(
            name.to_string(),
            Armed {
                action,
                countdown: nth.max(1),
            },
        )
    });
}

/// Disarms every failpoint armed on this thread.
pub fn disarm_all() {
    LOCAL.with(|points| points.borrow_mut().clear());
}

fn fire(points: &mut HashMap<String, Armed>, name: &str) -> Option<Action> {
    let armed = points.get_mut(name)?;
    armed.countdown -= 1;
    if armed.countdown > 0 {
        return None;
    }
    let action = armed.action;
    points.remove(name);
    Some(action)
}

/// A pass through the failpoint `name`.
pub fn hit(name: &str) -> Result<(), PortError> {
    let env = from_env(); // reads KAIROS_FAILPOINTS on the first pass only
    if !ANY.load(Ordering::Relaxed) {
        return Ok(());
    }
    let local = LOCAL.with(|points| fire(&mut points.borrow_mut(), name));
    let action = local.or_else(|| fire(&mut env.lock().unwrap_or_else(|p| p.into_inner()), name));
    match action {
        None => Ok(()),
        Some(Action::Crash) => {
            eprintln!("failpoint {name}: crash");
            std::process::abort()
        }
        Some(Action::Error) => Err(PortError::Unavailable {
            what: format!("failpoint {name}"),
            detail: "injected failure".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_fires_on_its_pass_once() {
        assert!(hit("test.point").is_ok());
        arm("test.point", Action::Error, 2);
        assert!(hit("test.point").is_ok());
        assert!(hit("test.point").is_err());
        assert!(hit("test.point").is_ok());
    }
}
