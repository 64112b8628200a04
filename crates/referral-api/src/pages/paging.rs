//! Pages of a long list: `?page=N` (from 1), a fixed number of rows a page, and the
//! previous / next links a person follows (they keep the list's other filters).

use referral_store::page::Page;
use serde::Serialize;

/// Rows on one page of a portal list.
pub const ROWS_PER_PAGE: i64 = 50;

/// Which page of a list to show, from a `page` query value (missing or not a number reads
/// as the first page, past the end as the last).
pub fn page_of(requested: Option<&str>) -> i64 {
    requested
        .and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// The store's page for page `number`.
pub fn rows_of(number: i64) -> Page {
    Page::new(
        Some(ROWS_PER_PAGE),
        Some((number - 1).saturating_mul(ROWS_PER_PAGE)),
    )
}

/// The links under a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paging {
    /// This page (from 1).
    pub number: i64,
    /// How many pages there are (at least 1).
    pub pages: i64,
    /// The previous page's address, if there is one.
    pub previous: Option<String>,
    /// The next page's address, if there is one.
    pub next: Option<String>,
}

impl Paging {
    /// Paging of `total` rows at page `number` of `path`, whose other query pairs are
    /// `keep` (already percent-encoded, joined with `&`, may be empty).
    pub fn new(path: &str, keep: &str, number: i64, total: i64) -> Self {
        let pages = ((total + ROWS_PER_PAGE - 1) / ROWS_PER_PAGE).max(1);
        let link = |n: i64| {
            if keep.is_empty() {
                format!("{path}?page={n}")
            } else {
                format!("{path}?{keep}&page={n}")
            }
        };
        Paging {
            number,
            pages,
            previous: (number > 1).then(|| link((number - 1).min(pages))),
            next: (number < pages).then(|| link(number + 1)),
        }
    }
}

impl Paging {
    /// The same links with the page number under another query name (a second list on
    /// the same page).
    pub fn named(mut self, param: &str) -> Self {
        let rename = |link: String| match link.rsplit_once("page=") {
            Some((head, n)) => format!("{head}{param}={n}"),
            None => link,
        };
        self.previous = self.previous.map(rename);
        self.next = self.next.map(rename);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_links_lead_to_the_neighbouring_pages_and_keep_the_filters() {
        let p = Paging::new("/x", "signal=ring", 2, 120);
        assert_eq!(p.pages, 3);
        assert_eq!(p.previous.as_deref(), Some("/x?signal=ring&page=1"));
        assert_eq!(p.next.as_deref(), Some("/x?signal=ring&page=3"));
        let first = Paging::new("/x", "", 1, 0);
        assert_eq!((first.pages, first.previous, first.next), (1, None, None));
        assert_eq!(page_of(Some("abc")), 1);
        assert_eq!(page_of(Some("-3")), 1);
        assert_eq!(rows_of(3).offset, 100);
    }
}
