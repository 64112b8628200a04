//! Money: a non-negative decimal amount with exactly two places, never a float.
//!
//! Amounts are parsed and converted with `bigdecimal` and held as whole cents inside, which
//! makes comparison, hashing and sums exact and cheap.
//!
//! The seed stores amounts as `DECIMAL(10,2)`, so an amount has at most 8 integer digits
//! (up to 99,999,999.99). The store keeps amounts as whole cents; [`Money::from_cents`] and
//! [`Money::cents`] convert at that boundary. JSON carries amounts as strings (`"25.00"`);
//! a JSON float is refused because it may already have lost precision.

use crate::error::DomainError;
use bigdecimal::{BigDecimal, Zero};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Largest amount in cents: `DECIMAL(10,2)` allows 99,999,999.99.
const MAX_CENTS: i64 = 9_999_999_999;

/// Largest whole amount (an amount given as a JSON integer): 99,999,999.
pub const MAX_WHOLE_UNITS: i64 = MAX_CENTS / 100;

/// The schema pattern of an amount given as text (`"25"`, `" 25.5 "`, `"25.00"`): every
/// text it allows, [`Money::parse`] accepts (a property test says so).
pub const MONEY_TEXT_PATTERN: &str = concat!(
    "^[",
    space_class!(),
    "]*[0-9]{1,8}(\\.[0-9]{1,2})?[",
    space_class!(),
    "]*$"
);

/// A non-negative amount of money with two decimal places.
///
/// ```
/// use referral_domain::Money;
/// let price = Money::parse("25").unwrap();
/// assert_eq!(price.to_string(), "25.00");
/// assert_eq!(price.cents(), 2500);
/// assert_eq!(Money::from_cents(1999).unwrap().to_string(), "19.99");
/// assert!(Money::parse("0.001").is_err());
/// assert!(Money::parse("-1").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// Parses a decimal such as `"25"`, `"25.5"` or `"25.00"`.
    ///
    /// # Errors
    /// [`DomainError::InvalidMoney`] for text that is not a number, a negative amount, more
    /// than two decimal places, or more than 8 integer digits.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let decimal = BigDecimal::from_str(input.trim())
            .map_err(|_| DomainError::InvalidMoney("not a decimal number"))?;
        Self::from_decimal(&decimal)
    }

    /// Converts an exact decimal.
    ///
    /// # Errors
    /// As [`Money::parse`].
    pub fn from_decimal(decimal: &BigDecimal) -> Result<Self, DomainError> {
        if decimal < &BigDecimal::zero() {
            return Err(DomainError::InvalidMoney("must not be negative"));
        }
        let scaled = decimal * BigDecimal::from(100);
        if !scaled.is_integer() {
            return Err(DomainError::InvalidMoney("at most two decimal places"));
        }
        let (digits, _) = scaled.with_scale(0).into_bigint_and_exponent();
        let cents = i64::try_from(digits)
            .ok()
            .filter(|c| *c <= MAX_CENTS)
            .ok_or(DomainError::InvalidMoney("at most 99999999.99"))?;
        Ok(Self(cents))
    }

    /// An amount of whole cents, as the store keeps it.
    ///
    /// # Errors
    /// [`DomainError::InvalidMoney`] when `cents` is negative or above 99,999,999.99.
    pub fn from_cents(cents: i64) -> Result<Self, DomainError> {
        if cents < 0 {
            return Err(DomainError::InvalidMoney("must not be negative"));
        }
        if cents > MAX_CENTS {
            return Err(DomainError::InvalidMoney("at most 99999999.99"));
        }
        Ok(Self(cents))
    }

    /// The amount in whole cents.
    pub const fn cents(&self) -> i64 {
        self.0
    }

    /// The amount as an exact decimal with scale 2.
    pub fn to_decimal(&self) -> BigDecimal {
        BigDecimal::new(self.0.into(), 2)
    }

    /// Whether the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// The sum, or `None` above the largest amount.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .filter(|c| *c <= MAX_CENTS)
            .map(Money)
    }

    /// The difference, or `None` when it would be negative.
    pub fn checked_sub(&self, other: &Money) -> Option<Money> {
        self.0.checked_sub(other.0).filter(|c| *c >= 0).map(Money)
    }
}

impl Money {
    /// The amount as people read it: the currency and thousands separators, `$1,234.50`.
    /// (Display stays `1234.50`: the API's decimal strings.)
    pub fn usd(&self) -> String {
        let dollars = (self.0 / 100).to_string();
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (i, digit) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        format!("${grouped}.{:02}", self.0 % 100)
    }
}

