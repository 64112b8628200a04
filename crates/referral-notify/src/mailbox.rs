//! The development transport: each message becomes a file in a directory (`.eml`,
//! `.sms.txt`, `.payout.json`) named by its outbox id, so `cargo run` shows what would be
//! sent without any provider account. Files are written whole (temporary file, then
//! rename), so a reader never sees half a message and a retry overwrites the same file.

use crate::error::NotifyError;
use crate::outgoing::{Delivered, Outgoing, Payout};
use crate::templates::RenderedEmail;
use std::path::Path;

fn write_whole(dir: &Path, file_name: &str, contents: &[u8]) -> Result<Delivered, NotifyError> {
    let failed = |e: std::io::Error| NotifyError::Mailbox(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let path = dir.join(file_name);
    let partial = dir.join(format!(".{file_name}.partial"));
    std::fs::write(&partial, contents).map_err(failed)?;
    std::fs::rename(&partial, &path).map_err(failed)?;
    Ok(Delivered::Mailbox(path))
}

/// Writes an email as a MIME message with text and HTML parts.
pub(crate) fn write_email(
    dir: &Path,
    message: &Outgoing<'_>,
    email: &RenderedEmail,
) -> Result<Delivered, NotifyError> {
    let boundary = format!("referral-{}", message.message_id.simple());
    let unsubscribe = message
        .payload
        .get("unsubscribe_url")
        .and_then(serde_json::Value::as_str)
        .map(|url| {
            format!(
                "List-Unsubscribe: <{url}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            )
        })
        .unwrap_or_default();
    let eml = format!(
        "To: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@referral-api>\r\nX-Idempotency-Key: {key}\r\n{unsubscribe}MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{boundary}--\r\n",
        to = message.recipient,
        // A header holds one line: nothing stored before the rule can add another.
        subject = referral_domain::text::visible(&email.subject),
        id = message.message_id,
        key = message.idempotency_key,
        text = email.text,
        html = email.html,
    );
    write_whole(dir, &format!("{}.eml", message.message_id), eml.as_bytes())
}

/// Writes an SMS as the recipient line and the body.
pub(crate) fn write_sms(
    dir: &Path,
    message: &Outgoing<'_>,
    body: &str,
) -> Result<Delivered, NotifyError> {
    let text = format!("To: {}\n\n{body}\n", message.recipient);
    write_whole(
        dir,
        &format!("{}.sms.txt", message.message_id),
        text.as_bytes(),
    )
}

/// Writes a payout as the JSON of the transfer it would request.
pub(crate) fn write_payout(
    dir: &Path,
    message: &Outgoing<'_>,
    payout: &Payout,
) -> Result<Delivered, NotifyError> {
    let json = serde_json::json!({
        "idempotency_key": message.message_id,
        "patient_id": message.recipient,
        "amount_cents": payout.cents,
        "currency": payout.currency,
        "reward_id": payout.reward_id,
        "destination": payout.destination,
    });
    let text =
        serde_json::to_string_pretty(&json).map_err(|e| NotifyError::Mailbox(e.to_string()))?;
    write_whole(
        dir,
        &format!("{}.payout.json", message.message_id),
        text.as_bytes(),
    )
}
