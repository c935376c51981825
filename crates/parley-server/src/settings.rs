//! Configuration: defaults, then an optional TOML file, then `PARLEY_*` environment
//! variables, then command-line flags — parsed once into a validated [`Settings`]. Nothing
//! else in Parley reads the environment.

use parley_core::secrets::MasterKey;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default address the server listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "parley-data";
/// Default request body limit: 2 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The model assistants use when they name none: the embedded default model.
pub const DEFAULT_MODEL: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated settings of a Parley process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Directory for the SQLite file and `admin.key`.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; `None` for SQLite in the data directory.
    pub database_url: Option<String>,
    /// Largest PostgreSQL connection pool.
    pub database_max_connections: usize,
    /// A key that must exist for the default organization (`PARLEY_API_KEY`).
    pub api_key: Option<String>,
    /// Whether outbound requests may go to loopback and private addresses.
    pub allow_private_network: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Model filled in for assistants that name none.
    pub default_model: String,
    /// How long an idempotency key is remembered, in hours.
    pub idempotency_ttl_hours: u32,
    /// Log filter (`info`, `parley_server=debug`, …).
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Key integration secrets are encrypted with (`PARLEY_MASTER_KEY`); `None` to use the
    /// key in `DATA_DIR/master.key`, generated on first start. Its `Debug` prints `***`.
    pub master_key: Option<MasterKey>,
    /// Language models: the embedded model, upstream providers, chat limits.
    pub llm: LlmSettings,
    /// Where `POST /ai/assistants/import` reaches the providers' APIs.
    pub import: ImportSettings,
    /// The background job worker.
    pub jobs: JobSettings,
    /// Assistant test runs: the model playing the simulated user and the judge, limits.
    pub eval: EvalSettings,
    /// The carrier (Telnyx Messaging and Call Control) and the scheduler's retry bound.
    pub carrier: CarrierSettings,
    /// Knowledge bases: the S3-compatible API, embedding models, URL crawling.
    pub knowledge: KnowledgeSettings,
    /// Whether requests are counted and `GET /metrics` is served (`PARLEY_METRICS`,
    /// `metrics`).
    pub metrics: bool,
    /// How long a node keeps a verified API key before looking it up again
    /// (`PARLEY_AUTH_CACHE_MS`, `auth_cache_ms`; 0 turns the cache off): the most a revoked
    /// key keeps working on a running node.
    pub auth_cache_ms: u64,
}

/// The longest `auth_cache_ms` accepted: one minute.
pub const MAX_AUTH_CACHE_MS: u64 = 60_000;

/// Default most user turns of a test conversation (`PARLEY_EVAL_MAX_TURNS`).
pub const DEFAULT_EVAL_MAX_TURNS: u32 = 10;
/// Default duration limit of a test conversation whose test sets none, in seconds
/// (`PARLEY_EVAL_MAX_DURATION_SECS`).
pub const DEFAULT_EVAL_MAX_DURATION_SECS: u32 = 300;

/// Assistant test runs (see [`crate::evaluation`]).
#[derive(Clone, PartialEq, Eq)]
pub struct EvalSettings {
    /// An OpenAI-compatible endpoint for the simulated user and the judge
    /// (`PARLEY_EVAL_BASE_URL`, `eval_base_url`); with [`EvalSettings::model`]. When unset,
    /// the default model (`default_model`, the embedded one unless configured) plays both.
    pub base_url: Option<String>,
    /// The model to ask that endpoint for (`PARLEY_EVAL_MODEL`, `eval_model`).
    pub model: Option<String>,
    /// Bearer key for that endpoint (`PARLEY_EVAL_API_KEY`, `eval_api_key`).
    pub api_key: Option<String>,
    /// Most messages the simulated user sends in one run (`PARLEY_EVAL_MAX_TURNS`,
    /// `eval_max_turns`).
    pub max_turns: u32,
    /// How long a conversation may last when its test sets no `max_duration_seconds`
    /// (`PARLEY_EVAL_MAX_DURATION_SECS`, `eval_max_duration_secs`).
    pub default_max_duration_secs: u32,
}

impl std::fmt::Debug for EvalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("max_turns", &self.max_turns)
            .field("default_max_duration_secs", &self.default_max_duration_secs)
            .finish()
    }
}

impl Default for EvalSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            api_key: None,
            max_turns: DEFAULT_EVAL_MAX_TURNS,
            default_max_duration_secs: DEFAULT_EVAL_MAX_DURATION_SECS,
        }
    }
}

/// Default Telnyx API root (`PARLEY_TELNYX_API_URL`).
pub const DEFAULT_TELNYX_API_URL: &str = "https://api.telnyx.com/v2";

/// The carrier Parley texts and calls through: Telnyx's Messaging (`POST /messages`) and Call
/// Control (`POST /calls`) APIs, with the operator's own Telnyx key.
#[derive(Clone, PartialEq, Eq)]
pub struct CarrierSettings {
    /// The API root, no trailing `/` (`PARLEY_TELNYX_API_URL`, `telnyx_api_url`).
    pub api_url: String,
    /// Bearer key for it (`PARLEY_TELNYX_API_KEY`, `telnyx_api_key`).
    pub api_key: Option<String>,
    /// The Call Control application calls are placed with (`PARLEY_TELNYX_CONNECTION_ID`,
    /// `telnyx_connection_id`).
    pub connection_id: Option<String>,
    /// The messaging profile texts are sent with when the assistant names none
    /// (`PARLEY_TELNYX_MESSAGING_PROFILE_ID`, `telnyx_messaging_profile_id`).
    pub messaging_profile_id: Option<String>,
    /// Telnyx's Ed25519 public key (32 bytes, base64 in the setting): when set, webhooks
    /// under `/v2/webhooks` must carry a valid `telnyx-signature-ed25519` over
    /// `telnyx-timestamp|body` (`PARLEY_TELNYX_PUBLIC_KEY`, `telnyx_public_key`).
    pub public_key: Option<Vec<u8>>,
    /// How old a signed webhook may be, in seconds (`PARLEY_TELNYX_WEBHOOK_TOLERANCE_SECS`,
    /// `telnyx_webhook_tolerance_secs`).
    pub webhook_tolerance_secs: u64,
    /// This server's public root (`https://parley.example.com`), from which the call webhook
    /// URL sent with each call is made (`PARLEY_PUBLIC_URL`, `public_url`); without it the
    /// Call Control application's own webhook URL applies.
    pub public_url: Option<String>,
    /// Timeout of one request to the carrier, in milliseconds (`PARLEY_TELNYX_TIMEOUT_MS`,
    /// `telnyx_timeout_ms`).
    pub timeout_ms: u64,
    /// Lowest `retry_interval_secs` a scheduled event may ask for
    /// (`PARLEY_SCHEDULER_MIN_RETRY_SECS`, `scheduler_min_retry_secs`; the contract's 60 by
    /// default, lowered in tests).
    pub min_retry_secs: u32,
}

