//! Command-line interface: `candor serve` and thin admin clients of a running server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::{self, Config, ConfigError, Layers};

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

const SERVE_AFTER_HELP: &str = "Each setting is read from the --config file (its key), then its \
CANDOR_* environment variable, then its flag; each overrides the one before. Every value is \
checked at start.";

#[derive(Subcommand)]
pub enum Command {
    /// Run the collector (HTTP API, ingestion, dashboard).
    #[command(after_help = SERVE_AFTER_HELP)]
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
    /// Bring the store's schema up to date (what `serve` does at start), or with --dry-run
    /// show which migrations would run. Takes `serve`'s settings (the store to open).
    Migrate(MigrateArgs),
    /// Have the running server write a consistent backup (store, server key, manifest) into
    /// a new directory on its machine.
    Backup {
        #[command(flatten)]
        server: ServerArgs,
        /// An absolute path on the server's machine that does not exist yet.
        dir: String,
    },
    /// Restore a backup into an empty data directory (the server stopped). Takes `serve`'s
    /// settings (the data directory, the engine).
    Restore(RestoreArgs),
    /// Import history into a site of a running server, list and delete imports.
    Import {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Upload Plausible's CSV export: the zip it produces, or a directory of its
    /// imported_*.csv files. Importing the same export again changes nothing.
    Plausible {
        /// The export zip, or a directory holding its imported_*.csv files.
        path: PathBuf,
        /// The site (domain) to import into.
        #[arg(long)]
        site: String,
    },
    /// List a site's imports.
    List {
        #[arg(long)]
        site: String,
    },
    /// Delete an import (by the id `list` shows) and its data.
    Delete {
        id: String,
        #[arg(long)]
        site: String,
    },
}

/// Flags of `candor serve`: the config file, and one flag per setting of the settings table
/// (`config::ALL`). A flag overrides the matching `CANDOR_*` variable, which overrides the file.
#[derive(Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file; its keys are the settings' "key:" below.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// Check the configuration and exit: every value is validated and the effective
    /// settings are printed (secrets hidden); nothing is opened or started.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The backup directory (`candor backup` wrote it).
    pub dir: PathBuf,
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// List the migrations that would run, with their statements, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after this migration version (a staged upgrade).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u32>,
}

impl ServeArgs {
    /// The configuration: the file (when given), the `CANDOR_*` variables, then these flags.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut layers = Layers::load(self.config.as_deref())?;
        self.settings.apply(&mut layers);
        Config::from_layers(&layers)
    }
}

/// The settings given as flags, by flag name. Its `clap` arguments are generated from
/// `config::ALL`, so every setting is a flag and none is declared twice.
#[derive(Clone, Debug, Default)]
pub struct SettingFlags(pub BTreeMap<&'static str, String>);

impl SettingFlags {
    /// Puts every given flag into the flag layer.
    pub fn apply(&self, layers: &mut Layers) {
        for (flag, value) in &self.0 {
            layers.flag(flag, Some(value.clone()));
        }
    }
}

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = SettingFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for s in config::ALL {
            if let Some(v) = matches.get_one::<String>(s.flag) {
                self.0.insert(s.flag, v.clone());
            }
        }
        Ok(())
    }
}

impl Args for SettingFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(config::ALL.iter().map(|s| {
            // No clap `env` or `default_value`: `config::Layers` reads the variables and the
            // defaults, so that an error names the layer the value came from.
            let arg = Arg::new(s.flag)
                .long(s.flag)
                .value_name(s.value_name)
                .value_parser(clap::value_parser!(String))
                .action(ArgAction::Set)
                .help(s.flag_help());
            if s.is_bool() {
                arg.num_args(0..=1).default_missing_value("true")
            } else {
                arg
            }
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
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
