//! The words of the patient's own pages (dashboard, referral form, a referral, rewards)
//! and of the layout around them, in every [`Locale`]. A patient reads them in the language
//! they chose with the switch (kept in a cookie), else their browser's `Accept-Language`.
//! The referrer's pages name no care: "joins and qualifies", never a consultation.

use referral_domain::Locale;
use serde::Serialize;

/// Every sentence of the patient's pages.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PatientCopy {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub switch_label: &'static str,
    pub nav_refer: &'static str,
    pub nav_new: &'static str,
    pub nav_rewards: &'static str,
    pub sign_out: &'static str,
    pub role_patient: &'static str,
    pub dashboard_title: &'static str,
    pub dashboard_heading: &'static str,
    pub offer_heading: &'static str,
    /// `{cadence}`: the release cadence in words.
    pub offer_disclosure: &'static str,
    /// `{cadence}`.
    pub counted_at_release: &'static str,
    pub figures_label: &'static str,
    pub total_referrals: &'static str,
    pub friends_joined: &'static str,
    pub rewards_earned: &'static str,
    pub standing_label: &'static str,
    pub on_the_way: &'static str,
    pub on_the_way_hint: &'static str,
    pub next_usable_from: &'static str,
    pub available: &'static str,
    pub to_use: &'static str,
    pub used: &'static str,
    pub paid: &'static str,
    pub cash_paid_out: &'static str,
    pub link_heading: &'static str,
    pub link_hint: &'static str,
    pub your_link: &'static str,
    pub copy_link: &'static str,
    pub copied: &'static str,
    pub share: &'static str,
    pub send_by_text: &'static str,
    pub send_by_email: &'static str,
    pub send_on_whatsapp: &'static str,
    pub qr_alt: &'static str,
    /// `{clicks}`, `{joined}`.
    pub link_counts: &'static str,
    pub refer_heading: &'static str,
    pub mine_heading: &'static str,
    pub mine_hint: &'static str,
    pub col_friend: &'static str,
    pub col_status: &'static str,
    pub col_created: &'static str,
    pub none_referred: &'static str,
    pub available_heading: &'static str,
    pub use_by: &'static str,
    pub none_available: &'static str,
    pub see_all_rewards: &'static str,
    pub new_title: &'static str,
    pub new_intro: &'static str,
    pub form_share_method: &'static str,
    pub form_send_email: &'static str,
    pub form_send_sms: &'static str,
    pub form_get_link: &'static str,
    pub form_friend_email: &'static str,
    pub form_optional_for_link: &'static str,
    pub form_friend_phone: &'static str,
    pub form_friend_name: &'static str,
    pub form_invitation_language: &'static str,
    pub form_message: &'static str,
    pub form_sms_consent: &'static str,
    pub form_send: &'static str,
    pub referral_title: &'static str,
    /// `{friend}`.
    pub referral_for: &'static str,
    pub share_heading: &'static str,
    pub link_for_friend: &'static str,
    pub text_from_phone: &'static str,
    pub code_word: &'static str,
    pub valid_until: &'static str,
    pub status_heading: &'static str,
    pub status_hint: &'static str,
    pub shared_by: &'static str,
    pub not_recorded: &'static str,
    pub link_opened: &'static str,
    /// `{clicks}`.
    pub times: &'static str,
    pub timeline_heading: &'static str,
    pub via: &'static str,
    pub rewards_from_referral: &'static str,
    pub back_to_referrals: &'static str,
    pub rewards_title: &'static str,
    pub earned_so_far: &'static str,
    pub rewards_caption: &'static str,
    pub col_reward: &'static str,
    pub col_for: &'static str,
    pub col_use_by: &'static str,
    pub col_received: &'static str,
    pub no_rewards: &'static str,
    pub refer_a_friend: &'static str,
    pub to_earn_one: &'static str,
    pub your_friend: &'static str,
    /// `{friend}`.
    pub for_inviting: &'static str,
    pub welcome_bonus: &'static str,
    pub created_event: &'static str,
    pub opened_event: &'static str,
    pub joined_event: &'static str,
    pub created_email: &'static str,
    pub created_sms_device: &'static str,
    pub created_sms: &'static str,
    pub created_link: &'static str,
    /// `{limit}`.
    pub daily_limit: &'static str,
    pub next_invitation_from: &'static str,
}