impl std::fmt::Debug for CarrierSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarrierSettings")
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("connection_id", &self.connection_id)
            .field("messaging_profile_id", &self.messaging_profile_id)
            .field("public_key", &self.public_key.as_ref().map(|_| "(set)"))
            .field("webhook_tolerance_secs", &self.webhook_tolerance_secs)
            .field("public_url", &self.public_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("min_retry_secs", &self.min_retry_secs)
            .finish()
    }
}

impl Default for CarrierSettings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_TELNYX_API_URL.to_owned(),
            api_key: None,
            connection_id: None,
            messaging_profile_id: None,
            public_key: None,
            webhook_tolerance_secs: 300,
            public_url: None,
            timeout_ms: 10_000,
            min_retry_secs: 60,
        }
    }
}

/// The background job worker (scheduled events, test runs, embedding tasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Whether this process runs jobs at all (`PARLEY_WORKER`, `worker`); API-only nodes turn
    /// it off.
    pub worker: bool,
    /// How often the worker looks for due jobs when nothing woke it (`PARLEY_JOBS_POLL_MS`,
    /// `jobs_poll_ms`): the lag bound for jobs enqueued by another node.
    pub poll_ms: u64,
    /// How long a claimed job stays leased without being extended (`PARLEY_JOBS_LEASE_SECS`,
    /// `jobs_lease_secs`): how soon a dead node's jobs are taken over.
    pub lease_secs: u64,
    /// Most jobs this process runs at once (`PARLEY_JOBS_CONCURRENCY`, `jobs_concurrency`).
    pub concurrency: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            worker: true,
            poll_ms: 500,
            lease_secs: 60,
            concurrency: 8,
        }
    }
}

/// Default ElevenLabs API root (`PARLEY_IMPORT_ELEVENLABS_URL`).
pub const DEFAULT_IMPORT_ELEVENLABS_URL: &str = "https://api.elevenlabs.io";
/// Default Vapi API root (`PARLEY_IMPORT_VAPI_URL`).
pub const DEFAULT_IMPORT_VAPI_URL: &str = "https://api.vapi.ai";
/// Default Retell API root (`PARLEY_IMPORT_RETELL_URL`).
pub const DEFAULT_IMPORT_RETELL_URL: &str = "https://api.retellai.com";

/// The providers' API roots (no trailing `/`) and how long one request to them may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSettings {
    /// ElevenLabs (`PARLEY_IMPORT_ELEVENLABS_URL`, `import_elevenlabs_url`).
    pub elevenlabs_url: String,
    /// Vapi (`PARLEY_IMPORT_VAPI_URL`, `import_vapi_url`).
    pub vapi_url: String,
    /// Retell (`PARLEY_IMPORT_RETELL_URL`, `import_retell_url`).
    pub retell_url: String,
    /// Timeout of one request to a provider (`PARLEY_IMPORT_TIMEOUT_MS`, `import_timeout_ms`).
    pub timeout_ms: u64,
}

impl Default for ImportSettings {
    fn default() -> Self {
        Self {
            elevenlabs_url: DEFAULT_IMPORT_ELEVENLABS_URL.to_owned(),
            vapi_url: DEFAULT_IMPORT_VAPI_URL.to_owned(),
            retell_url: DEFAULT_IMPORT_RETELL_URL.to_owned(),
            timeout_ms: 15_000,
        }
    }
}

/// One entry of the model table (`[[models]]` in the TOML file): assistants whose `model` is
/// `name` are served by this OpenAI-compatible endpoint.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRoute {
    /// The model name assistants use (`openai/gpt-4o`); a trailing `*` makes it a prefix
    /// (`openai/*`).
    pub name: String,
    /// The API root, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The model to ask the endpoint for; default: `name`, or for a prefix entry the part of
    /// the requested name after the prefix (`openai/gpt-4o` → `gpt-4o`).
    #[serde(default)]
    pub model: Option<String>,
    /// Bearer key for the endpoint, used when the assistant has no `llm_api_key_ref`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Context size in tokens, for trimming long conversations (default 128,000).
    #[serde(default)]
    pub context_tokens: Option<u32>,
}

impl std::fmt::Debug for ModelRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRoute")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("context_tokens", &self.context_tokens)
            .finish()
    }
}

/// Language model settings.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// Where downloaded models live (`PARLEY_MODELS_DIR`, else the user's cache directory).
    pub models_dir: Option<PathBuf>,
    /// A GGUF file to serve as the embedded model instead of the default SmolLM2
    /// (`--model-path`, `PARLEY_MODEL_PATH`).
    pub model_path: Option<PathBuf>,
    /// Whether the embedded model is served at all (`PARLEY_EMBEDDED_MODEL`).
    pub embedded: bool,
    /// The model name the embedded model answers to (default: SmolLM2's name, or the GGUF
    /// file's stem with `model_path`).
    pub embedded_name: String,
    /// Whether `parley serve` downloads missing default models at start (`PARLEY_PULL_MODELS`).
    pub pull_models: bool,
    /// Embedded model: requests run at once (`PARLEY_LLM_CONTEXTS`).
    pub contexts: usize,
    /// Embedded model: tokens per context (`PARLEY_LLM_CONTEXT_TOKENS`).
    pub context_tokens: u32,
    /// An OpenAI-compatible endpoint that serves every model nothing else serves
    /// (`PARLEY_LLM_BASE_URL`).
    pub upstream_base_url: Option<String>,
    /// Bearer key for `upstream_base_url` (`PARLEY_LLM_API_KEY`).
    pub upstream_api_key: Option<String>,
    /// The model table.
    pub models: Vec<ModelRoute>,
    /// How long an upstream may take to connect, to answer, and between two reads
    /// (`PARLEY_LLM_TIMEOUT_MS`).
    pub timeout_ms: u64,
    /// Deadline of one chat turn, tool rounds included (`PARLEY_CHAT_DEADLINE_MS`).
    pub turn_deadline_ms: u64,
    /// Most tokens one answer may have (`PARLEY_CHAT_MAX_TOKENS`).
    pub max_output_tokens: u32,
    /// Most tool rounds in one turn (`PARLEY_CHAT_MAX_TOOL_ROUNDS`).
    pub max_tool_rounds: u32,
    /// Most characters of one tool result given to the model (`PARLEY_TOOL_RESULT_MAX_CHARS`).
    pub tool_result_max_chars: usize,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("models_dir", &self.models_dir)
            .field("model_path", &self.model_path)
            .field("embedded", &self.embedded)
            .field("embedded_name", &self.embedded_name)
            .field("pull_models", &self.pull_models)
            .field("contexts", &self.contexts)
            .field("context_tokens", &self.context_tokens)
            .field("upstream_base_url", &self.upstream_base_url)
            .field(
                "upstream_api_key",
                &self.upstream_api_key.as_ref().map(|_| "***"),
            )
            .field("models", &self.models)
            .field("timeout_ms", &self.timeout_ms)
            .field("turn_deadline_ms", &self.turn_deadline_ms)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("max_tool_rounds", &self.max_tool_rounds)
            .field("tool_result_max_chars", &self.tool_result_max_chars)
            .finish()
    }
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            models_dir: None,
            model_path: None,
            embedded: true,
            embedded_name: DEFAULT_MODEL.to_owned(),
            pull_models: true,
            contexts: 2,
            context_tokens: 2048,
            upstream_base_url: None,
            upstream_api_key: None,
            models: Vec::new(),
            timeout_ms: 30_000,
            turn_deadline_ms: 120_000,
            max_output_tokens: 512,
            max_tool_rounds: 5,
            tool_result_max_chars: 16_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
            database_max_connections: 16,
            api_key: None,
            allow_private_network: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            default_model: DEFAULT_MODEL.to_owned(),
            idempotency_ttl_hours: 24,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            master_key: None,
            llm: LlmSettings::default(),
            import: ImportSettings::default(),
            jobs: JobSettings::default(),
            eval: EvalSettings::default(),
            carrier: CarrierSettings::default(),
            knowledge: KnowledgeSettings::default(),
            metrics: true,
            auth_cache_ms: 1_000,
        }
    }
}

