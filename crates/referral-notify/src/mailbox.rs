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

/// Deletes the messages of `dir` written before `before` (as the retention of the outbox
/// erases their payloads: a development mailbox holds real addresses when a developer
/// types theirs); answers how many. A missing directory holds nothing.
///
/// # Errors
/// [`NotifyError::Mailbox`] when the directory cannot be read or a file removed.
pub fn remove_older_than(dir: &Path, before: std::time::SystemTime) -> Result<usize, NotifyError> {
    let failed = |e: std::io::Error| NotifyError::Mailbox(format!("{}: {e}", dir.display()));
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(failed(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(failed)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Only what this transport writes: a developer's own files stay.
        let ours = [".eml", ".sms.txt", ".payout.json", ".partial"]
            .iter()
            .any(|ending| name.ends_with(ending));
        let meta = entry.metadata().map_err(failed)?;
        if ours && meta.is_file() && meta.modified().map_err(failed)? < before {
            std::fs::remove_file(entry.path()).map_err(failed)?;
            removed += 1;
        }
    }
    Ok(removed)
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
