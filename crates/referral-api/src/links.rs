//! Keys derived from the service secret: unsubscribe links, the suppression list's keyed
//! hashes, and the pseudonyms of anonymized analytics.
//!
//! An address is known to the suppression list only as `HMAC-SHA256(suppression key,
//! address)`, cut to 128 bits and hex-encoded. An unsubscribe token is that hash plus a tag
//! that only the service can make: `hash.tag`. So the link carries no email or phone (no PHI
//! in URLs or logs), it cannot be altered to unsubscribe someone else, and following it
//! needs no lookup. Both keys derive from the token secret: one secret to manage.

use ring::hmac;

/// Bytes of the keyed hash (128 bits: collisions are out of reach for any address list).
const HASH_BYTES: usize = 16;
/// Bytes of the link's tag (96 bits: forging one is out of reach at any request rate).
const TAG_BYTES: usize = 12;

/// The keys of unsubscribe links and of the suppression list.
#[derive(Debug, Clone)]
pub struct LinkKeys {
    signing: hmac::Key,
    suppression: hmac::Key,
    pseudonyms: hmac::Key,
}

fn derive(secret: &[u8], purpose: &[u8]) -> hmac::Key {
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), purpose);
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so the time taken says nothing about the tag.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl LinkKeys {
    /// The keys derived from the token secret.
    pub fn new(jwt_secret: &[u8]) -> Self {
        LinkKeys {
            signing: derive(jwt_secret, b"referral-api unsubscribe links v2"),
            suppression: derive(jwt_secret, b"referral-api suppression list v1"),
            pseudonyms: derive(jwt_secret, b"referral-api analytics pseudonyms v1"),
        }
    }

    /// A stable pseudonym of a person for anonymized reports: `P-` and 16 hex digits of a
    /// keyed HMAC of their id. (The seed's bcrypt idea salts every hash, so the same person
    /// would look different in every report.)
    pub fn pseudonym(&self, id: uuid::Uuid) -> String {
        let tag = hmac::sign(&self.pseudonyms, id.as_bytes());
        format!("P-{}", hex(&tag.as_ref()[..8]))
    }

    /// The suppression list's keyed hash of a normalised address.
    pub fn recipient_hash(&self, recipient: &str) -> String {
        let tag = hmac::sign(&self.suppression, recipient.as_bytes());
        hex(&tag.as_ref()[..HASH_BYTES])
    }

    fn tag(&self, hash: &str) -> Vec<u8> {
        hmac::sign(&self.signing, hash.as_bytes()).as_ref()[..TAG_BYTES].to_vec()
    }

    /// The token of the unsubscribe link for `recipient`.
    pub fn unsubscribe_token(&self, recipient: &str) -> String {
        let hash = self.recipient_hash(recipient);
        let tag = hex(&self.tag(&hash));
        format!("{hash}.{tag}")
    }

    /// The keyed hash named by a genuine token; `None` for anything else.
    pub fn verify_unsubscribe(&self, token: &str) -> Option<String> {
        let (hash, tag) = token.split_once('.')?;
        if hash.len() != HASH_BYTES * 2 || unhex(hash).is_none() {
            return None;
        }
        let hash = hash.to_ascii_lowercase();
        same_bytes(&self.tag(&hash), &unhex(tag)?).then_some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_carry_no_address_and_resist_tampering() {
        let keys = LinkKeys::new(b"secret");
        let token = keys.unsubscribe_token("bob@example.com");
        assert!(!token.contains("bob") && !token.contains(&hex(b"bob")));
        assert_eq!(token.len(), 32 + 1 + 24);
        assert_eq!(
            keys.verify_unsubscribe(&token),
            Some(keys.recipient_hash("bob@example.com"))
        );
        let (_, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", keys.recipient_hash("eve@example.com"));
        assert_eq!(keys.verify_unsubscribe(&forged), None);
        assert_eq!(LinkKeys::new(b"other").verify_unsubscribe(&token), None);
        for junk in ["zz.zz", "nodot", "", ".", "00.00"] {
            assert_eq!(keys.verify_unsubscribe(junk), None, "{junk}");
        }
    }

    #[test]
    fn hashes_are_stable_keyed_and_distinct() {
        let keys = LinkKeys::new(b"secret");
        assert_eq!(
            keys.recipient_hash("a@b.test"),
            keys.recipient_hash("a@b.test")
        );
        assert_ne!(
            keys.recipient_hash("a@b.test"),
            keys.recipient_hash("c@b.test")
        );
        assert_ne!(
            keys.recipient_hash("a@b.test"),
            LinkKeys::new(b"other").recipient_hash("a@b.test")
        );
    }
}
