//! The referrer's personal message to the friend. It goes out under the platform's name, so
//! it must not be a channel for phishing or spam: short, and without links, email addresses
//! or phone numbers (the friend gets the platform's own link in the same message).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest personal message, in characters (a text message's worth).
pub const MAX_MESSAGE_CHARS: usize = 280;

/// Fewest digits that read as a phone number.
const PHONE_DIGITS: usize = 7;

/// Why a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageRefusal {
    /// Over [`MAX_MESSAGE_CHARS`].
    #[error("at most 280 characters")]
    TooLong,
    /// It holds a link (`http://`, `www.`, or a domain name such as `example.com`).
    #[error("must not contain links: the invitation carries the platform's own link")]
    Link,
    /// It holds an email address.
    #[error("must not contain email addresses")]
    EmailAddress,
    /// It holds a phone number (seven digits or more in a row, separators aside).
    #[error("must not contain phone numbers")]
    PhoneNumber,
    /// It holds a control or bidirectional character (see [`crate::text`]).
    #[error("must not contain control or invisible formatting characters")]
    HiddenCharacter,
}

/// A personal message that passed the rules: trimmed, not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalMessage(String);

impl PersonalMessage {
    /// Parses a message; an empty one (after trimming) is no message.
    ///
    /// # Errors
    /// The first rule it breaks.
    pub fn parse(text: &str) -> Result<Option<Self>, MessageRefusal> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(MessageRefusal::TooLong);
        }
        if crate::text::check_visible(text).is_err() {
            return Err(MessageRefusal::HiddenCharacter);
        }
        // A scheme separator is a link whatever surrounds it; trimming the token's punctuation
        // below would otherwise turn "://" into "//".
        if text.contains("://") {
            return Err(MessageRefusal::Link);
        }
        for token in text.split_whitespace() {
            let token = token.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != '@');
            if token.contains('@') && token.split('@').nth(1).is_some_and(|d| d.contains('.')) {
                return Err(MessageRefusal::EmailAddress);
            }
            if is_link(token) {
                return Err(MessageRefusal::Link);
            }
        }
        if has_phone_number(text) {
            return Err(MessageRefusal::PhoneNumber);
        }
        Ok(Some(PersonalMessage(text.to_owned())))
    }

    /// The message.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonalMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A scheme, `www.`, or a dotted name whose last label is 2 to 24 letters (`example.com`,
/// `bit.ly/x`); `e.g.` and `3.5` are not links.
fn is_link(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    if lower.contains("://") || lower.starts_with("www.") {
        return true;
    }
    let host = lower.split('/').next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    let tld = labels[labels.len() - 1];
    let first = labels[0];
    (2..=24).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && first.chars().any(|c| c.is_ascii_alphanumeric())
        && labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels[..labels.len() - 1].iter().any(|l| l.len() >= 2)
}

/// Seven digits or more with only phone separators (space, `-`, `.`, `(`, `)`, `+`) between.
fn has_phone_number(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= PHONE_DIGITS {
                return true;
            }
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            digits = 0;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn friendly_messages_pass() {
        for text in [
            "You'll like it here!",
            "Dr. Lee was great, e.g. on weekends. 3.5 stars? No, 5.",
            "See you at 10:30 on the 3rd",
            "Try it <script>alert(1)</script>",
        ] {
            assert!(PersonalMessage::parse(text).unwrap().is_some(), "{text}");
        }
        assert_eq!(PersonalMessage::parse("   ").unwrap(), None);
    }

    #[test]
    fn links_addresses_and_numbers_are_refused() {
        for (text, why) in [
            ("Go to https://evil.example/login", MessageRefusal::Link),
            ("www.evil.example", MessageRefusal::Link),
            ("claim at evil-site.com now", MessageRefusal::Link),
            ("bit.ly/abc", MessageRefusal::Link),
            ("://", MessageRefusal::Link),
            ("see :// here", MessageRefusal::Link),
            ("(see zappy.health)", MessageRefusal::Link),
            ("write me: me@mail.example", MessageRefusal::EmailAddress),
            ("call 555-123-4567", MessageRefusal::PhoneNumber),
            ("+1 (555) 123 4567", MessageRefusal::PhoneNumber),
        ] {
            assert_eq!(PersonalMessage::parse(text), Err(why), "{text}");
        }
        let long = "a".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(PersonalMessage::parse(&long), Err(MessageRefusal::TooLong));
        assert!(PersonalMessage::parse(&"é".repeat(MAX_MESSAGE_CHARS)).is_ok());
    }

    proptest! {
        /// Whatever is accepted is short, trimmed, and carries no scheme or '@' address.
        #[test]
        fn accepted_messages_keep_the_rules(text in "\\PC{0,300}") {
            if let Ok(Some(message)) = PersonalMessage::parse(&text) {
                prop_assert!(message.as_str().chars().count() <= MAX_MESSAGE_CHARS);
                prop_assert_eq!(message.as_str(), message.as_str().trim());
                prop_assert!(!message.as_str().to_ascii_lowercase().contains("://"));
            }
        }
    }
}
