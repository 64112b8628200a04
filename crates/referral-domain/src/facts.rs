//! What the platform reports about a patient: who pays for their care, where they live,
//! when they were born, which conditions are on record. Program targeting and the
//! inducement policy decide on these facts; the platform's own services report them
//! (`PUT /api/patients/{id}/facts`), parsed here once.
//!
//! A patient whose payer was never reported is not assumed commercial: the
//! [`UnknownPayerPolicy`] decides, and its default treats them as a federal payer, the
//! stricter rules (no cash, nominal values only).

use crate::error::{DomainError, FieldError, ValidationErrors};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// USPS codes of the states, the District of Columbia and the territories.
pub const US_STATE_CODES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
];

/// Longest condition code accepted (ICD-10-CM codes are at most 8 characters with the dot;
/// programs' own tags get room).
pub const MAX_CONDITION_CODE_LEN: usize = 32;

/// Most conditions reported at once.
pub const MAX_CONDITIONS: usize = 100;

/// How a patient whose payer was never reported is treated by the inducement policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownPayerPolicy {
    /// As a federal payer (the default: the stricter rules apply until the platform says
    /// otherwise).
    #[default]
    Federal,
    /// As a commercial payer.
    Commercial,
}

impl UnknownPayerPolicy {
    /// Whether a patient with the reported payer fact (`None`: never reported) is treated as
    /// a federal payer.
    pub const fn is_federal(self, reported: Option<bool>) -> bool {
        match reported {
            Some(federal) => federal,
            None => matches!(self, UnknownPayerPolicy::Federal),
        }
    }
}

/// A US state, district or territory, as its upper-case USPS code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsState(String);

impl UsState {
    /// Parses a USPS code, in any case, with surrounding spaces.
    ///
    /// # Errors
    /// [`FieldError::StateUnknown`] for anything else.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let code = text.trim().to_ascii_uppercase();
        if US_STATE_CODES.contains(&code.as_str()) {
            Ok(UsState(code))
        } else {
            Err(FieldError::StateUnknown)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A condition code as the platform writes it: an ICD-10 code (`E11.9`) or a program's own
/// tag (`weight_loss`): 1 to [`MAX_CONDITION_CODE_LEN`] letters, digits, `.`, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConditionCode(String);

impl ConditionCode {
    /// Parses a code; surrounding spaces are dropped, case is kept (tags are matched as
    /// written).
    ///
    /// # Errors
    /// [`FieldError::ConditionMalformed`].
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let code = text.trim();
        let well_formed = !code.is_empty()
            && code.len() <= MAX_CONDITION_CODE_LEN
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if well_formed {
            Ok(ConditionCode(code.to_owned()))
        } else {
            Err(FieldError::ConditionMalformed)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The facts as sent, before parsing; a field left out (`None`) is not changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsInput<'a> {
    /// Whether a federal programme (Medicare, Medicaid, TRICARE) pays for the patient's care.
    pub federal_payer: Option<bool>,
    /// USPS code of the state the patient lives in.
    pub state: Option<&'a str>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Condition codes on record (the whole list: it replaces the stored one).
    pub conditions: Option<Vec<&'a str>>,
}

/// Parsed facts; a `None` field leaves the stored fact as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsUpdate {
    /// The payer fact.
    pub federal_payer: Option<bool>,
    /// The state.
    pub state: Option<UsState>,
    /// The date of birth (in the past).
    pub date_of_birth: Option<NaiveDate>,
    /// The conditions, without repeats, in the order sent.
    pub conditions: Option<Vec<ConditionCode>>,
}

impl FactsInput<'_> {
    /// Parses every field, reporting every problem at once; `today` is the reporting day
    /// (a date of birth must be before it).
    ///
    /// # Errors
    /// [`DomainError::Validation`] with each field's problem.
    pub fn parse(&self, today: NaiveDate) -> Result<FactsUpdate, DomainError> {
        let mut errors = Vec::new();
        let state = self
            .state
            .map(UsState::parse)
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(e);
                None
            });
        let date_of_birth = match self.date_of_birth {
            Some(born) if born >= today => {
                errors.push(FieldError::BirthDateNotPast);
                None
            }
            other => other,
        };
        let conditions = match &self.conditions {
            None => None,
            Some(list) if list.len() > MAX_CONDITIONS => {
                errors.push(FieldError::TooManyConditions);
                None
            }
            Some(list) => {
                let mut codes: Vec<ConditionCode> = Vec::with_capacity(list.len());
                for text in list {
                    match ConditionCode::parse(text) {
                        Ok(code) if !codes.contains(&code) => codes.push(code),
                        Ok(_) => {}
                        Err(e) => {
                            if !errors.contains(&e) {
                                errors.push(e);
                            }
                        }
                    }
                }
                Some(codes)
            }
        };
        if !errors.is_empty() {
            return Err(DomainError::Validation(ValidationErrors(errors)));
        }
        Ok(FactsUpdate {
            federal_payer: self.federal_payer,
            state,
            date_of_birth,
            conditions,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    #[test]
    fn unknown_payers_are_federal_unless_the_setting_says_otherwise() {
        assert!(UnknownPayerPolicy::default().is_federal(None));
        assert!(!UnknownPayerPolicy::Commercial.is_federal(None));
        assert!(UnknownPayerPolicy::Commercial.is_federal(Some(true)));
        assert!(!UnknownPayerPolicy::Federal.is_federal(Some(false)));
    }

    #[test]
    fn states_are_usps_codes() {
        assert_eq!(UsState::parse(" ca ").unwrap().as_str(), "CA");
        assert_eq!(UsState::parse("PR").unwrap().as_str(), "PR");
        for bad in ["", "XX", "Cal", "C", "ZZ"] {
            assert_eq!(UsState::parse(bad), Err(FieldError::StateUnknown), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let input = FactsInput {
            federal_payer: Some(true),
            state: Some("XX"),
            date_of_birth: Some(today()),
            conditions: Some(vec!["E11.9", "no spaces", ""]),
        };
        let Err(DomainError::Validation(errors)) = input.parse(today()) else {
            panic!("expected validation errors");
        };
        assert!(errors.has(&FieldError::StateUnknown));
        assert!(errors.has(&FieldError::BirthDateNotPast));
        assert!(errors.has(&FieldError::ConditionMalformed));
        assert_eq!(errors.errors().len(), 3);
    }

    #[test]
    fn a_partial_update_leaves_the_rest_alone_and_drops_repeats() {
        let input = FactsInput {
            conditions: Some(vec!["E11.9", "weight_loss", "E11.9"]),
            ..FactsInput::default()
        };
        let update = input.parse(today()).unwrap();
        assert_eq!(update.federal_payer, None);
        assert_eq!(update.state, None);
        let codes: Vec<&str> = update
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(ConditionCode::as_str)
            .collect();
        assert_eq!(codes, ["E11.9", "weight_loss"]);
    }

    proptest! {
        /// Any text either parses to a listed code or is refused; nothing else gets in.
        #[test]
        fn only_listed_states_parse(text in "\\PC{0,4}") {
            if let Ok(state) = UsState::parse(&text) {
                prop_assert!(US_STATE_CODES.contains(&state.as_str()));
            }
        }

        /// A date of birth is accepted exactly when it is before the reporting day.
        #[test]
        fn birth_dates_must_be_past(days in -40_000i64..400) {
            let born = today() - chrono::Duration::days(days);
            let parsed = FactsInput { date_of_birth: Some(born), ..FactsInput::default() }
                .parse(today());
            prop_assert_eq!(parsed.is_ok(), born < today());
        }
    }
}
