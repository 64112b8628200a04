//! The message templates of the seed design: handlebars files under `templates/`, compiled
//! into the binary and registered once at start in strict mode, so a variable the payload
//! lacks is an error rather than a silent blank.
//!
//! Each template exists in every [`Locale`]: English under `templates/`, Spanish under
//! `templates/es/`, with the same names and variables. A message is written in the
//! `locale` of its payload (English when it has none: rows queued before locales).
//!
//! HTML bodies escape every value except the service-made URLs (`{{{ }}}`); text bodies and
//! SMS are plain text, where markup is inert. Every message carries the FTC disclosure that
//! the referrer may receive a reward, and an unsubscribe link.
//!
//! One concept: turning a message into its text in a language. Most of its length is the
//! tests that every template renders in every language.

use crate::error::NotifyError;
use handlebars::Handlebars;
use referral_domain::{Locale, Money, RewardSpec, RewardType};
use serde_json::Value;

/// The brand a message names when its payload names none (`--brand-name`'s default).
pub const DEFAULT_BRAND: &str = "Zappy Health";

/// The most characters an SMS may have (two concatenated segments).
pub const SMS_MAX_CHARS: usize = 320;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text body.
    pub text: String,
}

/// The email templates, by name. Each has `.subject`, `.html` and `.txt` files.
pub const EMAIL_TEMPLATES: [&str; 7] = [
    "referral_invitation",
    "welcome_bonus",
    "reward_earned",
    "reward_expiring",
    "registration_verification",
    "already_registered",
    "registration_refused",
];

/// The SMS templates, by name.
pub const SMS_TEMPLATES: [&str; 1] = ["referral_invitation"];

macro_rules! template_files {
    ($dir:literal: $($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $dir, $name, ".hbs")))),+]
    };
}

/// The template sources of one locale, from the directory `$dir` under `templates/`.
macro_rules! catalog_files {
    ($dir:literal) => {
        CatalogFiles {
            // Escaped (HTML) templates.
            html: template_files!($dir:
                "partials_footer.html",
                "partials_button.html",
                "email_layout.html",
                "referral_invitation.html",
                "welcome_bonus.html",
                "reward_earned.html",
                "reward_expiring.html",
                "registration_verification.html",
                "already_registered.html",
                "registration_refused.html",
            ),
            // Plain-text templates (subjects, text bodies, SMS).
            text: template_files!($dir:
                "partials_footer.txt",
                "referral_invitation.subject",
                "referral_invitation.txt",
                "referral_invitation.sms",
                "welcome_bonus.subject",
                "welcome_bonus.txt",
                "reward_earned.subject",
                "reward_earned.txt",
                "reward_expiring.subject",
                "reward_expiring.txt",
                "registration_verification.subject",
                "registration_verification.txt",
                "already_registered.subject",
                "already_registered.txt",
                "registration_refused.subject",
                "registration_refused.txt",
            ),
        }
    };
}

/// The template sources of one locale.
struct CatalogFiles {
    html: &'static [(&'static str, &'static str)],
    text: &'static [(&'static str, &'static str)],
}

const ENGLISH: CatalogFiles = catalog_files!("");
const SPANISH: CatalogFiles = catalog_files!("es/");

fn files_of(locale: Locale) -> &'static CatalogFiles {
    match locale {
        Locale::En => &ENGLISH,
        Locale::Es => &SPANISH,
    }
}

/// The registered templates of one locale.
#[derive(Debug)]
struct Catalog {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl Catalog {
    fn new(files: &CatalogFiles) -> Result<Self, NotifyError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        register(&mut html, files.html)?;
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        register(&mut text, files.text)?;
        Ok(Self { html, text })
    }
}

/// The registered templates, in every locale.
#[derive(Debug)]
pub struct Templates {
    english: Catalog,
    spanish: Catalog,
}

fn template_error(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Template(e.to_string())
}

fn register(registry: &mut Handlebars<'static>, files: &[(&str, &str)]) -> Result<(), NotifyError> {
    for (name, source) in files {
        if let Some(partial) = name.strip_prefix("partials_") {
            registry
                .register_partial(&partial.replace('.', "_"), *source)
                .map_err(template_error)?;
        } else {
            registry
                .register_template_string(name, *source)
                .map_err(template_error)?;
        }
    }
    Ok(())
}

