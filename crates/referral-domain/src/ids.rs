//! Identifier newtypes, so that a patient id can never be passed where a referral id is
//! expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// A new random (version 4) identifier.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A patient of the platform (referrer or, once registered, referee).
    PatientId
);
id_type!(
    /// A provider (clinician or staff member) who manages programs.
    ProviderId
);
id_type!(
    /// A referral program (campaign).
    ProgramId
);
id_type!(
    /// One referral: one referrer inviting one referee.
    ReferralId
);
id_type!(
    /// One row of the reward ledger.
    RewardId
);
id_type!(
    /// A consultation, as reported by the consultation service.
    ConsultationId
);
id_type!(
    /// An order, as reported by the order service.
    OrderId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_json() {
        let id = ReferralId::new_random();
        let parsed: ReferralId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<ReferralId>(&json).unwrap(), id);
        assert!("not-a-uuid".parse::<PatientId>().is_err());
    }
}
