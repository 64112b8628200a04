//! Consent to be texted (TCPA), and the text a patient sends from their own phone.
//!
//! An invitation by SMS needs the referrer's attestation that the friend agreed to receive
//! it, in these exact words; the store keeps who attested, when, the words and the number.
//! A program may leave SMS to the patient's own device (`sms_delivery: patient_device`):
//! the platform then sends nothing and gives the patient an `sms:` link with the text below,
//! which carries the FTC disclosure.

use crate::status::SmsDelivery;

/// What the referrer attests, word for word, for the platform to text the friend.
pub const SMS_CONSENT_WORDING: &str =
    "My friend agreed to receive a text message from Zappy Health with this invitation.";

/// The disclosure every shared invitation carries (FTC endorsement guides).
pub const REWARD_DISCLOSURE: &str = "I may get a reward if you join.";

/// The text a patient sends from their own phone: the link, and the disclosure.
pub fn device_sms_body(share_url: &str) -> String {
    format!("Join me on Zappy Health: {share_url} ({REWARD_DISCLOSURE})")
}

/// An `sms:` link that opens the patient's messaging app with [`device_sms_body`] to
/// `phone` (E.164), the body percent-encoded (RFC 5724).
pub fn device_sms_link(phone: &str, share_url: &str) -> String {
    let body: String = device_sms_body(share_url)
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("sms:{phone}?body={body}")
}

/// Whether the platform sends an SMS invitation itself under `delivery`.
pub const fn platform_sends_sms(delivery: SmsDelivery) -> bool {
    matches!(delivery, SmsDelivery::Platform)
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

    proptest! {
        /// The body survives encoding: nothing of it breaks out of the query.
        #[test]
        fn the_link_body_is_fully_encoded(url in "\\PC{0,60}") {
            let link = device_sms_link("+14155550100", &url);
            let body = link.split_once("?body=").unwrap().1;
            prop_assert!(!body.contains(['&', '#', ' ', '?', '=']));
        }
    }
}
