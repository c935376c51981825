//! Start-up: open the store, run migrations, make sure a key exists, bind, serve until told
//! to stop. Tests own an [`Application`] the same way `parley serve` does.

use crate::jobs::Worker;
use crate::llm::LlmRouter;
use crate::outbound::Outbound;
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;
use crate::tools::mcp::McpConnector;
use anyhow::Context;
use parley_core::apikey;
use parley_core::clock::{Clock, SystemClock};
use parley_store::Store;
use parley_store_postgres::PostgresStore;
use parley_store_sqlite::SqliteStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Name of the organization that `PARLEY_API_KEY` and the first generated key belong to.
pub const DEFAULT_ORGANIZATION: &str = "default";
/// File in the data directory that receives the key generated at first start.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// SQLite file in the data directory.
pub const SQLITE_FILE: &str = "parley.db";
/// How long an MCP server's tool list is reused before it is listed again.
pub const MCP_TOOL_LIST_TTL: Duration = Duration::from_secs(60);
/// Timeout of one request to an MCP server.
pub const MCP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often soft-deleted assistants past their restore window are purged.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Opens the store the settings name and applies pending migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    match settings.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => {
            let store = PostgresStore::connect(url, settings.database_max_connections)
                .with_context(|| "cannot configure the PostgreSQL connection")?;
            store
                .migrate()
                .await
                .with_context(|| "cannot migrate the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
        other => {
            let path = match other.and_then(|u| u.strip_prefix("sqlite:")) {
                Some(path) => PathBuf::from(path.trim_start_matches("//")),
                None => {
                    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                        format!(
                            "cannot create data directory {}",
                            settings.data_dir.display()
                        )
                    })?;
                    settings.data_dir.join(SQLITE_FILE)
                }
            };
            let store =
                tokio::task::spawn_blocking(move || SqliteStore::open(&path).map(|s| (s, path)))
                    .await?
                    .map_err(anyhow::Error::from);
            let (store, path) = store.with_context(|| "cannot open the SQLite database")?;
            tracing::debug!(path = %path.display(), "sqlite store open");
            Ok(Arc::new(store))
        }
    }
}

/// Makes sure the process has a usable key: the configured one, or — when no key exists at
/// all — a new one for the default organization, written to `DATA_DIR/admin.key` (0600).
/// Returns the generated key, if one was generated.
async fn ensure_keys(
    store: &dyn Store,
    settings: &Settings,
    clock: &dyn Clock,
) -> anyhow::Result<Option<String>> {
    if let Some(secret) = &settings.api_key {
        let org = store
            .ensure_organization(DEFAULT_ORGANIZATION, clock.now())
            .await?;
        let key = apikey::from_secret(secret);
        store
            .insert_api_key(&org.id, &key.hash, &key.prefix, clock.now())
            .await?;
        return Ok(None);
    }
    if store.count_active_api_keys().await? > 0 {
        return Ok(None);
    }
    let org = store
        .ensure_organization(DEFAULT_ORGANIZATION, clock.now())
        .await?;
    let key = apikey::generate();
    store
        .insert_api_key(&org.id, &key.hash, &key.prefix, clock.now())
        .await?;
    std::fs::create_dir_all(&settings.data_dir)?;
    let path = settings.data_dir.join(ADMIN_KEY_FILE);
    write_secret_file(&path, &key.secret)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(key.secret))
}

fn write_secret_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")
}

/// A built server: store open, key ensured, socket bound.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    generated_key: Option<String>,
}

impl Application {
    /// Builds the application with the system clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the application with the given clock.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let store = open_store(&settings).await?;
        let cipher = Arc::new(crate::secrets::load_cipher(&settings)?);
        let generated_key = ensure_keys(store.as_ref(), &settings, clock.as_ref()).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let outbound = Outbound::new(settings.allow_private_network);
        let llm = Arc::new(LlmRouter::new(
            &settings.llm,
            &settings.default_model,
            outbound.clone(),
        ));
        if !llm.can_serve(&settings.default_model) {
            anyhow::bail!(
                "default_model {:?} is not served by this server: enable the embedded model, \
                 add it to the [[models]] table, or set llm_base_url",
                settings.default_model
            );
        }
        let carrier = Arc::new(crate::carrier::Carrier::new(&settings.carrier));
        let knowledge = Arc::new(
            crate::knowledge::Knowledge::new(&settings)
                .await
                .context("cannot open the object store")?,
        );
        Ok(Self {
            listener,
            state: AppState {
                knowledge,
                outbound: outbound.clone(),
                store,
                clock,
                settings: Arc::new(settings),
                cipher,
                llm,
                conversation_locks: Arc::default(),
                mcp: Arc::new(McpConnector::new(
                    outbound.clone(),
                    MCP_TOOL_LIST_TTL,
                    MCP_TIMEOUT,
                )),
                jobs: Arc::default(),
                carrier,
                metrics: Arc::default(),
                keys: Arc::default(),
            },
            generated_key,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The key generated at this start, when the store had none.
    pub fn generated_key(&self) -> Option<&str> {
        self.generated_key.as_deref()
    }

    /// The store, for tools that drive it directly.
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// The state handlers see, for tests and tools that call server functions directly.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests
    /// and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_loop(self.state.clone()));
        let worker = self
            .state
            .settings
            .jobs
            .worker
            .then(|| tokio::spawn(Worker::new(self.state.clone()).run()));
        let app = routes::router(self.state);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        purge.abort();
        if let Some(worker) = worker {
            worker.abort();
        }
        served
    }
}

/// Erases soft-deleted assistants whose restore window has passed, once per
/// [`PURGE_INTERVAL`].
async fn purge_loop(state: AppState) {
    let mut every = tokio::time::interval(PURGE_INTERVAL);
    loop {
        every.tick().await;
        if let Err(e) = purge_expired(state.store.as_ref(), state.clock.as_ref()).await {
            tracing::warn!(error = %e, "purging deleted assistants failed");
        }
        if let Err(e) = crate::outreach::purge_webhook_events(&state).await {
            tracing::warn!(error = %e, "forgetting old webhook event ids failed");
        }
    }
}

/// One purge pass at the clock's current time; returns how many assistants were erased.
pub async fn purge_expired(store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<u64> {
    let cutoff = clock.now() - chrono::Duration::days(parley_core::assistant::RESTORE_WINDOW_DAYS);
    let purged = store.purge_deleted_assistants(cutoff).await?;
    if purged > 0 {
        tracing::info!(purged, "purged deleted assistants");
    }
    Ok(purged)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
