//! Identity: which contact an id leads to once profiles have merged, and which contact an
//! identify must merge into. The merge itself is the engine's (`engine::merge`); the
//! contract is the repository's `docs/identity.md`.

use chrono::{DateTime, Utc};

use crate::engine::Input;
use crate::language::definitions::MergeOn;
use crate::model::contact::ContactState;
use crate::ports::{ContactStore, PortError, WorkItem};
use crate::service::accept::Submission;

/// How many merged profiles an id may lead through before the chain counts as a cycle
/// (two profiles merged into each other at once): past it a hand-over is refused, loudly.
pub const MAX_HOPS: u8 = 8;

/// The live contact `id` leads to: itself, or the contact it was merged into (through at
/// most [`MAX_HOPS`] merged profiles). `None` when there is none.
pub async fn resolve<S: ContactStore>(
    store: &S,
    id: &str,
) -> Result<Option<ContactState>, PortError> {
    let mut state = store.load(id).await?;
    for _ in 0..=MAX_HOPS {
        match state.as_ref().and_then(|s| s.merged_into.clone()) {
            Some(into) => state = store.load(&into).await?,
            None => return Ok(state),
        }
    }
    Ok(None)
}

/// [`resolve`] from reads that may lag the last save by a moment ([`ContactStore::peek`]),
/// for a caller whose answer does not hang on the newest save: a merge is for good, so a
/// merged profile seen leads on; a contact not seen may be new, and is looked for again
/// with `resolve`. A merge of the last moment may not show: the profile merged is answered.
pub async fn resolve_recent<S: ContactStore>(
    store: &S,
    id: &str,
) -> Result<Option<ContactState>, PortError> {
    let mut state = store.peek(id).await?;
    for _ in 0..=MAX_HOPS {
        match state.as_ref().map(|s| s.merged_into.clone()) {
            None => return resolve(store, id).await,
            Some(Some(into)) => state = store.peek(&into).await?,
            Some(None) => return Ok(state),
        }
    }
    Ok(None)
}

/// Where an input for a profile merged into `into` ends up: the first id along the merges
/// from `into` that is not itself merged (a live contact, or one not created yet).
/// `None` when the way leads back to `from` or on past [`MAX_HOPS`]: a cycle of merges.
pub async fn destination<S: ContactStore>(
    store: &S,
    from: &str,
    into: &str,
) -> Result<Option<String>, PortError> {
    let mut id = into.to_string();
    for _ in 0..=MAX_HOPS {
        if id == from {
            return Ok(None);
        }
        match store.load(&id).await?.and_then(|s| s.merged_into) {
            Some(next) => id = next,
            None => return Ok(Some(id)),
        }
    }
    Ok(None)
}

/// The contact that already has `email`, when the identify giving it to a contact must
/// merge that contact into it (`identity: { merge_on: email }`, the default): the
/// earliest created live contact with that address other than the `callers` (the ids the
/// call names) and the contacts they are already part of.
async fn email_owner<S: ContactStore>(
    store: &S,
    merge_on: MergeOn,
    callers: &[Option<&str>],
    email: &str,
) -> Result<Option<String>, PortError> {
    if merge_on != MergeOn::Email {
        return Ok(None);
    }
    let callers: Vec<&str> = callers.iter().flatten().copied().collect();
    let mut owner: Option<ContactState> = None;
    for id in store.contacts_by_email(email).await? {
        if callers.contains(&id.as_str()) {
            continue;
        }
        let Some(state) = store.load(&id).await? else {
            continue;
        };
        let live =
            state.merged_into.is_none() && !callers.iter().any(|c| state.aliases.contains(*c));
        let earlier = owner.as_ref().is_none_or(|o| {
            (state.contact.created_at, &state.contact.id) < (o.contact.created_at, &o.contact.id)
        });
        if live && earlier {
            owner = Some(state);
        }
    }
    Ok(owner.map(|o| o.contact.id))
}

/// The merge an id's call asks for beside its own input: `source` into `into`, named so
/// that it is queued once however often the call repeats (every call of an identified
/// visitor carries both ids).
///
/// `only_anonymous`: the call came with the write key, which anyone can read off a web
/// page — it may merge only a profile that exists and is not known (no email, no phone);
/// merging a known contact takes the API key.
pub fn merge(source: &str, into: &str, only_anonymous: bool, at: DateTime<Utc>) -> Submission {
    Submission {
        item: WorkItem {
            contact: source.to_string(),
            input: Input::MergeInto {
                into: into.to_string(),
                only_anonymous,
            },
            at,
        },
        // `#` cannot be part of an id: the key names one pair.
        dedupe: Some(format!("merge/{source}#{into}")),
    }
}

/// The merges a call about `user` asks for (`merge_on`: the definitions' rule, consulted
/// only when the call gives an email): a different `anonymous` id (the visitor's
/// profile so far) into `user` (`only_anonymous` as in [`merge`]); and, when the call
/// gives `user` an `email` another contact has had first, `user` into that contact.
/// Queue them after the call's own inputs: the merge of `user` must follow its identify.
#[allow(clippy::too_many_arguments)]
pub async fn merges_for<S: ContactStore>(
    store: &S,
    merge_on: MergeOn,
    user: &str,
    anonymous: Option<&str>,
    email: Option<&str>,
    only_anonymous: bool,
    at: DateTime<Utc>,
) -> Result<Vec<Submission>, PortError> {
    let mut merges = Vec::new();
    let anonymous = anonymous.filter(|a| *a != user);
    if let Some(anonymous) = anonymous {
        merges.push(merge(anonymous, user, only_anonymous, at));
    }
    if let Some(email) = email {
        let owner = email_owner(store, merge_on, &[Some(user), anonymous], email).await?;
        // The caller's own profile goes into the contact that had the address first:
        // nothing of that contact is handed to the caller, so no key is needed beyond the
        // one the call came with.
        if let Some(owner) = owner {
            merges.push(merge(user, &owner, false, at));
        }
    }
    Ok(merges)
}

/// Erases the contact `id` leads to together with every profile merged into it: none of
/// those ids keeps anything, and work queued for any of them finds a tombstone.
pub async fn delete<S: ContactStore>(
    store: &S,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), PortError> {
    let mut ids = std::collections::BTreeSet::from([id.to_string()]);
    if let Some(target) = resolve(store, id).await? {
        ids.insert(target.contact.id);
        ids.extend(target.aliases);
    }
    for id in ids {
        store.delete(&id, at).await?;
    }
    Ok(())
}
