//! Command-line parsing and the commands themselves.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use parley_core::apikey;
use parley_core::clock::{format_timestamp, Clock, SystemClock};
use parley_server::settings::{LogFormat, Overrides};
use parley_server::startup::{shutdown_signal, Application};
use parley_server::{open_store, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

/// Parley: a self-hostable AI assistants platform speaking the Telnyx AI Assistants API.
#[derive(Debug, Parser)]
#[command(name = "parley", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (API under /v2, health at /health).
    Serve(StoreArgs),
    /// Apply pending database migrations and exit.
    Migrate(StoreArgs),
    /// Load-test a running server: req/s and latency percentiles per scenario.
    Bench(crate::bench::BenchArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the local models: pull, list, bench.
    Models {
        #[command(subcommand)]
        command: crate::models_cli::ModelsCommand,
    },
    /// Client commands (assistants, versions, canary, events, tests, tools, kb, numbers, mcp, secrets, integrations, conversations, ai-models, chat).
    #[command(flatten)]
    Client(crate::client_cli::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an organization if needed and a new key for it; prints the key last.
    Create {
        /// Organization name.
        #[arg(long)]
        org: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (never the keys themselves: id, prefix, organization, state).
    List(StoreArgs),
    /// Revoke a key by id or by its displayed prefix.
    Revoke {
        /// Key id (`key-…`) or prefix (`KEY…`, 11 characters).
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the server listens and keeps its data.
#[derive(Debug, Args, Clone)]
struct StoreArgs {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (serve only).
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the SQLite file and admin.key.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// postgres://user@host:port/db to use PostgreSQL instead of SQLite.
    #[arg(long)]
    database_url: Option<String>,
    /// A GGUF model file to serve as the embedded model (serve only).
    #[arg(long)]
    model_path: Option<PathBuf>,
}

impl StoreArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let settings = Settings::load(
            self.config.as_deref(),
            std::env::vars(),
            Overrides {
                listen: self.listen.clone(),
                data_dir: self.data_dir.clone(),
                database_url: self.database_url.clone(),
                model_path: self.model_path.clone(),
            },
        )?;
        Ok(settings)
    }
}

/// Entry point: parses arguments and runs the command on a tokio runtime.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args.settings()?).await,
        Command::Migrate(args) => {
            let settings = args.settings()?;
            init_logging(&settings);
            open_store(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys { command } => keys(command).await,
        Command::Models { command } => crate::models_cli::run(command).await,
        Command::Client(command) => crate::client_cli::run(command).await,
        Command::Bench(args) => {
            tokio::task::spawn_blocking(move || crate::bench::run(args)).await?
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logging(&settings);
    let backend = if settings
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"))
    {
        "postgresql".to_owned()
    } else {
        format!("sqlite in {}", settings.data_dir.display())
    };
    let data_dir = settings.data_dir.clone();
    let llm = &settings.llm;
    if llm.embedded && llm.pull_models && llm.model_path.is_none() {
        let dir = llm.models_dir.clone().context(
            "no models directory: set PARLEY_MODELS_DIR (or HOME), or PARLEY_PULL_MODELS=false",
        )?;
        if !crate::models_cli::defaults_present(&dir) {
            println!(
                "First start: downloading the default models (SmolLM2-135M-Instruct, \
                 all-MiniLM-L6-v2) into {} — this happens once; `parley models pull` does the \
                 same ahead of time, PARLEY_PULL_MODELS=false skips it.",
                dir.display()
            );
            tokio::task::spawn_blocking(move || crate::models_cli::pull(dir))
                .await?
                .context("downloading the default models failed")?;
        }
    }
    let app = Application::build(settings).await?;
    if let Some(key) = app.generated_key() {
        println!(
            "Created an API key for the default organization (shown once; also in {}):",
            data_dir.join("admin.key").display()
        );
        println!("{key}");
    }
    let addr = app.local_addr();
    println!(
        "parley listening on http://{addr} (API base URL http://{addr}/v2, storage: {backend})"
    );
    tracing::info!(%addr, "listening");
    app.run_until(shutdown_signal())
        .await
        .context("server failed")
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let clock = SystemClock;
    match command {
        KeysCommand::Create { org, store } => {
            let settings = store.settings()?;
            let org = org.trim();
            anyhow::ensure!(!org.is_empty(), "--org must not be empty");
            let store = open_store(&settings).await?;
            let organization = store.ensure_organization(org, clock.now()).await?;
            let key = apikey::generate();
            let info = store
                .insert_api_key(&organization.id, &key.hash, &key.prefix, clock.now())
                .await?;
            eprintln!(
                "created key {} for organization {} ({})",
                info.id, organization.name, organization.id
            );
            println!("{}", key.secret);
            Ok(())
        }
        KeysCommand::List(store) => {
            let store = open_store(&store.settings()?).await?;
            println!(
                "{:<42} {:<12} {:<20} {:<28} state",
                "id", "prefix", "organization", "created_at"
            );
            for key in store.list_api_keys().await? {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", format_timestamp(&at)),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<42} {:<12} {:<20} {:<28} {state}",
                    key.id,
                    key.prefix,
                    key.org_name,
                    format_timestamp(&key.created_at)
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { key, store } => {
            let store = open_store(&store.settings()?).await?;
            anyhow::ensure!(
                store.revoke_api_key(&key, clock.now()).await?,
                "no active key has id or prefix {key:?}"
            );
            println!("revoked {key}");
            Ok(())
        }
    }
}
