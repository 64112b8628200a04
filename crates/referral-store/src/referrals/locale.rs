//! The language of a referral's messages. English is the default and has no row; any other
//! locale is a row of `referral_locales` (the referrals table is at Diesel's 32 columns).

use crate::conn::DbConnection;
use crate::error::StoreError;
use crate::schema::referral_locales;
use crate::sql_types::DbUuid;
use diesel::prelude::*;
use referral_domain::{Locale, ReferralId};

/// Stores the locale of a new referral (nothing for English).
pub(crate) fn set(
    conn: &mut DbConnection,
    id: ReferralId,
    locale: Locale,
) -> Result<(), StoreError> {
    if locale != Locale::En {
        diesel::insert_into(referral_locales::table)
            .values((
                referral_locales::referral_id.eq(DbUuid::from(id)),
                referral_locales::locale.eq(locale.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The language a referral's messages are written in.
///
/// # Errors
/// Database errors; a stored locale the domain does not know is corrupt data.
pub fn locale_of(conn: &mut DbConnection, id: ReferralId) -> Result<Locale, StoreError> {
    let stored: Option<String> = referral_locales::table
        .find(DbUuid::from(id))
        .select(referral_locales::locale)
        .first(conn)
        .optional()?;
    stored.map_or(Ok(Locale::En), |tag| {
        crate::error::parse_enum(&tag, "referral_locales.locale")
    })
}

/// The languages of `ids` that are not English (a referral missing from the map is English).
///
/// # Errors
/// Database errors; a stored locale the domain does not know is corrupt data.
pub fn locales_of(
    conn: &mut DbConnection,
    ids: &[ReferralId],
) -> Result<std::collections::HashMap<ReferralId, Locale>, StoreError> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(DbUuid, String)> = referral_locales::table
        .filter(referral_locales::referral_id.eq_any(ids.iter().map(|id| DbUuid::from(*id))))
        .select((referral_locales::referral_id, referral_locales::locale))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, tag)| {
            let locale = crate::error::parse_enum(&tag, "referral_locales.locale")?;
            Ok((ReferralId::from_uuid(id.0), locale))
        })
        .collect()
}
