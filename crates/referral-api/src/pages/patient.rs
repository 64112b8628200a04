//! The patient portal: `/patient/referrals` (dashboard with the refer-a-friend form),
//! `/new`, `/{id}` (one referral's timeline) and `/rewards`.

use crate::call::Call;
use crate::error::ApiError;
use crate::pages::patient_copy::{
    cadence_words, localize_problems, patient_copy, patient_copy_for, progress_words,
    referral_labels, status_label, PatientCopy,
};
use crate::pages::session::Visit;
use crate::pages::{form_problems_labelled, render, reward_text_in, see_other, when, PageError};
use referral_domain::{Locale, RewardStatus};

use crate::routes::patients::{create_referral, my_referral, rewards_of};
use crate::routes::ListQuery;
use crate::state::{AppState, Origin};
use crate::views::{CreateReferralRequest, MyReferralView, MyRewardView};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

/// The refer-a-friend form.
#[derive(Debug, Default, Deserialize)]
pub struct ReferralForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    referee_email: String,
    #[serde(default)]
    referee_phone: String,
    #[serde(default)]
    referee_name: String,
    /// `email`, `sms` or `link`.
    #[serde(default)]
    share_method: String,
    #[serde(default)]
    referral_message: String,
    /// A ticked box posts `on`.
    sms_consent: Option<String>,
    /// The invitation's language: `en` or `es`.
    #[serde(default)]
    locale: String,
}

impl ReferralForm {
    fn values(&self) -> Value {
        json!({
            "referee_email": self.referee_email,
            "referee_phone": self.referee_phone,
            "referee_name": self.referee_name,
            "share_method": self.share_method,
            "referral_message": self.referral_message,
            "sms_consent": self.sms_consent.is_some(),
            "locale": self.locale,
        })
    }

    fn request(&self) -> CreateReferralRequest {
        let source = match self.share_method.as_str() {
            "link" => "direct_link",
            other => other,
        };
        CreateReferralRequest {
            referee_email: self.referee_email.trim().to_owned(),
            referee_phone: Some(self.referee_phone.clone()),
            referee_name: Some(self.referee_name.clone()),
            referral_source: Some(source.to_owned()).filter(|s| !s.is_empty()),
            referral_message: Some(self.referral_message.clone()),
            program_id: None,
            sms_consent: Some(self.sms_consent.is_some()),
            locale: Some(self.locale.clone()).filter(|l| !l.is_empty()),
        }
    }
}

fn empty_form(locale: Locale) -> Value {
    json!({
        "referee_email": "", "referee_phone": "", "referee_name": "",
        "share_method": "link", "referral_message": "", "sms_consent": false,
        // The invitation starts in the referrer's own language.
        "locale": locale.as_str(),
    })
}

/// What every patient page adds to its context: its words and the layout's, in the
/// visit's language, with the service's brand.
fn words(state: &AppState, visit: &Visit, mut page: Value) -> Value {
    let brand = &state.site.brand_name;
    if let Value::Object(map) = &mut page {
        map.insert("p".into(), patient_copy_for(visit.locale, brand));
        map.insert(
            "copy".into(),
            crate::pages::copy::copy_for(visit.locale, brand),
        );
    }
    page
}

/// `{name}` in `template` replaced by `value`.
fn fill(template: &str, name: &str, value: &str) -> String {
    template.replace(&format!("{{{name}}}"), value)
}

/// A referral row of the referrer's dashboard: what they typed, and `invited`, `joined` or
/// `expired` (minimum necessary: nothing of the friend's care, no reward per friend).
fn referral_row(locale: Locale, r: &MyReferralView) -> Value {
    let p = patient_copy(locale);
    json!({
        "id": r.id,
        "code": r.referral_code,
        "friend": r.referee_name.clone().unwrap_or_else(|| p.your_friend.to_owned()),
        "status": r.status,
        "status_label": status_label(locale, r.status.as_str()),
        "created": when(r.created_at),
    })
}

fn reward_row(locale: Locale, r: &MyRewardView) -> Value {
    let p: &PatientCopy = patient_copy(locale);
    json!({
        "id": r.id,
        "what": reward_text_in(locale, Some(r.reward_type), r.reward_amount.clone()),
        "party": match &r.friend {
            Some(friend) => fill(p.for_inviting, "friend", friend),
            None => p.welcome_bonus.to_owned(),
        },
        "status": r.status,
        "status_label": status_label(locale, r.status.as_str()),
        "explanation": r.explanation,
        "expires": r.expires_at.map(when),
        "created": when(r.created_at),
    })
}

/// Money earned: credit and cash rewards that are available or used.
fn earned(rewards: &[MyRewardView]) -> String {
    let total = rewards
        .iter()
        .filter(|r| r.reward_type.is_shown_as_money())
        .filter(|r| matches!(r.status, RewardStatus::Available | RewardStatus::Used))
        .filter_map(|r| r.reward_amount.as_ref())
        .map(referral_domain::Money::cents)
        .sum::<i64>();
    referral_domain::Money::from_cents(total).map_or_else(|_| String::new(), |m| m.usd())
}

