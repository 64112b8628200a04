//! The message templates of the seed design, rendered with handlebars (HTML-escaped for
//! email bodies; plain text for SMS).

use crate::transport::NotifyError;
use handlebars::Handlebars;
use serde_json::Value;

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Email subject (empty for SMS).
    pub subject: String,
    /// Email HTML body, or the SMS text.
    pub body: String,
}

/// The registered templates.
#[derive(Debug)]
pub struct Templates {
    registry: Handlebars<'static>,
    text: Handlebars<'static>,
}

const INVITATION_SUBJECT: &str = "{{#if referrer_name}}{{referrer_name}} thinks{{else}}A friend thinks{{/if}} you'd love Zappy Health";
// URLs are made by the service, so they go in unescaped ({{{ }}}); names and messages are
// escaped.
const INVITATION_EMAIL: &str = r#"<h2>Your friend {{#if referrer_name}}{{referrer_name}}{{else}}a patient of ours{{/if}} thinks you'd love Zappy Health!</h2>
<p>{{#if referrer_name}}{{referrer_name}}{{else}}Your friend{{/if}} has invited you to try our telehealth platform.</p>
{{#if referral_message}}<blockquote>{{referral_message}}</blockquote>{{/if}}
{{#if referee_reward_value}}<div class="reward-highlight"><h3>Your welcome bonus: {{reward_text}}</h3></div>{{/if}}
<a href="{{{register_url}}}" class="cta-button">Claim your bonus and get started</a>
<p>This offer expires in {{expiry_days}} days.</p>
<p style="font-size:small"><a href="{{{unsubscribe_url}}}">Unsubscribe</a></p>"#;
const INVITATION_SMS: &str = "{{#if referrer_name}}{{referrer_name}}{{else}}A friend{{/if}} invited you to try Zappy Health!{{#if referee_reward_value}} Get {{reward_text}}:{{/if}} {{register_url}} Stop: {{unsubscribe_url}}";
const REWARD_SUBJECT: &str = "Your referral reward is ready";
const REWARD_EMAIL: &str = r#"<h2>Congratulations! Your referral reward is {{#if pending_approval}}on its way{{else}}ready{{/if}}!</h2>
<p>Great news: someone you referred just completed their first visit.</p>
<div class="reward-earned"><h3>You've earned: {{reward_description}}</h3>
<p>{{#if pending_approval}}It will be available once approved.{{else}}Available in your account now.{{/if}}</p></div>
<p style="font-size:small"><a href="{{{unsubscribe_url}}}">Unsubscribe</a></p>"#;

impl Templates {
    /// Registers every template (strict mode: a missing variable is an error, not a blank).
    ///
    /// # Errors
    /// A template that does not compile (a bug).
    pub fn new() -> Result<Self, NotifyError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        for (name, source) in [
            ("referral_invitation.subject", INVITATION_SUBJECT),
            ("reward_earned.subject", REWARD_SUBJECT),
            ("referral_invitation.sms", INVITATION_SMS),
        ] {
            text.register_template_string(name, source)
                .map_err(|e| NotifyError::Template(e.to_string()))?;
        }
        for (name, source) in [
            ("referral_invitation.email", INVITATION_EMAIL),
            ("reward_earned.email", REWARD_EMAIL),
        ] {
            registry
                .register_template_string(name, source)
                .map_err(|e| NotifyError::Template(e.to_string()))?;
        }
        Ok(Self { registry, text })
    }

    /// Renders `template` for `channel` (`email` or `sms`) with `data`.
    ///
    /// # Errors
    /// [`NotifyError::Template`] for an unknown template or channel.
    pub fn render(
        &self,
        template: &str,
        channel: &str,
        data: &Value,
    ) -> Result<Rendered, NotifyError> {
        let data = with_reward_text(data);
        match channel {
            "email" => Ok(Rendered {
                subject: self
                    .text
                    .render(&format!("{template}.subject"), &data)
                    .map_err(|e| NotifyError::Template(e.to_string()))?,
                body: self
                    .registry
                    .render(&format!("{template}.email"), &data)
                    .map_err(|e| NotifyError::Template(e.to_string()))?,
            }),
            "sms" => Ok(Rendered {
                subject: String::new(),
                body: self
                    .text
                    .render(&format!("{template}.sms"), &data)
                    .map_err(|e| NotifyError::Template(e.to_string()))?,
            }),
            other => Err(NotifyError::Template(format!("no {other} channel"))),
        }
    }
}

/// "20% off your first consultation" or "25.00 credit": the reward in words.
fn with_reward_text(data: &Value) -> Value {
    let mut data = data.clone();
    let kind = data
        .get("referee_reward_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let value = data
        .get("referee_reward_value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let text = match kind.as_str() {
        "discount" => format!(
            "{}% off your first consultation",
            value.trim_end_matches(".00")
        ),
        "free_consultation" => "a free first consultation".to_owned(),
        "credit" => format!("${value} account credit"),
        "cash" => format!("${value}"),
        _ => String::new(),
    };
    if let Some(map) = data.as_object_mut() {
        map.insert("reward_text".into(), Value::String(text));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "referrer_name": "Alice <b>",
            "referee_reward_type": "discount",
            "referee_reward_value": "20.00",
            "expiry_days": 30,
            "register_url": "http://portal.test/register?ref=ABC",
            "unsubscribe_url": "http://api.test/api/unsubscribe/t",
            "referral_message": null,
        })
    }

    #[test]
    fn invitation_email_names_the_bonus_and_escapes_html() {
        let t = Templates::new().unwrap();
        let r = t.render("referral_invitation", "email", &data()).unwrap();
        assert_eq!(r.subject, "Alice <b> thinks you'd love Zappy Health");
        assert!(r.body.contains("20% off your first consultation"));
        assert!(r.body.contains("Alice &lt;b&gt;"), "{}", r.body);
        assert!(r.body.contains("expires in 30 days"));
        assert!(r.body.contains("http://portal.test/register?ref=ABC"));
        assert!(r.body.contains("/api/unsubscribe/t"));
    }

    #[test]
    fn invitation_sms_is_plain_text() {
        let t = Templates::new().unwrap();
        let r = t.render("referral_invitation", "sms", &data()).unwrap();
        assert_eq!(
            r.body,
            "Alice <b> invited you to try Zappy Health! Get 20% off your first consultation: http://portal.test/register?ref=ABC Stop: http://api.test/api/unsubscribe/t"
        );
    }

    #[test]
    fn reward_email_and_unknown_templates() {
        let t = Templates::new().unwrap();
        let r = t
            .render("reward_earned", "email", &json!({"reward_description": "25.00 account credit", "pending_approval": false, "unsubscribe_url": "u"}))
            .unwrap();
        assert!(r.body.contains("You've earned: 25.00 account credit"));
        assert!(r.body.contains("Available in your account now"));
        assert!(t.render("nope", "email", &json!({})).is_err());
        assert!(t.render("referral_invitation", "fax", &json!({})).is_err());
    }
}