impl Templates {
    /// Registers every template in strict mode.
    ///
    /// # Errors
    /// A template that does not compile (a bug, caught by the tests).
    pub fn new() -> Result<Self, NotifyError> {
        Ok(Self {
            english: Catalog::new(files_of(Locale::En))?,
            spanish: Catalog::new(files_of(Locale::Es))?,
        })
    }

    /// The catalog of the payload's `locale` (English when it has none).
    fn catalog(&self, data: &Value) -> &Catalog {
        match locale_of(data) {
            Locale::En => &self.english,
            Locale::Es => &self.spanish,
        }
    }

    /// Renders the email `template` with `data`.
    ///
    /// # Errors
    /// [`NotifyError::Template`] for an unknown template or a variable `data` lacks.
    pub fn render_email(&self, template: &str, data: &Value) -> Result<RenderedEmail, NotifyError> {
        let data = with_reward_text(data);
        let catalog = self.catalog(&data);
        let subject = catalog
            .text
            .render(&format!("{template}.subject"), &data)
            .map_err(template_error)?
            .trim()
            .to_owned();
        let content = catalog
            .html
            .render(&format!("{template}.html"), &data)
            .map_err(template_error)?;
        // Every email in one layout: the brand above, the message, its footer inside.
        let layout = serde_json::json!({
            "lang": locale_of(&data).as_str(),
            "brand": data["brand"],
            "subject": subject,
            "content": content,
        });
        Ok(RenderedEmail {
            html: catalog
                .html
                .render("email_layout.html", &layout)
                .map_err(template_error)?,
            text: catalog
                .text
                .render(&format!("{template}.txt"), &data)
                .map_err(template_error)?,
            subject,
        })
    }

    /// Renders the SMS `template` with `data`, at most [`SMS_MAX_CHARS`] characters. A
    /// referrer name that makes it too long is left out ("A friend") rather than cut.
    ///
    /// # Errors
    /// [`NotifyError::Template`] for an unknown template, a missing variable, or a message
    /// too long even without the name.
    pub fn render_sms(&self, template: &str, data: &Value) -> Result<String, NotifyError> {
        let mut data = with_reward_text(data);
        let name = format!("{template}.sms");
        let body = self
            .catalog(&data)
            .text
            .render(&name, &data)
            .map_err(template_error)?;
        if body.chars().count() <= SMS_MAX_CHARS {
            return Ok(body);
        }
        if let Some(map) = data.as_object_mut() {
            map.insert("referrer_name".into(), Value::Null);
        }
        let body = self
            .catalog(&data)
            .text
            .render(&name, &data)
            .map_err(template_error)?;
        if body.chars().count() <= SMS_MAX_CHARS {
            Ok(body)
        } else {
            Err(NotifyError::Template(format!(
                "the SMS has {} characters, more than {SMS_MAX_CHARS}",
                body.chars().count()
            )))
        }
    }
}

/// The payload's `locale`; English when it has none or an unknown one.
fn locale_of(data: &Value) -> Locale {
    data.get("locale")
        .and_then(Value::as_str)
        .and_then(|tag| tag.parse().ok())
        .unwrap_or_default()
}

