//! The words of the pages a referred friend sees (registration, confirmation, welcome), in
//! every [`Locale`]. The portals and the patient's own pages are English only; these pages
//! are read by people the platform does not know yet, so they follow `?lang=` and the
//! browser's `Accept-Language`.

use referral_domain::Locale;
use serde::Serialize;

/// A title and an explanation, for a page that cannot go on.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Problem {
    pub title: &'static str,
    pub text: &'static str,
}

/// Every sentence of the friend's pages, and of the layout around them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Copy {
    pub lang: &'static str,
    /// The other language's code and name, for the switch link.
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub site_name: &'static str,
    pub skip_to_content: &'static str,
    pub footer: &'static str,
    pub join_title: &'static str,
    pub referred_heading: &'static str,
    pub bonus_intro: &'static str,
    pub join_program: &'static str,
    pub email: &'static str,
    pub full_name: &'static str,
    pub phone_optional: &'static str,
    pub register_button: &'static str,
    pub reward_hint: &'static str,
    pub code_label: &'static str,
    pub code: &'static str,
    pub continue_button: &'static str,
    pub share_consent_wording: &'static str,
    pub sent_title: &'static str,
    pub sent_text: &'static str,
    pub sent_hint: &'static str,
    pub confirm_title: &'static str,
    pub confirm_heading: &'static str,
    pub confirm_text: &'static str,
    pub confirm_button: &'static str,
    pub welcome_title: &'static str,
    pub welcome_heading: &'static str,
    pub welcome_done: &'static str,
    pub welcome_bonus: &'static str,
    pub welcome_withheld: &'static str,
    pub unknown_code: Problem,
    pub expired: Problem,
    pub used: Problem,
    pub incomplete_link: Problem,
    pub invalid_link: Problem,
    pub expired_link: Problem,
    pub cannot_join: Problem,
    pub not_finished: Problem,
    /// `{name}`: who invited the friend, as their invitation named them.
    pub invited_by: &'static str,
    pub terms_link: &'static str,
    pub terms_unavailable: &'static str,
    pub errors_heading: &'static str,
    pub errors_summary: &'static str,
    pub email_advice: &'static str,
    pub name_advice: &'static str,
    pub phone_advice: &'static str,
    pub other_advice: &'static str,
    /// `{seconds}`: how long until the limit resets.
    pub too_many_title: &'static str,
    pub too_many_text: &'static str,
    pub unsubscribe_title: &'static str,
    pub unsubscribe_text: &'static str,
    pub unsubscribe_button: &'static str,
    pub unsubscribed_title: &'static str,
    pub unsubscribed_text: &'static str,
    pub unsubscribe_invalid: Problem,
    /// `{email}`: the masked address the link went to.
    pub sent_to: &'static str,
    pub resend_button: &'static str,
    pub resend_hint: &'static str,
    pub book_button: &'static str,
    pub book_in_words: &'static str,
    pub bonus_how_to_use: &'static str,
    pub times_in: &'static str,
}