/// Default largest object the S3-compatible API accepts: 100 MiB (as Telnyx Storage for
/// embeddings).
pub const DEFAULT_S3_MAX_OBJECT_BYTES: u64 = 100 * 1024 * 1024;

/// Knowledge bases (see [`crate::knowledge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeSettings {
    /// Largest object (or multipart part) the S3-compatible API accepts
    /// (`PARLEY_S3_MAX_OBJECT_BYTES`, `s3_max_object_bytes`).
    pub s3_max_object_bytes: u64,
    /// Most pages one `POST /ai/embeddings/url` task crawls (`PARLEY_CRAWL_MAX_PAGES`,
    /// `crawl_max_pages`); links are followed at most 5 levels deep within the host.
    pub crawl_max_pages: usize,
    /// OpenAI-compatible `/embeddings` backends by contract model name (`[[embedding_models]]`
    /// in the TOML file: `name` is `thenlper/gte-large` or `intfloat/multilingual-e5-large`).
    /// A name without an entry is embedded by the local all-MiniLM-L6-v2.
    pub embedding_models: Vec<ModelRoute>,
    /// Where object bytes are kept (`PARLEY_OBJECT_STORE`, `object_store`: `local` or `s3`).
    pub object_store: ObjectStoreSettings,
}

/// Where object bytes are kept (see [`crate::knowledge::blobs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ObjectStoreSettings {
    /// Files under `DATA_DIR/objects`, seen by this node only (`local`, the default).
    #[default]
    Local,
    /// An S3 (or S3-compatible) bucket every node shares (`s3`).
    S3(S3Settings),
}

/// Default region of the S3 bucket (`PARLEY_S3_REGION`).
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// The S3 bucket object bytes are kept in when `object_store` is `s3`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket (`PARLEY_S3_BUCKET`, `s3_bucket`); it must exist.
    pub bucket: String,
    /// The service's root URL for any S3-compatible service, path-style requests
    /// (`PARLEY_S3_ENDPOINT`, `s3_endpoint`; no trailing `/`); `None` for AWS S3 itself. An
    /// `http://` endpoint is used over plain HTTP.
    pub endpoint: Option<String>,
    /// The bucket's region (`PARLEY_S3_REGION`, `s3_region`; default `us-east-1`).
    pub region: String,
    /// Access key id (`PARLEY_S3_ACCESS_KEY_ID`, `s3_access_key_id`), with the secret; without
    /// both, the credentials of the environment Parley runs in (instance or task role) are used.
    pub access_key_id: Option<String>,
    /// Secret access key (`PARLEY_S3_SECRET_ACCESS_KEY`, `s3_secret_access_key`). Its `Debug`
    /// prints `***`.
    pub secret_access_key: Option<String>,
    /// Names of blobs start with this (`PARLEY_S3_PREFIX`, `s3_prefix`; no leading or trailing
    /// `/`), so one bucket can hold several deployments.
    pub prefix: Option<String>,
}

