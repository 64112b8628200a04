//! Keys from the data keyring: unsubscribe links, the suppression list's keyed hashes, and
//! the pseudonyms of anonymized analytics.
//!
//! An address is known to the suppression list only as `KEYID.HASH`, where HASH is
//! `HMAC-SHA256(suppression key, address)` cut to 128 bits, hex. An unsubscribe token is
//! that value plus a tag only the service can make: `KEYID.HASH.TAG`. So the link carries no
//! email or phone (no PHI in URLs or logs), it cannot be altered to unsubscribe someone
//! else, following it needs no lookup, and every token and stored hash names the key that
//! made it: after a rotation old links still work and old entries still suppress.

use referral_store::keyring::{hex, mac_hex, same_bytes, unhex, Keyring, Purpose};
use ring::hmac;

/// Bytes of the keyed hash (128 bits: collisions are out of reach for any address list).
const HASH_BYTES: usize = 16;
/// Bytes of the link's tag (96 bits: forging one is out of reach at any request rate).
const TAG_BYTES: usize = 12;

/// The keys of unsubscribe links, the suppression list and pseudonyms.
#[derive(Debug, Clone)]
pub struct LinkKeys {
    keyring: Keyring,
}

fn hash_with(key: &hmac::Key, recipient: &str) -> String {
    hex(&hmac::sign(key, recipient.as_bytes()).as_ref()[..HASH_BYTES])
}

impl LinkKeys {
    /// The data keyring these keys come from (it also opens sealed webhook secrets).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The keys of `keyring`.
    pub fn new(keyring: Keyring) -> Self {
        LinkKeys { keyring }
    }

    /// A stable pseudonym of a person for anonymized reports: `P-` and 16 hex digits of a
    /// keyed HMAC of their id, with the signing key (pseudonyms are not stored). (The
    /// seed's bcrypt idea salts every hash, so the same person would look different in
    /// every report.)
    pub fn pseudonym(&self, id: uuid::Uuid) -> String {
        let (_, key) = self.keyring.active(Purpose::Pseudonym);
        let tag = hmac::sign(&key, id.as_bytes());
        format!("P-{}", hex(&tag.as_ref()[..8]))
    }

    /// The suppression list's value for a normalised address, made with the signing key:
    /// `KEYID.HASH`.
    pub fn recipient_hash(&self, recipient: &str) -> String {
        let (id, key) = self.keyring.active(Purpose::Suppression);
        format!("{id}.{}", hash_with(&key, recipient))
    }

    /// The suppression list's values of an address under every key of the keyring: an
    /// entry made before a rotation still matches.
    pub fn recipient_hashes(&self, recipient: &str) -> Vec<String> {
        self.keyring
            .all(Purpose::Suppression)
            .into_iter()
            .map(|(id, key)| format!("{id}.{}", hash_with(&key, recipient)))
            .collect()
    }

    fn tag(&self, key_id: &str, hash: &str) -> Option<Vec<u8>> {
        let key = self.keyring.by_id(key_id, Purpose::UnsubscribeLink)?;
        let full = mac_hex(&key, &[key_id.as_bytes(), hash.as_bytes()]);
        unhex(&full[..TAG_BYTES * 2])
    }

    /// The token of the unsubscribe link for `recipient`: `KEYID.HASH.TAG`.
    pub fn unsubscribe_token(&self, recipient: &str) -> String {
        let value = self.recipient_hash(recipient);
        let (id, hash) = value.split_once('.').unwrap_or_default();
        let tag = self.tag(id, hash).map(|t| hex(&t)).unwrap_or_default();
        format!("{value}.{tag}")
    }

    /// The suppression value (`KEYID.HASH`) named by a genuine token; `None` for anything
    /// else, a token made with a key no longer in the keyring included.
    pub fn verify_unsubscribe(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (id, hash, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || hash.len() != HASH_BYTES * 2 || unhex(hash).is_none() {
            return None;
        }
        let hash = hash.to_ascii_lowercase();
        let expected = self.tag(id, &hash)?;
        same_bytes(&expected, &unhex(tag)?).then(|| format!("{id}.{hash}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(fill: u8) -> LinkKeys {
        LinkKeys::new(Keyring::single(&format!("k{fill}"), &[fill; 32]).unwrap())
    }

    #[test]
    fn tokens_verify_carry_no_address_and_resist_tampering() {
        let keys = keys(1);
        let token = keys.unsubscribe_token("bob@example.com");
        assert!(!token.contains("bob") && !token.contains(&hex(b"bob")));
        assert_eq!(token.len(), 2 + 1 + 32 + 1 + 24);
        assert_eq!(
            keys.verify_unsubscribe(&token),
            Some(keys.recipient_hash("bob@example.com"))
        );
        let tag = token.rsplit('.').next().unwrap();
        let forged = format!("{}.{tag}", keys.recipient_hash("eve@example.com"));
        assert_eq!(keys.verify_unsubscribe(&forged), None);
        assert_eq!(self::keys(2).verify_unsubscribe(&token), None);
        for junk in [
            "zz.zz", "nodot", "", ".", "00.00", "k1.00.00", "k1..", "k9.a.b.c",
        ] {
            assert_eq!(keys.verify_unsubscribe(junk), None, "{junk}");
        }
    }

    #[test]
    fn hashes_are_stable_keyed_and_distinct() {
        let keys = keys(1);
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
            self::keys(2).recipient_hash("a@b.test")
        );
    }

    #[test]
    fn after_a_rotation_old_links_and_entries_still_work() {
        let old = keys(1);
        let old_token = old.unsubscribe_token("bob@example.com");
        let old_entry = old.recipient_hash("bob@example.com");
        let rotated = LinkKeys::new(old.keyring.rotated("k2", &[2; 32]).unwrap());
        assert_eq!(
            rotated.verify_unsubscribe(&old_token),
            Some(old_entry.clone())
        );
        assert!(rotated
            .recipient_hashes("bob@example.com")
            .contains(&old_entry));
        assert!(rotated.recipient_hash("bob@example.com").starts_with("k2."));
    }
}
