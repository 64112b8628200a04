//! When following a link counts as an open: a person's visit, once, and never a preview.
//!
//! Every link the service hands out (`/r/{code}`) is counted here before it leads to the
//! registration page. Link-preview fetchers (chat apps and social sites unfurling a
//! pasted link), mail scanners announcing themselves, browser prefetches and `HEAD`
//! requests are not a person opening an invitation; a reload or a back-button return
//! within [`REVISIT_MINUTES`] is the same visit.

/// Minutes within which the same browser's return to a link is the same visit.
pub const REVISIT_MINUTES: i64 = 10;

/// User-agent fragments of the common link-preview fetchers and crawlers (compared in
/// lower case). `facebookexternalhit` is also what iMessage and others send.
pub const PREVIEW_AGENTS: [&str; 17] = [
    "facebookexternalhit",
    "facebookcatalog",
    "slackbot",
    "slack-imgproxy",
    "twitterbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "pinterest",
    "googlebot",
    "bingbot",
    "applebot",
    "embedly",
    "redditbot",
    "microsoftpreview",
];

/// What the service knows of a request for a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkRequest<'a> {
    /// A `HEAD` request (checkers ask for the headers only).
    pub head: bool,
    /// The `Purpose`, `Sec-Purpose`, `X-Purpose` or `X-Moz` header, if any (browsers say
    /// `prefetch` or `preview` there).
    pub purpose: Option<&'a str>,
    /// The `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The browser already opened this link within [`REVISIT_MINUTES`] (its cookie says so).
    pub seen_recently: bool,
}

/// Why a request for a link is not counted (for tests and logs; the visitor is led on the
/// same either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnOpen {
    /// `HEAD`.
    HeadersOnly,
    /// A prefetch or preview, as the browser says.
    Prefetch,
    /// A preview fetcher or crawler, as its user agent says (or no user agent at all).
    Preview,
    /// The same browser came back within minutes.
    SameVisit,
}

/// Whether the request is a person's new open of the link; `Err` says why not.
///
/// # Errors
/// [`NotAnOpen`].
pub fn classify(request: &LinkRequest<'_>) -> Result<(), NotAnOpen> {
    if request.head {
        return Err(NotAnOpen::HeadersOnly);
    }
    if request.purpose.is_some_and(|p| {
        let p = p.to_ascii_lowercase();
        p.contains("prefetch") || p.contains("preview") || p.contains("prerender")
    }) {
        return Err(NotAnOpen::Prefetch);
    }
    let agent = request.user_agent.map(|a| a.trim().to_ascii_lowercase());
    match agent.as_deref() {
        None | Some("") => return Err(NotAnOpen::Preview),
        Some(agent) if PREVIEW_AGENTS.iter().any(|bot| agent.contains(bot)) => {
            return Err(NotAnOpen::Preview)
        }
        Some(_) => {}
    }
    if request.seen_recently {
        return Err(NotAnOpen::SameVisit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn person() -> LinkRequest<'static> {
        LinkRequest {
            user_agent: Some(FIREFOX),
            ..LinkRequest::default()
        }
    }

    #[test]
    fn a_person_counts_once_and_previews_never() {
        assert_eq!(classify(&person()), Ok(()));
        let again = LinkRequest {
            seen_recently: true,
            ..person()
        };
        assert_eq!(classify(&again), Err(NotAnOpen::SameVisit));
        let head = LinkRequest {
            head: true,
            ..person()
        };
        assert_eq!(classify(&head), Err(NotAnOpen::HeadersOnly));
        for purpose in [
            "prefetch",
            "Prefetch;anonymous-client-ip",
            "preview",
            "prerender",
        ] {
            let r = LinkRequest {
                purpose: Some(purpose),
                ..person()
            };
            assert_eq!(classify(&r), Err(NotAnOpen::Prefetch), "{purpose}");
        }
        for agent in [
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "",
        ] {
            let r = LinkRequest {
                user_agent: Some(agent),
                ..LinkRequest::default()
            };
            assert_eq!(classify(&r), Err(NotAnOpen::Preview), "{agent}");
        }
        assert_eq!(classify(&LinkRequest::default()), Err(NotAnOpen::Preview));
    }

    proptest! {
        /// Whatever else a request carries, a `HEAD`, a prefetch or a revisit never counts.
        #[test]
        fn nothing_but_a_new_visit_counts(agent in "[ -~]{0,80}", purpose in proptest::option::of("[a-z;=-]{0,20}"), head: bool, seen: bool) {
            let r = LinkRequest { head, purpose: purpose.as_deref(), user_agent: Some(&agent), seen_recently: seen };
            if classify(&r).is_ok() {
                prop_assert!(!head && !seen);
                prop_assert!(!agent.trim().is_empty());
            }
        }
    }
}
