//! Contact details of a person: a normalised email address and an E.164 phone number.
//!
//! Both are PHI. Their `Debug` output is redacted so that a stray `{:?}` in a log line
//! cannot leak them; `Display` and [`Email::as_str`] give the real value on purpose.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email address accepted (RFC 5321 path limit, and the seed's column width).
const MAX_EMAIL_LEN: usize = 254;

/// The schema pattern of an address as the service reads one (`name@example.com`, spaces
/// around allowed): every text it allows, [`Email::parse`] accepts (a property test says
/// so). The local part is at most 64 characters (RFC 5321), which a pattern without
/// look-ahead can state exactly only without dots: dotted ones are held to 63. Addresses
/// with rarer characters (`o'brien@…`) parse too: there the document is the stricter.
pub const EMAIL_PATTERN: &str =
    concat!(
    "^[", space_class!(), "]*([A-Za-z0-9_%+-]{1,64}|[A-Za-z0-9_%+-](\\.?[A-Za-z0-9_%+-]){0,31})@",
    "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
    "[", space_class!(), "]*$"
);

/// The schema pattern of a phone number as people write it (`(415) 555-0199`,
/// `+44 20 7946 0958`), or nothing: its shape only. Whether a region assigns it is
/// libphonenumber's to say ([`Phone::parse`]); every number that parses has this shape.
pub const PHONE_PATTERN: &str = concat!(
    "^[",
    space_class!(),
    "]*((\\+|00)?[ .()-]*[0-9]([ .()-]*[0-9]){6,14}[ .()-]*)?[",
    space_class!(),
    "]*$"
);

/// As [`PHONE_PATTERN`], but a number must be there.
pub const PHONE_REQUIRED_PATTERN: &str = concat!(
    "^[",
    space_class!(),
    "]*(\\+|00)?[ .()-]*[0-9]([ .()-]*[0-9]){6,14}[ .()-]*[",
    space_class!(),
    "]*$"
);

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

/// Mail domains that ignore dots in the local part (Gmail delivers `j.doe@` and `jdoe@` to
/// one inbox), with the domain they are one inbox with.
const DOTLESS_DOMAINS: [(&str, &str); 2] =
    [("gmail.com", "gmail.com"), ("googlemail.com", "gmail.com")];

/// The inbox an address reaches, for telling whether two addresses are one person's: the
/// `+tag` of sub-addressing is dropped, and so are the dots of a Gmail address. Used for
/// self-referral and the referrer's duplicate invitations; never sent or shown (the address
/// the person typed is what mail goes to).
///
/// ```
/// use referral_domain::Email;
/// let a = Email::parse("J.Doe+referrals@GoogleMail.com").unwrap();
/// let b = Email::parse("jdoe@gmail.com").unwrap();
/// assert_eq!(a.inbox(), b.inbox());
/// // Dots matter at other providers.
/// assert_ne!(
///     Email::parse("j.doe@example.com").unwrap().inbox(),
///     Email::parse("jdoe@example.com").unwrap().inbox(),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inbox(String);