const ENGLISH: PatientCopy = PatientCopy {
    lang: "en",
    other_lang: "es",
    other_lang_name: "Español",
    switch_label: "Language",
    nav_refer: "Refer friends",
    nav_new: "New referral",
    nav_rewards: "My rewards",
    sign_out: "Sign out",
    role_patient: "Patient",
    dashboard_title: "Refer friends",
    dashboard_heading: "Refer friends, earn rewards",
    offer_heading: "Your offer",
    offer_disclosure: "Friends you invite are told that you may receive a reward if they join. New rewards reach you at the {cadence} release.",
    counted_at_release: "(Counted at each {cadence} release.)",
    figures_label: "Your referral figures",
    total_referrals: "Total referrals",
    friends_joined: "Friends who told you they joined",
    rewards_earned: "Rewards earned",
    standing_label: "Where your rewards stand",
    on_the_way: "On the way",
    on_the_way_hint: "held, in review or waiting for approval",
    next_usable_from: "the next usable from",
    available: "Available",
    to_use: "to use",
    used: "Used",
    paid: "Paid",
    cash_paid_out: "cash paid out",
    link_heading: "Your personal link",
    link_hint: "Post it anywhere: a group chat, a feed, a printed card. Whoever joins through it gets their own welcome offer. I may get a reward if you join: the text below says so for you.",
    your_link: "Your link",
    copy_link: "Copy link",
    copied: "Link copied",
    share: "Share…",
    send_by_text: "Send by text message",
    send_by_email: "Send by email",
    send_on_whatsapp: "Send on WhatsApp",
    qr_alt: "QR code of your personal link",
    link_counts: "Opened {clicks} times · {joined} joined and told you. Nothing is sent by us: you share it from your own device.",
    refer_heading: "Refer a friend",
    mine_heading: "My referrals",
    mine_hint: "A friend's referral shows as joined only if they chose to tell you. We never share anything about their care.",
    col_friend: "Friend",
    col_status: "Status",
    col_created: "Created",
    none_referred: "You have not referred anyone yet.",
    available_heading: "Available rewards",
    use_by: "use by",
    none_available: "No rewards to use right now.",
    see_all_rewards: "See all my rewards",
    new_title: "Refer a friend",
    new_intro: "Invite a friend by email or text, or get a link to share yourself.",
    form_share_method: "How do you want to share?",
    form_send_email: "Send email",
    form_send_sms: "Send SMS",
    form_get_link: "Get a link to share yourself",
    form_friend_email: "Friend's email",
    form_optional_for_link: "(optional for a link)",
    form_friend_phone: "Friend's mobile number",
    form_friend_name: "Friend's name",
    form_invitation_language: "Invitation language",
    form_message: "Personal message (optional)",
    form_sms_consent: "My friend agreed to receive a text message from Zappy Health (needed to send an SMS)",
    form_send: "Send referral",
    referral_title: "Your referral",
    referral_for: "Referral for {friend}",
    share_heading: "Share link",
    link_for_friend: "Link for your friend",
    text_from_phone: "Text the invitation from your phone",
    code_word: "Code",
    valid_until: "valid until",
    status_heading: "Status",
    status_hint: "Shows as joined only if your friend chose to tell you. We never share anything about their care.",
    shared_by: "Shared by",
    not_recorded: "Not recorded",
    link_opened: "Link opened",
    times: "{clicks} times",
    timeline_heading: "Timeline",
    via: "via",
    rewards_from_referral: "Your rewards from this referral",
    back_to_referrals: "Back to my referrals",
    rewards_title: "My rewards",
    earned_so_far: "Earned so far:",
    rewards_caption: "Every reward for inviting friends, and your welcome bonus",
    col_reward: "Reward",
    col_for: "For",
    col_use_by: "Use by",
    col_received: "Received",
    no_rewards: "No rewards yet.",
    refer_a_friend: "Refer a friend",
    to_earn_one: "to earn one.",
    your_friend: "Your friend",
    for_inviting: "For inviting {friend}",
    welcome_bonus: "Welcome bonus",
    created_event: "Referral created",
    opened_event: "Link opened",
    joined_event: "Your friend joined",
    created_email: "Referral created. We are emailing your friend the invitation.",
    created_sms_device: "Referral created. Send the text from your phone with the button below.",
    created_sms: "Referral created. We are texting your friend the invitation.",
    created_link: "Referral created. Copy the link below and send it to your friend.",
    daily_limit: "You can send {limit} invitations in 24 hours, and you have sent them all. You can send the next one from the time below.",
    next_invitation_from: "Next invitation from",
};