const ENGLISH: Copy = Copy {
    lang: "en",
    other_lang: "es",
    other_lang_name: "Español",
    site_name: "Zappy Health referrals",
    skip_to_content: "Skip to content",
    footer: "Rewards are offered under our referral program terms. Questions? Contact support.",
    join_title: "Join Zappy Health",
    referred_heading: "You've been referred by a friend!",
    bonus_intro: "Complete registration to unlock your welcome bonus:",
    join_program: "Complete registration to join",
    email: "Email",
    full_name: "Full name",
    phone_optional: "Phone (optional)",
    register_button: "Register & Claim Bonus",
    reward_hint: referral_domain::disclosure::FRIEND_REWARD_NOTICE,
    code_label: "Referral code",
    code: "Code",
    continue_button: "Continue",
    share_consent_wording: referral_domain::disclosure::SHARE_CONSENT_WORDING,
    sent_title: "Check your email",
    sent_text: "We sent a message to the address you gave. Open the link in it to finish joining Zappy Health; it works once, for 24 hours.",
    sent_hint: "Nothing arrived? Check your spam folder, or register again with the link your friend sent you.",
    confirm_title: "Confirm and join",
    confirm_heading: "Confirm and join Zappy Health",
    confirm_text: "Press the button to finish your registration.",
    confirm_button: "Confirm and join",
    welcome_title: "Welcome to Zappy Health",
    welcome_heading: "Welcome to Zappy Health!",
    welcome_done: "Your registration is complete.",
    welcome_bonus: "Your welcome bonus:",
    welcome_withheld: "We could not add a welcome bonus to your account this time.",
    unknown_code: Problem {
        title: "We don't recognise this referral code",
        text: "Check the link your friend sent you, or ask them to share it again.",
    },
    expired: Problem {
        title: "This invitation has expired",
        text: "Referral invitations are valid for a limited time. Ask your friend to send you a new one.",
    },
    used: Problem {
        title: "This invitation has already been used",
        text: "Each invitation can be used once. If it was not you, ask your friend for a new one.",
    },
    incomplete_link: Problem {
        title: "This link is not complete",
        text: "Open the link from the email again, or copy all of it into the address bar.",
    },
    invalid_link: Problem {
        title: "This link is not valid",
        text: "It may have been used already. If you joined, sign in to Zappy Health; otherwise register again with your friend's link.",
    },
    expired_link: Problem {
        title: "This link has expired",
        text: "Confirmation links work for 24 hours. Register again with your friend's link to get a new one.",
    },
    cannot_join: Problem {
        title: "This address cannot join with this invitation",
        text: "It already has an account, or belongs to the person who invited you. Sign in to Zappy Health instead.",
    },
    not_finished: Problem {
        title: "We could not finish your registration",
        text: "Register again with your friend's link.",
    },
    invited_by: "{name} invited you.",
    terms_link: "Referral program terms",
    terms_unavailable: "Ask support for the referral program terms.",
    errors_heading: "Please check the form",
    errors_summary: "Fix what is marked below, then send the form again.",
    email_advice: "Enter your email address, like name@example.com",
    name_advice: "Enter your name in 200 characters or fewer, or leave it empty",
    phone_advice: "Enter a US mobile number, like (415) 555-0199, or leave it empty",
    other_advice: "Check this answer",
    too_many_title: "Too many tries",
    too_many_text: "We received many requests from your connection in a short time. Wait {seconds} seconds, then try again.",
    unsubscribe_title: "Unsubscribe from referral messages?",
    unsubscribe_text: "Zappy Health will stop sending referral emails and texts to this address.",
    unsubscribe_button: "Unsubscribe",
    unsubscribed_title: "You are unsubscribed",
    unsubscribed_text: "Zappy Health will not send referral messages to this address again.",
    unsubscribe_invalid: Problem {
        title: "This unsubscribe link is not valid",
        text: "Open the link from the message again, or copy all of it into the address bar.",
    },
    sent_to: "We sent the link to {email}.",
    resend_button: "Send the link again",
    resend_hint: "Nothing after 10 minutes? Send it again: only the newest link works.",
    book_button: "Book your first consultation",
    book_in_words: "To book your first consultation, sign in to Zappy Health and choose Book a visit.",
    bonus_how_to_use: "It is applied to your account: you will see it when you pay for your first consultation.",
    times_in: "Times are shown in",
};

