//! The schema of each request field whose bounds the derive cannot state: patterns from the
//! domain's parses, lengths and ranges from the limits the handlers and the domain enforce,
//! enums from the domain's `ALL` lists. Each request type names its field's function with
//! `#[schema(schema_with = field::…)]`, so the served document (which is also the request
//! validator, see `contract.rs`) and the domain's parse read one declaration.
//!
//! Rules that join two fields or count values (exactly one of two ids, a reward's type and
//! value together, no single variant) are not field bounds: `openapi.rs` states them.

use referral_domain::batch::MAX_BATCH_EVENTS;
use referral_domain::contact::{EMAIL_PATTERN, PHONE_PATTERN};
use referral_domain::experiment::{MAX_HEADLINE_CHARS, MAX_VARIANT_NAME_CHARS, MAX_VARIANT_WEIGHT};
use referral_domain::message::MAX_MESSAGE_CHARS;
use referral_domain::money::{MAX_WHOLE_UNITS, MONEY_TEXT_PATTERN};
use referral_domain::program::{
    BOOKING_URL_PATTERN, MAX_BOOKING_URL_CHARS, MAX_NAME_CHARS, MAX_PUBLIC_NAME_CHARS,
    MAX_TARGET_AGE,
};
use referral_domain::referral::{MAX_EXPIRY_DAYS, MAX_PERSON_NAME_CHARS};
use referral_domain::reward::MAX_REVIEW_REASON_CHARS;
use referral_domain::text::{NOT_BLANK_PATTERN, VISIBLE_TEXT_PATTERN};
use referral_domain::webhook::WebhookEventType;
use referral_domain::{Locale, ProgramStatus, ProgramType, ReferralSource, RewardType};
use referral_store::bulk::{BulkOperation, MAX_BULK_IDS};
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

/// Longest description of a webhook endpoint.
pub const MAX_ENDPOINT_DESCRIPTION_CHARS: usize = 500;

/// An RFC 3339 time as the handlers read one (`2026-01-31T09:00:00Z`), or nothing.
const DATE_TIME_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$";

fn string(nullable: bool) -> ObjectBuilder {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new().schema_type(kind)
}

fn integer(nullable: bool, minimum: u32, maximum: u32) -> Schema {
    let kind = if nullable {
        SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        SchemaType::new(Type::Integer)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .minimum(Some(minimum))
        .maximum(Some(maximum))
        .into()
}

/// A nullable text of at most `most` characters, none of them hidden.
fn visible(most: usize) -> Schema {
    string(true)
        .max_length(Some(most))
        .pattern(Some(VISIBLE_TEXT_PATTERN))
        .into()
}

/// One of `values` (the domain's `as_str` of each variant), or nothing.
fn one_of_or_null<'a>(values: impl IntoIterator<Item = &'a str>) -> Schema {
    let mut values: Vec<serde_json::Value> = values.into_iter().map(Into::into).collect();
    values.push(serde_json::Value::Null);
    string(true).enum_values(Some(values)).into()
}

fn uuids(most: usize) -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        )
        .min_items(Some(1))
        .max_items(Some(most))
        .into()
}

fn amount(nullable: bool) -> Schema {
    let mut any = AnyOfBuilder::new()
        .item(string(false).pattern(Some(MONEY_TEXT_PATTERN)))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(MAX_WHOLE_UNITS)),
        );
    if nullable {
        any = any.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    any.into()
}

/// When an event happened; the handler's clock when absent.
pub fn occurred_at() -> Schema {
    string(true)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(DATE_TIME_PATTERN))
        .into()
}

/// An amount as [`referral_domain::Money::parse`] reads one: a decimal string with at most
/// two places, or a whole number.
pub fn money() -> Schema {
    amount(false)
}

/// As [`money`], or nothing.
pub fn money_or_null() -> Schema {
    amount(true)
}

/// An email address as [`referral_domain::Email::parse`] reads one.
pub fn email() -> Schema {
    string(false)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .pattern(Some(EMAIL_PATTERN))
        .max_length(Some(254))
        .into()
}

/// A phone number's shape as [`referral_domain::Phone::parse`] reads one, or nothing.
pub fn phone() -> Schema {
    string(true).pattern(Some(PHONE_PATTERN)).into()
}

/// A person's name: [`MAX_PERSON_NAME_CHARS`], nothing hidden.
pub fn person_name() -> Schema {
    visible(MAX_PERSON_NAME_CHARS)
}

/// The personal message to a friend, bounded as [`referral_domain::PersonalMessage`] is.
pub fn personal_message() -> Schema {
    visible(MAX_MESSAGE_CHARS)
}

/// How a referral was shared, one of [`ReferralSource::ALL`].
pub fn referral_source() -> Schema {
    one_of_or_null(ReferralSource::ALL.iter().map(|s| s.as_str()))
}

