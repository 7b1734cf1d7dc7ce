//! Deterministic keys derived from content (FNV-1a): the same work item, journal batch or
//! contact always gets the same key, so a retry overwrites or is recognised instead of
//! doubling. Not cryptographic; collisions only matter where content differs anyway.

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
