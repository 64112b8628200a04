//! `GET /metrics`: what an operator watches, in the Prometheus text format.
//!
//! Requests by route pattern (an unmatched path is the one label `unmatched`, never the
//! raw path), method and status, with latency histograms (buckets, so that instances add
//! up); the pool's size, connections in use and check-out waits; 429s by route; and, read
//! from the database at scrape time (`referral_store::observe`), the outbox's waiting
//! messages and oldest age by kind, rewards by type and status, referrals by status
//! (conversions are `converted`), fraud signals by signal, and the audit chain's seals.
//!
//! No label holds a person's data or a referral code: every label is a route pattern, a
//! method, a status, or a value of a closed set the code names. Served only with
//! `--metrics-token` (a bearer token) or on `--metrics-bind` (a separate listener); without
//! either the route answers 404, so that nothing is exposed by default.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The labels of one request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (`/api/referral-programs/{id}`), or `unmatched`.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The response status.
    pub status: u16,
}

/// A route pattern, for counters of one route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern, or `unmatched`.
    pub route: String,
}

/// One value of a closed set (a message kind, a status).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The value.
    pub kind: String,
}

/// A reward's type and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RewardLabels {
    /// `credit`, `discount`, `cash`, ...
    pub reward_type: String,
    /// `pending`, `granted`, `withheld`, ...
    pub status: String,
}

type SecondsGauge = Gauge<f64, AtomicU64>;

/// The service's metrics (one set a process).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    rate_limited: Family<RouteLabels, Counter>,
    pool_wait: Histogram,
    pool_timeouts: Counter,
    pool_size: Gauge,
    pool_in_use: Gauge,
    audit_seals: Counter,
    outbox_waiting: Family<KindLabels, Gauge>,
    outbox_oldest: Family<KindLabels, SecondsGauge>,
    rewards: Family<RewardLabels, Gauge>,
    referrals: Family<KindLabels, Gauge>,
    signals: Family<KindLabels, Gauge>,
    replica_lag: SecondsGauge,
    reads_on_replica: Gauge,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("referral");
        let requests = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Requests by route pattern, method and status, and how long they took",
            requests.clone(),
        );
        let rate_limited = Family::<RouteLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429, by route",
            rate_limited.clone(),
        );
        let pool_wait = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "db_pool_wait_seconds",
            "How long a check-out waited for a database connection",
            pool_wait.clone(),
        );
        let pool_timeouts = Counter::default();
        registry.register(
            "db_pool_timeouts",
            "Check-outs that gave up waiting (answered 503 unavailable)",
            pool_timeouts.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Connections the pool holds",
            pool_size.clone(),
        );
        let pool_in_use = Gauge::default();
        registry.register(
            "db_pool_in_use",
            "Connections checked out",
            pool_in_use.clone(),
        );
        let audit_seals = Counter::default();
        registry.register(
            "audit_seals",
            "Seals of the audit chain made by this process",
            audit_seals.clone(),
        );
        let outbox_waiting = Family::<KindLabels, Gauge>::default();
        registry.register(
            "outbox_waiting",
            "Messages queued or being sent, by kind (the database's figure: take the max across instances)",
            outbox_waiting.clone(),
        );
        let outbox_oldest = Family::<KindLabels, SecondsGauge>::default();
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest waiting message, by kind (0 when none waits)",
            outbox_oldest.clone(),
        );
        let rewards = Family::<RewardLabels, Gauge>::default();
        registry.register(
            "rewards",
            "Rewards by type and status (withheld ones say why in the audit)",
            rewards.clone(),
        );
        let referrals = Family::<KindLabels, Gauge>::default();
        registry.register(
            "referrals",
            "Referrals by status (`converted`: conversions)",
            referrals.clone(),
        );
        let signals = Family::<KindLabels, Gauge>::default();
        registry.register(
            "fraud_signals",
            "Fraud signals raised, by signal",
            signals.clone(),
        );
        let replica_lag = SecondsGauge::default();
        registry.register(
            "replica_lag_seconds",
            "The read replica's last measured lag (-1: unreachable; absent without a replica)",
            replica_lag.clone(),
        );
        let reads_on_replica = Gauge::default();
        registry.register(
            "reads_on_replica",
            "1 while reads that may use the replica use it, 0 while they use the primary",
            reads_on_replica.clone(),
        );
        Self {
            registry,
            replica_lag,
            reads_on_replica,
            requests,
            rate_limited,
            pool_wait,
            pool_timeouts,
            pool_size,
            pool_in_use,
            audit_seals,
            outbox_waiting,
            outbox_oldest,
            rewards,
            referrals,
            signals,
        }
    }

    /// Counts one answered request under its route pattern (`None`: unmatched).
    pub fn observe_request(&self, route: Option<&str>, method: &str, status: u16, seconds: f64) {
        let route = route.unwrap_or("unmatched").to_owned();
        if status == 429 {
            self.rate_limited
                .get_or_create(&RouteLabels {
                    route: route.clone(),
                })
                .inc();
        }
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method.to_owned(),
                status,
            })
            .observe(seconds);
    }

    /// Counts one seal of the audit chain.
    pub fn count_seal(&self) {
        self.audit_seals.inc();
    }

    /// The handler the pool tells of its check-outs.
    pub fn pool_events(&self) -> Box<dyn r2d2::HandleEvent> {
        Box::new(PoolEvents {
            wait: self.pool_wait.clone(),
            timeouts: self.pool_timeouts.clone(),
        })
    }

    /// The text of one scrape: the pool's `state` and the database's `snapshot` (`None`
    /// when it could not be read: those series are then left out, not zeroed).
    pub fn render(
        &self,
        pool: r2d2::State,
        snapshot: Option<&referral_store::observe::Snapshot>,
        replica: Option<&crate::replica::Replica>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> String {
        if let Some(replica) = replica {
            self.replica_lag.set(replica.lag_seconds().unwrap_or(-1.0));
            self.reads_on_replica.set(i64::from(
                replica.state() == crate::replica::ReplicaState::InUse,
            ));
        }
        self.pool_size.set(i64::from(pool.connections));
        self.pool_in_use.set(i64::from(
            pool.connections.saturating_sub(pool.idle_connections),
        ));
        self.outbox_waiting.clear();
        self.outbox_oldest.clear();
        self.rewards.clear();
        self.referrals.clear();
        self.signals.clear();
        if let Some(snapshot) = snapshot {
            for depth in &snapshot.outbox {
                let kind = KindLabels {
                    kind: depth.kind.to_owned(),
                };
                self.outbox_waiting.get_or_create(&kind).set(depth.waiting);
                let age = depth
                    .oldest
                    .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
                self.outbox_oldest.get_or_create(&kind).set(age);
            }
            for (reward_type, status, count) in &snapshot.rewards {
                self.rewards
                    .get_or_create(&RewardLabels {
                        reward_type: reward_type.clone(),
                        status: status.clone(),
                    })
                    .set(*count);
            }
            for (status, count) in &snapshot.referrals {
                self.referrals
                    .get_or_create(&KindLabels {
                        kind: status.clone(),
                    })
                    .set(*count);
            }
            for (signal, count) in &snapshot.signals {
                self.signals
                    .get_or_create(&KindLabels {
                        kind: signal.clone(),
                    })
                    .set(*count);
            }
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Feeds the pool's check-outs into the wait histogram.
#[derive(Debug)]
struct PoolEvents {
    wait: Histogram,
    timeouts: Counter,
}

impl r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        self.wait.observe(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, event: r2d2::event::TimeoutEvent) {
        self.wait.observe(event.timeout().as_secs_f64());
        self.timeouts.inc();
    }
}
