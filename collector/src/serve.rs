//! `candor serve`: open the store, migrate, register sites, make sure an admin can get in,
//! then serve HTTP until SIGTERM/SIGINT, draining in-flight requests before exit.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::{App, HttpServer};

use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts};

use crate::auth::Tokens;
use crate::clock::Clock;
use crate::config::Config;
use crate::enrich::Geo;
use crate::http::rate_limit::RateLimits;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::migrations;
use crate::pipeline::batcher::{Batcher, BatcherMetrics};
use crate::pipeline::sessions::Tracker;
use crate::pipeline::spool::{Spool, SpoolConfig};
use crate::pipeline::{Collaborators, Pipeline};
use crate::privacy::keys::Keys;
use crate::privacy::salts::Salts;
use crate::sites::Sites;
use crate::store;

/// How often caches of sites and tokens are refreshed from the store (other collectors'
/// changes and revocations take effect within this interval).
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// How often finished days are checked and rolled up, and how long one pass may build
/// before it yields (the rest is built on the next passes).
const ROLLUP_EVERY: Duration = Duration::from_secs(30);
const ROLLUP_BUDGET: Duration = Duration::from_secs(10);

/// `candor migrate`: opens the store the config names and applies the pending migrations
/// (or, with `dry_run`, prints them with their statements and changes nothing).
pub async fn migrate(config: Config, dry_run: bool, to: Option<u32>) -> anyhow::Result<()> {
    crate::privacy::keys::create_private_dir(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", config.data_dir.display()))?;
    let store = store::open(&config).await?;
    let topology = migrations::Topology {
        cluster: config.clickhouse.cluster.clone(),
    };
    let last = to.unwrap_or(u32::MAX);
    let pending: Vec<_> = migrations::pending(store.as_ref())
        .await?
        .into_iter()
        .filter(|m| m.version <= last)
        .collect();
    if pending.is_empty() {
        println!("the store is up to date: no migration to run");
        return Ok(());
    }
    if dry_run {
        println!("{} migration(s) would run:", pending.len());
        for m in &pending {
            println!("\n-- {} {}", m.version, m.name);
            for sql in m.statements(&topology) {
                println!("{sql};");
            }
        }
        return Ok(());
    }
    let applied = migrations::migrate_up_to(store.as_ref(), &topology, last).await?;
    println!("applied {} migration(s): {applied:?}", applied.len());
    Ok(())
}

/// `candor restore <dir>`: a backup (`POST /api/v1/backup`) into an empty data directory, with
/// the embedded store; the server must be stopped. A ClickHouse server restores with its own
/// `RESTORE DATABASE` (README).
pub async fn restore(config: Config, from: &std::path::Path) -> anyhow::Result<()> {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(from.join("candor-backup.json"))
            .map_err(|e| anyhow::anyhow!("{} is not a Candor backup: {e}", from.display()))?,
    )?;
    anyhow::ensure!(
        manifest["format"] == 1,
        "unknown backup format {}",
        manifest["format"]
    );
    let data = &config.data_dir;
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        anyhow::bail!(
            "{} is not empty: restore into a new data directory",
            data.display()
        );
    }
    crate::privacy::keys::create_private_dir(data)?;
    let key = from.join("pii.key");
    if key.exists() {
        std::fs::copy(&key, data.join("pii.key"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data.join("pii.key"), std::fs::Permissions::from_mode(0o600))?;
        }
    } else {
        anyhow::ensure!(
            config.pii_key.is_some(),
            "this backup's server key was configured (CANDOR_PII_KEY): set the same key to restore"
        );
    }
    let store = store::open(&config).await?;
    let db = manifest["database"].as_str().unwrap_or("default");
    // The backup's database goes back under its name (a ClickHouse server's `clickhouse.database`
    // must name it), into a database without tables: never over a store in use.
    #[derive(serde::Deserialize)]
    struct Count {
        c: u64,
    }
    let present = crate::store::fetch::<Count>(
        store.as_ref(),
        "SELECT count() AS c FROM system.tables WHERE database = {db:String}",
        &crate::store::Params::new().with("db", db),
    )
    .await?
    .first()
    .map_or(0, |c| c.c);
    anyhow::ensure!(
        present == 0,
        "the store's database {db} already has {present} tables: restore into an empty one"
    );
    if !config.embedded() {
        anyhow::ensure!(
            config.clickhouse.database == db,
            "this backup is of database {db}: set clickhouse.database to {db} (CANDOR_CLICKHOUSE_DATABASE)"
        );
    }
    store
        .execute(
            &store::backup_statement(true, db, &from.join("store"))?,
            &crate::store::Params::new(),
        )
        .await?;
    // What came back, table by table, so the operator sees it is all there.
    #[derive(serde::Deserialize)]
    struct Table {
        name: String,
        rows: u64,
    }
    let tables: Vec<Table> = crate::store::fetch(
        store.as_ref(),
        "SELECT name, toUInt64(ifNull(total_rows, 0)) AS rows FROM system.tables
         WHERE database = {db:String} AND has_own_data ORDER BY name",
        &crate::store::Params::new().with("db", db),
    )
    .await?;
    println!(
        "restored {} into {}: start candor serve on it",
        from.display(),
        data.display()
    );
    for t in &tables {
        println!("  {}: {} rows", t.name, t.rows);
    }
    Ok(())
}

