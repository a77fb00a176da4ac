//! `candor serve`: open the store, migrate, register sites, make sure an admin can get in,
//! then serve HTTP until SIGTERM/SIGINT, draining in-flight requests before exit.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};

use crate::auth::Tokens;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::sites::Sites;
use crate::store::{self, migrations};

/// How often caches of sites and tokens are refreshed from the store (other collectors'
/// changes and revocations take effect within this interval).
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Everything `serve` needs, built from a config. Tests use this to run the app in process.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = store::open(&config).await?;
    let topology = migrations::Topology {
        cluster: config.clickhouse.cluster.clone(),
    };
    migrations::migrate(store.as_ref(), &topology).await?;
    let sites = Arc::new(Sites::load(store.clone()).await?);
    sites.register_missing(&config.sites).await?;
    let tokens = Arc::new(Tokens::load(store.clone(), config.admin_token.as_deref()).await?);
    Ok(AppState {
        config: Arc::new(config),
        store,
        tokens,
        sites,
        metrics: Arc::new(Metrics::new()),
    })
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    tracing::info!(?config, "starting");
    let state = build_state(config).await?;
    let admin_token = state.tokens.bootstrap_admin().await?;

    let server = HttpServer::new({
        let state = state.clone();
        move || {
            App::new()
                .wrap_fn(http::record_metrics)
                .configure(http::configure(state.clone()))
        }
    })
    .shutdown_timeout(30)
    .bind(listen)
    .map_err(|e| anyhow::anyhow!("CANDOR_LISTEN: cannot listen on {listen}: {e}"))?
    .run();

    print_banner(&state, listen, admin_token.as_deref());
    tracing::info!(%listen, engine = state.store.engine().as_str(), "serving");

    let refresher = tokio::spawn({
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = state.sites.refresh().await {
                    tracing::warn!(error = %e, "refreshing sites failed");
                }
                if let Err(e) = state.tokens.refresh().await {
                    tracing::warn!(error = %e, "refreshing tokens failed");
                }
            }
        }
    });

    // actix handles SIGTERM and SIGINT: stop accepting, finish in-flight requests, return.
    server.await?;
    refresher.abort();
    tracing::info!("stopped");
    Ok(())
}

fn print_banner(state: &AppState, listen: std::net::SocketAddr, admin_token: Option<&str>) {
    let base = format!("http://{listen}");
    let site = state
        .sites
        .list()
        .first()
        .map(|s| s.domain.to_string())
        .unwrap_or_else(|| "example.com".into());
    println!();
    println!(
        "Candor is listening on {base} (store: {})",
        state.store.engine().as_str()
    );
    println!();
    println!("  Script tag for your site:");
    println!("    <script defer src=\"{base}/js/candor.js\" data-site=\"{site}\"></script>");
    println!("  Dashboard: {base}/dashboard/");
    match admin_token {
        Some(token) => {
            println!("  Admin token (shown once, only its hash is kept):");
            println!("    {token}");
        }
        None if state.config.admin_token.is_some() => {
            println!("  Admin token: the value of CANDOR_ADMIN_TOKEN");
        }
        None => {
            println!("  Admin token: printed at first start (only its hash is kept).");
            println!("    Lost it? Start once with CANDOR_ADMIN_TOKEN set and create a new one:");
            println!("    candor tokens create --name admin --scope admin");
        }
    }
    println!();
}
