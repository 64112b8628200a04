//! What the providers tell us: Twilio's status callbacks and incoming messages (a STOP is an
//! opt-out), SendGrid's signed event webhook (bounces, spam reports, unsubscribes). Each is
//! checked against the provider's signature before anything in it is believed, and only
//! the addresses to suppress come out.

use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

/// The keywords a carrier treats as an opt-out from an SMS sender (CTIA; Twilio's defaults).
const OPT_OUT_KEYWORDS: [&str; 9] = [
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "REVOKE",
];

/// Twilio's error code for a message to a number that opted out.
const TWILIO_UNSUBSCRIBED_RECIPIENT: &str = "21610";

/// What the messaging services' webhooks need: the secrets that verify them (unset, the
/// webhook answers 404: nothing is accepted unsigned).
#[derive(Debug, Clone, Default)]
pub struct InboundKeys {
    /// Twilio's auth token (signs `X-Twilio-Signature`).
    pub twilio_auth_token: Option<String>,
    /// SendGrid's signed event webhook verification key.
    pub sendgrid_key: Option<SendGridKey>,
}

/// Whether an incoming text is an opt-out (the whole message, any case, spaces aside).
pub fn is_opt_out(body: &str) -> bool {
    let words = body.split_whitespace().collect::<Vec<_>>().join(" ");
    OPT_OUT_KEYWORDS.contains(&words.to_uppercase().as_str())
}

/// Checks `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the account's auth token, of
/// the webhook URL as Twilio called it followed by every POST parameter, sorted by name,
/// as name and value.
pub fn twilio_signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut signed = url.to_owned();
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        auth_token.as_bytes(),
    );
    ring::hmac::verify(&key, signed.as_bytes(), &expected).is_ok()
}

/// The number a verified Twilio callback says to suppress: the sender of an opt-out
/// message, or the recipient of a message Twilio refused because they had opted out.
pub fn twilio_suppression(params: &[(String, String)]) -> Option<String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("Body").is_some_and(is_opt_out) {
        return get("From").map(str::to_owned);
    }
    if get("ErrorCode") == Some(TWILIO_UNSUBSCRIBED_RECIPIENT) {
        return get("To").map(str::to_owned);
    }
    None
}

/// The DER header of a P-256 public key in SubjectPublicKeyInfo form; the uncompressed
/// point (65 bytes) follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// SendGrid's verification key for its signed event webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct SendGridKey(Vec<u8>);

impl std::fmt::Debug for SendGridKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendGridKey(P-256)")
    }
}

impl SendGridKey {
    /// The key as SendGrid shows it: base64 of a P-256 public key in SubjectPublicKeyInfo
    /// (DER) form.
    ///
    /// # Errors
    /// A message naming what is wrong with it.
    pub fn parse(base64_spki: &str) -> Result<Self, String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(base64_spki.trim())
            .map_err(|_| "not base64".to_owned())?;
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(SendGridKey(point.to_vec())),
            _ => Err("not a P-256 public key in SubjectPublicKeyInfo form".to_owned()),
        }
    }

    /// Checks the `X-Twilio-Email-Event-Webhook-Signature` of a delivery: base64 of an
    /// ECDSA P-256 SHA-256 signature (DER) over the
    /// `X-Twilio-Email-Event-Webhook-Timestamp` followed by the raw body.
    pub fn verify(&self, timestamp: &str, body: &[u8], signature: &str) -> bool {
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature.trim())
        else {
            return false;
        };
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.0)
            .verify(&signed, &signature)
            .is_ok()
    }
}

/// The addresses a verified SendGrid event batch says to suppress: hard bounces, drops,
/// spam reports and unsubscribes. A `blocked` bounce is the receiving server's temporary
/// refusal, not a dead address, and is left alone.
pub fn sendgrid_suppressions(events: &serde_json::Value) -> Vec<String> {
    let Some(events) = events.as_array() else {
        return Vec::new();
    };
    events
        .iter()
        .filter(|e| match e["event"].as_str() {
            Some("bounce") => e["type"].as_str() != Some("blocked"),
            Some("dropped" | "spamreport" | "unsubscribe" | "group_unsubscribe") => true,
            _ => false,
        })
        .filter_map(|e| e["email"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    /// Twilio's published example (its SDKs' request-validator tests).
    #[test]
    fn twilio_signatures_match_twilios_own_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert!(twilio_signature_valid(
            "12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!twilio_signature_valid(
            "12346",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!twilio_signature_valid(
            "12345",
            "https://mycompany.com/other",
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!twilio_signature_valid(
            "12345",
            url,
            &params,
            "not base64!"
        ));
    }

    #[test]
    fn opt_outs_and_refusals_name_the_number() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            twilio_suppression(&p(&[("Body", " stop "), ("From", "+14155550100")])),
            Some("+14155550100".to_owned())
        );
        assert_eq!(
            twilio_suppression(&p(&[("Body", "Stop all"), ("From", "+1")])).as_deref(),
            Some("+1")
        );
        assert_eq!(
            twilio_suppression(&p(&[("Body", "please stop by"), ("From", "+1")])),
            None
        );
        assert_eq!(
            twilio_suppression(&p(&[
                ("MessageStatus", "failed"),
                ("ErrorCode", "21610"),
                ("To", "+2")
            ]))
            .as_deref(),
            Some("+2")
        );
        assert_eq!(
            twilio_suppression(&p(&[("MessageStatus", "delivered"), ("To", "+2")])),
            None
        );
    }

    #[test]
    fn sendgrid_signatures_verify_with_the_spki_key() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let key =
            SendGridKey::parse(&base64::engine::general_purpose::STANDARD.encode(&spki)).unwrap();
        let body = br#"[{"email":"a@example.com","event":"bounce"}]"#;
        let signed: Vec<u8> = [b"1700000000".as_slice(), body].concat();
        let signature = base64::engine::general_purpose::STANDARD
            .encode(pair.sign(&rng, &signed).unwrap().as_ref());
        assert!(key.verify("1700000000", body, &signature));
        assert!(
            !key.verify("1700000001", body, &signature),
            "the timestamp is signed"
        );
        assert!(
            !key.verify("1700000000", b"[]", &signature),
            "so is the body"
        );
        assert!(SendGridKey::parse("AAAA").is_err());
        let events: serde_json::Value = serde_json::json!([
            {"email": "a@example.com", "event": "bounce"},
            {"email": "b@example.com", "event": "bounce", "type": "blocked"},
            {"email": "c@example.com", "event": "delivered"},
            {"email": "d@example.com", "event": "spamreport"},
        ]);
        assert_eq!(
            sendgrid_suppressions(&events),
            ["a@example.com", "d@example.com"]
        );
    }
}
