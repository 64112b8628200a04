//! Clicks in batches.
//!
//! - **Counting.** A click request writes only its interaction row (one statement): the rows
//!   are the count, read with the referral ([`referrals::click_tallies`]). What the referral
//!   itself keeps, when it was first clicked (for the funnel), is marked here every few
//!   hundred milliseconds for the codes clicked meanwhile; codes clicked before cost a lookup
//!   and no write, and a code shared by thousands of people at once does not make their
//!   clicks queue on one row.
//! - **Rows on SQLite.** SQLite lets one writer in at a time, and sixteen clients each taking
//!   the write lock for one row spend their time in SQLite's busy loop. On SQLite one thread
//!   takes the clicks waiting and commits them together ([`ClickWriter`]); each request
//!   still answers only after its own row is committed.
//! - **Rows on PostgreSQL.** Each HTTP worker has a pool of asynchronous connections of its
//!   own ([`WorkerClickPool`], [`referral_store::pg_clicks`]): a click's insert goes out
//!   from the worker's thread and its answer comes back to it, without the two thread
//!   hand-offs of the blocking pool that every other query uses.

use chrono::{DateTime, Utc};
use referral_domain::ReferralCode;
use referral_store::pg_clicks::PgClickPool;
use referral_store::referrals::{self, ClickToRecord, ClickedCode};
use referral_store::{Pool, StoreError};
use std::collections::HashMap;
use std::sync::{mpsc, Mutex};
use tokio::sync::oneshot;

/// Codes clicked since the last flush, each with its earliest click meanwhile.
#[derive(Debug, Default)]
pub struct ClickedCodes {
    pending: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Held for a whole flush, so that a flush returns only after every click seen before it
    /// is marked, also when another flush had already taken it.
    flushing: Mutex<()>,
}

impl ClickedCodes {
    /// Notes a click on `code` at `at`.
    pub fn add(&self, code: String, at: DateTime<Utc>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = pending.entry(code).or_insert(at);
        *first = (*first).min(at);
    }

    /// Marks the referrals behind the codes clicked since the last flush as clicked
    /// ([`referrals::mark_clicked`]); returns how many codes. On failure the codes are kept
    /// for the next flush.
    ///
    /// # Errors
    /// Store errors.
    pub fn flush(&self, pool: &Pool) -> Result<usize, StoreError> {
        let _one_at_a_time = self
            .flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken: Vec<ClickedCode> = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending
                .drain()
                .map(|(code, first_clicked_at)| ClickedCode {
                    code,
                    first_clicked_at,
                })
                .collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let result =
            referral_store::with_connection(pool, |conn| referrals::mark_clicked(conn, &taken));
        if let Err(e) = result {
            for clicked in taken {
                self.add(clicked.code, clicked.first_clicked_at);
            }
            return Err(e);
        }
        Ok(taken.len())
    }
}

/// How to make each HTTP worker's [`WorkerClickPool`] on PostgreSQL.
#[derive(Clone)]
pub struct ClickPoolSettings {
    /// The database URL (it may hold a password: never printed).
    url: String,
    /// Connections of each worker's pool.
    per_worker: usize,
}

impl std::fmt::Debug for ClickPoolSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickPoolSettings")
            .field("per_worker", &self.per_worker)
            .finish_non_exhaustive()
    }
}

impl ClickPoolSettings {
    /// Settings for `workers` HTTP workers sharing `connections` click connections, or
    /// `None`, with the reason logged, when the asynchronous driver cannot use `url` (it
    /// asks for TLS, which only libpq does here): clicks then go through the blocking pool.
    pub fn for_url(url: &str, connections: usize, workers: usize) -> Option<Self> {
        let per_worker = connections.div_ceil(workers.max(1)).max(1);
        match PgClickPool::new(url, per_worker) {
            Ok(_) => Some(Self {
                url: url.to_owned(),
                per_worker,
            }),
            Err(e) => {
                tracing::info!(reason = %e, "clicks are written through the blocking pool");
                None
            }
        }
    }

    /// A new pool for one HTTP worker; its connections open when its clicks first need them.
    pub fn worker_pool(&self) -> WorkerClickPool {
        match PgClickPool::new(&self.url, self.per_worker) {
            Ok(pool) => WorkerClickPool(Some(pool)),
            Err(e) => {
                // for_url took the same URL: this is not expected.
                tracing::warn!(reason = %e, "clicks are written through the blocking pool");
                WorkerClickPool(None)
            }
        }
    }
}

/// One HTTP worker's click connections on PostgreSQL (`None` on SQLite, or when the
/// asynchronous driver cannot be used).
#[derive(Debug)]
pub struct WorkerClickPool(pub Option<PgClickPool>);

/// The most clicks one SQLite transaction takes: enough for any burst of waiting requests,
/// small enough that one group holds the write lock for milliseconds, not longer.
const MAX_GROUP: usize = 256;

/// A click waiting for [`ClickWriter`]'s thread, and where its answer goes.
#[derive(Debug)]
struct ClickJob {
    click: ClickToRecord,
    answer: oneshot::Sender<Result<ReferralCode, StoreError>>,
}

/// Writes click rows on SQLite in groups, on a thread of its own. See the module's head.
#[derive(Debug)]
pub struct ClickWriter {
    jobs: mpsc::Sender<ClickJob>,
}

impl ClickWriter {
    /// Starts the writer's thread; it ends when the writer is dropped.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(pool: Pool) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-clicks".into())
            .spawn(move || write_groups(&pool, &queue))?;
        Ok(Self { jobs })
    }

    /// Records `click` with whatever other clicks are waiting, and answers once its row is
    /// committed: its code, or [`StoreError::NotFound`] for an unknown code.
    ///
    /// # Errors
    /// As [`referrals::record_click`]; [`StoreError::Unavailable`] if the writer has stopped.
    pub async fn record(&self, click: ClickToRecord) -> Result<ReferralCode, StoreError> {
        let stopped = || StoreError::Unavailable("the click writer has stopped".into());
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(ClickJob { click, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The writer's loop: waits for a click, takes every other click waiting (up to
/// [`MAX_GROUP`]) and commits them in one transaction.
fn write_groups(pool: &Pool, queue: &mpsc::Receiver<ClickJob>) {
    while let Ok(first) = queue.recv() {
        let (clicks, answers): (Vec<_>, Vec<_>) = std::iter::once(first)
            .chain(queue.try_iter().take(MAX_GROUP - 1))
            .map(|job| (job.click, job.answer))
            .unzip();
        match referral_store::with_connection(pool, |conn| referrals::record_clicks(conn, &clicks))
        {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    // A request that went away no longer waits for its answer.
                    let _ = answer.send(result);
                }
            }
            Err(StoreError::Unavailable(why)) => {
                // No connection: trying each click again would wait the pool's timeout each.
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
            Err(e) => {
                // Nothing of the group was written. One at a time, so that each click gets
                // its own outcome and one that cannot be written does not fail the others.
                tracing::warn!(error = %e, clicks = clicks.len(), "a group of clicks failed; writing them one by one");
                for (answer, click) in answers.into_iter().zip(clicks) {
                    let result = referral_store::with_connection(pool, |conn| {
                        referrals::record_click(conn, &click.code, &click.origin, click.at)
                    });
                    let _ = answer.send(result);
                }
            }
        }
    }
}
