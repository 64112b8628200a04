//! What pages say: a person's language, times, rewards and statuses in words, and a
//! refused form's problems in the words of the form.

use super::render::PageError;
use crate::error::{ApiError, FieldProblem};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, ResponseError};
use chrono::{DateTime, Utc};
use referral_domain::{Money, RewardSpec, RewardType};
use serde_json::{json, Value};

/// The language of a page for a person: `explicit` (`?lang=`, a form's `lang`) when it
/// names one we write, else the browser's `Accept-Language`.
pub fn locale_of(request: &HttpRequest, explicit: Option<&str>) -> referral_domain::Locale {
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    referral_domain::Locale::negotiate(explicit, accept)
}

/// [`locale_of`] with the `lang` of the query string.
pub fn locale_of_query(request: &HttpRequest) -> referral_domain::Locale {
    let lang =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .ok()
            .and_then(|q| q.get("lang").cloned());
    locale_of(request, lang.as_deref())
}

/// Whether the request is a person's browser (`Accept: text/html`), to answer with a page.
pub fn wants_html(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// What a form shows when its use case refused: the summary and the message of each field.
/// Server errors are not the user's to fix: they become the error page.
///
/// # Errors
/// The error itself when it is not about the input.
pub fn form_problems(e: ApiError) -> Result<(StatusCode, Value), PageError> {
    let status = e.status_code();
    if status.is_server_error()
        || matches!(
            e,
            ApiError::Forbidden | ApiError::Unauthenticated | ApiError::NotFound
        )
    {
        return Err(e.into());
    }
    let problem = e.problem();
    let fields: Vec<FieldProblem> = problem.errors.unwrap_or_default();
    let mut by_field = serde_json::Map::new();
    for f in &fields {
        by_field
            .entry(f.field.replace('.', "_"))
            .or_insert(Value::String(f.message.clone()));
    }
    Ok((
        status,
        json!({
            "summary": problem.detail,
            "code": problem.code,
            "list": fields,
            "field": by_field,
        }),
    ))
}

/// [`form_problems`] in the words of the form: each field named by the label the person
/// sees (`labels`: field, label), in the summary and inside each message, never as
/// `referee_email`.
///
/// # Errors
/// As [`form_problems`].
pub fn form_problems_labelled(
    e: ApiError,
    labels: &[(&str, &str)],
) -> Result<(StatusCode, Value), PageError> {
    let (status, mut errors) = form_problems(e)?;
    let label_of = |field: &str| {
        labels
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, label)| *label)
    };
    let words = |text: &str| {
        // Longest names first: `referee_email` before `email`.
        let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
        sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        let mut out = text.to_owned();
        for (name, label) in sorted {
            out = out.replace(name, label);
        }
        // A sentence starts with a capital.
        let mut chars = out.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_uppercase().collect::<String>() + chars.as_str()
        })
    };
    let count = errors["list"].as_array().map_or(0, Vec::len);
    if let Some(list) = errors["list"].as_array_mut() {
        for item in list.iter_mut() {
            let field = item["field"].as_str().unwrap_or_default().to_owned();
            // The summary's link leads to the control: `target_demographics.min_age` is
            // the input `min_age`.
            let anchor = field.rsplit('.').next().unwrap_or(&field).to_owned();
            item["anchor"] = Value::String(anchor);
            let message = words(item["message"].as_str().unwrap_or_default());
            item["label"] =
                Value::String(label_of(&field).map_or_else(|| words(&field), str::to_owned));
            item["message"] = Value::String(message);
        }
    }
    if let Some(map) = errors["field"].as_object_mut() {
        for value in map.values_mut() {
            *value = Value::String(words(value.as_str().unwrap_or_default()));
        }
    }
    let summary = match count {
        0 => errors["summary"].as_str().map(words).unwrap_or_default(),
        1 => "Fix the problem below, then send the form again.".to_owned(),
        n => format!("Fix the {n} problems below, then send the form again."),
    };
    errors["summary"] = Value::String(summary);
    Ok((status, errors))
}

/// Percent-encodes `text` for a query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A time for a page: RFC 3339, which the `{{time}}` helper shows (in UTC without script;
/// the page's script then writes it in the viewer's time zone, and says which).
pub fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A reward as people read it, in the domain's one wording ([`RewardSpec::description`]):
/// `20% off a consultation`, `$25.00 account credit`.
pub fn reward_text(kind: Option<RewardType>, amount: Option<Money>) -> String {
    reward_text_in(referral_domain::Locale::En, kind, amount)
}

/// [`reward_text`] in `locale` (the friend's pages), from [`RewardSpec::description_in`].
pub fn reward_text_in(
    locale: referral_domain::Locale,
    kind: Option<RewardType>,
    amount: Option<Money>,
) -> String {
    match (kind, amount) {
        (None, _) => "No reward".to_owned(),
        (Some(reward_type), Some(value)) => {
            RewardSpec { reward_type, value }.description_in(locale)
        }
        (Some(reward_type), None) => label(reward_type.as_str()),
    }
}

/// `pending_approval` → `Pending approval`.
pub fn label(code: &str) -> String {
    let text = code.replace(['_', '-'], " ");
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}