/// A language, one of [`Locale::ALL`].
pub fn locale() -> Schema {
    one_of_or_null(Locale::ALL.iter().map(|l| l.as_str()))
}

/// The reason for a decision: 1 to [`MAX_REVIEW_REASON_CHARS`], not blank.
pub fn reason() -> Schema {
    string(false)
        .min_length(Some(1))
        .max_length(Some(MAX_REVIEW_REASON_CHARS))
        .pattern(Some(NOT_BLANK_PATTERN))
        .into()
}

/// A program's or a variant's name: 1 to `most` characters, not blank.
fn name(most: usize) -> Schema {
    string(false)
        .min_length(Some(1))
        .max_length(Some(most))
        .pattern(Some(NOT_BLANK_PATTERN))
        .into()
}

/// A program's internal name.
pub fn program_name() -> Schema {
    name(MAX_NAME_CHARS)
}

/// A variant's name.
pub fn variant_name() -> Schema {
    name(MAX_VARIANT_NAME_CHARS)
}

/// The name visitors see.
pub fn public_name() -> Schema {
    visible(MAX_PUBLIC_NAME_CHARS)
}

/// Where a program's new patients book, as [`BOOKING_URL_PATTERN`] allows.
pub fn booking_url() -> Schema {
    string(true)
        .max_length(Some(MAX_BOOKING_URL_CHARS))
        .format(Some(SchemaFormat::Custom("uri".to_owned())))
        .pattern(Some(BOOKING_URL_PATTERN))
        .into()
}

/// A variant's invitation headline.
pub fn invitation_headline() -> Schema {
    string(true).max_length(Some(MAX_HEADLINE_CHARS)).into()
}

/// A program type, one of [`ProgramType::ALL`].
pub fn program_type() -> Schema {
    one_of_or_null(ProgramType::ALL.iter().map(|t| t.as_str()))
}

/// A program status, one of [`ProgramStatus::ALL`].
pub fn program_status() -> Schema {
    one_of_or_null(ProgramStatus::ALL.iter().map(|t| t.as_str()))
}

/// A reward type, one of [`RewardType::ALL`].
pub fn reward_type() -> Schema {
    one_of_or_null(RewardType::ALL.iter().map(|t| t.as_str()))
}

/// The conditions a program targets, none blank.
pub fn target_conditions() -> Schema {
    ArrayBuilder::new()
        .items(string(false).pattern(Some(NOT_BLANK_PATTERN)))
        .into()
}

/// A count the domain holds as `u32`, at least 1.
pub fn count() -> Schema {
    integer(true, 1, u32::MAX)
}

/// Days of an expiry or a reward's validity.
pub fn program_days() -> Schema {
    integer(true, 1, MAX_EXPIRY_DAYS)
}

/// An age a program targets.
pub fn target_age() -> Schema {
    integer(true, 0, MAX_TARGET_AGE)
}

/// USPS state codes.
pub fn states() -> Schema {
    ArrayBuilder::new()
        .items(string(false).pattern(Some(r"^\s*[A-Za-z]{2}\s*$")))
        .into()
}

/// A variant's relative weight.
pub fn variant_weight() -> Schema {
    integer(true, 1, MAX_VARIANT_WEIGHT)
}

/// The referrals of a bulk operation.
pub fn bulk_ids() -> Schema {
    uuids(MAX_BULK_IDS)
}

/// What a bulk operation does, one of [`BulkOperation::ALL`].
pub fn bulk_operation() -> Schema {
    string(false)
        .enum_values(Some(BulkOperation::ALL.iter().map(|o| o.as_str())))
        .into()
}

/// The events of a batch: 1 to [`MAX_BATCH_EVENTS`].
pub fn batch_events() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::Ref(Ref::from_schema_name("BatchEvent")))
        .min_items(Some(1))
        .max_items(Some(MAX_BATCH_EVENTS))
        .into()
}

/// The event types an endpoint receives, one of [`WebhookEventType::ALL`] each.
pub fn endpoint_events() -> Schema {
    ArrayBuilder::new()
        .items(string(false).enum_values(Some(WebhookEventType::ALL.iter().map(|t| t.as_str()))))
        .min_items(Some(1))
        .max_items(Some(WebhookEventType::ALL.len()))
        .into()
}

/// An endpoint's address: a scheme and a host; whether it is allowed is the domain's
/// `webhook` rule, a documented 422.
pub fn endpoint_url() -> Schema {
    string(false)
        .pattern(Some(r"^https?://[^\s@/?#]+[^\s]*$"))
        .max_length(Some(2000))
        .into()
}

/// An endpoint's description.
pub fn endpoint_description() -> Schema {
    string(true)
        .max_length(Some(MAX_ENDPOINT_DESCRIPTION_CHARS))
        .into()
}

/// The rewards of a bulk review.
pub fn review_ids() -> Schema {
    uuids(MAX_BULK_IDS)
}
