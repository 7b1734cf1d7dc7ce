//! SES message tags: how a sent email names its contact, workflow, run, step and template,
//! so that SES events (delivery, bounce, complaint, open, click) come back attributable.
//!
//! SES allows only ASCII letters, digits, `_` and `-` in tag values, at most 256 of them.
//! Ids are free text (`ann@example.com`, `order:42`), so values are escaped reversibly:
//! letters, digits and `-` stay, every other byte becomes `_` and two hex digits. A value
//! that does not fit escaped is left out rather than cut, so a tag never names someone else.

use kairos_core::model::effect::Message;

const MAX_LEN: usize = 256;

/// The tags for one message, escaped; names are fixed ASCII.
pub fn for_message(m: &Message) -> Vec<(&'static str, String)> {
    [
        ("contact", &m.contact),
        ("workflow", &m.workflow),
        ("run", &m.run),
        ("step", &m.step),
        ("template", &m.template),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, encode(value)?)))
    .collect()
}

/// Escapes `text` into SES's alphabet; `None` when the result would be too long.
pub fn encode(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("_{byte:02X}"));
        }
    }
    (out.len() <= MAX_LEN).then_some(out)
}

/// Undoes `encode`; `None` for a value `encode` cannot have written.
pub fn decode(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'_' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_the_ses_alphabet() {
        for id in [
            "ann",
            "ann@example.com",
            "order:42/x_y",
            "Zoë Ünïcode",
            "a-b",
            "",
        ] {
            let encoded = encode(id).unwrap();
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{encoded}"
            );
            assert_eq!(decode(&encoded).as_deref(), Some(id));
        }
        assert_eq!(encode("ann@example.com").unwrap(), "ann_40example_2Ecom");
    }

    #[test]
    fn too_long_is_left_out_and_foreign_values_are_refused() {
        assert_eq!(encode(&"x".repeat(256)).map(|s| s.len()), Some(256));
        assert_eq!(encode(&".".repeat(86)), None);
        assert_eq!(decode("ann_4"), None);
        assert_eq!(decode("ann_ZZ"), None);
        assert_eq!(decode("_FF"), None, "not UTF-8");
    }
}
