#![allow(clippy::unwrap_used, clippy::expect_used)]
#[macro_use]
extern crate referral_store;
#[macro_use]
mod support;
mod admin;
mod analytics;
mod availability;
mod binary;
mod browser;
mod clicks;
mod contract;
mod dashboard;
mod db_roles;
mod delivery;
mod disclosure;
mod errors;
mod facts;
mod friend;
mod inference;
mod integrity;
mod journey;
mod limits;
mod locale;
mod observability;
mod pages;
mod privacy;
mod retention;
mod reversals;
mod security;
mod share;
mod staff;
mod tenancy;
mod tokens;
mod webhooks;
