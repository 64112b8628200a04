//! Patient facts reported by the platform.

use chrono::{DateTime, NaiveDate, Utc};
use referral_store::patients::Patient;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Facts about a patient, as the platform reports them; a field left out keeps its stored
/// value, and `conditions` replaces the whole list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientFactsRequest {
    /// Whether a federal programme (Medicare, Medicaid, TRICARE) pays for the patient's care.
    pub federal_payer: Option<bool>,
    /// USPS code of the patient's state, district or territory.
    #[schema(example = "CA", pattern = "^[A-Za-z]{2}$")]
    pub state: Option<String>,
    /// Date of birth, in the past.
    pub date_of_birth: Option<NaiveDate>,
    /// Condition codes on record (ICD-10 or program tags): 1 to 32 letters, digits, `.`,
    /// `-` or `_`; at most 100.
    #[schema(max_items = 100)]
    pub conditions: Option<Vec<String>>,
}

/// The facts stored about a patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientFactsView {
    /// The patient.
    pub patient_id: Uuid,
    /// The reported payer; null when the platform never reported it (the service's
    /// `--unknown-payer-policy` then decides).
    pub federal_payer: Option<bool>,
    /// State code.
    pub state: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Condition codes.
    pub conditions: Vec<String>,
    /// When facts were last reported.
    pub reported_at: Option<DateTime<Utc>>,
}

impl From<Patient> for PatientFactsView {
    fn from(p: Patient) -> Self {
        PatientFactsView {
            patient_id: p.id.as_uuid(),
            federal_payer: p.payer_fact(),
            state: p.state,
            date_of_birth: p.date_of_birth,
            conditions: p.conditions,
            reported_at: p.facts_reported_at,
        }
    }
}

impl crate::state::AuditedResource for PatientFactsView {
    fn audit_id(&self) -> Option<String> {
        Some(self.patient_id.to_string())
    }
}