/// The rewards grouped as the dashboard's figures show them (the domain's
/// [`referral_domain::reward::Standing`]): how many, and the credit and cash they hold.
fn standings(rewards: &[MyRewardView]) -> Value {
    use referral_domain::reward::Standing;
    let tally = |standing: Standing| {
        let mine: Vec<&MyRewardView> = rewards
            .iter()
            .filter(|r| Standing::of(r.status, r.reward_type) == standing)
            .collect();
        let cents: i64 = mine
            .iter()
            .filter(|r| r.reward_type.is_shown_as_money())
            .filter_map(|r| r.reward_amount.as_ref())
            .map(referral_domain::Money::cents)
            .sum();
        json!({
            "count": mine.len(),
            "amount": referral_domain::Money::from_cents(cents).map(|m| m.usd()).unwrap_or_default(),
            "next_date": mine.iter().filter_map(|r| r.hold_until).min().map(when),
        })
    };
    json!({
        "on_the_way": tally(Standing::OnTheWay),
        "available": tally(Standing::Available),
        "used": tally(Standing::Used),
        "paid": tally(Standing::Paid),
    })
}

fn page_of(limit: i64) -> ListQuery {
    ListQuery {
        limit: Some(limit),
        ..ListQuery::default()
    }
}

/// `GET /patient/referrals`: the dashboard.
pub async fn dashboard(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
) -> Result<HttpResponse, PageError> {
    let caller = visit.patient()?.clone();
    dashboard_page(
        &state,
        &visit,
        &caller,
        &origin,
        StatusCode::OK,
        empty_form(visit.locale),
        Value::Null,
    )
    .await
}

async fn dashboard_page(
    state: &web::Data<AppState>,
    visit: &Visit,
    caller: &crate::auth::Caller,
    origin: &Origin,
    status: StatusCode,
    form: Value,
    errors: Value,
) -> Result<HttpResponse, PageError> {
    let crate::routes::patients::Dashboard {
        referrals,
        joined,
        rewards,
        share,
        offer,
    } = crate::routes::patients::my_dashboard(&Call::new(state, caller, origin), visit.locale)
        .await?;
    let share = share.map(|link| {
        let links = referral_domain::consent::device_share_links(&link.share_url);
        json!({
            "share_url": link.share_url,
            "qr_url": link.qr_url,
            "clicks": link.clicks,
            "joined": link.joined,
            "sms": links.sms,
            "email": links.email,
            "whatsapp": links.whatsapp,
            "text": links.text,
        })
    });
    let available: Vec<Value> = rewards
        .items
        .iter()
        .filter(|r| r.status == RewardStatus::Available)
        .map(|r| reward_row(visit.locale, r))
        .collect();
    let locale = visit.locale;
    let p = patient_copy(locale);
    let cadence = cadence_words(locale, state.policy.referrer_cadence);
    let share = share.map(|mut link| {
        let counts = fill(
            &fill(p.link_counts, "clicks", &link["clicks"].to_string()),
            "joined",
            &link["joined"].to_string(),
        );
        link["counts"] = Value::String(counts);
        link
    });
    render(
        visit,
        status,
        "patient_dashboard",
        words(
            state,
            visit,
            json!({
                "title": p.dashboard_title,
                "nav": "patient",
                "total": referrals.total,
                "joined": joined,
                "earned": earned(&rewards.items),
                "standing": standings(&rewards.items),
                "offer": offer.as_ref().map(|o| json!({
                    "words": o.words,
                    "disclosure": fill(p.offer_disclosure, "cadence", cadence),
                    "progress": o.friends_to_next_reward.map(|n| progress_words(locale, n)),
                    "counted": fill(p.counted_at_release, "cadence", cadence),
                })),
                "referrals": referrals.items.iter().map(|r| referral_row(locale, r)).collect::<Vec<_>>(),
                "available": available,
                "share": share,
                "form": form,
                "errors": errors,
            }),
        ),
    )
}

/// `GET /patient/referrals/new`.
pub async fn new_form(state: web::Data<AppState>, visit: Visit) -> Result<HttpResponse, PageError> {
    visit.patient()?;
    let p = patient_copy(visit.locale);
    render(
        &visit,
        StatusCode::OK,
        "patient_new",
        words(
            &state,
            &visit,
            json!({"title": p.new_title, "nav": "patient", "form": empty_form(visit.locale), "errors": Value::Null}),
        ),
    )
}

/// Where the form was sent from, to show its problems there.
#[derive(Debug, Default, Deserialize)]
pub struct FromQuery {
    from: Option<String>,
}

