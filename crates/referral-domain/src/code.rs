//! Referral codes: 90 random bits written as 18 Crockford base32 characters.
//!
//! A code is shown as `XXXXXX-XXXXXX-XXXXXX` (20 characters, the seed's limit). The
//! alphabet leaves out `I`, `L`, `O` and `U`, so a code read aloud or typed from paper
//! cannot be mistaken; when parsing, `I`/`L` are read as `1` and `O` as `0`, case is
//! ignored, and `-` and spaces are dropped.
//!
//! Why 90 bits and not the seed's 80: with a million live codes and 10,000 guesses a
//! second, 80 bits give 2⁸⁰ / 10⁶ / 10⁴ ≈ 1.2·10¹⁴ seconds, about 4 million years, short of
//! the billion years the rules promise. 90 bits give 2⁹⁰ / 10¹⁰ ≈ 1.2·10¹⁷ seconds, about
//! 3.9 billion years, and still fit 20 characters with separators. Rate limits make it
//! longer still. A collision between two generated codes is very unlikely; the store still
//! retries on a unique-constraint violation.

use crate::error::DomainError;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a code without separators: 18 × 5 bits = 90 bits of entropy.
pub const CODE_CHARS: usize = 18;
/// Random bytes behind a code: one a character, of which the low 5 bits are used (256 is a
/// multiple of 32, so every character stays uniform).
pub const CODE_BYTES: usize = CODE_CHARS;
/// Characters of a code between separators.
const GROUP: usize = 6;

/// A valid, normalised referral code.
///
/// ```
/// use referral_domain::ReferralCode;
/// let code = ReferralCode::parse("abcdef gh-jkmn-pqrstv").unwrap();
/// assert_eq!(code.to_string(), "ABCDEF-GHJKMN-PQRSTV");
/// assert_eq!(code.compact(), "ABCDEFGHJKMNPQRSTV");
/// assert!(ReferralCode::parse("too-short").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferralCode([u8; CODE_CHARS]);

impl ReferralCode {
    /// Generates a new code from a cryptographically secure generator (use
    /// `ring::rand::SystemRandom` in production).
    ///
    /// # Errors
    /// [`DomainError::RandomUnavailable`] when the generator fails.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, DomainError> {
        let mut bytes = [0u8; CODE_BYTES];
        rng.fill(&mut bytes)
            .map_err(|_| DomainError::RandomUnavailable)?;
        Ok(Self::from_random_bytes(bytes))
    }

    /// The code made of `bytes`: the low 5 bits of each byte pick one character. For tests
    /// and replays; [`ReferralCode::generate`] fills the bytes from a secure generator.
    pub fn from_random_bytes(bytes: [u8; CODE_BYTES]) -> Self {
        Self(bytes.map(|b| ALPHABET[usize::from(b & 0x1f)]))
    }

    /// Parses user input: case-insensitive, `-` and whitespace ignored, `O` read as `0` and
    /// `I`/`L` as `1`.
    ///
    /// # Errors
    /// [`DomainError::InvalidReferralCode`] when the rest is not exactly 18 characters of
    /// the alphabet.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let mut chars = [0u8; CODE_CHARS];
        let mut len = 0;
        for c in input.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let normalised = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !normalised.is_ascii() || !ALPHABET.contains(&(normalised as u8)) {
                return Err(DomainError::InvalidReferralCode);
            }
            if len == CODE_CHARS {
                return Err(DomainError::InvalidReferralCode);
            }
            chars[len] = normalised as u8;
            len += 1;
        }
        if len != CODE_CHARS {
            return Err(DomainError::InvalidReferralCode);
        }
        Ok(Self(chars))
    }

    /// The 18 characters without separators.
    pub fn compact(&self) -> &str {
        // Every byte comes from ALPHABET, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for ReferralCode {
    /// `XXXXXX-XXXXXX-XXXXXX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let compact = self.compact();
        write!(
            f,
            "{}-{}-{}",
            &compact[..GROUP],
            &compact[GROUP..2 * GROUP],
            &compact[2 * GROUP..]
        )
    }
}

impl fmt::Debug for ReferralCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferralCode({self})")
    }
}

impl FromStr for ReferralCode {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ReferralCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReferralCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;
    use std::collections::HashSet;

    #[test]
    fn generated_codes_fit_the_format() {
        let rng = SystemRandom::new();
        let code = ReferralCode::generate(&rng).unwrap();
        let shown = code.to_string();
        assert_eq!(shown.len(), 20);
        assert_eq!(shown.matches('-').count(), 2);
        assert!(code.compact().bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(ReferralCode::parse(&shown).unwrap(), code);
    }

    #[test]
    fn a_million_generated_codes_are_distinct() {
        let rng = SystemRandom::new();
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let code = ReferralCode::generate(&rng).unwrap();
            assert!(seen.insert(code), "duplicate code generated");
        }
        assert_eq!(seen.len(), 1_000_000);
    }

    #[test]
    fn each_byte_picks_one_character_from_its_low_five_bits() {
        assert_eq!(
            ReferralCode::from_random_bytes([0; 18]).compact(),
            "000000000000000000"
        );
        assert_eq!(
            ReferralCode::from_random_bytes([0xff; 18]).compact(),
            "ZZZZZZZZZZZZZZZZZZ"
        );
        let mut bytes = [0u8; 18];
        bytes[0] = 0x20 | 16; // the high bits are dropped
        bytes[17] = 1;
        assert_eq!(
            ReferralCode::from_random_bytes(bytes).compact(),
            "G00000000000000001"
        );
    }

    #[test]
    fn look_alikes_are_read_as_digits() {
        let code = ReferralCode::parse("oooooo-iiiiii-llllll").unwrap();
        assert_eq!(code.compact(), "000000111111111111");
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for bad in [
            "",
            "ABCD",
            "ABCDEF-GHJKMN-PQRSTVX",
            "ABCDEF-GHJKMN-PQRSTU",
            "ABCDEF-GHJKMN-PQRST!",
            "ABCD-EFGH-JKMN-PQRS",
            "analytics",
            "audit-trail",
            "bulk-operations",
            "performance",
            "ÄBCDEF-GHJKMN-PQRSTV",
        ] {
            assert_eq!(
                ReferralCode::parse(bad),
                Err(DomainError::InvalidReferralCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn serde_uses_the_display_form() {
        let code = ReferralCode::from_random_bytes([7; 18]);
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{code}\""));
        let back: ReferralCode = serde_json::from_str(&json.to_lowercase()).unwrap();
        assert_eq!(back, code);
        assert!(serde_json::from_str::<ReferralCode>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_display_round_trips_under_case_and_separator_changes(
            bytes in proptest::array::uniform18(any::<u8>()),
            lower in proptest::collection::vec(any::<bool>(), 18),
            separators in proptest::collection::vec(0u8..4, 18),
        ) {
            let code = ReferralCode::from_random_bytes(bytes);
            prop_assert_eq!(ReferralCode::parse(&code.to_string()).unwrap(), code.clone());

            let mut mangled = String::new();
            for (i, c) in code.compact().chars().enumerate() {
                match separators[i] {
                    1 => mangled.push('-'),
                    2 => mangled.push(' '),
                    3 => mangled.push_str(" - "),
                    _ => {}
                }
                if lower[i] { mangled.push(c.to_ascii_lowercase()) } else { mangled.push(c) }
            }
            prop_assert_eq!(ReferralCode::parse(&mangled).unwrap(), code);
        }

        #[test]
        fn parse_never_panics(input in ".{0,40}") {
            let _ = ReferralCode::parse(&input);
        }
    }
}
