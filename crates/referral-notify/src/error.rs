//! Why a delivery failed: one error type for templates, providers and the mailbox.

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A template is missing or broken.
    #[error("template error: {0}")]
    Template(String),
    /// No provider is configured for this kind of message.
    #[error("no {0} provider is configured")]
    NotConfigured(&'static str),
    /// The provider answered with an error status.
    #[error("the provider answered {status}: {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Whether trying again later may work (429 and 5xx).
        retryable: bool,
        /// The start of the provider's answer.
        detail: String,
    },
    /// The mailbox directory could not be written.
    #[error("the mailbox could not be written: {0}")]
    Mailbox(String),
    /// The provider could not be reached.
    #[error("the provider could not be reached")]
    Network,
    /// The message lacks something it needs.
    #[error("the message is incomplete: {0}")]
    Incomplete(&'static str),
}

impl From<referral_domain::notices::UnreadableNotice> for NotifyError {
    fn from(_: referral_domain::notices::UnreadableNotice) -> Self {
        NotifyError::Incomplete("a payload that fits its template")
    }
}

impl NotifyError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Rejected { retryable, .. } => *retryable,
            NotifyError::Network | NotifyError::NotConfigured(_) | NotifyError::Mailbox(_) => true,
            NotifyError::Template(_) | NotifyError::Incomplete(_) => false,
        }
    }
}
