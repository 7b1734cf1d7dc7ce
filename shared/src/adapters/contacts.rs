//! The memory store's contacts: the most recently saved ones open (as the engine uses
//! them), the rest packed — their JSON, as the embedded store keeps it, LZ4-compressed.
//! A simulated year of a million contacts would need ~17 GB as open records (B-tree
//! nodes of eleven slots for every small map, an `IndexMap` per stored event); with the
//! rest packed it peaks at 3.6 GB, everything included, and the contacts a moment works
//! on are open.

use std::collections::{BTreeMap, VecDeque};

use crate::model::contact::ContactState;
use crate::ports::PortError;

/// How many contacts stay open by default: the simulated moments' working set (a day's
/// sign-ups and the timers that fire with them), at ~15 KB each.
pub const OPEN_KEPT: usize = 20_000;

enum Slot {
    Open {
        state: Box<ContactState>,
        /// When it was last saved (the store's tick): the least recent is packed first.
        touched: u64,
    },
    Packed {
        version: u64,
        /// Kept beside the bytes: looking contacts up by email unpacks none.
        email: Option<Box<str>>,
        bytes: Box<[u8]>,
    },
}

fn broken(e: impl std::fmt::Display) -> PortError {
    PortError::Failed {
        what: "memory store".into(),
        detail: format!("a packed contact does not read back: {e}"),
    }
}

/// The buffers a contact is packed through, kept from one packing to the next: a
/// contact's JSON and its compressed form are written into the same allocations each
/// time instead of growing (and zeroing) new ones.
#[derive(Default)]
struct Packer {
    json: Vec<u8>,
    compressed: Vec<u8>,
}

impl Packer {
    /// The contact's JSON, LZ4-compressed after its length (as `compress_prepend_size`).
    fn pack(&mut self, state: &ContactState) -> Result<Slot, PortError> {
        self.json.clear();
        serde_json::to_writer(&mut self.json, state).map_err(broken)?;
        let length = u32::try_from(self.json.len()).map_err(broken)?;
        let most = 4 + lz4_flex::block::get_maximum_output_size(self.json.len());
        if self.compressed.len() < most {
            self.compressed.resize(most, 0);
        }
        self.compressed[..4].copy_from_slice(&length.to_le_bytes());
        let written = lz4_flex::block::compress_into(&self.json, &mut self.compressed[4..])
            .map_err(broken)?;
        Ok(Slot::Packed {
            version: state.version,
            email: state.contact.email.as_deref().map(Box::from),
            bytes: Box::from(&self.compressed[..4 + written]),
        })
    }
}

fn unpack(bytes: &[u8]) -> Result<ContactState, PortError> {
    let json = lz4_flex::decompress_size_prepended(bytes).map_err(broken)?;
    serde_json::from_slice(&json).map_err(broken)
}

/// Contacts by id, in id order (fan-outs page through them).
pub(crate) struct Contacts {
    slots: BTreeMap<String, Slot>,
    open_kept: usize,
    open: usize,
    tick: u64,
    /// Saves in order, `(tick, id)`; an entry whose tick is no longer its slot's is stale.
    saves: VecDeque<(u64, String)>,
    packer: Packer,
}

impl Default for Contacts {
    fn default() -> Contacts {
        Contacts::keeping_open(OPEN_KEPT)
    }
}

impl Contacts {
    pub(crate) fn keeping_open(open_kept: usize) -> Contacts {
        Contacts {
            slots: BTreeMap::new(),
            open_kept: open_kept.max(1),
            open: 0,
            tick: 0,
            saves: VecDeque::new(),
            packer: Packer::default(),
        }
    }

    /// A copy of the contact (open: cloned; packed: read back, left packed).
    pub(crate) fn get(&self, id: &str) -> Result<Option<ContactState>, PortError> {
        match self.slots.get(id) {
            None => Ok(None),
            Some(Slot::Open { state, .. }) => Ok(Some(ContactState::clone(state))),
            Some(Slot::Packed { bytes, .. }) => unpack(bytes).map(Some),
        }
    }

    pub(crate) fn version(&self, id: &str) -> Option<u64> {
        self.slots.get(id).map(|slot| match slot {
            Slot::Open { state, .. } => state.version,
            Slot::Packed { version, .. } => *version,
        })
    }

    /// Stores `state` open, packing the least recently saved contacts past the limit.
    pub(crate) fn put(&mut self, state: &ContactState) {
        self.tick += 1;
        let touched = self.tick;
        let id = state.contact.id.clone();
        let slot = Slot::Open {
            state: Box::new(state.clone()),
            touched,
        };
        if !matches!(self.slots.insert(id.clone(), slot), Some(Slot::Open { .. })) {
            self.open += 1;
        }
        self.saves.push_back((touched, id));
        while self.open > self.open_kept && self.pack_least_recent() {}
        if self.saves.len() > 4 * self.open_kept {
            let slots = &self.slots;
            self.saves.retain(|(tick, id)| {
                matches!(slots.get(id), Some(Slot::Open { touched, .. }) if touched == tick)
            });
        }
    }

    /// Packs the open contact saved longest ago; `false` when none was packed. One that
    /// does not pack stays open (more memory, nothing lost) and goes to the back.
    fn pack_least_recent(&mut self) -> bool {
        while let Some((tick, id)) = self.saves.pop_front() {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            let Slot::Open { state, touched } = slot else {
                continue;
            };
            if *touched != tick {
                continue;
            }
            return match self.packer.pack(state) {
                Ok(packed) => {
                    *slot = packed;
                    self.open -= 1;
                    true
                }
                Err(_) => {
                    self.saves.push_back((tick, id));
                    false
                }
            };
        }
        false
    }