impl S3Settings {
    /// Whether requests go over plain HTTP (an `http://` endpoint).
    pub fn allow_http(&self) -> bool {
        self.endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            s3_max_object_bytes: DEFAULT_S3_MAX_OBJECT_BYTES,
            crawl_max_pages: 20,
            embedding_models: Vec::new(),
            object_store: ObjectStoreSettings::Local,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--model-path`.
    pub model_path: Option<PathBuf>,
}

/// The TOML file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<usize>,
    api_key: Option<String>,
    allow_private_network: Option<bool>,
    max_body_bytes: Option<usize>,
    default_model: Option<String>,
    idempotency_ttl_hours: Option<u32>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    master_key: Option<SecretText>,
    models_dir: Option<PathBuf>,
    model_path: Option<PathBuf>,
    embedded_model: Option<bool>,
    embedded_model_name: Option<String>,
    pull_models: Option<bool>,
    llm_contexts: Option<usize>,
    llm_context_tokens: Option<u32>,
    llm_base_url: Option<String>,
    llm_api_key: Option<SecretText>,
    llm_timeout_ms: Option<u64>,
    chat_deadline_ms: Option<u64>,
    chat_max_tokens: Option<u32>,
    chat_max_tool_rounds: Option<u32>,
    tool_result_max_chars: Option<usize>,
    import_elevenlabs_url: Option<String>,
    import_vapi_url: Option<String>,
    import_retell_url: Option<String>,
    import_timeout_ms: Option<u64>,
    worker: Option<bool>,
    jobs_poll_ms: Option<u64>,
    jobs_lease_secs: Option<u64>,
    jobs_concurrency: Option<usize>,
    eval_base_url: Option<String>,
    eval_model: Option<String>,
    eval_api_key: Option<SecretText>,
    eval_max_turns: Option<u32>,
    eval_max_duration_secs: Option<u32>,
    telnyx_api_url: Option<String>,
    telnyx_api_key: Option<SecretText>,
    telnyx_connection_id: Option<String>,
    telnyx_messaging_profile_id: Option<String>,
    telnyx_public_key: Option<String>,
    telnyx_webhook_tolerance_secs: Option<u64>,
    telnyx_timeout_ms: Option<u64>,
    public_url: Option<String>,
    scheduler_min_retry_secs: Option<u32>,
    s3_max_object_bytes: Option<u64>,
    crawl_max_pages: Option<usize>,
    object_store: Option<String>,
    s3_bucket: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<SecretText>,
    s3_prefix: Option<String>,
    metrics: Option<bool>,
    auth_cache_ms: Option<u64>,
    #[serde(default)]
    embedding_models: Vec<ModelRoute>,
    #[serde(default)]
    models: Vec<ModelRoute>,
    #[serde(skip)]
    cache_vars: Vec<(String, String)>,
}

/// Text that must not be printed (the master key as read); its `Debug` prints `***`.
#[derive(Default, Deserialize)]
#[serde(transparent)]
struct SecretText(String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A setting that could not be used; start-up stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One setting has an unusable value.
    #[error("setting {name}: {message}")]
    Invalid {
        /// The setting (`PARLEY_LISTEN`, `listen`, `--listen`).
        name: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(name: &str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        name: name.to_owned(),
        message: message.into(),
    }
}

impl Settings {
    /// Layers defaults, `file`, the `PARLEY_*` variables of `env` and `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Self, SettingsError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<FileSettings>(&text).map_err(|e| {
                    // The message and line only: toml's own rendering quotes the offending
                    // line, which may hold the master key or an API key.
                    let (line, key) = match e.span() {
                        Some(span) => {
                            let start = span.start.min(text.len());
                            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                            let line_text = text[line_start..].lines().next().unwrap_or_default();
                            let key = line_text
                                .split_once('=')
                                .map(|(key, _)| key.trim().to_owned())
                                .filter(|key| !key.is_empty());
                            (Some(text[..start].matches('\n').count() + 1), key)
                        }
                        None => (None, None),
                    };
                    let at = match (line, key) {
                        (Some(line), Some(key)) => format!("line {line} ({key}): "),
                        (Some(line), None) => format!("line {line}: "),
                        _ => String::new(),
                    };
                    SettingsError::File {
                        path: path.to_owned(),
                        message: format!("{at}{}", e.message().trim()),
                    }
                })?
            }
            None => FileSettings::default(),
        };
        for (name, value) in env {
            let parse_usize = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| invalid(&name, format!("{v:?} is not a whole number")))
            };
            match name.as_str() {
                "PARLEY_LISTEN" => raw.listen = Some(value),
                "PARLEY_DATA_DIR" => raw.data_dir = Some(value.into()),
                "PARLEY_DATABASE_URL" => raw.database_url = Some(value),
                "PARLEY_DATABASE_MAX_CONNECTIONS" => {
                    raw.database_max_connections = Some(parse_usize(&value)?)
                }
                "PARLEY_API_KEY" => raw.api_key = Some(value),
                "PARLEY_ALLOW_PRIVATE_NETWORK" => {
                    raw.allow_private_network = Some(parse_bool(&name, &value)?)
                }
                "PARLEY_MAX_BODY_BYTES" => raw.max_body_bytes = Some(parse_usize(&value)?),
                "PARLEY_DEFAULT_MODEL" => raw.default_model = Some(value),
                "PARLEY_IDEMPOTENCY_TTL_HOURS" => {
                    raw.idempotency_ttl_hours = Some(
                        u32::try_from(parse_usize(&value)?)
                            .map_err(|_| invalid(&name, "too large"))?,
                    )
                }
                "PARLEY_LOG" => raw.log = Some(value),
                "PARLEY_MODELS_DIR" => raw.models_dir = Some(value.into()),
                "XDG_CACHE_HOME" | "HOME" => raw.cache_vars.push((name.clone(), value)),
                "PARLEY_MODEL_PATH" => raw.model_path = Some(value.into()),
                "PARLEY_EMBEDDED_MODEL" => raw.embedded_model = Some(parse_bool(&name, &value)?),
                "PARLEY_EMBEDDED_MODEL_NAME" => raw.embedded_model_name = Some(value),
                "PARLEY_PULL_MODELS" => raw.pull_models = Some(parse_bool(&name, &value)?),
                "PARLEY_LLM_CONTEXTS" => raw.llm_contexts = Some(parse_usize(&value)?),
                "PARLEY_LLM_CONTEXT_TOKENS" => {
                    raw.llm_context_tokens = Some(parse_u32(&name, &value)?)
                }
                "PARLEY_LLM_BASE_URL" => raw.llm_base_url = Some(value),
                "PARLEY_LLM_API_KEY" => raw.llm_api_key = Some(SecretText(value)),
                "PARLEY_LLM_TIMEOUT_MS" => raw.llm_timeout_ms = Some(parse_usize(&value)? as u64),
                "PARLEY_CHAT_DEADLINE_MS" => {
                    raw.chat_deadline_ms = Some(parse_usize(&value)? as u64)
                }
                "PARLEY_CHAT_MAX_TOKENS" => raw.chat_max_tokens = Some(parse_u32(&name, &value)?),
                "PARLEY_EVAL_BASE_URL" => raw.eval_base_url = Some(value),
                "PARLEY_EVAL_MODEL" => raw.eval_model = Some(value),
                "PARLEY_EVAL_API_KEY" => raw.eval_api_key = Some(SecretText(value)),
                "PARLEY_EVAL_MAX_TURNS" => raw.eval_max_turns = Some(parse_u32(&name, &value)?),
                "PARLEY_EVAL_MAX_DURATION_SECS" => {
                    raw.eval_max_duration_secs = Some(parse_u32(&name, &value)?)
                }
                "PARLEY_WORKER" => raw.worker = Some(parse_bool(&name, &value)?),
                "PARLEY_METRICS" => raw.metrics = Some(parse_bool(&name, &value)?),
                "PARLEY_AUTH_CACHE_MS" => raw.auth_cache_ms = Some(parse_usize(&value)? as u64),
                "PARLEY_JOBS_POLL_MS" => raw.jobs_poll_ms = Some(parse_usize(&value)? as u64),
                "PARLEY_JOBS_LEASE_SECS" => raw.jobs_lease_secs = Some(parse_usize(&value)? as u64),
                "PARLEY_JOBS_CONCURRENCY" => raw.jobs_concurrency = Some(parse_usize(&value)?),
                "PARLEY_IMPORT_ELEVENLABS_URL" => raw.import_elevenlabs_url = Some(value),
                "PARLEY_IMPORT_VAPI_URL" => raw.import_vapi_url = Some(value),
                "PARLEY_IMPORT_RETELL_URL" => raw.import_retell_url = Some(value),
                "PARLEY_IMPORT_TIMEOUT_MS" => {
                    raw.import_timeout_ms = Some(parse_usize(&value)? as u64)
                }
                "PARLEY_CHAT_MAX_TOOL_ROUNDS" => {
                    raw.chat_max_tool_rounds = Some(parse_u32(&name, &value)?)
                }
                "PARLEY_TOOL_RESULT_MAX_CHARS" => {
                    raw.tool_result_max_chars = Some(parse_usize(&value)?)
                }
                "PARLEY_TELNYX_API_URL" => raw.telnyx_api_url = Some(value),
                "PARLEY_TELNYX_API_KEY" => raw.telnyx_api_key = Some(SecretText(value)),
                "PARLEY_TELNYX_CONNECTION_ID" => raw.telnyx_connection_id = Some(value),
                "PARLEY_TELNYX_MESSAGING_PROFILE_ID" => {
                    raw.telnyx_messaging_profile_id = Some(value)
                }
                "PARLEY_TELNYX_PUBLIC_KEY" => raw.telnyx_public_key = Some(value),
                "PARLEY_TELNYX_WEBHOOK_TOLERANCE_SECS" => {
                    raw.telnyx_webhook_tolerance_secs = Some(parse_usize(&value)? as u64)
                }
                "PARLEY_TELNYX_TIMEOUT_MS" => {
                    raw.telnyx_timeout_ms = Some(parse_usize(&value)? as u64)
                }
                "PARLEY_PUBLIC_URL" => raw.public_url = Some(value),
                "PARLEY_S3_MAX_OBJECT_BYTES" => {
                    raw.s3_max_object_bytes = Some(parse_usize(&value)? as u64)
                }
                "PARLEY_CRAWL_MAX_PAGES" => raw.crawl_max_pages = Some(parse_usize(&value)?),
                "PARLEY_OBJECT_STORE" => raw.object_store = Some(value),
                "PARLEY_S3_BUCKET" => raw.s3_bucket = Some(value),
                "PARLEY_S3_ENDPOINT" => raw.s3_endpoint = Some(value),
                "PARLEY_S3_REGION" => raw.s3_region = Some(value),
                "PARLEY_S3_ACCESS_KEY_ID" => raw.s3_access_key_id = Some(value),
                "PARLEY_S3_SECRET_ACCESS_KEY" => raw.s3_secret_access_key = Some(SecretText(value)),
                "PARLEY_S3_PREFIX" => raw.s3_prefix = Some(value),
                "PARLEY_SCHEDULER_MIN_RETRY_SECS" => {
                    raw.scheduler_min_retry_secs = Some(parse_u32(&name, &value)?)
                }
                "PARLEY_MASTER_KEY" => {
                    parse_master_key(&name, &value)?;
                    raw.master_key = Some(SecretText(value));
                }
                "PARLEY_LOG_FORMAT" => {
                    raw.log_format = Some(match value.as_str() {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        other => {
                            return Err(invalid(&name, format!("{other:?} is not text or json")))
                        }
                    })
                }
                _ => {}
            }
        }
        if let Some(listen) = overrides.listen {
            raw.listen = Some(listen);
        }
        if let Some(dir) = overrides.data_dir {
            raw.data_dir = Some(dir);
        }
        if let Some(url) = overrides.database_url {
            raw.database_url = Some(url);
        }
        if let Some(path) = overrides.model_path {
            raw.model_path = Some(path);
        }
        Self::validate(raw)
    }

    fn validate(mut raw: FileSettings) -> Result<Self, SettingsError> {
        let defaults = Settings::default();
        let llm = Self::validate_llm(&mut raw)?;
        let import = Self::validate_import(&mut raw)?;
        let jobs = Self::validate_jobs(&raw)?;
        let eval = Self::validate_eval(&mut raw)?;
        let carrier = Self::validate_carrier(&mut raw)?;
        let knowledge = KnowledgeSettings {
            s3_max_object_bytes: raw
                .s3_max_object_bytes
                .unwrap_or(DEFAULT_S3_MAX_OBJECT_BYTES)
                .max(1024),
            crawl_max_pages: raw.crawl_max_pages.unwrap_or(20).max(1),
            embedding_models: std::mem::take(&mut raw.embedding_models),
            object_store: Self::validate_object_store(&mut raw)?,
        };
        let listen = match raw.listen {
            Some(text) => text.parse().map_err(|_| {
                invalid(
                    "listen",
                    format!("{text:?} is not an address like 127.0.0.1:8080"),
                )
            })?,
            None => defaults.listen,
        };
        let database_url = raw.database_url.filter(|u| !u.trim().is_empty());
        if let Some(url) = &database_url {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                return Err(invalid(
                    "database_url",
                    format!("{url:?} is neither postgres://… nor sqlite:PATH"),
                ));
            }
        }
        let max_body_bytes = raw.max_body_bytes.unwrap_or(defaults.max_body_bytes);
        if max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        let database_max_connections = raw
            .database_max_connections
            .unwrap_or(defaults.database_max_connections);
        if database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        let api_key = raw.api_key.filter(|k| !k.is_empty());
        if let Some(key) = &api_key {
            if key.len() < 8 || key.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "api_key",
                    "must be at least 8 characters without white space",
                ));
            }
        }
        let default_model = match raw.default_model.take() {
            Some(model) => model,
            None if llm.embedded => llm.embedded_name.clone(),
            None => defaults.default_model,
        };
        if default_model.trim().is_empty() {
            return Err(invalid("default_model", "must not be empty"));
        }
        Ok(Self {
            listen,
            data_dir: raw.data_dir.unwrap_or(defaults.data_dir),
            database_url,
            database_max_connections,
            api_key,
            allow_private_network: raw.allow_private_network.unwrap_or(false),
            max_body_bytes,
            default_model,
            idempotency_ttl_hours: raw
                .idempotency_ttl_hours
                .unwrap_or(defaults.idempotency_ttl_hours),
            log: raw.log.unwrap_or(defaults.log),
            log_format: raw.log_format.unwrap_or(defaults.log_format),
            master_key: raw
                .master_key
                .map(|key| parse_master_key("master_key", &key.0))
                .transpose()?
                .flatten(),
            llm,
            import,
            jobs,
            eval,
            carrier,
            knowledge,
            metrics: raw.metrics.unwrap_or(defaults.metrics),
            auth_cache_ms: match raw.auth_cache_ms.unwrap_or(defaults.auth_cache_ms) {
                ms if ms > MAX_AUTH_CACHE_MS => {
                    return Err(invalid(
                        "auth_cache_ms",
                        format!(
                            "{ms} is longer than {MAX_AUTH_CACHE_MS} ms (a revoked key would keep \
                             working that long)"
                        ),
                    ))
                }
                ms => ms,
            },
        })
    }

    fn validate_eval(raw: &mut FileSettings) -> Result<EvalSettings, SettingsError> {
        let defaults = EvalSettings::default();
        let base_url = raw.eval_base_url.take().filter(|u| !u.trim().is_empty());
        let model = raw.eval_model.take().filter(|m| !m.trim().is_empty());
        match (&base_url, &model) {
            (Some(url), Some(_)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        "eval_base_url",
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(invalid(
                    "eval_model",
                    "must be set with eval_base_url (the model to ask that endpoint for)",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "eval_base_url",
                    "must be set with eval_model (the endpoint that serves it)",
                ))
            }
            (None, None) => {}
        }
        let max_turns = raw.eval_max_turns.unwrap_or(defaults.max_turns);
        if !(1..=100).contains(&max_turns) {
            return Err(invalid("eval_max_turns", "must be from 1 to 100"));
        }
        let default_max_duration_secs = raw
            .eval_max_duration_secs
            .unwrap_or(defaults.default_max_duration_secs);
        if !(1..=3600).contains(&default_max_duration_secs) {
            return Err(invalid("eval_max_duration_secs", "must be from 1 to 3600"));
        }
        Ok(EvalSettings {
            base_url: base_url.map(|u| u.trim().trim_end_matches('/').to_owned()),
            model,
            api_key: raw
                .eval_api_key
                .take()
                .map(|k| k.0)
                .filter(|k| !k.is_empty()),
            max_turns,
            default_max_duration_secs,
        })
    }

    fn validate_carrier(raw: &mut FileSettings) -> Result<CarrierSettings, SettingsError> {
        let defaults = CarrierSettings::default();
        let url = |name: &str, value: Option<String>| match value
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
        {
            None => Ok(None),
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Ok(Some(url)),
            Some(url) => Err(invalid(name, format!("{url:?} is not an http(s) URL"))),
        };
        let text =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let public_key = match text(raw.telnyx_public_key.take()) {
            None => None,
            Some(key) => {
                use base64::Engine;
                match base64::engine::general_purpose::STANDARD.decode(&key) {
                    Ok(bytes) if bytes.len() == 32 => Some(bytes),
                    _ => {
                        return Err(invalid(
                            "telnyx_public_key",
                            "must be the base64 of a 32-byte Ed25519 public key (as the \
                             Telnyx portal shows it)",
                        ))
                    }
                }
            }
        };
        let positive = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(name, "must be at least 1")),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let min_retry_secs = raw
            .scheduler_min_retry_secs
            .unwrap_or(defaults.min_retry_secs);
        if !(1..=86_400).contains(&min_retry_secs) {
            return Err(invalid(
                "scheduler_min_retry_secs",
                "must be from 1 to 86400",
            ));
        }
        Ok(CarrierSettings {
            api_url: url("telnyx_api_url", raw.telnyx_api_url.take())?.unwrap_or(defaults.api_url),
            api_key: raw
                .telnyx_api_key
                .take()
                .map(|k| k.0.trim().to_owned())
                .filter(|k| !k.is_empty()),
            connection_id: text(raw.telnyx_connection_id.take()),
            messaging_profile_id: text(raw.telnyx_messaging_profile_id.take()),
            public_key,
            webhook_tolerance_secs: positive(
                "telnyx_webhook_tolerance_secs",
                raw.telnyx_webhook_tolerance_secs,
                defaults.webhook_tolerance_secs,
            )?,
            public_url: url("public_url", raw.public_url.take())?,
            timeout_ms: positive(
                "telnyx_timeout_ms",
                raw.telnyx_timeout_ms,
                defaults.timeout_ms,
            )?,
            min_retry_secs,
        })
    }

    fn validate_object_store(raw: &mut FileSettings) -> Result<ObjectStoreSettings, SettingsError> {
        let text =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let kind = text(raw.object_store.take()).unwrap_or_else(|| "local".to_owned());
        let bucket = text(raw.s3_bucket.take());
        let endpoint = text(raw.s3_endpoint.take()).map(|e| e.trim_end_matches('/').to_owned());
        let region = text(raw.s3_region.take());
        let access_key_id = text(raw.s3_access_key_id.take());
        let secret_access_key = text(raw.s3_secret_access_key.take().map(|s| s.0));
        let prefix = text(raw.s3_prefix.take()).map(|p| p.trim_matches('/').to_owned());
        match kind.to_ascii_lowercase().as_str() {
            "local" => {
                let given = [
                    ("s3_bucket", bucket.is_some()),
                    ("s3_endpoint", endpoint.is_some()),
                    ("s3_region", region.is_some()),
                    ("s3_access_key_id", access_key_id.is_some()),
                    ("s3_secret_access_key", secret_access_key.is_some()),
                    ("s3_prefix", prefix.is_some()),
                ];
                match given.iter().find(|(_, set)| *set) {
                    Some((name, _)) => Err(invalid(
                        name,
                        "is set but object_store is local; set object_store to s3 to keep \
                         object bytes in S3",
                    )),
                    None => Ok(ObjectStoreSettings::Local),
                }
            }
            "s3" => {
                let bucket = bucket
                    .ok_or_else(|| invalid("s3_bucket", "is required when object_store is s3"))?;
                if bucket.contains('/') || bucket.chars().any(char::is_whitespace) {
                    return Err(invalid(
                        "s3_bucket",
                        format!("{bucket:?} is not a bucket name"),
                    ));
                }
                if let Some(url) = &endpoint {
                    let parsed = url::Url::parse(url).ok().filter(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host().is_some()
                            && u.query().is_none()
                    });
                    if parsed.is_none() {
                        return Err(invalid(
                            "s3_endpoint",
                            format!("{url:?} is not an http(s) URL"),
                        ));
                    }
                }
                match (&access_key_id, &secret_access_key) {
                    (Some(_), None) => {
                        return Err(invalid(
                            "s3_secret_access_key",
                            "is required with s3_access_key_id",
                        ))
                    }
                    (None, Some(_)) => {
                        return Err(invalid(
                            "s3_access_key_id",
                            "is required with s3_secret_access_key",
                        ))
                    }
                    _ => {}
                }
                if let Some(prefix) = &prefix {
                    if prefix
                        .split('/')
                        .any(|part| part.is_empty() || part == "." || part == "..")
                    {
                        return Err(invalid(
                            "s3_prefix",
                            format!("{prefix:?} has an empty, `.` or `..` segment"),
                        ));
                    }
                }
                Ok(ObjectStoreSettings::S3(S3Settings {
                    bucket,
                    endpoint,
                    region: region.unwrap_or_else(|| DEFAULT_S3_REGION.to_owned()),
                    access_key_id,
                    secret_access_key,
                    prefix,
                }))
            }
            other => Err(invalid(
                "object_store",
                format!("{other:?} is not local or s3"),
            )),
        }
    }

    fn validate_jobs(raw: &FileSettings) -> Result<JobSettings, SettingsError> {
        let defaults = JobSettings::default();
        let positive = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(name, "must be at least 1")),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        Ok(JobSettings {
            worker: raw.worker.unwrap_or(defaults.worker),
            poll_ms: positive("jobs_poll_ms", raw.jobs_poll_ms, defaults.poll_ms)?,
            lease_secs: positive("jobs_lease_secs", raw.jobs_lease_secs, defaults.lease_secs)?,
            concurrency: positive(
                "jobs_concurrency",
                raw.jobs_concurrency.map(|n| n as u64),
                defaults.concurrency as u64,
            )? as usize,
        })
    }

    fn validate_import(raw: &mut FileSettings) -> Result<ImportSettings, SettingsError> {
        let defaults = ImportSettings::default();
        let url = |name: &str, value: Option<String>, default: String| match value
            .filter(|u| !u.trim().is_empty())
        {
            None => Ok(default),
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(url.trim().trim_end_matches('/').to_owned())
            }
            Some(url) => Err(invalid(name, format!("{url:?} is not an http(s) URL"))),
        };
        let timeout_ms = match raw.import_timeout_ms {
            Some(0) => return Err(invalid("import_timeout_ms", "must be at least 1")),
            Some(ms) => ms,
            None => defaults.timeout_ms,
        };
        Ok(ImportSettings {
            elevenlabs_url: url(
                "import_elevenlabs_url",
                raw.import_elevenlabs_url.take(),
                defaults.elevenlabs_url,
            )?,
            vapi_url: url(
                "import_vapi_url",
                raw.import_vapi_url.take(),
                defaults.vapi_url,
            )?,
            retell_url: url(
                "import_retell_url",
                raw.import_retell_url.take(),
                defaults.retell_url,
            )?,
            timeout_ms,
        })
    }

    fn validate_llm(raw: &mut FileSettings) -> Result<LlmSettings, SettingsError> {
        let defaults = LlmSettings::default();
        let models_dir = raw.models_dir.take().or_else(|| {
            parley_llm::models::default_models_dir(std::mem::take(&mut raw.cache_vars))
        });
        let model_path = raw.model_path.take();
        if let Some(path) = &model_path {
            if path.extension().and_then(|e| e.to_str()) != Some("gguf") {
                return Err(invalid(
                    "model_path",
                    format!("{} is not a .gguf file", path.display()),
                ));
            }
        }
        let embedded_name = match (raw.embedded_model_name.take(), &model_path) {
            (Some(name), _) if !name.trim().is_empty() => name,
            (Some(_), _) => return Err(invalid("embedded_model_name", "must not be empty")),
            (None, Some(path)) => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(defaults.embedded_name),
            (None, None) => defaults.embedded_name,
        };
        let contexts = raw.llm_contexts.unwrap_or(defaults.contexts);
        if !(1..=64).contains(&contexts) {
            return Err(invalid("llm_contexts", "must be from 1 to 64"));
        }
        let context_tokens = raw.llm_context_tokens.unwrap_or(defaults.context_tokens);
        if !(256..=1_048_576).contains(&context_tokens) {
            return Err(invalid("llm_context_tokens", "must be from 256 to 1048576"));
        }
        let check_url = |name: &str, url: &str| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(())
            } else {
                Err(invalid(name, format!("{url:?} is not an http(s) URL")))
            }
        };
        let upstream_base_url = raw.llm_base_url.take().filter(|u| !u.trim().is_empty());
        if let Some(url) = &upstream_base_url {
            check_url("llm_base_url", url)?;
        }
        let mut names = std::collections::BTreeSet::new();
        for route in &raw.models {
            if route.name.trim().is_empty() || route.name == "*" {
                return Err(invalid(
                    "models",
                    "every entry needs a name (use llm_base_url for a catch-all)",
                ));
            }
            if !names.insert(route.name.clone()) {
                return Err(invalid(
                    "models",
                    format!("{:?} is listed twice", route.name),
                ));
            }
            check_url("models", &route.base_url)?;
        }
        let positive = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(name, "must be at least 1")),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        Ok(LlmSettings {
            models_dir,
            model_path,
            embedded: raw.embedded_model.unwrap_or(defaults.embedded),
            embedded_name,
            pull_models: raw.pull_models.unwrap_or(defaults.pull_models),
            contexts,
            context_tokens,
            upstream_base_url,
            upstream_api_key: raw
                .llm_api_key
                .take()
                .map(|k| k.0)
                .filter(|k| !k.is_empty()),
            models: std::mem::take(&mut raw.models),
            timeout_ms: positive("llm_timeout_ms", raw.llm_timeout_ms, defaults.timeout_ms)?,
            turn_deadline_ms: positive(
                "chat_deadline_ms",
                raw.chat_deadline_ms,
                defaults.turn_deadline_ms,
            )?,
            max_output_tokens: u32::try_from(positive(
                "chat_max_tokens",
                raw.chat_max_tokens.map(u64::from),
                u64::from(defaults.max_output_tokens),
            )?)
            .unwrap_or(u32::MAX),
            max_tool_rounds: raw.chat_max_tool_rounds.unwrap_or(defaults.max_tool_rounds),
            tool_result_max_chars: match raw.tool_result_max_chars {
                Some(n) if !(100..=1_000_000).contains(&n) => {
                    return Err(invalid(
                        "tool_result_max_chars",
                        "must be from 100 to 1000000",
                    ))
                }
                Some(n) => n,
                None => defaults.tool_result_max_chars,
            },
        })
    }
}

