//! The language a referral's messages are written in.
//!
//! A referral carries a [`Locale`] (`en` unless the referrer chose otherwise): the
//! invitation, the confirmation of a registration, the welcome bonus, the referrer's
//! reward notice and the expiry reminder are all written in it. The registration page
//! picks its language from `?lang=` or the browser's `Accept-Language`
//! ([`Locale::negotiate`]). Words that the domain itself produces (a reward in words, a
//! date, the consent question) come in every locale from here, so a message never mixes
//! languages.

use crate::status::UnknownVariant;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A language the service writes messages and the registration page in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    /// English (the default).
    #[default]
    En,
    /// Spanish (US Spanish: `usted` is avoided, the friendly `tú` used as in the English).
    Es,
}

impl Locale {
    /// Every locale, in order.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Es];

    /// The code: `en` or `es`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
        }
    }

    /// The locale of a BCP 47 tag such as `es`, `es-MX` or `EN-us`, when it is one we
    /// write; `None` for any other language.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Locale::ALL
            .into_iter()
            .find(|locale| primary.eq_ignore_ascii_case(locale.as_str()))
    }

    /// The page's language: an explicit choice (`?lang=`) when it names a locale we
    /// write, else the browser's most preferred language we write (`Accept-Language`, by
    /// `q` weight, earlier first among equals; `q=0` means "not this one"), else English.
    pub fn negotiate(explicit: Option<&str>, accept_language: Option<&str>) -> Locale {
        if let Some(locale) = explicit.and_then(Locale::from_tag) {
            return locale;
        }
        let Some(header) = accept_language else {
            return Locale::default();
        };
        let mut best: Option<(u16, Locale)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_weight);
            let (Some(weight), Some(locale)) = (weight, Locale::from_tag(tag)) else {
                continue;
            };
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, locale));
            }
        }
        best.map(|(_, locale)| locale).unwrap_or_default()
    }

    /// A day in words: `January 31, 2027` or `31 de enero de 2027`.
    pub fn long_date(self, day: NaiveDate) -> String {
        match self {
            Locale::En => day.format("%B %-d, %Y").to_string(),
            Locale::Es => {
                const MONTHS: [&str; 12] = [
                    "enero",
                    "febrero",
                    "marzo",
                    "abril",
                    "mayo",
                    "junio",
                    "julio",
                    "agosto",
                    "septiembre",
                    "octubre",
                    "noviembre",
                    "diciembre",
                ];
                let month = MONTHS
                    .get(day.month0() as usize)
                    .copied()
                    .unwrap_or_default();
                format!("{} de {month} de {}", day.day(), day.year())
            }
        }
    }
}

/// A `q` value (`0` to `1`, three decimals at most) in thousandths; `None` when malformed.
fn parse_weight(q: &str) -> Option<u16> {
    let q = q.trim();
    let (whole, fraction) = q.split_once('.').unwrap_or((q, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Locale {
    type Err = UnknownVariant;

    /// Exactly `en` or `es` (what the API and the database hold).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Locale::ALL
            .into_iter()
            .find(|locale| locale.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "locale",
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_explicit_choice_wins_then_the_browser_then_english() {
        assert_eq!(Locale::negotiate(Some("es"), Some("en-US")), Locale::Es);
        assert_eq!(
            Locale::negotiate(Some("fr"), Some("es-MX,es;q=0.9")),
            Locale::Es
        );
        assert_eq!(
            Locale::negotiate(None, Some("fr-FR, es;q=0.8, en;q=0.7")),
            Locale::Es
        );
        assert_eq!(Locale::negotiate(None, Some("es;q=0.5, en-US")), Locale::En);
        assert_eq!(
            Locale::negotiate(None, Some("es;q=0, en;q=0.1")),
            Locale::En
        );
        assert_eq!(Locale::negotiate(None, Some("es;q=0")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("de, fr")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("es;q=2")), Locale::En);
        assert_eq!(Locale::negotiate(None, None), Locale::En);
        assert_eq!(Locale::negotiate(Some("ES-us"), None), Locale::Es);
    }

    #[test]
    fn dates_read_naturally_in_each_language() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
        assert_eq!(Locale::En.long_date(day), "January 31, 2027");
        assert_eq!(Locale::Es.long_date(day), "31 de enero de 2027");
    }

    #[test]
    fn only_the_codes_parse() {
        assert_eq!("es".parse::<Locale>().unwrap(), Locale::Es);
        assert!("ES".parse::<Locale>().is_err());
        assert!("es-MX".parse::<Locale>().is_err());
        assert!("".parse::<Locale>().is_err());
    }

    proptest! {
        /// Any header, however malformed, gives a locale and never panics; a header that
        /// names only Spanish (with a positive weight) gives Spanish.
        #[test]
        fn any_accept_language_gives_a_locale(header in ".{0,80}", region in "[A-Za-z]{0,3}") {
            let _ = Locale::negotiate(None, Some(&header));
            let tag = if region.is_empty() { "es".to_owned() } else { format!("es-{region}") };
            prop_assert_eq!(Locale::negotiate(None, Some(&tag)), Locale::Es);
            prop_assert_eq!(Locale::negotiate(Some("en"), Some(&tag)), Locale::En);
        }

        /// A reward in words names its value in every language, and the Spanish words are
        /// not the English ones.
        #[test]
        fn every_reward_has_words_in_every_locale(cents in 1i64..10_000_000, kind in 0usize..4) {
            use crate::{Money, RewardSpec, RewardType};
            let reward_type = [RewardType::Discount, RewardType::Credit, RewardType::Cash, RewardType::FreeConsultation][kind];
            let cents = if reward_type == RewardType::Discount { cents % 10_000 + 1 } else { cents };
            let spec = RewardSpec { reward_type, value: Money::from_cents(cents).unwrap() };
            // A percentage as typed; an amount as people read it ($1,234.50).
            let number = if reward_type == RewardType::Discount {
                spec.value.to_string().trim_end_matches(".00").to_owned()
            } else {
                spec.value.usd()
            };
            let number = number.as_str();
            let english = spec.description_in(Locale::En);
            let spanish = spec.description_in(Locale::Es);
            prop_assert_eq!(&english, &spec.description());
            prop_assert!(english.contains(number) && spanish.contains(number));
            prop_assert_ne!(english, spanish);
        }

        #[test]
        fn every_day_has_words_in_every_locale(days in 0i64..100_000) {
            let day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days);
            for locale in Locale::ALL {
                let words = locale.long_date(day);
                prop_assert!(words.contains(&day.year().to_string()));
                prop_assert!(!words.contains(" de  de "));
            }
        }
    }
}