impl Inbox {
    /// The normalised inbox, `local@domain`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Email {
    /// The inbox this address reaches (see [`Inbox`]).
    pub fn inbox(&self) -> Inbox {
        let Some((local, domain)) = self.0.rsplit_once('@') else {
            return Inbox(self.0.clone());
        };
        // An address that is only a tag (`+x@`) keeps its local part: there is no inbox
        // name to fall back to.
        let local = match local.split_once('+') {
            Some((name, _)) if !name.is_empty() => name,
            _ => local,
        };
        match DOTLESS_DOMAINS.iter().find(|(d, _)| *d == domain) {
            Some((_, canonical)) => {
                let name: String = local.chars().filter(|c| *c != '.').collect();
                Inbox(format!("{name}@{canonical}"))
            }
            None => Inbox(format!("{local}@{domain}")),
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

/// A phone number in E.164 form (`+`, the country code and the number), checked with
/// libphonenumber's rules and metadata (the `phonenumber` crate).
///
/// Numbers are taken as people write them: US national formats (`(415) 555-0199`,
/// `415.555.0199`, a leading `1` or `+1`), or any country with its `+` code (a leading
/// `00` is read as `+`); spaces, dots, dashes and parentheses are ignored. Letters, and
/// numbers no region assigns, are refused.
///
/// ```
/// use referral_domain::Phone;
/// assert_eq!(Phone::parse("+1 (415) 555-0100").unwrap().as_str(), "+14155550100");
/// assert_eq!(Phone::parse("(415) 555-0100").unwrap().as_str(), "+14155550100");
/// assert!(Phone::parse("555-0100").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Normalises and checks `input`.
    ///
    /// # Errors
    /// [`DomainError::InvalidPhone`] when it is not an E.164 number.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let text = input.trim();
        // Digits and the separators people type, a `+` only first, and short enough that
        // nothing else can be hiding in it.
        let plain = text.chars().enumerate().all(|(i, c)| {
            c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')') || (c == '+' && i == 0)
        });
        if text.is_empty() || text.len() > 32 || !plain {
            return Err(DomainError::InvalidPhone);
        }
        let international;
        let text = match text.strip_prefix("00") {
            Some(rest) => {
                international = format!("+{rest}");
                international.as_str()
            }
            None => text,
        };
        let number = phonenumber::parse(Some(phonenumber::country::Id::US), text)
            .map_err(|_| DomainError::InvalidPhone)?;
        if !phonenumber::is_valid(&number) {
            return Err(DomainError::InvalidPhone);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
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

    fn schema(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("the pattern is a regular expression")
    }

    /// The pattern without its anchors, for generating the texts it allows.
    fn allowed_by(pattern: &'static str) -> impl Strategy<Value = String> {
        let inner = &pattern[1..pattern.len() - 1];
        proptest::string::string_regex(inner).expect("a pattern proptest can generate from")
    }

    proptest! {
        /// Every address the document allows (within its 254 characters) is accepted: the
        /// document never promises what the service refuses.
        #[test]
        fn every_email_the_schema_allows_parses(text in allowed_by(EMAIL_PATTERN)) {
            prop_assume!(text.chars().count() <= 254);
            prop_assert!(schema(EMAIL_PATTERN).is_match(&text));
            prop_assert!(Email::parse(&text).is_ok(), "{:?}", text);
        }

        /// Every number that parses has the document's shape: the document never refuses
        /// what the service would accept.
        #[test]
        fn every_phone_that_parses_has_the_schema_shape(text in "[ +0-9().-]{0,20}") {
            if Phone::parse(&text).is_ok() {
                prop_assert!(schema(PHONE_REQUIRED_PATTERN).is_match(&text), "{:?}", text);
                prop_assert!(schema(PHONE_PATTERN).is_match(&text), "{:?}", text);
            }
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let a = Email::parse(" Bob.Smith+tag@Example.org\t").unwrap();
        assert_eq!(a.as_str(), "bob.smith+tag@example.org");
        assert_eq!(a, Email::parse("bob.smith+TAG@example.ORG").unwrap());
    }

    #[test]
    fn one_inbox_under_sub_addressing_and_gmail_dots() {
        let inbox = |s: &str| Email::parse(s).unwrap().inbox();
        assert_eq!(inbox("bob+x@example.org"), inbox("Bob@example.org"));
        assert_eq!(inbox("b.o.b+a+b@gmail.com"), inbox("bob@googlemail.com"));
        assert_eq!(inbox("bob@gmail.com").as_str(), "bob@gmail.com");
        assert_ne!(inbox("b.ob@example.org"), inbox("bob@example.org"));
        assert_ne!(inbox("bob@example.org"), inbox("bob@example.com"));
        // Nothing before the tag: the address is its own inbox.
        assert_eq!(inbox("+x@example.org").as_str(), "+x@example.org");
    }

    proptest! {
        #[test]
        fn any_tag_reaches_the_same_inbox(name in "[a-z]([a-z0-9]|\\.[a-z0-9]){0,10}", tag in "[a-z0-9]{0,10}") {
            let plain = Email::parse(&format!("{name}@example.org")).unwrap();
            let tagged = Email::parse(&format!("{name}+{tag}@example.org")).unwrap();
            prop_assert_eq!(plain.inbox(), tagged.inbox());
            let gmail = Email::parse(&format!("{name}@gmail.com")).unwrap();
            let undotted = Email::parse(&format!("{}@gmail.com", name.replace('.', ""))).unwrap();
            prop_assert_eq!(gmail.inbox(), undotted.inbox());
        }
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
        // As people write US numbers.
        for written in [
            "(415) 555-0199",
            "415.555.0199",
            "415 555 0199",
            "1 415 555 0199",
            "+1 415-555-0199",
            "4155550199",
        ] {
            assert_eq!(
                Phone::parse(written).unwrap().as_str(),
                "+14155550199",
                "{written}"
            );
        }
    }

    #[test]
    fn malformed_phones_are_rejected() {
        for bad in [
            "",
            "+",
            "555-0199",
            "+1 555 555 5555",
            "1-800-FLOWERS",
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
