//! Consent to be texted (TCPA), and the text a patient sends from their own phone.
//!
//! An invitation by SMS needs the referrer's attestation that the friend agreed to receive
//! it, in these exact words; the store keeps who attested, when, the words and the number.
//! A program may leave SMS to the patient's own device (`sms_delivery: patient_device`):
//! the platform then sends nothing and gives the patient an `sms:` link with the text below,
//! which carries the FTC disclosure.

use crate::status::{ReferralSource, SmsDelivery};

/// What the referrer attests, word for word, for the platform to text the friend.
pub const SMS_CONSENT_WORDING: &str =
    "My friend agreed to receive a text message from Zappy Health with this invitation.";

/// The disclosure every shared invitation carries (FTC endorsement guides).
pub const REWARD_DISCLOSURE: &str = "I may get a reward if you join.";

/// The text a patient sends from their own phone: the link, and the disclosure.
pub fn device_sms_body(share_url: &str) -> String {
    format!("Join me on Zappy Health: {share_url} ({REWARD_DISCLOSURE})")
}

/// `text` percent-encoded for a URI's query (every byte but the unreserved ones).
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// An `sms:` link that opens the patient's messaging app with [`device_sms_body`] to
/// `phone` (E.164), the body percent-encoded (RFC 5724).
pub fn device_sms_link(phone: &str, share_url: &str) -> String {
    format!("sms:{phone}?body={}", encoded(&device_sms_body(share_url)))
}

/// Links that share a patient's personal link from their own device, each prefilled with
/// [`device_sms_body`] (the disclosure included): nothing is sent by the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceShareLinks {
    /// `sms:` with no recipient: the patient picks one (RFC 5724).
    pub sms: String,
    /// `mailto:` with a subject and the text.
    pub email: String,
    /// WhatsApp's click-to-chat link.
    pub whatsapp: String,
    /// The text itself, for the Web Share API.
    pub text: String,
}

/// The device-share links of `share_url`.
pub fn device_share_links(share_url: &str) -> DeviceShareLinks {
    let text = device_sms_body(share_url);
    let body = encoded(&text);
    DeviceShareLinks {
        sms: format!("sms:?body={body}"),
        email: format!(
            "mailto:?subject={}&body={body}",
            encoded("Join me on Zappy Health")
        ),
        whatsapp: format!("https://wa.me/?text={body}"),
        text,
    }
}

/// Whether the platform sends an SMS invitation itself under `delivery`.
pub const fn platform_sends_sms(delivery: SmsDelivery) -> bool {
    matches!(delivery, SmsDelivery::Platform)
}

/// Whether a referral shared by `source` under the program's `delivery` needs the
/// referrer's attestation that the friend agreed to a text (TCPA): only an SMS the platform
/// sends in its name. A text the patient sends from their own phone is theirs, and an email
/// or a link is no text at all. The one home of the rule: the store asks it once the
/// program is known, and the OpenAPI document does not repeat it.
pub const fn needs_sms_consent(source: Option<ReferralSource>, delivery: SmsDelivery) -> bool {
    matches!(source, Some(ReferralSource::Sms)) && platform_sends_sms(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_device_text_discloses_the_reward_and_links() {
        let link = device_sms_link("+14155550100", "https://x.test/register?ref=ABC");
        assert!(link.starts_with("sms:+14155550100?body=Join%20me"));
        assert!(link.contains("https%3A%2F%2Fx.test%2Fregister%3Fref%3DABC"));
        assert!(link.contains("I%20may%20get%20a%20reward%20if%20you%20join."));
        assert!(platform_sends_sms(SmsDelivery::Platform));
        assert!(!platform_sends_sms(SmsDelivery::PatientDevice));
    }

    #[test]
    fn every_device_share_link_carries_the_disclosure() {
        let links = device_share_links("https://x.test/register?ref=ABC");
        for link in [&links.sms, &links.email, &links.whatsapp] {
            assert!(
                link.contains("I%20may%20get%20a%20reward%20if%20you%20join."),
                "{link}"
            );
            assert!(link.contains("ref%3DABC"), "{link}");
        }
        assert!(links.sms.starts_with("sms:?body="));
        assert!(links.whatsapp.starts_with("https://wa.me/?text="));
        assert!(links.text.ends_with("(I may get a reward if you join.)"));
    }

    #[test]
    fn only_a_text_the_platform_sends_needs_the_friends_consent() {
        assert!(needs_sms_consent(
            Some(ReferralSource::Sms),
            SmsDelivery::Platform
        ));
        assert!(!needs_sms_consent(
            Some(ReferralSource::Sms),
            SmsDelivery::PatientDevice
        ));
    }

    proptest! {
        /// Consent is needed exactly for an SMS the platform sends.
        #[test]
        fn consent_is_needed_for_the_platforms_texts_and_nothing_else(
            source in proptest::option::of(proptest::sample::select(ReferralSource::ALL.to_vec())),
            delivery in proptest::sample::select(SmsDelivery::ALL.to_vec()),
        ) {
            prop_assert_eq!(
                needs_sms_consent(source, delivery),
                source == Some(ReferralSource::Sms) && delivery == SmsDelivery::Platform
            );
        }

        /// The body survives encoding: nothing of it breaks out of the query.
        #[test]
        fn the_link_body_is_fully_encoded(url in "\\PC{0,60}") {
            let link = device_sms_link("+14155550100", &url);
            let body = link.split_once("?body=").unwrap().1;
            prop_assert!(!body.contains(['&', '#', ' ', '?', '=']));
        }
    }
}