const SPANISH: PatientCopy = PatientCopy {
    lang: "es",
    other_lang: "en",
    other_lang_name: "English",
    switch_label: "Idioma",
    nav_refer: "Recomendar",
    nav_new: "Nueva recomendación",
    nav_rewards: "Mis recompensas",
    sign_out: "Cerrar sesión",
    role_patient: "Paciente",
    dashboard_title: "Recomendar a amigos",
    dashboard_heading: "Recomienda a tus amigos y gana recompensas",
    offer_heading: "Tu oferta",
    offer_disclosure: "A los amigos que invitas se les dice que puedes recibir una recompensa si se unen. Las recompensas nuevas te llegan en la entrega {cadence}.",
    counted_at_release: "(Se cuenta en cada entrega {cadence}.)",
    figures_label: "Tus cifras de recomendaciones",
    total_referrals: "Recomendaciones en total",
    friends_joined: "Amigos que te dijeron que se unieron",
    rewards_earned: "Recompensas ganadas",
    standing_label: "Dónde están tus recompensas",
    on_the_way: "En camino",
    on_the_way_hint: "en espera, en revisión o pendientes de aprobación",
    next_usable_from: "la próxima se puede usar desde",
    available: "Disponibles",
    to_use: "para usar",
    used: "Usadas",
    paid: "Pagadas",
    cash_paid_out: "pagados en efectivo",
    link_heading: "Tu enlace personal",
    link_hint: "Publícalo donde quieras: un chat de grupo, una red social, una tarjeta impresa. Quien se una con él recibe su propia oferta de bienvenida. Puedo recibir una recompensa si te unes: el texto de abajo lo dice por ti.",
    your_link: "Tu enlace",
    copy_link: "Copiar enlace",
    copied: "Enlace copiado",
    share: "Compartir…",
    send_by_text: "Enviar por mensaje de texto",
    send_by_email: "Enviar por correo",
    send_on_whatsapp: "Enviar por WhatsApp",
    qr_alt: "Código QR de tu enlace personal",
    link_counts: "Abierto {clicks} veces · {joined} se unieron y te lo dijeron. Nosotros no enviamos nada: lo compartes desde tu propio dispositivo.",
    refer_heading: "Recomendar a un amigo",
    mine_heading: "Mis recomendaciones",
    mine_hint: "La recomendación de un amigo aparece como unida solo si decidió decírtelo. Nunca compartimos nada sobre su atención.",
    col_friend: "Amigo",
    col_status: "Estado",
    col_created: "Creada",
    none_referred: "Todavía no has recomendado a nadie.",
    available_heading: "Recompensas disponibles",
    use_by: "úsala antes del",
    none_available: "No tienes recompensas para usar ahora.",
    see_all_rewards: "Ver todas mis recompensas",
    new_title: "Recomendar a un amigo",
    new_intro: "Invita a un amigo por correo o mensaje de texto, o consigue un enlace para compartirlo tú.",
    form_share_method: "¿Cómo quieres compartir?",
    form_send_email: "Enviar correo",
    form_send_sms: "Enviar SMS",
    form_get_link: "Conseguir un enlace para compartirlo yo",
    form_friend_email: "Correo de tu amigo",
    form_optional_for_link: "(opcional para un enlace)",
    form_friend_phone: "Celular de tu amigo",
    form_friend_name: "Nombre de tu amigo",
    form_invitation_language: "Idioma de la invitación",
    form_message: "Mensaje personal (opcional)",
    form_sms_consent: "Mi amigo aceptó recibir un mensaje de texto de Zappy Health (necesario para enviar un SMS)",
    form_send: "Enviar recomendación",
    referral_title: "Tu recomendación",
    referral_for: "Recomendación para {friend}",
    share_heading: "Enlace para compartir",
    link_for_friend: "Enlace para tu amigo",
    text_from_phone: "Enviar la invitación por mensaje desde tu teléfono",
    code_word: "Código",
    valid_until: "válido hasta",
    status_heading: "Estado",
    status_hint: "Aparece como unido solo si tu amigo decidió decírtelo. Nunca compartimos nada sobre su atención.",
    shared_by: "Compartida por",
    not_recorded: "Sin registrar",
    link_opened: "Enlace abierto",
    times: "{clicks} veces",
    timeline_heading: "Historial",
    via: "por",
    rewards_from_referral: "Tus recompensas de esta recomendación",
    back_to_referrals: "Volver a mis recomendaciones",
    rewards_title: "Mis recompensas",
    earned_so_far: "Ganado hasta ahora:",
    rewards_caption: "Cada recompensa por invitar a amigos, y tu bono de bienvenida",
    col_reward: "Recompensa",
    col_for: "Por",
    col_use_by: "Usar antes del",
    col_received: "Recibida",
    no_rewards: "Todavía no tienes recompensas.",
    refer_a_friend: "Recomienda a un amigo",
    to_earn_one: "para ganar una.",
    your_friend: "Tu amigo",
    for_inviting: "Por invitar a {friend}",
    welcome_bonus: "Bono de bienvenida",
    created_event: "Recomendación creada",
    opened_event: "Enlace abierto",
    joined_event: "Tu amigo se unió",
    created_email: "Recomendación creada. Le estamos enviando la invitación a tu amigo por correo.",
    created_sms_device: "Recomendación creada. Envía el mensaje desde tu teléfono con el botón de abajo.",
    created_sms: "Recomendación creada. Le estamos enviando la invitación a tu amigo por mensaje de texto.",
    created_link: "Recomendación creada. Copia el enlace de abajo y envíaselo a tu amigo.",
    daily_limit: "Puedes enviar {limit} invitaciones cada 24 horas y ya las enviaste todas. Puedes enviar la próxima a partir de la hora de abajo.",
    next_invitation_from: "Próxima invitación desde",
};

