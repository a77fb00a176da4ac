//! Command-line interface: `candor serve` and thin admin clients of a running server.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "candor",
    version,
    about = "Privacy-first visitor-capture analytics collector"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the collector (HTTP API, ingestion, dashboard).
    Serve(ServeArgs),
    /// Manage sites on a running server.
    Sites {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: SitesCommand,
    },
    /// Manage API tokens on a running server.
    Tokens {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: TokensCommand,
    },
}

/// Flags of `candor serve`. Each overrides the config file and the matching `CANDOR_*` variable.
#[derive(Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [CANDOR_LISTEN, default 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory [CANDOR_DATA_DIR, default ./data].
    #[arg(long)]
    pub data_dir: Option<String>,
    /// ClickHouse server URL; unset uses embedded chDB [CANDOR_CLICKHOUSE_URL].
    #[arg(long)]
    pub clickhouse_url: Option<String>,
    /// ClickHouse cluster name for ON CLUSTER DDL [CANDOR_CLICKHOUSE_CLUSTER].
    #[arg(long)]
    pub clickhouse_cluster: Option<String>,
    /// Path of libchdb.so [CANDOR_LIBCHDB].
    #[arg(long)]
    pub libchdb: Option<String>,
    /// Comma-separated site domains to register [CANDOR_SITES].
    #[arg(long)]
    pub sites: Option<String>,
}

#[derive(Args)]
pub struct ServerArgs {
    /// URL of the running Candor server.
    #[arg(
        long,
        global = true,
        env = "CANDOR_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// Admin token.
    #[arg(long, global = true, env = "CANDOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand)]
pub enum SitesCommand {
    /// Register a site (or update its settings).
    Add {
        domain: String,
        /// IANA time zone for reports, e.g. Europe/Berlin.
        #[arg(long)]
        timezone: Option<String>,
        /// Days to keep events.
        #[arg(long)]
        retention_days: Option<u16>,
        /// Extra origin allowed to send beacons (repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
    /// List registered sites.
    List,
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; its value is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, stats:read, leads:read, leads:write or sql:read (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Limit the token to a site (repeatable).
        #[arg(long = "site")]
        sites: Vec<String>,
    },
    /// Revoke a token by id.
    Revoke { id: String },
    /// List active tokens (never their values).
    List,
}
