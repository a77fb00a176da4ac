use std::process::ExitCode;

// mimalloc: the ingest path allocates many short-lived strings; it measurably beats glibc's
// malloc there (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches};

use candor::cli::{Cli, Command};
use candor::config::{Config, Layers};

fn main() -> ExitCode {
    // `candor serve --help` lists every setting from the one settings table.
    let matches = Cli::command()
        .mut_subcommand("serve", |serve| {
            serve.after_long_help(candor::config::settings_help())
        })
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging();
    let outcome = match cli.command {
        Command::Serve(args) => match load_config(&args) {
            Ok(config) => actix_web::rt::System::new().block_on(candor::serve::run(config)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        Command::Sites { server, command } => {
            client_runtime().and_then(|rt| rt.block_on(candor::client::sites(server, command)))
        }
        Command::Tokens { server, command } => {
            client_runtime().and_then(|rt| rt.block_on(candor::client::tokens(server, command)))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn load_config(args: &candor::cli::ServeArgs) -> Result<Config, candor::config::ConfigError> {
    let mut layers = Layers::load(args.config.as_deref())?;
    layers.flag("listen", args.listen.clone());
    layers.flag("data-dir", args.data_dir.clone());
    layers.flag("clickhouse-url", args.clickhouse_url.clone());
    layers.flag("clickhouse-cluster", args.clickhouse_cluster.clone());
    layers.flag("libchdb", args.libchdb.clone());
    layers.flag("sites", args.sites.clone());
    Config::from_layers(&layers)
}

/// Logs go to stderr; `CANDOR_LOG` (or `RUST_LOG`) sets the filter, `CANDOR_LOG_FORMAT=json`
/// switches to one JSON object per line.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CANDOR_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    if std::env::var("CANDOR_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