/// The effective settings, one per line, secrets hidden (`candor serve --check-config`).
pub fn describe(config: &Config) -> String {
    let store = match &config.clickhouse.url {
        Some(url) => format!(
            "ClickHouse server {url} (database {}{})",
            config.clickhouse.database,
            config
                .clickhouse
                .cluster
                .as_ref()
                .map(|c| format!(", cluster {c}"))
                .unwrap_or_default()
        ),
        None => format!("embedded chDB in {}", config.data_dir.display()),
    };
    let list = |paths: &[std::path::PathBuf]| {
        if paths.is_empty() {
            "off".to_string()
        } else {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let http = &config.http;
    format!(
        "listen: {}\nconnections: at most {}, first request head within {} ms, beacon body within {} ms, idle keep-alive {} s\ndata dir: {}\nstore: {store}\nsites: {}\nadmin token: {}\ngeo: {}\norganisations: {}\n",
        config.listen,
        http.max_connections,
        http.request_timeout.as_millis(),
        http.body_timeout.as_millis(),
        http.keep_alive.as_secs(),
        config.data_dir.display(),
        if config.sites.is_empty() {
            "(none registered by configuration)".to_string()
        } else {
            config
                .sites
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        if config.admin_token.is_some() {
            "set (hidden)"
        } else {
            "not set (one is generated and logged at first start)"
        },
        list(&config.geoip_db),
        list(&config.org_db),
    )
}

/// Everything `serve` needs, built from a config. Tests use this to run the app in process.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    // The data directory holds the server key, the spool and the embedded store: 0700.
    crate::privacy::keys::create_private_dir(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", config.data_dir.display()))?;
    let store = store::open(&config).await?;
    let topology = migrations::Topology {
        cluster: config.clickhouse.cluster.clone(),
    };
    migrations::migrate(store.as_ref(), &topology).await?;
    let sites = Arc::new(Sites::load(store.clone()).await?);
    sites.register_missing(&config.sites).await?;
    let tokens = Arc::new(Tokens::load(store.clone(), config.admin_token.as_deref()).await?);
    let metrics = Arc::new(Metrics::new());
    let keys = Arc::new(Keys::load(config.pii_key.as_deref(), &config.data_dir)?);
    let dashboard_key = keys.derive("dashboard-session");
    let clock = Clock::system();
    let salts = Arc::new(Salts::new(store.clone(), &keys));
    salts.rotate(clock.day()).await?;
    let geo = Arc::new(Geo::open(&config.geoip_db, &config.org_db)?);
    let spool = Spool::open(SpoolConfig {
        dir: config.data_dir.join("spool"),
        max_bytes: config.spool.max_bytes,
        segment_bytes: 8 << 20,
        segment_records: config.spool.batch_rows,
        rotate_every: config.spool.batch_interval,
    })?;
    let leads = Arc::new(crate::leads::Leads::new(store.clone(), keys.clone()));
    let webhooks = Arc::new(crate::leads::webhooks::Webhooks::load(store.clone(), &keys).await?);
    let sessions = Arc::new(Tracker::new());
    match sessions.warm_up(store.as_ref(), clock.unix_seconds()).await {
        Ok(n) if n > 0 => tracing::info!(sessions = n, "restored live sessions"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not restore live sessions"),
    }
    let goals = Arc::new(crate::reports::goals::Goals::load(store.clone()).await?);
    let dashboard =
        Arc::new(crate::auth::dashboard::Dashboard::load(store.clone(), dashboard_key).await?);
    let rollups = Arc::new(crate::reports::rollups::Rollups::load(store.clone()).await?);
    let pipeline = Pipeline::new(
        Collaborators {
            spool: spool.clone(),
            sessions: sessions.clone(),
            salts: salts.clone(),
            keys: keys.clone(),
            withdrawn: leads.withdrawn(),
            geo: geo.clone(),
        },
        &metrics,
    );
    leads.refresh_withdrawn().await?;
    let relay = config
        .smtp
        .as_ref()
        .map(crate::mail::Relay::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mailer = Arc::new(crate::mail::Mailer::new(store.clone(), &keys, relay));
    let rate_limits = Arc::new(RateLimits::new(config.rate_limit, config.site_rate_limit));
    Ok(AppState {
        analyst: Arc::new(crate::analyst::Analyst::new(store.clone(), config.sql)),
        rollups,
        webhooks,
        mailer,
        goals,
        imports: Arc::new(crate::imports::Imports::new()),
        dashboard,
        config: Arc::new(config),
        clock,
        store,
        tokens,
        sites,
        metrics,
        pipeline: Arc::new(pipeline),
        spool,
        sessions,
        salts,
        geo,
        rate_limits,
        leads,
    })
}

/// The embedded engine's memory counters (`system.metrics`) and their `kind` label.
const STORE_MEMORY: [(&str, &str); 6] = [
    ("MemoryTracking", "tracked"),
    ("MarkCacheBytes", "marks"),
    ("PrimaryIndexCacheBytes", "primary_index"),
    ("IndexMarkCacheBytes", "index_marks"),
    ("QueryConditionCacheBytes", "query_condition"),
    ("CompiledExpressionCacheBytes", "compiled_expressions"),
];

/// Sets `candor_store_memory_bytes` from the embedded engine's own counters. Its resident
/// memory beyond `tracked` and the caches is code, mapped files and memory its allocator
/// holds after it was freed. A ClickHouse server is watched with its own metrics.
async fn refresh_store_memory(
    state: &AppState,
    gauge: &IntGaugeVec,
) -> Result<(), store::StoreError> {
    if state.store.engine() != store::Engine::Embedded {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Row {
        metric: String,
        value: i64,
    }
    let names: Vec<&str> = STORE_MEMORY.iter().map(|(m, _)| *m).collect();
    let rows: Vec<Row> = store::fetch(
        state.store.as_ref(),
        "SELECT metric, toInt64(value) AS value FROM system.metrics WHERE metric IN {names:Array(String)}",
        &store::Params::new().with("names", names),
    )
    .await?;
    for r in rows {
        if let Some((_, kind)) = STORE_MEMORY.iter().find(|(m, _)| *m == r.metric) {
            gauge.with_label_values(&[kind]).set(r.value);
        }
    }
    Ok(())
}

/// The collector's background work: the batcher (spool → store), salt rotation, cache
/// refreshes and the session sweep.
pub struct Background {
    stop: Arc<AtomicBool>,
    batcher: tokio::task::JoinHandle<()>,
    periodic: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub fn start(state: &AppState) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let m = BatcherMetrics {
            rows: IntCounter::new(
                "store_rows_inserted_total",
                "event rows confirmed by the store",
            )
            .expect("static metric"),
            batches: IntCounter::new(
                "store_batches_inserted_total",
                "batches confirmed by the store",
            )
            .expect("static metric"),
            failures: IntCounter::new(
                "store_insert_failures_total",
                "failed batch inserts (retried)",
            )
            .expect("static metric"),
            torn: IntCounter::new("spool_torn_tails_total", "spool segments with a torn tail")
                .expect("static metric"),
            spool_bytes: IntGauge::new("spool_bytes", "bytes in the write-ahead spool")
                .expect("static metric"),
            spool_segments: IntGauge::new(
                "spool_sealed_segments",
                "sealed spool segments waiting for the store",
            )
            .expect("static metric"),
            rejected_batches: IntCounter::new(
                "spool_rejected_batches_total",
                "batches the store refused as invalid data (split to set the bad records aside)",
            )
            .expect("static metric"),
            rejected_records: IntCounter::new(
                "spool_rejected_records_total",
                "spooled records the store refused as invalid, set aside in the spool's rejected directory",
            )
            .expect("static metric"),
        };
        for c in [
            Box::new(m.rejected_batches.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.rejected_records.clone()),
            Box::new(m.rows.clone()),
            Box::new(m.batches.clone()),
            Box::new(m.failures.clone()),
            Box::new(m.torn.clone()),
            Box::new(m.spool_bytes.clone()),
            Box::new(m.spool_segments.clone()),
        ] {
            state.metrics.register(c);
        }
        let rollup_pending = IntGauge::new(
            "report_rollup_pending_days",
            "finished days whose daily rollup is missing or out of date after the last pass",
        )
        .expect("static metric");
        let rollup_built = IntCounter::new(
            "report_rollup_days_built_total",
            "site days rolled up (built or rebuilt)",
        )
        .expect("static metric");
        let rollup_passes = IntCounter::new(
            "report_rollup_passes_total",
            "completed passes of the daily rollup builder",
        )
        .expect("static metric");
        state.metrics.register(Box::new(rollup_passes.clone()));
        state.metrics.register(Box::new(rollup_pending.clone()));
        state.metrics.register(Box::new(rollup_built.clone()));
        let store_memory = IntGaugeVec::new(
            Opts::new(
                "store_memory_bytes",
                "the embedded engine's own memory: `tracked` is what it counts as in use, the others its caches (bounded by store.memory_mb)",
            ),
            &["kind"],
        )
        .expect("static metric");
        state.metrics.register(Box::new(store_memory.clone()));
        let batcher = tokio::spawn(
            Batcher {
                store: state.store.clone(),
                spool: state.spool.clone(),
                batch_rows: state.config.spool.batch_rows,
                metrics: Arc::new(m),
                stop: stop.clone(),
                row_wise: AtomicBool::new(false),
            }
            .run(),
        );
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
                    if let Err(e) = state.goals.refresh().await {
                        tracing::warn!(error = %e, "refreshing goals failed");
                    }
                    if let Err(e) = state.webhooks.refresh().await {
                        tracing::warn!(error = %e, "refreshing webhook endpoints failed");
                    }
                    if let Err(e) = state.dashboard.refresh().await {
                        tracing::warn!(error = %e, "refreshing dashboard passwords failed");
                    }
                    if let Err(e) = state.leads.refresh_withdrawn().await {
                        tracing::warn!(error = %e, "refreshing withdrawn browsers failed");
                    }
                    if let Err(e) = state.rollups.refresh().await {
                        tracing::warn!(error = %e, "refreshing the rollup index failed");
                    }
                    if let Err(e) = refresh_store_memory(&state, &store_memory).await {
                        tracing::debug!(error = %e, "reading the engine's memory failed");
                    }
                    state.sessions.sweep(state.clock.unix_seconds());
                    state.rate_limits.forget_idle();
                }
            }
        });
        let salt_rotation = tokio::spawn({
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(300));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = state.salts.rotate(state.clock.day()).await {
                        tracing::warn!(error = %e, "salt rotation failed; retrying");
                    }
                }
            }
        });
        let webhooks = tokio::spawn({
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if let Err(e) = state.webhooks.deliver_due().await {
                        tracing::warn!(error = %e, "webhook delivery pass failed");
                    }
                }
            }
        });
        // The privacy center's mail: the outbox every second, yearly notices every hour.
        let mail = tokio::spawn({
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut last_notices = tokio::time::Instant::now();
                loop {
                    tick.tick().await;
                    if let Err(e) = state.mailer.deliver_due(state.clock.unix_millis()).await {
                        tracing::warn!(error = %e, "mail delivery pass failed");
                    }
                    if last_notices.elapsed() >= Duration::from_secs(3600) {
                        last_notices = tokio::time::Instant::now();
                        if let Err(e) = crate::http::center::yearly_notices(&state).await {
                            tracing::warn!(error = %e, "queuing yearly privacy notices failed");
                        }
                    }
                }
            }
        });
        let rollups = tokio::spawn({
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval_at(
                    tokio::time::Instant::now() + ROLLUP_EVERY,
                    ROLLUP_EVERY,
                );
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    match roll_up(&state, i64::from(state.clock.unix_seconds())).await {
                        Ok(pass) if pass.deferred => tracing::info!(
                            "daily rollups deferred: the spool still holds unconfirmed events"
                        ),
                        Ok(pass) => {
                            rollup_passes.inc();
                            rollup_pending.set(pass.pending as i64);
                            rollup_built.inc_by(pass.built as u64);
                        }
                        Err(e) => tracing::warn!(error = %e, "rolling up finished days failed"),
                    }
                }
            }
        });
        Background {
            stop,
            batcher,
            periodic: vec![refresher, salt_rotation, webhooks, mail, rollups],
        }
    }

    /// Stops taking events, seals the spool and waits (up to `timeout`) for the batcher to
    /// hand everything to the store. Whatever is left stays in the spool for the next start.
    pub async fn shutdown(self, state: &AppState, timeout: Duration) {
        for t in &self.periodic {
            t.abort();
        }
        state.spool.close().await;
        self.stop.store(true, Ordering::Release);
        if tokio::time::timeout(timeout, self.batcher).await.is_err() {
            tracing::warn!(
                "spool not drained before the shutdown timeout; it is replayed at next start"
            );
        }
    }
}

