//! The data keyring: named secret keys, one for each generation, from which every stored
//! MAC, token and keyed hash is made (audit rows, the audit chain and its witness,
//! unsubscribe links, the suppression list, pseudonyms).
//!
//! The first key signs; every key verifies. Each stored value records the id of the key
//! that made it, so adding a key (rotation) keeps every old link, entry and row verifiable.
//! Each purpose derives its own key from a keyring key (HMAC of a purpose string), so a
//! value made for one purpose is worthless for another. The keys are unrelated to the token
//! secret: the identity provider's keys can change without touching stored data.

use ring::hmac;
use std::fmt;

/// Longest key id (ids are stored beside hashes in 64-character columns).
pub const MAX_ID_LEN: usize = 24;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Why a keyring cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    /// No key at all.
    #[error("the data keyring holds no key")]
    Empty,
    /// An entry that is not `ID=HEX`.
    #[error("data key entry {0} is not ID=HEX (the id: letters, digits, - and _, at most 24)")]
    Malformed(usize),
    /// A key that is too short or not hex.
    #[error("data key `{0}` must be at least {MIN_KEY_BYTES} bytes, hex-encoded")]
    WeakKey(String),
    /// The same id twice.
    #[error("data key id `{0}` appears twice")]
    Duplicate(String),
}

/// What a derived key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The MAC every audit row gets at insert time.
    AuditRow,
    /// The links of the audit hash chain.
    AuditChain,
    /// The signed chain heads of the witness file.
    AuditWitness,
    /// Tags of unsubscribe links.
    UnsubscribeLink,
    /// Keyed hashes of suppressed addresses.
    Suppression,
    /// Pseudonyms of people in anonymized reports.
    Pseudonym,
    /// Secrets the service keeps for others (webhook endpoints' signing secrets), sealed.
    SealedSecret,
    /// Keys of the shared request limits: an address or a service is counted under a
    /// keyed hash, never by itself.
    RateLimitKey,
}

impl Purpose {
    const fn label(self) -> &'static [u8] {
        match self {
            Purpose::AuditRow => b"referral audit row mac v1",
            Purpose::AuditChain => b"referral audit chain v2",
            Purpose::AuditWitness => b"referral audit witness v1",
            Purpose::UnsubscribeLink => b"referral unsubscribe links v3",
            Purpose::Suppression => b"referral suppression list v2",
            Purpose::Pseudonym => b"referral analytics pseudonyms v2",
            Purpose::SealedSecret => b"referral sealed secrets v1",
            Purpose::RateLimitKey => b"referral rate limit keys v1",
        }
    }
}

/// Named keys; the first signs.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The bytes of lower- or upper-case hex; `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyring {
    /// Parses `ID=HEX` entries separated by commas or new lines (blank lines and `#`
    /// comments are skipped); the first entry signs.
    ///
    /// # Errors
    /// See [`KeyringError`].
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (n, entry) in entries.enumerate() {
            let (id, key) = entry
                .split_once('=')
                .map(|(i, k)| (i.trim(), k.trim()))
                .filter(|(i, _)| valid_id(i))
                .ok_or(KeyringError::Malformed(n + 1))?;
            let bytes = unhex(key)
                .filter(|b| b.len() >= MIN_KEY_BYTES)
                .ok_or_else(|| KeyringError::WeakKey(id.to_owned()))?;
            if keys.iter().any(|(existing, _)| existing == id) {
                return Err(KeyringError::Duplicate(id.to_owned()));
            }
            keys.push((id.to_owned(), bytes));
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Keyring { keys })
    }

    /// A keyring of one key (tests, and keys derived for development).
    ///
    /// # Errors
    /// An invalid id or a short key.
    pub fn single(id: &str, key: &[u8]) -> Result<Self, KeyringError> {
        Self::parse(&format!("{id}={}", hex(key)))
    }

    /// The keyring as text, one `ID=HEX` a line, the signing key first.
    pub fn to_text(&self) -> String {
        self.keys
            .iter()
            .map(|(id, key)| format!("{id}={}\n", hex(key)))
            .collect()
    }

    /// A new keyring whose signing key is `id` with `key`, keeping every key of this one
    /// after it for verification (rotation).
    ///
    /// # Errors
    /// An invalid id, a short key, or an id already in use.
    pub fn rotated(&self, id: &str, key: &[u8]) -> Result<Self, KeyringError> {
        Self::parse(&format!("{id}={}\n{}", hex(key), self.to_text()))
    }

    /// The ids, the signing key's first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// The id of the signing key.
    pub fn active_id(&self) -> &str {
        self.keys.first().map_or("", |(id, _)| id.as_str())
    }

    /// The key derived for `purpose` from the signing key, with its id.
    pub fn active(&self, purpose: Purpose) -> (&str, hmac::Key) {
        let (id, key) = &self.keys[0];
        (id.as_str(), derive(key, purpose))
    }

    /// The key derived for `purpose` from key `id`, if the keyring holds it.
    pub fn by_id(&self, id: &str, purpose: Purpose) -> Option<hmac::Key> {
        self.keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| derive(key, purpose))
    }

    /// Every key derived for `purpose`, with its id, the signing key's first.
    pub fn all(&self, purpose: Purpose) -> Vec<(&str, hmac::Key)> {
        self.keys
            .iter()
            .map(|(id, key)| (id.as_str(), derive(key, purpose)))
            .collect()
    }
}

fn derive(key: &[u8], purpose: Purpose) -> hmac::Key {
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), purpose.label());
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

