//! The audit chain's witness: every seal appends the chain head it reached, signed with the
//! data keyring, to a file outside the database. Someone who cuts rows from the end of the
//! log and rewinds the head to match leaves a chain that verifies on its own; the witness
//! still holds the later head, and `audit verify --witness DIR` names the gap.
//!
//! One line a seal: `SEQ HASH TIME KEYID MAC`. In production the directory is a mount the
//! database's administrators cannot write (docs/operations.md: object storage with object
//! lock, or a host path owned by another account).

use chrono::{DateTime, SecondsFormat, Utc};
use referral_store::audit::ChainHead;
use referral_store::keyring::{mac_hex, same_bytes, Keyring, Purpose};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file of a witness directory.
pub const WITNESS_FILE: &str = "audit-heads.log";

/// Appends signed chain heads to the witness file.
#[derive(Debug, Clone)]
pub struct Witness {
    dir: PathBuf,
    keyring: Arc<Keyring>,
}

/// A head the witness recorded, its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedHead {
    /// The head.
    pub head: ChainHead,
    /// When it was recorded.
    pub at: String,
}

fn signed_text(head: &ChainHead, at: &str) -> String {
    format!("{} {} {at}", head.seq, head.hash)
}

impl Witness {
    /// A witness writing into `dir` (created if missing).
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(dir: &Path, keyring: Arc<Keyring>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Witness {
            dir: dir.to_path_buf(),
            keyring,
        })
    }

    /// Appends `head`, signed, with the time.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn record(&self, head: &ChainHead, at: DateTime<Utc>) -> std::io::Result<()> {
        let at = at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let (key_id, key) = self.keyring.active(Purpose::AuditWitness);
        let text = signed_text(head, &at);
        let mac = mac_hex(&key, &[text.as_bytes()]);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(WITNESS_FILE))?;
        writeln!(file, "{text} {key_id} {mac}")?;
        file.sync_data()
    }
}

/// Reads the heads of a witness directory, checking each line's signature.
///
/// # Errors
/// The file cannot be read, or a line that is malformed or not signed by the keyring
/// (named by its number).
pub fn read(dir: &Path, keyring: &Keyring) -> Result<Vec<WitnessedHead>, String> {
    let path = dir.join(WITNESS_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("the witness {} cannot be read: {e}", path.display()))?;
    let mut heads = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(' ').collect();
        let bad = || format!("witness line {} is not a signed head", n + 1);
        let [seq, hash, at, key_id, mac] = fields.as_slice() else {
            return Err(bad());
        };
        let head = ChainHead {
            seq: seq.parse().map_err(|_| bad())?,
            hash: (*hash).to_owned(),
        };
        let key = keyring
            .by_id(key_id, Purpose::AuditWitness)
            .ok_or_else(|| format!("witness line {} is signed with key `{key_id}`, which the keyring does not hold", n + 1))?;
        let expected = mac_hex(&key, &[signed_text(&head, at).as_bytes()]);
        if !same_bytes(expected.as_bytes(), mac.as_bytes()) {
            return Err(format!(
                "witness line {} has a signature that does not verify (altered)",
                n + 1
            ));
        }
        heads.push(WitnessedHead {
            head,
            at: (*at).to_owned(),
        });
    }
    Ok(heads)
}

/// Checks the database's chain against the latest head the witness saw: the chain must
/// still hold that row with that hash. Returns the problem in words, if any.
///
/// # Errors
/// Database errors.
pub fn check(
    conn: &mut referral_store::DbConnection,
    heads: &[WitnessedHead],
) -> Result<Option<String>, referral_store::StoreError> {
    let Some(latest) = heads.iter().max_by_key(|h| h.head.seq) else {
        return Ok(None);
    };
    let db_head = referral_store::audit::head(conn)?;
    if db_head.seq < latest.head.seq {
        return Ok(Some(format!(
            "rows cut from the end: the witness saw row {} at {}, but the log's head is row {}",
            latest.head.seq, latest.at, db_head.seq
        )));
    }
    match referral_store::audit::hash_at(conn, latest.head.seq)? {
        Some(hash) if hash == latest.head.hash => Ok(None),
        Some(_) => Ok(Some(format!(
            "row {} is not the row the witness saw at {} (the chain was rewritten)",
            latest.head.seq, latest.at
        ))),
        None => Ok(Some(format!(
            "row {} that the witness saw at {} is missing",
            latest.head.seq, latest.at
        ))),
    }
}
