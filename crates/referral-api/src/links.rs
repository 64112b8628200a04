//! Signed unsubscribe links: `hex(recipient).hex(HMAC-SHA256(recipient))`, so only the
//! service can make one and the recipient cannot be changed.

use ring::hmac;

/// The key that signs links, derived from the token secret (one secret to manage).
pub fn link_key(jwt_secret: &[u8]) -> hmac::Key {
    let derived = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, jwt_secret),
        b"referral-api unsubscribe links v1",
    );
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// The token of the unsubscribe link for `recipient`.
pub fn sign_unsubscribe(key: &hmac::Key, recipient: &str) -> String {
    let tag = hmac::sign(key, recipient.as_bytes());
    format!("{}.{}", hex(recipient.as_bytes()), hex(tag.as_ref()))
}

/// The recipient of a genuine token.
pub fn verify_unsubscribe(key: &hmac::Key, token: &str) -> Option<String> {
    let (recipient, tag) = token.split_once('.')?;
    let recipient = unhex(recipient)?;
    let tag = unhex(tag)?;
    hmac::verify(key, &recipient, &tag).ok()?;
    String::from_utf8(recipient).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_resist_tampering() {
        let key = link_key(b"secret");
        let token = sign_unsubscribe(&key, "bob@example.com");
        assert_eq!(
            verify_unsubscribe(&key, &token).as_deref(),
            Some("bob@example.com")
        );
        let forged = format!(
            "{}.{}",
            hex(b"eve@example.com"),
            token.split_once('.').unwrap().1
        );
        assert_eq!(verify_unsubscribe(&key, &forged), None);
        assert_eq!(verify_unsubscribe(&link_key(b"other"), &token), None);
        assert_eq!(verify_unsubscribe(&key, "zz.zz"), None);
        assert_eq!(verify_unsubscribe(&key, "nodot"), None);
    }
}