/// HMAC-SHA256 of `parts` (each length-prefixed, so boundaries are unambiguous), hex.
pub fn mac_hex(key: &hmac::Key, parts: &[&[u8]]) -> String {
    let mut context = hmac::Context::with_key(key);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    hex(context.sign().as_ref())
}

/// Compares without an early exit, so the time taken says nothing about where they differ.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const K1: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const K2: &str = "0202020202020202020202020202020202020202020202020202020202020202";

    #[test]
    fn the_first_key_signs_and_every_key_verifies() {
        let ring = Keyring::parse(&format!("new={K2}, old={K1}")).unwrap();
        assert_eq!(ring.active_id(), "new");
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["new", "old"]);
        let old = Keyring::parse(&format!("old={K1}")).unwrap();
        let made_by_old = mac_hex(&old.active(Purpose::Suppression).1, &[b"x"]);
        let by_id = ring.by_id("old", Purpose::Suppression).unwrap();
        assert_eq!(mac_hex(&by_id, &[b"x"]), made_by_old);
    }

    #[test]
    fn purposes_give_unrelated_keys() {
        let ring = Keyring::parse(&format!("a={K1}")).unwrap();
        let one = mac_hex(&ring.active(Purpose::AuditRow).1, &[b"x"]);
        let two = mac_hex(&ring.active(Purpose::AuditChain).1, &[b"x"]);
        assert_ne!(one, two);
    }

    #[test]
    fn bad_keyrings_are_refused_with_the_reason() {
        assert!(matches!(Keyring::parse(""), Err(KeyringError::Empty)));
        assert!(matches!(Keyring::parse("a=abcd"), Err(KeyringError::WeakKey(id)) if id == "a"));
        assert!(matches!(
            Keyring::parse("no-equals"),
            Err(KeyringError::Malformed(1))
        ));
        assert!(matches!(
            Keyring::parse(&format!("a={K1},a={K2}")),
            Err(KeyringError::Duplicate(_))
        ));
    }

    #[test]
    fn rotation_keeps_the_old_keys_after_the_new_one() {
        let ring = Keyring::parse(&format!("k1={K1}")).unwrap();
        let rotated = ring.rotated("k2", &[2u8; 32]).unwrap();
        assert_eq!(rotated.ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(
            Keyring::parse(&rotated.to_text()).unwrap().active_id(),
            "k2"
        );
        assert!(ring.rotated("k1", &[2u8; 32]).is_err());
    }
}

/// The prefix of a value sealed by [`Keyring::seal`].
const SEALED: &str = "sealed:v1:";

impl Keyring {
    /// `secret` encrypted and authenticated (ChaCha20-Poly1305) with a key derived from the
    /// signing key, as `sealed:v1:{key id}:{nonce}:{ciphertext}` (hex): what is stored in
    /// place of a secret the service must be able to read back, so that reading the
    /// database is not enough to use it. Any key of the ring opens it later.
    ///
    /// # Errors
    /// `None` when the system's random generator fails.
    pub fn seal(&self, secret: &str, rng: &dyn ring::rand::SecureRandom) -> Option<String> {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; 12];
        rng.fill(&mut nonce).ok()?;
        let mut data = secret.as_bytes().to_vec();
        aead_key(key)?
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(id.as_bytes()),
                &mut data,
            )
            .ok()?;
        Some(format!("{SEALED}{id}:{}:{}", hex(&nonce), hex(&data)))
    }

    /// The secret `stored` holds: opened when sealed by [`Keyring::seal`] with a key of
    /// this ring, as it is when it was stored before sealing existed (no `sealed:` prefix).
    /// `None` for a sealed value no key here opens, or one altered.
    pub fn open(&self, stored: &str) -> Option<String> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Some(stored.to_owned());
        };
        let mut parts = sealed.split(':');
        let (id, nonce, data) = (parts.next()?, parts.next()?, parts.next()?);
        let key = &self.keys.iter().find(|(k, _)| k == id)?.1;
        let nonce: [u8; 12] = unhex(nonce)?.try_into().ok()?;
        let mut data = unhex(data)?;
        let plain = aead_key(key)?
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(id.as_bytes()),
                &mut data,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// The AEAD key of a ring key: 32 bytes derived for [`Purpose::SealedSecret`].
fn aead_key(key: &[u8]) -> Option<ring::aead::LessSafeKey> {
    let derived = hmac::sign(&derive(key, Purpose::SealedSecret), b"aead key");
    let unbound =
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, derived.as_ref()).ok()?;
    Some(ring::aead::LessSafeKey::new(unbound))
}

#[cfg(test)]
mod sealing_tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_any_key_of_the_ring_and_not_altered() {
        let rng = ring::rand::SystemRandom::new();
        let one = Keyring::single("one", &[7u8; 32]).unwrap();
        let sealed = one.seal("whsec_c2VjcmV0", &rng).unwrap();
        assert!(sealed.starts_with("sealed:v1:one:") && !sealed.contains("c2VjcmV0"));
        assert_eq!(one.open(&sealed).as_deref(), Some("whsec_c2VjcmV0"));
        let rotated = one.rotated("two", &[9u8; 32]).unwrap();
        assert_eq!(rotated.open(&sealed).as_deref(), Some("whsec_c2VjcmV0"));
        assert!(rotated
            .seal("x", &rng)
            .unwrap()
            .starts_with("sealed:v1:two:"));
        let other = Keyring::single("one", &[8u8; 32]).unwrap();
        assert_eq!(other.open(&sealed), None);
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert_eq!(one.open(&altered), None);
        // A value stored before sealing reads as it is.
        assert_eq!(one.open("whsec_plain").as_deref(), Some("whsec_plain"));
    }
}
