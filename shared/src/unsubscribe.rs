//! One-click unsubscribe (RFC 8058): a token per contact and list, signed with HMAC-SHA256,
//! so the link in `List-Unsubscribe` needs no login and cannot be forged or moved to
//! another contact or list.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The list a marketing email unsubscribes from when its step names none: all marketing.
pub const ALL_MARKETING: &str = "marketing";

/// The signature is HMAC-SHA256 cut to 128 bits (RFC 2104 allows truncation to half the
/// output), which keeps links short and leaves forgery at 2^-128 per try.
const SIGNATURE_BYTES: usize = 16;

#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the unsubscribe link is malformed")]
    Malformed,
    #[error("the unsubscribe link is not valid (its signature does not match)")]
    Forged,
}

impl Signer {
    pub fn new(secret: impl Into<Vec<u8>>) -> Signer {
        Signer {
            secret: secret.into(),
        }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(payload);
        mac
    }

    /// `<payload>.<signature>`, both base64url; the payload is `contact NUL list`.
    pub fn token(&self, contact: &str, list: &str) -> String {
        let payload = format!("{contact}\u{0}{list}");
        let signature = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&signature[..SIGNATURE_BYTES])
        )
    }

    /// The contact and list a token names, if its signature holds (compared in constant time).
    pub fn verify(&self, token: &str) -> Result<(String, String), TokenError> {
        let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        // Exactly the length `token` writes: `verify_truncated_left` alone accepts any
        // prefix of the tag, and a 1-byte tag is guessed once in 256 tries.
        if signature.len() != SIGNATURE_BYTES {
            return Err(TokenError::Forged);
        }
        self.mac(&payload)
            .verify_truncated_left(&signature)
            .map_err(|_| TokenError::Forged)?;
        let text = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let (contact, list) = text.split_once('\u{0}').ok_or(TokenError::Malformed)?;
        Ok((contact.to_string(), list.to_string()))
    }
}

/// Where unsubscribe links point: the public base URL of the API and the signer.
#[derive(Clone)]
pub struct Links {
    pub public_url: String,
    pub signer: Signer,
}

impl Links {
    pub fn unsubscribe_url(&self, contact: &str, list: &str) -> String {
        format!(
            "{}/unsubscribe/{}",
            self.public_url.trim_end_matches('/'),
            self.signer.token(contact, list)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgery() {
        let signer = Signer::new("secret");
        let token = signer.token("ann", "newsletter");
        assert_eq!(
            signer.verify(&token).unwrap(),
            ("ann".into(), "newsletter".into())
        );
        // Another list, another contact or another secret: rejected.
        let (_, sig) = token.split_once('.').unwrap();
        let other_list = format!("{}.{sig}", URL_SAFE_NO_PAD.encode("ann\u{0}marketing"));
        assert_eq!(signer.verify(&other_list), Err(TokenError::Forged));
        assert_eq!(Signer::new("other").verify(&token), Err(TokenError::Forged));
        assert_eq!(signer.verify("garbage"), Err(TokenError::Malformed));
    }

    #[test]
    fn signatures_of_every_other_length_are_refused() {
        let signer = Signer::new("secret");
        let token = signer.token("ann", "marketing");
        let (payload, sig) = token.split_once('.').unwrap();
        let real = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let full = signer
            .mac(&URL_SAFE_NO_PAD.decode(payload).unwrap())
            .finalize()
            .into_bytes();
        // Every length but the one written: prefixes of the real tag (what a truncating
        // verifier would accept) and the full 32-byte HMAC alike.
        for len in (0..=32).filter(|&n| n != SIGNATURE_BYTES) {
            let tag = if len <= real.len() {
                real[..len].to_vec()
            } else {
                full[..len].to_vec()
            };
            let forged = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag));
            assert!(
                signer.verify(&forged).is_err(),
                "a {len}-byte tag was accepted"
            );
        }
        // And every 1-byte guess, which a truncating verifier accepts once in 256.
        for byte in 0..=255u8 {
            let forged = format!("{payload}.{}", URL_SAFE_NO_PAD.encode([byte]));
            assert_eq!(signer.verify(&forged), Err(TokenError::Forged));
        }
    }
}
