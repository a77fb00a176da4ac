//! Candor: a privacy-first visitor-capture analytics collector.
//!
//! Data flows one way: HTTP → ingest → pipeline → store; reports and leads read from the store.

pub mod analyst;
pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod enrich;
pub mod http;
pub mod imports;
pub mod ingest;
pub mod leads;
pub mod mail;
pub mod metrics;
pub mod migrations;
pub mod path_pattern;
pub mod pipeline;
pub mod privacy;
pub mod reports;
pub mod serve;
pub mod site_domain;
pub mod sites;
pub mod store;
