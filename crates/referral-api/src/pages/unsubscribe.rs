//! The unsubscribe pages a message's link opens: in the message's language (`?lang=`, set
//! on the link of a Spanish message; else the browser's) and in the site's style.

use crate::pages::{copy, html_response, locale_of_query, render_html};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// What the page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The button that unsubscribes.
    Confirm,
    /// Unsubscribed.
    Done,
    /// The link is not one of ours.
    InvalidLink,
}

/// The unsubscribe page for `request` at `step`, under `brand`.
pub fn page(request: &HttpRequest, brand: &str, step: Step) -> HttpResponse {
    let words = copy::copy_for(locale_of_query(request), brand);
    let (status, title, problem) = match step {
        Step::Confirm => (
            StatusCode::OK,
            words["unsubscribe_title"].clone(),
            Value::Null,
        ),
        Step::Done => (
            StatusCode::OK,
            words["unsubscribed_title"].clone(),
            Value::Null,
        ),
        Step::InvalidLink => (
            StatusCode::NOT_FOUND,
            words["unsubscribe_invalid"]["title"].clone(),
            words["unsubscribe_invalid"].clone(),
        ),
    };
    let context = json!({
        "title": title,
        "copy": words,
        "done": step == Step::Done,
        "problem": problem,
        "viewer": Value::Null,
        "csrf": "",
        "nav": "",
        "flash": Value::Null,
    });
    match render_html("unsubscribe", &context) {
        Ok(body) => html_response(status, body),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}
