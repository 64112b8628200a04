//! Contact details of a person: a normalised email address and an E.164 phone number.
//!
//! Both are PHI. Their `Debug` output is redacted so that a stray `{:?}` in a log line
//! cannot leak them; `Display` and [`Email::as_str`] give the real value on purpose.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email address accepted (RFC 5321 path limit, and the seed's column width).
const MAX_EMAIL_LEN: usize = 254;

/// An email address, trimmed and lower-cased, so that two spellings of one address compare
/// equal (the rule behind `self_referral` and `duplicate_referee`).
///
/// ```
/// use referral_domain::Email;
/// let email = Email::parse("  Alice@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "alice@example.com");
/// assert!(Email::parse("not an email").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and checks the syntax of `input`.
    ///
    /// # Errors
    /// [`DomainError::InvalidEmail`] when the result is not an email address.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let normalised = input.trim().to_lowercase();
        if normalised.len() > MAX_EMAIL_LEN || !email_address::EmailAddress::is_valid(&normalised) {
            return Err(DomainError::InvalidEmail);
        }
        // `is_valid` accepts display-name forms such as `A <a@b.c>`; a referral needs the
        // bare address.
        if normalised.contains(['<', '>', ' ']) {
            return Err(DomainError::InvalidEmail);
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most of the local part hidden (`a***@example.com`), for places
    /// where a person should recognise their own address without it being disclosed.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

impl Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A phone number in E.164 form: `+`, a country code and subscriber number, 8 to 15 digits
/// in all, the first not `0`.
///
/// Spaces, dots, dashes and parentheses are dropped when parsing; a leading `00` is read
/// as `+`. Numbers without a country code are refused rather than guessed.
///
/// ```
/// use referral_domain::Phone;
/// assert_eq!(Phone::parse("+1 (415) 555-0100").unwrap().as_str(), "+14155550100");
/// assert!(Phone::parse("415 555 0100").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Normalises and checks `input`.
    ///
    /// # Errors
    /// [`DomainError::InvalidPhone`] when it is not an E.164 number.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let compact: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
            .collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Err(DomainError::InvalidPhone);
        };
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !valid {
            return Err(DomainError::InvalidPhone);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The number as `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

impl Serialize for Phone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let a = Email::parse(" Bob.Smith+tag@Example.org\t").unwrap();
        assert_eq!(a.as_str(), "bob.smith+tag@example.org");
        assert_eq!(a, Email::parse("bob.smith+TAG@example.ORG").unwrap());
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "   ",
            "bob",
            "bob@",
            "@example.com",
            "bob@@example.com",
            "Bob <bob@example.com>",
            "bob smith@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(DomainError::InvalidEmail), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(DomainError::InvalidEmail));
    }

    #[test]
    fn debug_never_shows_contact_details() {
        let email = Email::parse("alice@example.com").unwrap();
        let phone = Phone::parse("+14155550100").unwrap();
        assert!(!format!("{email:?}{phone:?}").contains("alice"));
        assert!(!format!("{phone:?}").contains("555"));
        assert_eq!(email.masked(), "a***@example.com");
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("0049-30-1234567").unwrap().as_str(),
            "+49301234567"
        );
        assert_eq!(
            Phone::parse("+1.415.555.0100").unwrap().as_str(),
            "+14155550100"
        );
    }

    #[test]
    fn malformed_phones_are_rejected() {
        for bad in [
            "",
            "+",
            "4155550100",
            "+0155550100",
            "+1415555",
            "+1234567890123456",
            "+1415555O100",
        ] {
            assert_eq!(Phone::parse(bad), Err(DomainError::InvalidPhone), "{bad:?}");
        }
    }

    #[test]
    fn serde_parses_and_normalises() {
        let email: Email = serde_json::from_str("\"A@B.CO\"").unwrap();
        assert_eq!(serde_json::to_string(&email).unwrap(), "\"a@b.co\"");
        assert!(serde_json::from_str::<Phone>("\"12\"").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(input in "\\PC{0,64}") {
            let _ = Email::parse(&input);
            let _ = Phone::parse(&input);
        }

        #[test]
        fn email_normalisation_is_idempotent(local in "[a-zA-Z0-9._]{1,20}", domain in "[a-zA-Z]{1,10}\\.[a-zA-Z]{2,5}") {
            let raw = format!(" {local}@{domain} ");
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
            }
        }
    }
}
