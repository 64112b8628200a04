//! What the pages and emails say about the platform around the referral program: its
//! name, where its terms are, where a new patient books. Settings, read once at start-up.

/// The platform the service runs for, as people are told about it.
#[derive(Debug, Clone)]
pub struct Site {
    /// The name on every page and email (`--brand-name`).
    pub brand_name: String,
    /// The program terms (`--terms-url`); unset, the pages say to ask support.
    pub terms_url: Option<String>,
    /// The platform's booking page (`--booking-url`); a program may set its own.
    pub booking_url: Option<String>,
    /// The IANA time zone pages show times in (`--display-time-zone`); `None`: each
    /// viewer's browser's.
    pub display_time_zone: Option<String>,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            brand_name: crate::pages::copy::DEFAULT_BRAND.to_owned(),
            terms_url: None,
            booking_url: None,
            display_time_zone: None,
        }
    }
}

impl Site {
    /// The settings of `args`.
    pub fn of(args: &crate::config::ServeArgs) -> Self {
        Site {
            brand_name: args.brand_name.trim().to_owned(),
            terms_url: args.terms_url.as_ref().map(url::Url::to_string),
            booking_url: args.booking_url.as_ref().map(url::Url::to_string),
            display_time_zone: args
                .display_time_zone
                .as_deref()
                .map(str::trim)
                .filter(|z| !z.is_empty())
                .map(str::to_owned),
        }
    }

    /// Where a patient of `program` books: the program's own page, else the platform's.
    pub fn booking_url_for(&self, program_booking_url: Option<&str>) -> Option<String> {
        program_booking_url
            .map(str::to_owned)
            .or_else(|| self.booking_url.clone())
    }
}
