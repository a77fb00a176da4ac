use std::process::ExitCode;

// mimalloc: the ingest path allocates many short-lived strings; it measurably beats glibc's
// malloc there (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use candor::cli::{Cli, Command};

fn main() -> ExitCode {
    // `candor serve` has one flag per setting of the settings table (`cli::SettingFlags`).
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        Command::Serve(args) => match args.load_config() {
            Ok(config) if args.check_config => {
                print!("{}", candor::serve::describe(&config));
                println!("configuration OK");
                Ok(())
            }
            Ok(config) => actix_web::rt::System::new().block_on(candor::serve::run(config)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        Command::Migrate(args) => match args.serve.load_config() {
            Ok(config) => actix_web::rt::System::new().block_on(candor::serve::migrate(
                config,
                args.dry_run,
                args.to,
            )),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        Command::Backup { server, dir } => {
            client_runtime().and_then(|rt| rt.block_on(candor::client::backup(server, dir)))
        }
        Command::Restore(args) => match args.serve.load_config() {
            Ok(config) => {
                actix_web::rt::System::new().block_on(candor::serve::restore(config, &args.dir))
            }
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
        Command::Import { server, command } => {
            client_runtime().and_then(|rt| rt.block_on(candor::client::import(server, command)))
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
