//! The referral service's HTTP shell: configuration, authentication, routes, error mapping,
//! OpenAPI and background workers, over `referral-store` and `referral-domain`.

pub mod access;
pub mod app;
pub mod auth;
pub mod call;
pub mod clicks;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod contract;
pub mod delivery;
pub mod error;
pub mod export;
pub mod json_body;
pub mod jwks;
pub mod limits;
pub mod links;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod replica;
pub mod routes;
pub mod site;
pub mod startup;
pub mod state;
pub mod views;
pub mod witness;
pub mod workers;
