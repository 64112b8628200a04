//! Every referral use case, on SQLite and (with TEST_DATABASE_URL) PostgreSQL, a module
//! per source module of `referral_store::referrals` (and the conversions, rewards and
//! analytics they lead to).

mod analytics;
mod clicks;
mod conversions;
mod create;
mod lifecycle;
mod listing;
mod register;
mod reward_ledger;

use referral_domain::DomainError;
use referral_store::StoreError;

fn domain(err: StoreError) -> DomainError {
    match err {
        StoreError::Domain(d) => d,
        other => panic!("expected a domain error, got {other:?}"),
    }
}