fn parse_u32(name: &str, value: &str) -> Result<u32, SettingsError> {
    value
        .parse::<u32>()
        .map_err(|_| invalid(name, format!("{value:?} is not a whole number")))
}

/// Reads a master key; empty means "not set". The error never repeats the value.
fn parse_master_key(name: &str, value: &str) -> Result<Option<MasterKey>, SettingsError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    MasterKey::parse(value)
        .map(Some)
        .map_err(|e| invalid(name, e.to_string()))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, SettingsError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(invalid(name, format!("{other:?} is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nmax_body_bytes = 4096\ndefault_model = \"file/model\"\n",
        )
        .unwrap();
        let settings = Settings::load(
            Some(&file),
            env(&[
                ("PARLEY_LISTEN", "127.0.0.1:9001"),
                ("PARLEY_ALLOW_PRIVATE_NETWORK", "true"),
                ("HOME", "/x"),
            ]),
            Overrides {
                data_dir: Some("/tmp/p".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen.port(), 9001);
        assert_eq!(settings.max_body_bytes, 4096);
        assert_eq!(settings.default_model, "file/model");
        assert!(settings.allow_private_network);
        assert_eq!(settings.data_dir, PathBuf::from("/tmp/p"));
        let settings = Settings::load(
            Some(&file),
            [],
            Overrides {
                listen: Some("127.0.0.1:1".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen.port(), 1);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = Settings::load(
            None,
            env(&[("PARLEY_LISTEN", "nowhere")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Settings::load(
            None,
            env(&[("PARLEY_ALLOW_PRIVATE_NETWORK", "maybe")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("PARLEY_ALLOW_PRIVATE_NETWORK"),
            "{err}"
        );
        let err = Settings::load(
            None,
            env(&[("PARLEY_DATABASE_URL", "mysql://x")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = 1\n").unwrap();
        assert!(matches!(
            Settings::load(Some(&file), [], Overrides::default()),
            Err(SettingsError::File { .. })
        ));
        // A syntax error on a line holding a key says where, never what.
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\napi_key = \"s3cr3t-value-x\" extra\n",
        )
        .unwrap();
        let err = Settings::load(Some(&file), [], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn import_urls_default_to_the_providers_and_are_validated() {
        let settings = Settings::load(None, [], Overrides::default()).unwrap();
        assert_eq!(settings.import, ImportSettings::default());
        assert_eq!(settings.import.vapi_url, "https://api.vapi.ai");
        let settings = Settings::load(
            None,
            env(&[
                ("PARLEY_IMPORT_RETELL_URL", "http://127.0.0.1:9/"),
                ("PARLEY_IMPORT_TIMEOUT_MS", "250"),
            ]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(settings.import.retell_url, "http://127.0.0.1:9");
        assert_eq!(settings.import.timeout_ms, 250);
        let err = Settings::load(
            None,
            env(&[("PARLEY_IMPORT_ELEVENLABS_URL", "api.elevenlabs.io")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("import_elevenlabs_url"), "{err}");
    }

    #[test]
    fn eval_settings_come_in_pairs_and_hide_the_key() {
        let settings = Settings::load(None, [], Overrides::default()).unwrap();
        assert_eq!(settings.eval, EvalSettings::default());
        let settings = Settings::load(
            None,
            env(&[
                ("PARLEY_EVAL_BASE_URL", "http://127.0.0.1:9/v1/"),
                ("PARLEY_EVAL_MODEL", "judge"),
                ("PARLEY_EVAL_API_KEY", "sk-eval-secret"),
                ("PARLEY_EVAL_MAX_TURNS", "4"),
            ]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            settings.eval.base_url.as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(settings.eval.max_turns, 4);
        assert!(!format!("{settings:?}").contains("sk-eval-secret"));
        for (pairs, name) in [
            (&[("PARLEY_EVAL_BASE_URL", "http://x/v1")][..], "eval_model"),
            (&[("PARLEY_EVAL_MODEL", "judge")][..], "eval_base_url"),
            (&[("PARLEY_EVAL_MAX_TURNS", "0")][..], "eval_max_turns"),
        ] {
            let err = Settings::load(None, env(pairs), Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn carrier_settings_default_validate_and_hide_the_key() {
        let settings = Settings::load(None, [], Overrides::default()).unwrap();
        assert_eq!(settings.carrier.api_url, DEFAULT_TELNYX_API_URL);
        assert_eq!(settings.carrier.min_retry_secs, 60);
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let settings = Settings::load(
            None,
            env(&[
                ("PARLEY_TELNYX_API_URL", "http://127.0.0.1:9/v2/"),
                ("PARLEY_TELNYX_API_KEY", "KEYsecret-value"),
                ("PARLEY_TELNYX_PUBLIC_KEY", key),
                ("PARLEY_SCHEDULER_MIN_RETRY_SECS", "1"),
            ]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(settings.carrier.api_url, "http://127.0.0.1:9/v2");
        assert_eq!(settings.carrier.public_key.as_ref().map(Vec::len), Some(32));
        assert_eq!(settings.carrier.min_retry_secs, 1);
        assert!(!format!("{settings:?}").contains("KEYsecret-value"));
        for (name, value, setting) in [
            ("PARLEY_TELNYX_PUBLIC_KEY", "not-a-key", "telnyx_public_key"),
            ("PARLEY_TELNYX_API_URL", "api.telnyx.com", "telnyx_api_url"),
            (
                "PARLEY_SCHEDULER_MIN_RETRY_SECS",
                "0",
                "scheduler_min_retry_secs",
            ),
        ] {
            let err = Settings::load(None, env(&[(name, value)]), Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(setting), "{err}");
        }
    }

    #[test]
    fn object_store_is_local_by_default_and_s3_settings_are_checked() {
        let settings = Settings::load(None, [], Overrides::default()).unwrap();
        assert_eq!(settings.knowledge.object_store, ObjectStoreSettings::Local);
        let settings = Settings::load(
            None,
            env(&[
                ("PARLEY_OBJECT_STORE", "s3"),
                ("PARLEY_S3_BUCKET", "parley-objects"),
                ("PARLEY_S3_ENDPOINT", "http://minio.internal:9000/"),
                ("PARLEY_S3_ACCESS_KEY_ID", "AKIA0000"),
                ("PARLEY_S3_SECRET_ACCESS_KEY", "very-secret-value"),
                ("PARLEY_S3_PREFIX", "/prod/"),
            ]),
            Overrides::default(),
        )
        .unwrap();
        let ObjectStoreSettings::S3(s3) = &settings.knowledge.object_store else {
            panic!("not s3: {:?}", settings.knowledge.object_store);
        };
        assert_eq!(s3.bucket, "parley-objects");
        assert_eq!(s3.endpoint.as_deref(), Some("http://minio.internal:9000"));
        assert_eq!(s3.region, DEFAULT_S3_REGION);
        assert_eq!(s3.prefix.as_deref(), Some("prod"));
        assert!(s3.allow_http());
        assert!(!format!("{settings:?}").contains("very-secret-value"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(
            &file,
            "object_store = \"s3\"\ns3_bucket = \"b\"\ns3_region = \"eu-west-1\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&file), [], Overrides::default()).unwrap();
        let ObjectStoreSettings::S3(s3) = &settings.knowledge.object_store else {
            panic!("not s3");
        };
        assert_eq!(s3.region, "eu-west-1");
        assert!(s3.endpoint.is_none() && s3.access_key_id.is_none() && !s3.allow_http());

        for (pairs, named) in [
            (vec![("PARLEY_OBJECT_STORE", "gcs")], "object_store"),
            (vec![("PARLEY_OBJECT_STORE", "s3")], "s3_bucket"),
            (vec![("PARLEY_S3_BUCKET", "b")], "s3_bucket"),
            (
                vec![
                    ("PARLEY_OBJECT_STORE", "s3"),
                    ("PARLEY_S3_BUCKET", "b"),
                    ("PARLEY_S3_ENDPOINT", "minio:9000"),
                ],
                "s3_endpoint",
            ),
            (
                vec![
                    ("PARLEY_OBJECT_STORE", "s3"),
                    ("PARLEY_S3_BUCKET", "b"),
                    ("PARLEY_S3_ACCESS_KEY_ID", "AKIA0000"),
                ],
                "s3_secret_access_key",
            ),
            (
                vec![
                    ("PARLEY_OBJECT_STORE", "s3"),
                    ("PARLEY_S3_BUCKET", "b"),
                    ("PARLEY_S3_SECRET_ACCESS_KEY", "very-secret-value"),
                ],
                "s3_access_key_id",
            ),
            (
                vec![
                    ("PARLEY_OBJECT_STORE", "s3"),
                    ("PARLEY_S3_BUCKET", "b"),
                    ("PARLEY_S3_PREFIX", "a//b"),
                ],
                "s3_prefix",
            ),
        ] {
            let err = Settings::load(None, env(&pairs), Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{pairs:?}: {err}");
            assert!(!err.contains("very-secret-value"), "{err}");
        }
    }

    #[test]
    fn master_key_is_read_validated_and_never_printed() {
        let hex_key = "8f".repeat(32);
        let settings = Settings::load(
            None,
            env(&[("PARLEY_MASTER_KEY", hex_key.as_str())]),
            Overrides::default(),
        )
        .unwrap();
        let key = settings.master_key.clone().expect("a master key");
        assert_eq!(key.to_hex(), hex_key);
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains(&hex_key) && shown.contains("***"),
            "{shown}"
        );

        let bad = "not-a-key-but-maybe-secret";
        let err = Settings::load(
            None,
            env(&[("PARLEY_MASTER_KEY", bad)]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("PARLEY_MASTER_KEY") && !err.contains(bad),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, format!("master_key = \"{}\"\n", "ab".repeat(31))).unwrap();
        let err = Settings::load(Some(&file), [], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("master_key") && !err.contains(&"ab".repeat(31)),
            "{err}"
        );

        std::fs::write(&file, "master_key = \"\"\n").unwrap();
        let settings = Settings::load(Some(&file), [], Overrides::default()).unwrap();
        assert!(settings.master_key.is_none(), "an empty key means none");
    }

    #[test]
    fn metrics_are_on_unless_turned_off() {
        let on = Settings::load(None, [], Overrides::default()).unwrap();
        assert!(on.metrics);
        let off = Settings::load(
            None,
            env(&[("PARLEY_METRICS", "false")]),
            Overrides::default(),
        )
        .unwrap();
        assert!(!off.metrics);
        let err = Settings::load(
            None,
            env(&[("PARLEY_METRICS", "maybe")]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("PARLEY_METRICS"), "{err}");
    }

    #[test]
    fn the_key_cache_lasts_a_second_unless_set_and_at_most_a_minute() {
        let default = Settings::load(None, [], Overrides::default()).unwrap();
        assert_eq!(default.auth_cache_ms, 1_000);
        let off = Settings::load(
            None,
            env(&[("PARLEY_AUTH_CACHE_MS", "0")]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(off.auth_cache_ms, 0);
        let err = Settings::load(
            None,
            env(&[("PARLEY_AUTH_CACHE_MS", "600000")]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("auth_cache_ms"), "{err}");
    }
}