/// The words of the patient's pages in `locale`.
pub fn patient_copy(locale: Locale) -> &'static PatientCopy {
    match locale {
        Locale::En => &ENGLISH,
        Locale::Es => &SPANISH,
    }
}

/// [`patient_copy`] with the brand the service runs under (`--brand-name`).
pub fn patient_copy_for(locale: Locale, brand: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(patient_copy(locale)).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        for text in map.values_mut() {
            if let serde_json::Value::String(s) = text {
                *s = s.replace(super::copy::DEFAULT_BRAND, brand);
            }
        }
    }
    value
}

/// The referral form's fields as the person sees them, in `locale` (problems name what is
/// on the screen, never `referee_email`).
pub fn referral_labels(locale: Locale) -> &'static [(&'static str, &'static str)] {
    match locale {
        Locale::En => &[
            ("referee_email", "Friend's email"),
            ("referee_phone", "Friend's mobile number"),
            ("referee_name", "Friend's name"),
            ("referral_source", "How do you want to share"),
            ("referral_message", "Personal message"),
            ("sms_consent", "My friend agreed to receive a text message"),
            ("locale", "Invitation language"),
            ("program_id", "Program"),
        ],
        Locale::Es => &[
            ("referee_email", "Correo de tu amigo"),
            ("referee_phone", "Celular de tu amigo"),
            ("referee_name", "Nombre de tu amigo"),
            ("referral_source", "Cómo quieres compartir"),
            ("referral_message", "Mensaje personal"),
            ("sms_consent", "Mi amigo aceptó recibir un mensaje de texto"),
            ("locale", "Idioma de la invitación"),
            ("program_id", "Programa"),
        ],
    }
}

/// What to enter in each field of the referral form, in Spanish (the API's messages are
/// English): the advice a Spanish-speaking referrer reads beside the field.
fn spanish_advice(field: &str) -> &'static str {
    match field {
        "referee_email" => "Escribe el correo de tu amigo, como nombre@ejemplo.com.",
        "referee_phone" => "Escribe un celular de EE. UU., como (415) 555-0199.",
        "referee_name" => "Escribe el nombre de tu amigo, más corto.",
        "referral_message" => "Escribe un mensaje más corto.",
        "sms_consent" => "Marca la casilla solo si tu amigo aceptó recibir un mensaje de texto.",
        "locale" => "Elige un idioma de la lista.",
        "referral_source" => "Elige cómo quieres compartir.",
        _ => "Revisa este dato.",
    }
}

