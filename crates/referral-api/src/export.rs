//! CSV downloads: cells a spreadsheet cannot run, and a body streamed page by page so that
//! an export of any size holds one page in memory, never the whole table.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use referral_store::page::Page;
use referral_store::DbConnection;

/// Rows read from the database for each chunk of a streamed export.
pub const EXPORT_PAGE_ROWS: i64 = 500;

/// One CSV cell: quoted when needed (RFC 4180), and a leading `=`, `+`, `-` or `@` defused
/// so that a spreadsheet never runs a user agent string (or a name) as a formula.
pub fn csv_cell(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// One CSV line (with its CRLF) of `cells`.
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Reads one page of an export's rows, each as its cells.
pub trait PageOfRows:
    Fn(&mut DbConnection, Page) -> Result<Vec<Vec<String>>, ApiError> + Send + Sync + 'static
{
}

impl<F> PageOfRows for F where
    F: Fn(&mut DbConnection, Page) -> Result<Vec<Vec<String>>, ApiError> + Send + Sync + 'static
{
}

/// A `text/csv` attachment named `filename`: `header`, then the rows `read` returns page
/// by page until a page comes back short. The caller audits the export before calling
/// this. A database error mid-way ends the body with an error (the download fails
/// visibly), never with a silently short file.
pub fn stream_csv(
    state: web::Data<AppState>,
    filename: &str,
    header: &[&str],
    total: i64,
    read: impl PageOfRows,
) -> HttpResponse {
    let read = std::sync::Arc::new(read);
    let first = web::Bytes::from(csv_line(header));
    let pages = futures_util::stream::unfold(Some(0_i64), move |offset| {
        let state = state.clone();
        let read = read.clone();
        async move {
            let offset = offset?;
            let page = Page::new(Some(EXPORT_PAGE_ROWS), Some(offset));
            let rows = state.read(move |conn| read(conn, page)).await;
            match rows {
                Ok(rows) => {
                    let count = i64::try_from(rows.len()).unwrap_or(0);
                    let body: String = rows.iter().map(|r| csv_line(r)).collect();
                    let next = (count == EXPORT_PAGE_ROWS).then_some(offset + count);
                    if count == 0 {
                        return None;
                    }
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(body)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "an export stopped: its download fails");
                    Some((
                        Err(actix_web::error::ErrorInternalServerError("export")),
                        None,
                    ))
                }
            }
        }
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, actix_web::Error>(first) }).chain(pages);
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header(("X-Total-Count", total.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_a_spreadsheet_would_run_is_defused_and_quotes_are_doubled() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_line(&["a", "@b"]), "a,'@b\r\n");
    }
}