/// One pass of the daily rollup builder at `now`. It first makes sure everything this
/// collector acknowledged is in the store — seals the spool's active segment and waits for
/// the batcher to confirm every sealed one — so a finished day is never rolled up while
/// some of its events are still in the spool (after a store outage, say). If the spool does
/// not drain in time the pass is deferred.
pub async fn roll_up(
    state: &AppState,
    now: i64,
) -> Result<crate::reports::rollups::Pass, crate::reports::engine::ReportError> {
    if !state.spool.handed_over(ROLLUP_BUDGET).await {
        return Ok(crate::reports::rollups::Pass {
            deferred: true,
            ..Default::default()
        });
    }
    state
        .rollups
        .build_pending(&state.sites.list(), &state.goals, now, ROLLUP_BUDGET)
        .await
}

/// Start-up compiles the user-agent rules and loads the ASN ranges, and the allocations that
/// served only to build them are freed by now; mimalloc keeps freed pages for reuse, so they
/// would stay resident for the life of the process. Returning them once, before serving, is
/// what `docs/benchmarks.md` (session 16) measured; the binary's allocator is mimalloc
/// (`main.rs`), and under any other allocator this returns nothing. The embedded engine's
/// start-up likewise paged in code it does not run again (`store::release_start_up_code`).
fn release_start_up_garbage() {
    // SAFETY: `mi_collect` takes no pointers; it only walks mimalloc's own heaps.
    unsafe { libmimalloc_sys::mi_collect(true) }
    if let Some(code) = crate::store::release_start_up_code() {
        tracing::info!(
            resident_before_mb = code.before_bytes >> 20,
            resident_after_mb = code.after_bytes >> 20,
            "returned the engine's start-up code to the kernel"
        );
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let limits = config.http;
    tracing::info!(?config, "starting");
    raise_open_files_limit(limits.max_connections);
    let state = build_state(config).await?;
    let admin_token = state.tokens.bootstrap_admin().await?;
    release_start_up_garbage();

    // actix-web's own default, made explicit so the connection limit can be spread over the
    // workers (actix-web counts connections per worker).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(512));
    let server = HttpServer::new({
        let state = state.clone();
        move || {
            App::new()
                .wrap_fn(http::record_metrics)
                .configure(http::configure(state.clone()))
        }
    })
    .workers(workers)
    .max_connections(limits.max_connections.div_ceil(workers))
    .client_request_timeout(limits.request_timeout)
    .keep_alive(if limits.keep_alive.is_zero() {
        KeepAlive::Disabled
    } else {
        KeepAlive::Timeout(limits.keep_alive)
    })
    .shutdown_timeout(30)
    .bind(listen)
    .map_err(|e| anyhow::anyhow!("CANDOR_LISTEN: cannot listen on {listen}: {e}"))?
    .run();

    print_banner(&state, listen, admin_token.as_deref());
    tracing::info!(%listen, engine = state.store.engine().as_str(), "serving");

    let background = Background::start(&state);

    // actix handles SIGTERM and SIGINT: stop accepting, finish in-flight requests, return.
    server.await?;
    tracing::info!("HTTP stopped; draining the spool");
    background.shutdown(&state, Duration::from_secs(30)).await;
    tracing::info!("stopped");
    Ok(())
}

/// Every connection is an open file, and the usual soft limit (1024) would refuse connections
/// long before `http.max_connections`: the soft limit is raised to the hard one (systemd's
/// `LimitNOFILE`, `ulimit -Hn`) at start, and a limit still too small is logged.
fn raise_open_files_limit(max_connections: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    let open_files = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    // The store, the spool and the listener need files of their own.
    if open_files < max_connections as u64 + 1024 {
        tracing::warn!(
            open_files,
            max_connections,
            "the open-files limit is below http.max_connections + 1024: raise it (systemd LimitNOFILE=, ulimit -n) or lower CANDOR_HTTP_MAX_CONNECTIONS"
        );
    }
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
    // On a local test page the snippet sends nothing unless told to.
    let local = if site == "localhost" {
        " data-allow-local"
    } else {
        ""
    };
    println!("    <script defer src=\"{base}/js/candor.js\" data-site=\"{site}\"{local}></script>");
    if crate::http::dashboard_built() {
        println!("  Dashboard (sign in with a stats:read or admin token, or a site's dashboard password):");
        println!("    {base}/dashboard/");
    }
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