/// A refused referral form's problems (from `form_problems_labelled`) in `locale`: in
/// Spanish, each field's advice, the heading and the summary.
pub fn localize_problems(locale: Locale, errors: &mut serde_json::Value) {
    if locale != Locale::Es {
        return;
    }
    let mut count = 0;
    if let Some(list) = errors["list"].as_array_mut() {
        for item in list.iter_mut() {
            let field = item["field"].as_str().unwrap_or_default().to_owned();
            item["message"] = serde_json::Value::String(spanish_advice(&field).to_owned());
            count += 1;
        }
    }
    if let Some(map) = errors["field"].as_object_mut() {
        for (field, message) in map.iter_mut() {
            *message = serde_json::Value::String(spanish_advice(field).to_owned());
        }
    }
    errors["heading"] = serde_json::Value::String("Revisa el formulario".to_owned());
    match count {
        0 => {}
        1 => {
            errors["summary"] =
                "Corrige el problema de abajo y vuelve a enviar el formulario.".into();
        }
        n => {
            errors["summary"] =
                format!("Corrige los {n} problemas de abajo y vuelve a enviar el formulario.")
                    .into();
        }
    }
}

/// "1 more friend who joins and qualifies earns your next reward", in `locale`.
pub fn progress_words(locale: Locale, friends: u32) -> String {
    match (locale, friends) {
        (Locale::En, 1) => "1 more friend who joins and qualifies earns your next reward.".into(),
        (Locale::En, n) => format!("{n} more friends who join and qualify earn your next reward."),
        (Locale::Es, 1) => "1 amigo más que se una y califique te da tu próxima recompensa.".into(),
        (Locale::Es, n) => {
            format!("{n} amigos más que se unan y califiquen te dan tu próxima recompensa.")
        }
    }
}

/// The release cadence as the offer's sentence says it ("weekly" / "semanal").
pub fn cadence_words(locale: Locale, cadence: referral_domain::RewardCadence) -> &'static str {
    use referral_domain::RewardCadence as C;
    match (locale, cadence) {
        (Locale::En, c) => c.as_str(),
        (Locale::Es, C::Weekly) => "semanal",
        (Locale::Es, C::Monthly) => "mensual",
        (Locale::Es, C::Daily) => "diaria",
    }
}

/// A referral or reward status on the patient's pages, in `locale`.
pub fn status_label(locale: Locale, status: &str) -> String {
    match (locale, status) {
        (Locale::Es, "invited") => "Invitado".into(),
        (Locale::Es, "joined") => "Se unió".into(),
        (Locale::Es, "expired") => "Vencida".into(),
        (Locale::Es, "available") => "Disponible".into(),
        (Locale::Es, "used") => "Usada".into(),
        (Locale::Es, "cancelled") => "Cancelada".into(),
        (Locale::Es, "pending_approval") => "Pendiente de aprobación".into(),
        (Locale::Es, "held") => "En espera".into(),
        (Locale::Es, "in_review") => "En revisión".into(),
        (Locale::Es, "email") => "Correo".into(),
        (Locale::Es, "sms") => "SMS".into(),
        (Locale::Es, "direct_link") => "Enlace".into(),
        _ => crate::pages::label(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_sentence_and_names_no_care() {
        for locale in Locale::ALL {
            let words = serde_json::to_value(patient_copy(locale)).unwrap();
            for (key, text) in words.as_object().unwrap() {
                let text = text.as_str().unwrap();
                assert!(!text.is_empty(), "{key}");
                let lower = text.to_lowercase();
                for care in ["consult", "prescription", "receta", "diagnos"] {
                    assert!(!lower.contains(care), "{locale:?} {key}: {text}");
                }
            }
            assert_eq!(patient_copy(locale).lang, locale.as_str());
            for n in [1, 3] {
                assert!(!progress_words(locale, n).is_empty());
            }
        }
    }
}