    /// Drops the outbox of the stored contact at `version`, bumping its version; a
    /// conflict (with the version stored, if any) otherwise.
    pub(crate) fn clear_outbox(&mut self, id: &str, version: u64) -> Result<(), PortError> {
        let stored = self.version(id);
        let Some(slot) = self.slots.get_mut(id).filter(|_| stored == Some(version)) else {
            return Err(PortError::Conflict {
                expected: stored.unwrap_or(0),
            });
        };
        match slot {
            Slot::Open { state, .. } => {
                state.outbox = None;
                state.version += 1;
            }
            Slot::Packed { bytes, .. } => {
                let mut state = unpack(bytes)?;
                state.outbox = None;
                state.version += 1;
                *slot = self.packer.pack(&state)?;
            }
        }
        Ok(())
    }

    pub(crate) fn remove(&mut self, id: &str) {
        if let Some(Slot::Open { .. }) = self.slots.remove(id) {
            self.open -= 1;
        }
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = &String> {
        self.slots.keys()
    }

    /// Ids after `cursor`, in order.
    pub(crate) fn ids_after<'a>(
        &'a self,
        cursor: Option<&str>,
    ) -> impl Iterator<Item = &'a String> {
        use std::ops::Bound;
        let start = cursor.map_or(Bound::Unbounded, |c| Bound::Excluded(c.to_string()));
        self.slots
            .range::<String, _>((start, Bound::Unbounded))
            .map(|(id, _)| id)
    }

    /// The ids of contacts whose email is `email` (any case).
    pub(crate) fn with_email(&self, email: &str) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, slot)| {
                let stored = match slot {
                    Slot::Open { state, .. } => state.contact.email.as_deref(),
                    Slot::Packed { email, .. } => email.as_deref(),
                };
                stored.is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contact::Contact;
    use crate::model::event::Event;
    use crate::model::run::Run;
    use serde_json::Value;

    fn state(id: &str, version: u64) -> ContactState {
        let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let mut contact = Contact::new(id, at);
        contact.email = Some(format!("{id}@Example.com"));
        let mut state = ContactState::new(contact);
        state
            .history
            .record(&Event::new("purchase", at).with("amount", 12.5));
        state.version = version;
        state
    }

    #[test]
    fn contacts_past_the_open_limit_are_packed_and_read_back_whole() {
        let mut contacts = Contacts::keeping_open(2);
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            contacts.put(&state(id, i as u64 + 1));
        }
        // "a" saved again: now the most recent; "b" and "c" are the ones packed.
        contacts.put(&state("a", 7));
        assert_eq!(contacts.open, 2);
        let packed: Vec<&str> = contacts
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Packed { .. }))
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(packed, ["b", "c"]);
        for (id, version) in [("a", 7), ("b", 2), ("c", 3), ("d", 4)] {
            assert_eq!(contacts.get(id).unwrap(), Some(state(id, version)), "{id}");
            assert_eq!(contacts.version(id), Some(version));
        }
        // Packed contacts are still found by email, paged in order, cleared, removed.
        assert_eq!(contacts.with_email("b@example.COM"), ["b"]);
        let after: Vec<&String> = contacts.ids_after(Some("b")).collect();
        assert_eq!(after, ["c", "d"]);
        assert!(matches!(
            contacts.clear_outbox("b", 1),
            Err(PortError::Conflict { expected: 2 })
        ));
        assert!(contacts.clear_outbox("b", 2).is_ok());
        assert_eq!(contacts.version("b"), Some(3));
        contacts.remove("a");
        contacts.remove("b");
        assert_eq!(contacts.open, 1);
        assert_eq!(contacts.ids().count(), 2);
        assert_eq!(contacts.get("b").unwrap(), None);
    }

    #[test]
    fn what_json_reads_differently_is_kept_as_it_was() {
        // A run entered on `cart_id: null`, amounts past f64's range, a "NaN" amount:
        // packed and read back, the contact is the same one.
        let mut contacts = Contacts::keeping_open(1);
        let mut ann = state("ann", 1);
        let at = ann.contact.created_at;
        for amount in [Value::from(1e308), Value::from(1e308), Value::from("NaN")] {
            ann.history
                .record(&Event::new("refund", at).with("amount", amount));
        }
        ann.runs.insert(
            1,
            Run {
                seq: 1,
                workflow: "cart".into(),
                version: 1,
                key: Some(Value::Null),
                trigger: None,
                started_at: at,
                at: 0,
                step_started_at: at,
                waiting: None,
                achieved: Vec::new(),
                visits: 1,
                was: None,
            },
        );
        contacts.put(&ann);
        contacts.put(&state("bob", 1));
        assert!(matches!(contacts.slots["ann"], Slot::Packed { .. }));
        let back = contacts.get("ann").unwrap().unwrap();
        assert_eq!(back, ann);
        assert_eq!(back.runs[&1].key, Some(Value::Null));
        let refunds = back.history.log("refund").unwrap();
        assert_eq!(refunds.lifetime_sum("amount"), Some(f64::MAX));
    }

    #[test]
    fn the_save_log_stays_bounded_when_the_same_contacts_are_saved_over_and_over() {
        let mut contacts = Contacts::keeping_open(2);
        for i in 0..100 {
            contacts.put(&state(if i % 2 == 0 { "a" } else { "b" }, i));
        }
        assert!(contacts.saves.len() <= 8, "{}", contacts.saves.len());
        assert_eq!(contacts.open, 2);
    }
}