const SPANISH: Copy = Copy {
    lang: "es",
    other_lang: "en",
    other_lang_name: "English",
    site_name: "Referidos de Zappy Health",
    skip_to_content: "Saltar al contenido",
    footer: "Las recompensas se ofrecen según los términos de nuestro programa de referidos. ¿Preguntas? Comunícate con soporte.",
    join_title: "Únete a Zappy Health",
    referred_heading: "¡Un amigo te recomendó Zappy Health!",
    bonus_intro: "Completa tu registro para obtener tu bono de bienvenida:",
    join_program: "Completa tu registro para unirte a",
    email: "Correo electrónico",
    full_name: "Nombre completo",
    phone_optional: "Teléfono (opcional)",
    register_button: "Regístrate y reclama tu bono",
    reward_hint: referral_domain::disclosure::FRIEND_REWARD_NOTICE_ES,
    code_label: "Código de referido",
    code: "Código",
    continue_button: "Continuar",
    share_consent_wording: referral_domain::disclosure::SHARE_CONSENT_WORDING_ES,
    sent_title: "Revisa tu correo",
    sent_text: "Enviamos un mensaje a la dirección que nos diste. Abre el enlace que contiene para terminar de unirte a Zappy Health; funciona una sola vez, durante 24 horas.",
    sent_hint: "¿No te llegó nada? Revisa tu carpeta de spam o vuelve a registrarte con el enlace que te envió tu amigo.",
    confirm_title: "Confirma y únete",
    confirm_heading: "Confirma y únete a Zappy Health",
    confirm_text: "Pulsa el botón para terminar tu registro.",
    confirm_button: "Confirmar y unirme",
    welcome_title: "Te damos la bienvenida a Zappy Health",
    welcome_heading: "¡Te damos la bienvenida a Zappy Health!",
    welcome_done: "Tu registro está completo.",
    welcome_bonus: "Tu bono de bienvenida:",
    welcome_withheld: "Esta vez no pudimos agregar un bono de bienvenida a tu cuenta.",
    unknown_code: Problem {
        title: "No reconocemos este código de referido",
        text: "Revisa el enlace que te envió tu amigo o pídele que lo comparta de nuevo.",
    },
    expired: Problem {
        title: "Esta invitación venció",
        text: "Las invitaciones son válidas por un tiempo limitado. Pide a tu amigo que te envíe una nueva.",
    },
    used: Problem {
        title: "Esta invitación ya se usó",
        text: "Cada invitación se puede usar una sola vez. Si no fuiste tú, pide a tu amigo una nueva.",
    },
    incomplete_link: Problem {
        title: "Este enlace está incompleto",
        text: "Vuelve a abrir el enlace del correo o cópialo completo en la barra de direcciones.",
    },
    invalid_link: Problem {
        title: "Este enlace no es válido",
        text: "Es posible que ya se haya usado. Si ya te uniste, inicia sesión en Zappy Health; si no, vuelve a registrarte con el enlace de tu amigo.",
    },
    expired_link: Problem {
        title: "Este enlace venció",
        text: "Los enlaces de confirmación funcionan durante 24 horas. Vuelve a registrarte con el enlace de tu amigo para recibir uno nuevo.",
    },
    cannot_join: Problem {
        title: "Esta dirección no puede unirse con esta invitación",
        text: "Ya tiene una cuenta o pertenece a la persona que te invitó. Inicia sesión en Zappy Health.",
    },
    not_finished: Problem {
        title: "No pudimos terminar tu registro",
        text: "Vuelve a registrarte con el enlace de tu amigo.",
    },
    invited_by: "{name} te invitó.",
    terms_link: "Términos del programa de referidos",
    terms_unavailable: "Pide a soporte los términos del programa de referidos.",
    errors_heading: "Revisa el formulario",
    errors_summary: "Corrige lo que se indica abajo y vuelve a enviar el formulario.",
    email_advice: "Escribe tu correo electrónico, por ejemplo nombre@ejemplo.com",
    name_advice: "Escribe tu nombre en 200 caracteres o menos, o déjalo vacío",
    phone_advice: "Escribe un número de celular de EE. UU., por ejemplo (415) 555-0199, o déjalo vacío",
    other_advice: "Revisa esta respuesta",
    too_many_title: "Demasiados intentos",
    too_many_text: "Recibimos muchas solicitudes desde tu conexión en poco tiempo. Espera {seconds} segundos y vuelve a intentarlo.",
    unsubscribe_title: "¿Dejar de recibir mensajes de referidos?",
    unsubscribe_text: "Zappy Health dejará de enviar correos y mensajes de texto de referidos a esta dirección.",
    unsubscribe_button: "Cancelar suscripción",
    unsubscribed_title: "Cancelaste tu suscripción",
    unsubscribed_text: "Zappy Health no volverá a enviar mensajes de referidos a esta dirección.",
    unsubscribe_invalid: Problem {
        title: "Este enlace para cancelar la suscripción no es válido",
        text: "Vuelve a abrir el enlace del mensaje o cópialo completo en la barra de direcciones.",
    },
    sent_to: "Enviamos el enlace a {email}.",
    resend_button: "Enviar el enlace de nuevo",
    resend_hint: "¿Nada después de 10 minutos? Envíalo de nuevo: solo funciona el enlace más reciente.",
    book_button: "Reserva tu primera consulta",
    book_in_words: "Para reservar tu primera consulta, inicia sesión en Zappy Health y elige Reservar una consulta.",
    bonus_how_to_use: "Se aplica a tu cuenta: lo verás al pagar tu primera consulta.",
    times_in: "Las horas se muestran en",
};

/// The words of the friend's pages in `locale`.
pub fn copy(locale: Locale) -> &'static Copy {
    match locale {
        Locale::En => &ENGLISH,
        Locale::Es => &SPANISH,
    }
}

/// The words of the friend's pages in `locale`, with the brand the service runs under in
/// place of the default one (`--brand-name`).
pub fn copy_for(locale: Locale, brand: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(copy(locale)).unwrap_or_default();
    rebrand(&mut value, brand);
    value
}

fn rebrand(value: &mut serde_json::Value, brand: &str) {
    match value {
        serde_json::Value::String(text) if brand != DEFAULT_BRAND => {
            *text = text.replace(DEFAULT_BRAND, brand);
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| rebrand(v, brand)),
        _ => {}
    }
}

/// The brand the words are written with.
pub const DEFAULT_BRAND: &str = "Zappy Health";

/// A reward status in words, as the welcome page says it.
pub fn status_words(locale: Locale, status: &str) -> String {
    match (locale, status) {
        (Locale::Es, "available") => "disponible".into(),
        (Locale::Es, "pending_approval") => "pendiente de aprobación".into(),
        (Locale::Es, "held") => "en espera".into(),
        (Locale::Es, "in_review") => "en revisión".into(),
        (Locale::Es, "withheld") => "no otorgado".into(),
        _ => crate::pages::label(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use referral_domain::disclosure::share_consent_wording;

    #[test]
    fn the_consent_shown_is_the_consent_stored() {
        for locale in Locale::ALL {
            assert_eq!(
                copy(locale).share_consent_wording,
                share_consent_wording(locale)
            );
            assert_eq!(copy(locale).lang, locale.as_str());
        }
    }
}