/// The referee's reward in words in the payload's locale (the domain's one wording,
/// [`RewardSpec::description_in`]), from `referee_reward_type` and `referee_reward_value`
/// when the payload has them.
fn with_reward_text(data: &Value) -> Value {
    let locale = locale_of(data);
    let mut data = data.clone();
    if let Some(map) = data.as_object_mut() {
        // Rows queued before brands and booking pages read as they did.
        map.entry("brand")
            .or_insert_with(|| Value::String(DEFAULT_BRAND.to_owned()));
        map.entry("booking_url").or_insert(Value::Null);
    }
    let spec = data
        .get("referee_reward_type")
        .and_then(Value::as_str)
        .and_then(|kind| kind.parse::<RewardType>().ok())
        .zip(
            data.get("referee_reward_value")
                .and_then(Value::as_str)
                .and_then(|value| Money::parse(value).ok()),
        )
        .map(|(reward_type, value)| RewardSpec { reward_type, value });
    if let (Some(spec), Some(map)) = (spec, data.as_object_mut()) {
        map.insert(
            "reward_text".into(),
            Value::String(spec.description_in(locale)),
        );
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invitation() -> Value {
        json!({
            "referrer_name": "Alice <b>",
            "referee_name": "Bob",
            "referee_reward_type": "discount",
            "referee_reward_value": "20.00",
            "expiry_days": 30,
            "register_url": "http://portal.test/register?ref=ABCDEF-GHJKMN-PQRSTV",
            "unsubscribe_url": "http://api.test/api/unsubscribe/0123456789abcdef0123456789abcdef.0123456789abcdef01234567",
            "postal_address": "100 Main St, Springfield, IL 62701",
            "referral_message": "You'll like it <script>alert(1)</script>",
        })
    }

    fn welcome() -> Value {
        json!({"patient_name": "Bob", "reward_description": "$10.00 account credit", "pending_approval": false,
               "unsubscribe_url": "http://api.test/api/unsubscribe/t", "postal_address": "100 Main St, Springfield, IL 62701"})
    }

    fn earned() -> Value {
        json!({"reward_description": "$25.00 account credit", "pending_approval": false,
               "unsubscribe_url": "http://api.test/api/unsubscribe/t", "postal_address": "100 Main St, Springfield, IL 62701"})
    }

    /// What the referrer is sent says nothing of the friend: not their name, not that they
    /// joined, nothing of care (minimum necessary). An old payload that still carries the
    /// friend's name renders the same.
    #[test]
    fn the_referrer_notice_names_no_friend_and_no_care() {
        let t = Templates::new().unwrap();
        let mut old = earned();
        old["referee_name"] = json!("Bob");
        let e = t.render_email("reward_earned", &old).unwrap();
        assert_eq!(e.subject, "You earned a referral reward");
        // What a reader sees: the words, not the layout's inline styles ("border").
        let all = format!("{} {} {}", e.subject, words_of(&e.html), e.text).to_lowercase();
        for word in ["bob", "consultation", "visit", "order", "appointment"] {
            assert!(!all.contains(word), "{word} in the reward notice");
        }
        assert!(all.contains("$25.00"));
        let expiring = t.render_email("reward_expiring", &expiring()).unwrap();
        let all = format!("{} {}", expiring.html, expiring.text).to_lowercase();
        assert!(!all.contains("visit") && !all.contains("consultation"));
    }

    /// The text of `html` outside its tags.
    fn words_of(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn expiring() -> Value {
        json!({"patient_name": "Alice", "reward_description": "$25.00 account credit", "expires_on": "2027-01-31",
               "unsubscribe_url": "http://api.test/api/unsubscribe/t", "postal_address": "100 Main St, Springfield, IL 62701"})
    }

    fn email_snapshot(e: &RenderedEmail) -> String {
        format!(
            "Subject: {}\n\n--- html ---\n{}\n--- text ---\n{}",
            e.subject, e.html, e.text
        )
    }

    #[test]
    fn invitation_email_snapshot() {
        let t = Templates::new().unwrap();
        let e = t
            .render_email("referral_invitation", &invitation())
            .unwrap();
        insta::assert_snapshot!(email_snapshot(&e));
    }

    #[test]
    fn invitation_sms_snapshot() {
        let t = Templates::new().unwrap();
        let sms = t.render_sms("referral_invitation", &invitation()).unwrap();
        assert!(sms.chars().count() <= SMS_MAX_CHARS);
        insta::assert_snapshot!(sms);
    }

    #[test]
    fn welcome_bonus_snapshot() {
        let t = Templates::new().unwrap();
        insta::assert_snapshot!(email_snapshot(
            &t.render_email("welcome_bonus", &welcome()).unwrap()
        ));
    }

    #[test]
    fn reward_earned_snapshot() {
        let t = Templates::new().unwrap();
        insta::assert_snapshot!(email_snapshot(
            &t.render_email("reward_earned", &earned()).unwrap()
        ));
    }

    #[test]
    fn reward_expiring_snapshot() {
        let t = Templates::new().unwrap();
        insta::assert_snapshot!(email_snapshot(
            &t.render_email("reward_expiring", &expiring()).unwrap()
        ));
    }

    #[test]
    fn user_text_renders_inert_in_html() {
        let t = Templates::new().unwrap();
        let e = t
            .render_email("referral_invitation", &invitation())
            .unwrap();
        assert!(!e.html.contains("<script>"), "{}", e.html);
        assert!(e.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(e.html.contains("Alice &lt;b&gt;"));
        assert_eq!(e.subject, "Alice <b> thinks you'd love Zappy Health");
    }

    /// The friend's notice (#30): the confirmation says, in the friend's language, that the
    /// person who invited them may be rewarded for their first visit or order.
    #[test]
    fn the_confirmation_tells_the_friend_the_referrer_may_be_rewarded() {
        use referral_domain::disclosure::friend_reward_notice;
        let t = Templates::new().unwrap();
        for locale in [Locale::En, Locale::Es] {
            let mut data = verification();
            data["locale"] = json!(locale.as_str());
            let e = t.render_email("registration_verification", &data).unwrap();
            let notice = friend_reward_notice(locale);
            assert!(e.text.contains(notice), "{locale:?}: {}", e.text);
            assert!(
                e.html.contains(&notice.replace('\'', "&#x27;")),
                "{locale:?}: {}",
                e.html
            );
        }
    }

    #[test]
    fn registration_emails_carry_the_link_or_say_there_is_an_account() {
        let t = Templates::new().unwrap();
        let verify = t
            .render_email(
                "registration_verification",
                &json!({"verification_token": "tok", "valid_hours": 24,
                        "verify_url": "http://portal.test/register/verify?token=tok",
                        "unsubscribe_url": "http://api.test/api/unsubscribe/t",
                        "postal_address": "100 Main St, Springfield, IL 62701"}),
            )
            .unwrap();
        assert_eq!(verify.subject, "Confirm your email to join Zappy Health");
        assert!(verify
            .html
            .contains("href=\"http://portal.test/register/verify?token=tok\""));
        assert!(verify.text.contains("24 hours"));
        let known = t
            .render_email(
                "already_registered",
                &json!({"unsubscribe_url": "http://api.test/api/unsubscribe/t",
                        "postal_address": "100 Main St, Springfield, IL 62701"}),
            )
            .unwrap();
        assert_eq!(known.subject, "You already have a Zappy Health account");
        assert!(
            !known.html.contains("http://portal.test/register"),
            "no link to use"
        );
    }

    #[test]
    fn every_message_discloses_the_reward_and_can_be_unsubscribed() {
        let t = Templates::new().unwrap();
        for (name, data) in [
            ("referral_invitation", invitation()),
            ("welcome_bonus", welcome()),
            ("reward_earned", earned()),
            ("reward_expiring", expiring()),
        ] {
            let e = t.render_email(name, &data).unwrap();
            for body in [&e.html, &e.text] {
                assert!(
                    body.contains("may give the person who referred a friend a reward"),
                    "{name}: {body}"
                );
                assert!(body.contains("/api/unsubscribe/"), "{name}: {body}");
                assert!(
                    body.contains("100 Main St, Springfield, IL 62701"),
                    "CAN-SPAM: {name}"
                );
            }
        }
        let sms = t.render_sms("referral_invitation", &invitation()).unwrap();
        assert!(sms.contains("may get a reward if you join"));
        assert!(sms.contains("/api/unsubscribe/"));
    }

    #[test]
    fn a_long_referrer_name_is_left_out_of_the_sms() {
        let t = Templates::new().unwrap();
        let mut data = invitation();
        data["referrer_name"] = json!("A".repeat(200));
        let sms = t.render_sms("referral_invitation", &data).unwrap();
        assert!(sms.chars().count() <= SMS_MAX_CHARS, "{}", sms.len());
        assert!(sms.starts_with("A friend invited you"), "{sms}");
    }

    #[test]
    fn strict_mode_refuses_missing_variables_and_unknown_templates() {
        let t = Templates::new().unwrap();
        let mut data = invitation();
        data.as_object_mut().unwrap().remove("register_url");
        assert!(matches!(
            t.render_email("referral_invitation", &data),
            Err(NotifyError::Template(_))
        ));
        assert!(t.render_email("nope", &json!({})).is_err());
        assert!(t.render_sms("reward_earned", &earned()).is_err());
    }

    #[test]
    fn an_experiment_variant_changes_the_headline() {
        let t = Templates::new().unwrap();
        let mut data = invitation();
        data["headline"] = json!("Skip the waiting room <now>");
        let e = t.render_email("referral_invitation", &data).unwrap();
        assert!(
            e.html
                .contains("<h2>Skip the waiting room &lt;now&gt;</h2>"),
            "{}",
            e.html
        );
        assert!(
            e.text.starts_with("Skip the waiting room <now>"),
            "{}",
            e.text
        );
    }

    #[test]
    fn rewards_in_words() {
        let t = Templates::new().unwrap();
        for (kind, value, words) in [
            ("discount", "20.00", "20% off a consultation"),
            ("credit", "10.00", "$10.00 account credit"),
            (
                "free_consultation",
                "50.00",
                "a free consultation (worth $50.00)",
            ),
            ("cash", "50.00", "$50.00 cash"),
        ] {
            let mut data = invitation();
            data["referee_reward_type"] = json!(kind);
            data["referee_reward_value"] = json!(value);
            let e = t.render_email("referral_invitation", &data).unwrap();
            assert!(e.html.contains(words), "{kind}: {}", e.html);
        }
    }

    /// `data` as the store queues it for a Spanish referral: the locale, and a reward
    /// description in the domain's Spanish words.
    fn in_spanish(mut data: Value) -> Value {
        data["locale"] = json!("es");
        if let Some(words) = data["reward_description"].as_str() {
            let spanish = words.replace(" account credit", " de crédito en tu cuenta");
            data["reward_description"] = json!(spanish);
        }
        if data.get("expires_on").is_some() {
            data["expires_on"] = json!("31 de enero de 2027");
        }
        data
    }

    fn verification() -> Value {
        json!({"verification_token": "tok", "valid_hours": 24,
               "verify_url": "http://portal.test/register/verify?token=tok&lang=es",
               "unsubscribe_url": "http://api.test/api/unsubscribe/t",
               "postal_address": "100 Main St, Springfield, IL 62701"})
    }

    fn footer_only() -> Value {
        json!({"unsubscribe_url": "http://api.test/api/unsubscribe/t",
               "postal_address": "100 Main St, Springfield, IL 62701"})
    }

    /// Every email template with data for it.
    fn refused() -> Value {
        let mut data = footer_only();
        data["reason"] = json!("link_full");
        data
    }

    fn every_email() -> [(&'static str, Value); 7] {
        [
            ("referral_invitation", invitation()),
            ("welcome_bonus", welcome()),
            ("reward_earned", earned()),
            ("reward_expiring", expiring()),
            ("registration_verification", verification()),
            ("already_registered", footer_only()),
            ("registration_refused", refused()),
        ]
    }

    /// Each reason of a refused registration has its own words, in both languages, and none
    /// names the link's owner.
    #[test]
    fn a_refused_registration_says_why_in_words() {
        let t = Templates::new().unwrap();
        for (reason, en, es) in [
            ("own_link", "its own owner", "su propio enlace"),
            ("already_invited", "open invitation", "invitación abierta"),
            ("link_full", "any more friends", "más amigos"),
            ("program_closed", "no longer takes", "ya no admite nuevos"),
        ] {
            let mut data = footer_only();
            data["reason"] = json!(reason);
            let e = t.render_email("registration_refused", &data).unwrap();
            assert!(
                e.text.contains(en) && e.html.contains(en),
                "{reason}: {}",
                e.text
            );
            let s = t
                .render_email("registration_refused", &in_spanish(data))
                .unwrap();
            assert!(
                s.text.contains(es) && s.html.contains(es),
                "{reason}: {}",
                s.text
            );
        }
    }

    /// Every message in Spanish, whole: the snapshots are what a reviewer reads for
    /// natural wording.
    #[test]
    fn spanish_snapshots() {
        let t = Templates::new().unwrap();
        for (name, data) in every_email() {
            let e = t.render_email(name, &in_spanish(data)).unwrap();
            insta::assert_snapshot!(format!("es_{name}"), email_snapshot(&e));
        }
        let sms = t
            .render_sms("referral_invitation", &in_spanish(invitation()))
            .unwrap();
        assert!(sms.chars().count() <= SMS_MAX_CHARS);
        insta::assert_snapshot!("es_referral_invitation_sms", sms);
    }

    /// The messages that follow joining lead to the booking page with a real button, under
    /// the service's brand, in both languages; the text part carries the same link.
    #[test]
    fn after_joining_every_message_leads_to_booking_under_the_brand() {
        let t = Templates::new().unwrap();
        for (name, data) in [
            ("welcome_bonus", welcome()),
            ("reward_earned", earned()),
            ("reward_expiring", expiring()),
        ] {
            for locale in ["en", "es"] {
                let mut data = data.clone();
                data["locale"] = json!(locale);
                data["brand"] = json!("Acme Care");
                data["booking_url"] = json!("https://book.example.com/first");
                let e = t.render_email(name, &data).unwrap();
                assert!(
                    !e.html.contains("Zappy") && !e.text.contains("Zappy"),
                    "{name}"
                );
                assert!(e.html.contains(&format!("<html lang=\"{locale}\">")));
                assert!(
                    e.html.contains(
                        "<a href=\"https://book.example.com/first\" style=\"display:inline-block"
                    ),
                    "{name} {locale}: a button"
                );
                assert!(e.text.contains("https://book.example.com/first"), "{name}");
                insta::assert_snapshot!(format!("booking_{locale}_{name}"), email_snapshot(&e));
            }
        }
    }

    /// The Spanish messages keep every promise of the English ones: the FTC disclosure,
    /// the unsubscribe link and the postal address; the reward in Spanish words; and the
    /// referrer's notice names no friend and no care.
    #[test]
    fn spanish_messages_disclose_unsubscribe_and_say_nothing_of_the_friend() {
        let t = Templates::new().unwrap();
        for (name, data) in every_email() {
            let e = t.render_email(name, &in_spanish(data)).unwrap();
            for body in [&e.html, &e.text] {
                assert!(body.contains("puede dar una recompensa"), "{name}: {body}");
                assert!(body.contains("/api/unsubscribe/"), "{name}");
                assert!(
                    body.contains("100 Main St, Springfield, IL 62701"),
                    "{name}"
                );
                assert!(!body.contains("Unsubscribe"), "{name}: English left in");
            }
        }
        let invitation = t
            .render_email("referral_invitation", &in_spanish(invitation()))
            .unwrap();
        assert!(invitation.html.contains("20% de descuento en una consulta"));
        assert_eq!(
            invitation.subject,
            "Alice <b> cree que Zappy Health te va a encantar"
        );
        let mut old = in_spanish(earned());
        old["referee_name"] = json!("Bob");
        let notice = t.render_email("reward_earned", &old).unwrap();
        let all = format!("{} {} {}", notice.subject, notice.html, notice.text).to_lowercase();
        for word in ["bob", "consulta", "visita", "pedido", "cita", "orden"] {
            assert!(!all.contains(word), "{word} in the Spanish reward notice");
        }
        let sms = t
            .render_sms(
                "referral_invitation",
                &in_spanish(invitation_with_long_name()),
            )
            .unwrap();
        assert!(sms.starts_with("Alguien que te conoce te invita"), "{sms}");
        assert!(sms.contains("puede recibir una recompensa si te unes"));
    }

    fn invitation_with_long_name() -> Value {
        let mut data = invitation();
        data["referrer_name"] = json!("A".repeat(200));
        data
    }

    #[test]
    fn a_payload_without_a_locale_is_english() {
        let t = Templates::new().unwrap();
        let mut data = invitation();
        data["locale"] = json!("xx");
        let e = t.render_email("referral_invitation", &data).unwrap();
        assert_eq!(e.subject, "Alice <b> thinks you'd love Zappy Health");
    }

    #[test]
    fn registration_email_snapshots() {
        let t = Templates::new().unwrap();
        let mut data = verification();
        data["verify_url"] = json!("http://portal.test/register/verify?token=tok");
        insta::assert_snapshot!(email_snapshot(
            &t.render_email("registration_verification", &data).unwrap()
        ));
        insta::assert_snapshot!(email_snapshot(
            &t.render_email("already_registered", &footer_only())
                .unwrap()
        ));
    }
}
