#![allow(clippy::unwrap_used, clippy::expect_used)]
#[macro_use]
mod common;
mod audit_chain;
mod concurrency;
mod demo;
mod infrastructure;
mod partitions;
mod pg_clicks;
mod programs;
mod referrals;
mod rollups;