impl fmt::Display for Money {
    /// Always two decimal places: `25.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl FromStr for Money {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts a decimal string (`"25.00"`) or a JSON integer (`25`); refuses floats.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MoneyVisitor;

        impl serde::de::Visitor<'_> for MoneyVisitor {
            type Value = Money;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount as a decimal string such as \"25.00\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                let cents = i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(100))
                    .ok_or_else(|| E::custom("amount too large"))?;
                Money::from_cents(cents).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                let cents = v
                    .checked_mul(100)
                    .ok_or_else(|| E::custom("amount too large"))?;
                Money::from_cents(cents).map_err(E::custom)
            }

            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Money, E> {
                Err(E::custom(
                    "amounts are decimal strings such as \"25.00\", not floats",
                ))
            }
        }

        deserializer.deserialize_any(MoneyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The document never promises an amount the parse refuses.
        #[test]
        fn every_amount_the_schema_allows_parses(
            text in proptest::string::string_regex(&MONEY_TEXT_PATTERN[1..MONEY_TEXT_PATTERN.len() - 1]).unwrap()
        ) {
            prop_assert!(Money::parse(&text).is_ok(), "{:?}", text);
        }

        /// Whole amounts up to the largest parse.
        #[test]
        fn every_whole_amount_the_schema_allows_parses(units in 0..=MAX_WHOLE_UNITS) {
            prop_assert!(Money::parse(&units.to_string()).is_ok());
        }
    }

    #[test]
    fn amounts_read_with_separators_and_the_currency() {
        let usd = |cents| Money::from_cents(cents).unwrap().usd();
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(2_500), "$25.00");
        assert_eq!(usd(99_999), "$999.99");
        assert_eq!(usd(123_450), "$1,234.50");
        assert_eq!(usd(9_999_999_999), "$99,999,999.99");
    }

    proptest::proptest! {
        #[test]
        fn separators_never_change_the_amount(cents in 0i64..=9_999_999_999) {
            let money = Money::from_cents(cents).unwrap();
            let plain = money.usd().trim_start_matches('$').replace(',', "");
            proptest::prop_assert_eq!(plain, money.to_string());
        }
    }

    #[test]
    fn parses_and_prints_two_places() {
        for (input, shown) in [
            ("25", "25.00"),
            ("25.5", "25.50"),
            ("25.00", "25.00"),
            ("0", "0.00"),
            ("0.01", "0.01"),
            (" 7.10 ", "7.10"),
            ("99999999.99", "99999999.99"),
            ("1e2", "100.00"),
        ] {
            assert_eq!(Money::parse(input).unwrap().to_string(), shown, "{input}");
        }
    }

    #[test]
    fn refuses_bad_amounts() {
        for bad in ["", "abc", "-0.01", "1.001", "100000000", "NaN", "1,00"] {
            assert!(
                matches!(Money::parse(bad), Err(DomainError::InvalidMoney(_))),
                "{bad}"
            );
        }
        assert!(Money::from_cents(-1).is_err());
        assert!(Money::from_cents(MAX_CENTS + 1).is_err());
    }

    #[test]
    fn arithmetic_is_exact_and_bounded() {
        let a = Money::parse("0.10").unwrap();
        let b = Money::parse("0.20").unwrap();
        assert_eq!(a.checked_add(&b).unwrap().to_string(), "0.30");
        assert_eq!(b.checked_sub(&a).unwrap(), a);
        assert!(a.checked_sub(&b).is_none());
        let max = Money::from_cents(MAX_CENTS).unwrap();
        assert!(max.checked_add(&a).is_none());
        assert_eq!(
            Money::parse("12.34").unwrap().to_decimal(),
            BigDecimal::from_str("12.34").unwrap()
        );
    }

    #[test]
    fn json_takes_strings_and_integers_not_floats() {
        assert_eq!(
            serde_json::from_str::<Money>("\"25.00\"").unwrap().cents(),
            2500
        );
        assert_eq!(serde_json::from_str::<Money>("25").unwrap().cents(), 2500);
        assert!(serde_json::from_str::<Money>("25.5").is_err());
        assert!(serde_json::from_str::<Money>("-3").is_err());
        assert_eq!(
            serde_json::to_string(&Money::parse("5").unwrap()).unwrap(),
            "\"5.00\""
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trips(cents in 0..=MAX_CENTS) {
            let money = Money::from_cents(cents).unwrap();
            prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money.clone());
            prop_assert_eq!(Money::from_decimal(&money.to_decimal()).unwrap(), money);
        }
    }
}
