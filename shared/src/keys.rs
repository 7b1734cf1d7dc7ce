//! Deterministic keys derived from content (FNV-1a): the same work item, journal batch or
//! contact always gets the same key, so a retry overwrites or is recognised instead of
//! doubling. Not cryptographic; collisions only matter where content differs anyway.
//!
//! [`StoreKey`] is the keyed one: what a store keeps after a contact is gone (tombstones,
//! claims of side effects) is named by an HMAC of the id, never by the id itself.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret that names tombstones and claims (HMAC-SHA256 of the id under it), so a
/// deleted contact's email is not readable from the keys that outlive it. Stable for the
/// life of a store: a new key would orphan every claim taken under the old one.
#[derive(Clone)]
pub struct StoreKey(Vec<u8>);

/// Shorter keys are refused: a guessable key would make the hashes reversible by trying
/// every known address.
pub const STORE_KEY_MIN_BYTES: usize = 32;

impl StoreKey {
    /// The key, if it is at least [`STORE_KEY_MIN_BYTES`] long.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<StoreKey, String> {
        let secret = secret.into();
        if secret.len() < STORE_KEY_MIN_BYTES {
            return Err(format!(
                "the store key has {} bytes; it needs at least {STORE_KEY_MIN_BYTES}",
                secret.len()
            ));
        }
        Ok(StoreKey(secret))
    }

    /// HMAC-SHA256 of `text` under the key.
    pub fn mac(&self, text: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// [`StoreKey::mac`] in lower-case hex, for keys that are strings.
    pub fn hex(&self, text: &str) -> String {
        self.mac(text).iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(…)")
    }
}

/// FNV-1a over `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A short stable hash of `text` as 16 hex digits.
pub fn short_hash(text: &str) -> String {
    format!("{:016x}", fnv1a(text.bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_key_is_long_and_keyed() {
        assert!(StoreKey::new("short").is_err());
        let a = StoreKey::new([1u8; 32]).unwrap();
        let b = StoreKey::new([2u8; 32]).unwrap();
        let id = "ann@example.com";
        assert_eq!(a.hex(id), a.hex(id));
        assert_ne!(a.hex(id), b.hex(id));
        assert_eq!(a.hex(id).len(), 64);
        assert!(!a.hex(id).contains("ann"));
    }
}