/// `POST /patient/referrals`: creates the referral, then shows it (with its share link).
pub async fn create(
    state: web::Data<AppState>,
    visit: Visit,
    origin: Origin,
    query: web::Query<FromQuery>,
    form: web::Form<ReferralForm>,
) -> Result<HttpResponse, PageError> {
    let call = visit.patient_call()?;
    let form = form.into_inner();
    visit.check_csrf(&form.csrf)?;
    let p = patient_copy(visit.locale);
    // A link to share oneself needs nobody's address: it is the personal share link.
    if form.share_method == "link" && form.referee_email.trim().is_empty() {
        return Ok(see_other("/patient/referrals#share-panel"));
    }
    match create_referral(&call, form.request()).await {
        Ok(view) => Ok(see_other(&format!(
            "/patient/referrals/{}?created=1",
            view.id
        ))),
        Err(e) => {
            let (status, errors) = match e {
                // The daily limit: say it, and when the next invitation can go.
                ApiError::RateLimited(seconds) => {
                    let frees_at = state.now()
                        + chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 2));
                    let errors = json!({
                        "summary": fill(p.daily_limit, "limit", &state.patient_daily_referrals.to_string()),
                        "heading": Value::Null,
                        "next_from": p.next_invitation_from,
                        "resets_at": when(frees_at),
                        "code": "rate_limited",
                        "list": [],
                        "field": {},
                    });
                    (StatusCode::TOO_MANY_REQUESTS, errors)
                }
                other => {
                    let (status, mut errors) =
                        form_problems_labelled(other, referral_labels(visit.locale))?;
                    localize_problems(visit.locale, &mut errors);
                    (status, errors)
                }
            };
            if query.from.as_deref() == Some("dashboard") {
                return dashboard_page(
                    &state,
                    &visit,
                    &call.caller,
                    &origin,
                    status,
                    form.values(),
                    errors,
                )
                .await;
            }
            render(
                &visit,
                status,
                "patient_new",
                words(
                    &state,
                    &visit,
                    json!({"title": p.new_title, "nav": "patient", "form": form.values(), "errors": errors}),
                ),
            )
        }
    }
}

/// Query of the referral page.
#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    created: Option<String>,
}

/// `GET /patient/referrals/{id}`: the referral, its share link and its timeline.
pub async fn detail(
    state: web::Data<AppState>,
    visit: Visit,
    id: web::Path<String>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, PageError> {
    let call = visit.patient_call()?;
    let detail = my_referral(&call, id.into_inner()).await?;
    let r = &detail.referral;
    let locale = visit.locale;
    let p = patient_copy(locale);
    let mut timeline =
        vec![json!({"what": p.created_event, "when": when(r.created_at), "source": Value::Null})];
    timeline.extend(detail.timeline.iter().map(|i| {
        json!({
            "what": match i.interaction_type.as_str() {
                // The store gave only what the referrer may see (clicks, and a
                // registration the friend agreed to share).
                "click" => p.opened_event.to_owned(),
                "registration" => p.joined_event.to_owned(),
                other => status_label(locale, other),
            },
            "when": when(i.created_at),
            "source": i.source.as_deref().map(|s| status_label(locale, s)),
        })
    }));
    let flash = query
        .created
        .as_ref()
        .map(|_| match r.referral_source.as_deref() {
            Some("email") => p.created_email,
            Some("sms") if r.sms_link.is_some() => p.created_sms_device,
            Some("sms") => p.created_sms,
            _ => p.created_link,
        });
    let friend = r
        .referee_name
        .clone()
        .unwrap_or_else(|| p.your_friend.to_owned());
    render(
        &visit,
        StatusCode::OK,
        "patient_referral",
        words(
            &state,
            &visit,
            json!({
                "title": p.referral_title,
                "heading": fill(p.referral_for, "friend", &friend),
                "opened": fill(p.times, "clicks", &r.clicks.to_string()),
                "nav": "patient",
                "flash": flash,
                "referral": {
                    "code": r.referral_code,
                    "share_url": r.share_url,
                    "friend": friend,
                    "status": r.status,
                    "status_label": status_label(locale, r.status.as_str()),
                    "source": r.referral_source.as_deref().map(|s| status_label(locale, s)),
                    "expires": when(r.expires_at),
                    "clicks": r.clicks,
                    "sms_link": r.sms_link,
                },
                "timeline": timeline,
                "rewards": detail.rewards.iter().map(|r| reward_row(locale, r)).collect::<Vec<_>>(),
            }),
        ),
    )
}

/// `GET /patient/referrals/rewards`.
pub async fn rewards(state: web::Data<AppState>, visit: Visit) -> Result<HttpResponse, PageError> {
    let call = visit.patient_call()?;
    let rewards = rewards_of(&call, page_of(500)).await?;
    let locale = visit.locale;
    render(
        &visit,
        StatusCode::OK,
        "patient_rewards",
        words(
            &state,
            &visit,
            json!({
                "title": patient_copy(locale).rewards_title,
                "nav": "patient",
                "earned": earned(&rewards.items),
                "rewards": rewards.items.iter().map(|r| reward_row(locale, r)).collect::<Vec<_>>(),
            }),
        ),
    )
}
