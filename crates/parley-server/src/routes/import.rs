//! `POST /ai/assistants/import`: brings agents over from ElevenLabs, Vapi or Retell.
//!
//! Body `{provider, api_key_ref, import_ids?}`; `api_key_ref` names a bearer integration
//! secret holding the provider's API key. The import runs in two phases:
//!
//! 1. **Fetch** (nothing is written yet): the provider's list endpoint, following its
//!    pagination, then the get endpoint of every listed agent (or of those in `import_ids`)
//!    and what the agent refers to (ElevenLabs and Vapi tools by id, the Retell LLM). A
//!    provider that refuses the key (401/403) fails the import with a 400 naming the
//!    provider's reason; a provider that fails (5xx, 429), answers garbage to the list, or
//!    does not answer within `import_timeout_ms` fails it with a 502. An agent the provider
//!    cannot return (404, another 4xx, a body that is not JSON) only fails that agent.
//! 2. **Write**, one agent at a time: [`parley_core::import::map`] turns the agent into a
//!    create body, which is validated like any client body; placeholder integration secrets
//!    the agent refers to are created; then the assistant imported before from the same
//!    provider id is updated (a new main version, like `POST /ai/assistants/{id}`), or a new
//!    one is created with `import_metadata`. An agent that does not map or does not validate
//!    fails alone.
//!
//! The response is `{data: [assistants]}` (imported and re-imported ones). Agents that failed
//! are listed in the `X-Parley-Import-Failures` response header as a JSON array of
//! `{import_id, reason}` (ASCII, at most [`MAX_REPORTED_FAILURES`] entries) and logged; what
//! each imported assistant lost is in its `description`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{kind_of, require_object, JsonBody};
use crate::routes::{assistants, shared_tools};
use crate::secrets::{resolve_secret, SecretValue};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parley_core::assistant;
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::import::{
    self, ImportedAgent, MapContext, PlaceholderSecret, Provider, ProviderObjects,
};
use parley_core::secrets::SecretId;
use parley_core::{FieldError, ValidationErrors};
use parley_store::{AssistantRecord, CreateSecretOutcome, NewAssistantRecord, NewSecretRecord};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

/// Response header listing the agents that were not imported.
pub const FAILURES_HEADER: &str = "x-parley-import-failures";
/// Most failures listed in [`FAILURES_HEADER`] (the rest are counted in a last entry).
pub const MAX_REPORTED_FAILURES: usize = 25;
/// Most list pages followed.
pub const MAX_PAGES: usize = 100;
/// Most agents one import fetches.
pub const MAX_AGENTS: usize = 1000;
/// Largest provider response read.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Longest provider message quoted in an error.
const MAX_REASON_CHARS: usize = 300;
/// The value placeholder secrets are created with.
pub const PLACEHOLDER_TOKEN: &str = "parley-import-placeholder";

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ai/assistants/import", post(import_assistants))
}

/// A parsed request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// Where from.
    pub provider: Provider,
    /// The integration secret holding the provider's API key.
    pub api_key_ref: String,
    /// Only these agents (`None`: all of them).
    pub import_ids: Option<Vec<String>>,
}

/// Parses `{provider, api_key_ref, import_ids?}`; every problem is reported with a pointer.
pub fn parse_request(
    body: &serde_json::Map<String, Value>,
) -> Result<ImportRequest, ValidationErrors> {
    let mut errors = Vec::new();
    let names = Provider::ALL.map(Provider::as_str).join(", ");
    let provider = match body.get("provider") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/provider", "`provider` is required"));
            None
        }
        Some(Value::String(p)) => match Provider::parse(p) {
            Some(provider) => Some(provider),
            None => {
                errors.push(FieldError::invalid(
                    "/provider",
                    format!("`provider` must be one of: {names}"),
                ));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::invalid(
                "/provider",
                format!("`provider` must be a string, not {}", kind_of(other)),
            ));
            None
        }
    };
    let api_key_ref = match body.get("api_key_ref") {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                "/api_key_ref",
                "`api_key_ref` is required",
            ));
            None
        }
        Some(Value::String(r)) if r.trim().is_empty() => {
            errors.push(FieldError::invalid(
                "/api_key_ref",
                "`api_key_ref` must not be empty",
            ));
            None
        }
        Some(Value::String(r)) => Some(r.clone()),
        Some(other) => {
            errors.push(FieldError::invalid(
                "/api_key_ref",
                format!("`api_key_ref` must be a string, not {}", kind_of(other)),
            ));
            None
        }
    };
    let import_ids = match body.get("import_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str().map(str::trim) {
                    Some(id) if !id.is_empty() && !id.contains('\0') => {
                        if !ids.iter().any(|known| known == id) {
                            ids.push(id.to_owned());
                        }
                    }
                    _ => errors.push(FieldError::invalid(
                        format!("/import_ids/{i}"),
                        "every import id must be a non-empty string",
                    )),
                }
            }
            if ids.len() > MAX_AGENTS {
                errors.push(FieldError::invalid(
                    "/import_ids",
                    format!("at most {MAX_AGENTS} import ids"),
                ));
            }
            // An empty list filters nothing, like an absent one.
            (!ids.is_empty()).then_some(ids)
        }
        Some(other) => {
            errors.push(FieldError::invalid(
                "/import_ids",
                format!(
                    "`import_ids` must be an array of strings, not {}",
                    kind_of(other)
                ),
            ));
            None
        }
    };
    match (provider, api_key_ref) {
        (Some(provider), Some(api_key_ref)) if errors.is_empty() => Ok(ImportRequest {
            provider,
            api_key_ref,
            import_ids,
        }),
        _ => Err(ValidationErrors(errors)),
    }
}

/// An agent that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The provider's id of the agent.
    pub import_id: String,
    /// Why.
    pub reason: String,
}

/// `POST /ai/assistants/import`.
async fn import_assistants(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let request = parse_request(&require_object(body)?)?;
    let token = provider_key(&state, &tenant.org_id, &request.api_key_ref).await?;
    let fetcher = Fetcher::new(&state, &request, token)?;
    let (fetched, mut failures) = match request.provider {
        Provider::ElevenLabs => fetch_elevenlabs(&fetcher, request.import_ids.as_deref()).await?,
        Provider::Vapi => fetch_vapi(&fetcher, request.import_ids.as_deref()).await?,
        Provider::Retell => fetch_retell(&fetcher, request.import_ids.as_deref()).await?,
    };

    let lock = org_lock(&tenant.org_id);
    let _guard = lock.lock().await;
    let secret_names = fetched.secret_names;
    let can_serve = |model: &str| state.llm.can_serve(model);
    let context = MapContext {
        api_key_ref: &request.api_key_ref,
        default_model: &state.settings.default_model,
        can_serve: &can_serve,
        secret_names: &secret_names,
    };
    let mut records = Vec::new();
    for objects in fetched.agents {
        let mapped = match import::map(request.provider, &objects, &context) {
            Ok(mapped) => mapped,
            Err(e) => {
                let import_id = if e.import_id.is_empty() {
                    import::agent_id(request.provider, &objects.agent)
                        .unwrap_or("(unknown)")
                        .to_owned()
                } else {
                    e.import_id
                };
                failures.push(Failure {
                    import_id,
                    reason: e.reason,
                });
                continue;
            }
        };
        let import_id = mapped.import_id.clone();
        match store_agent(&state, &tenant, mapped).await {
            Ok(record) => records.push(record),
            Err(ApiError::Validation(errors)) => failures.push(Failure {
                import_id,
                reason: format!(
                    "the mapped assistant is not valid: {}",
                    errors
                        .0
                        .iter()
                        .map(|e| format!("{}: {}", e.pointer, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }),
            Err(e @ (ApiError::Refused { .. } | ApiError::NotFound { .. })) => {
                failures.push(Failure {
                    import_id,
                    reason: e.to_string(),
                })
            }
            Err(other) => return Err(other),
        }
    }
    drop(_guard);

    for failure in &failures {
        tracing::warn!(
            provider = %request.provider,
            import_id = %failure.import_id,
            reason = %failure.reason,
            "agent not imported"
        );
    }
    tracing::info!(
        provider = %request.provider,
        imported = records.len(),
        failed = failures.len(),
        "import finished"
    );
    let data = assistants::render_records(&state, &tenant.org_id, &records).await?;
    let mut headers = HeaderMap::new();
    if !failures.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&failures_header(&failures)) {
            headers.insert(FAILURES_HEADER, value);
        }
    }
    Ok((headers, Json(json!({ "data": data }))).into_response())
}

/// The value of [`FAILURES_HEADER`]: JSON with every non-ASCII character escaped.
pub fn failures_header(failures: &[Failure]) -> String {
    let mut listed: Vec<Failure> = failures
        .iter()
        .take(MAX_REPORTED_FAILURES)
        .map(|f| Failure {
            import_id: f.import_id.clone(),
            reason: truncate(&f.reason, MAX_REASON_CHARS * 2),
        })
        .collect();
    if failures.len() > MAX_REPORTED_FAILURES {
        listed.push(Failure {
            import_id: String::new(),
            reason: format!(
                "{} more agents were not imported (see the server log)",
                failures.len() - MAX_REPORTED_FAILURES
            ),
        });
    }
    let text = serde_json::to_string(&listed).unwrap_or_else(|_| "[]".into());
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    ascii
}

fn truncate(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() <= max {
        clean.to_owned()
    } else {
        let cut: String = clean.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// The provider API key: the bearer token of the integration secret `identifier`.
async fn provider_key(state: &AppState, org: &OrgId, identifier: &str) -> ApiResult<String> {
    match resolve_secret(state, org, identifier).await? {
        Some(SecretValue::Bearer { token }) => Ok(token),
        Some(SecretValue::Basic { .. }) => Err(ValidationErrors::one(FieldError::invalid(
            "/api_key_ref",
            format!(
                "integration secret {identifier:?} is a basic secret; the provider API key must \
                 be a bearer secret"
            ),
        ))
        .into()),
        None => Err(ValidationErrors::one(FieldError::invalid(
            "/api_key_ref",
            format!("integration secret {identifier:?} not found"),
        ))
        .into()),
    }
}

/// One lock per organization: imports of one organization write one after another, so the
/// second import of an agent finds what the first created instead of creating it again.
fn org_lock(org: &OrgId) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lock) = locks.get(org.as_str()).and_then(Weak::upgrade) {
        return lock;
    }
    if locks.len() >= 1024 {
        locks.retain(|_, weak| weak.strong_count() > 0);
    }
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    locks.insert(org.as_str().to_owned(), Arc::downgrade(&lock));
    lock
}

/// Validates, creates the placeholder secrets, and creates or updates the assistant.
async fn store_agent(
    state: &AppState,
    tenant: &Tenant,
    mapped: ImportedAgent,
) -> ApiResult<AssistantRecord> {
    let org = &tenant.org_id;
    let version_name = format!("Imported from {}", mapped.provider.display_name());
    let new = assistant::parse_create(
        Value::Object(mapped.body.clone()),
        &state.settings.default_model,
    )?;
    create_placeholders(state, org, &mapped.secrets).await?;
    assistants::check_references(state, tenant, new.config.as_map()).await?;
    let now = state.clock.now();
    let existing = state
        .store
        .find_assistant_by_import(org, mapped.provider.as_str(), &mapped.import_id)
        .await?;
    match existing {
        Some(existing) => {
            let update =
                assistant::parse_update(mapped.update_body(&existing.tags, &version_name))?;
            let next = update.apply(&existing.version.config);
            shared_tools::check_combined_tools(state, org, next.as_map()).await?;
            state
                .store
                .update_assistant(org, &existing.id, &update, VersionId::generate(), now)
                .await?
                .ok_or_else(|| ApiError::assistant_not_found(existing.id.as_str()))
        }
        None => {
            shared_tools::check_combined_tools(state, org, new.config.as_map()).await?;
            Ok(state
                .store
                .create_assistant_with_version(
                    org,
                    NewAssistantRecord {
                        id: AssistantId::generate(),
                        tags: new.tags,
                        import_metadata: Some(mapped.import_metadata()),
                        version_id: VersionId::generate(),
                        version_name,
                        config: new.config,
                    },
                    now,
                )
                .await?)
        }
    }
}

/// Creates the placeholder secrets the organization does not have yet (existing ones, maybe
/// filled in by the user already, are left alone).
async fn create_placeholders(
    state: &AppState,
    org: &OrgId,
    secrets: &[PlaceholderSecret],
) -> ApiResult<()> {
    if secrets.is_empty() {
        return Ok(());
    }
    let identifiers: Vec<String> = secrets.iter().map(|s| s.identifier.clone()).collect();
    let existing = state
        .store
        .existing_secret_identifiers(org, &identifiers)
        .await?;
    for secret in secrets.iter().filter(|s| !existing.contains(&s.identifier)) {
        let value = SecretValue::Bearer {
            token: PLACEHOLDER_TOKEN.to_owned(),
        };
        let sealed = value.seal(&state.cipher, org, &secret.identifier)?;
        let outcome = state
            .store
            .create_secret(
                org,
                NewSecretRecord {
                    id: SecretId::generate(),
                    identifier: secret.identifier.clone(),
                    kind: value.kind(),
                    sealed,
                },
                state.clock.now(),
            )
            .await?;
        if let CreateSecretOutcome::Created(record) = outcome {
            tracing::info!(identifier = %record.identifier, origin = %secret.origin, "created a placeholder integration secret");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Talking to the providers
// ---------------------------------------------------------------------------------------

/// Why a provider request did not give an object.
enum FetchError {
    /// Only the agent being fetched fails (404, another 4xx, a body that is not JSON).
    Agent(String),
    /// The whole import fails.
    Abort(ApiError),
}

impl From<FetchError> for ApiError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Abort(e) => e,
            FetchError::Agent(detail) => ApiError::Upstream { detail },
        }
    }
}

/// What phase 1 returns.
struct Fetched {
    agents: Vec<ProviderObjects>,
    secret_names: BTreeMap<String, String>,
}

/// A provider's API with the caller's key. Redirects are not followed, so the key never goes
/// anywhere but the configured API root.
struct Fetcher {
    provider: Provider,
    base: String,
    key_ref: String,
    token: String,
    timeout_ms: u64,
    http: reqwest::Client,
}

impl Fetcher {
    fn new(state: &AppState, request: &ImportRequest, token: String) -> ApiResult<Self> {
        let settings = &state.settings.import;
        let base = match request.provider {
            Provider::ElevenLabs => &settings.elevenlabs_url,
            Provider::Vapi => &settings.vapi_url,
            Provider::Retell => &settings.retell_url,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(10_000)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Internal(format!("import HTTP client: {e}")))?;
        Ok(Self {
            provider: request.provider,
            base: base.trim_end_matches('/').to_owned(),
            key_ref: request.api_key_ref.clone(),
            token,
            timeout_ms: settings.timeout_ms,
            http,
        })
    }

    fn name(&self) -> &'static str {
        self.provider.display_name()
    }

    /// `GET base + path` with the provider's auth header.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, FetchError> {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .header(reqwest::header::ACCEPT, "application/json");
        request = match self.provider {
            Provider::ElevenLabs => request.header("xi-api-key", &self.token),
            Provider::Vapi | Provider::Retell => request.bearer_auth(&self.token),
        };
        let name = self.name();
        let mut response = request.send().await.map_err(|e| {
            FetchError::Abort(ApiError::Upstream {
                detail: if e.is_timeout() {
                    format!(
                        "{name} did not answer GET {path} within {} ms",
                        self.timeout_ms
                    )
                } else {
                    format!(
                        "{name} could not be reached at {}: {}",
                        self.base,
                        error_chain(&e)
                    )
                },
            })
        })?;
        let status = response.status();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(FetchError::Agent(format!(
                            "{name} answered GET {path} with more than {MAX_RESPONSE_BYTES} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(FetchError::Abort(ApiError::Upstream {
                        detail: if e.is_timeout() {
                            format!(
                                "{name} did not finish answering GET {path} within {} ms",
                                self.timeout_ms
                            )
                        } else {
                            format!(
                                "{name} broke off its answer to GET {path}: {}",
                                error_chain(&e)
                            )
                        },
                    }))
                }
            }
        }
        let reason = || provider_reason(&bytes);
        match status.as_u16() {
            200..=299 => serde_json::from_slice(&bytes).map_err(|_| {
                FetchError::Agent(format!(
                    "{name} answered GET {path} with a body that is not JSON"
                ))
            }),
            401 | 403 => Err(FetchError::Abort(ApiError::Refused {
                detail: format!(
                    "{name} refused the API key in integration secret {:?} (HTTP {}): {}",
                    self.key_ref,
                    status.as_u16(),
                    reason()
                ),
                pointer: Some("/api_key_ref".into()),
            })),
            429 => Err(FetchError::Abort(ApiError::Upstream {
                detail: format!(
                    "{name} is rate limiting the import (HTTP 429): {}; try again later",
                    reason()
                ),
            })),
            400..=499 => Err(FetchError::Agent(format!(
                "{name} answered GET {path} with HTTP {}: {}",
                status.as_u16(),
                reason()
            ))),
            _ => Err(FetchError::Abort(ApiError::Upstream {
                detail: format!(
                    "{name} failed: GET {path} answered HTTP {}: {}",
                    status.as_u16(),
                    reason()
                ),
            })),
        }
    }

    /// A list page: any failure fails the import.
    async fn list(&self, path: &str, query: &[(&str, String)]) -> ApiResult<Value> {
        self.get(path, query).await.map_err(ApiError::from)
    }

    fn unexpected(&self, path: &str, expected: &str) -> ApiError {
        ApiError::Upstream {
            detail: format!(
                "{} answered GET {path} with something other than {expected}",
                self.name()
            ),
        }
    }
}

/// A reqwest error with its causes (the URL it names carries no credential).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What a provider's error body says: `detail.message` (ElevenLabs), `message` (Vapi,
/// Retell), `error`, or the text itself.
fn provider_reason(bytes: &[u8]) -> String {
    if let Ok(body) = serde_json::from_slice::<Value>(bytes) {
        for pointer in [
            "/detail/message",
            "/detail/0/msg",
            "/detail",
            "/message",
            "/error/message",
            "/error_message",
            "/error",
        ] {
            match body.pointer(pointer) {
                Some(Value::String(text)) if !text.trim().is_empty() => {
                    return truncate(text, MAX_REASON_CHARS)
                }
                Some(Value::Array(items)) => {
                    let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    if !texts.is_empty() {
                        return truncate(&texts.join("; "), MAX_REASON_CHARS);
                    }
                }
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        "no details given".into()
    } else {
        truncate(&text, MAX_REASON_CHARS)
    }
}

/// Percent-encodes one path segment.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The listed ids to fetch (all, or those asked for in the listed order) and a failure for
/// each asked-for id the provider did not list.
fn select(
    listed: Vec<String>,
    wanted: Option<&[String]>,
    provider: Provider,
) -> (Vec<String>, Vec<Failure>) {
    let Some(wanted) = wanted else {
        return (listed, Vec::new());
    };
    let failures = wanted
        .iter()
        .filter(|id| !listed.contains(id))
        .map(|id| Failure {
            import_id: id.clone(),
            reason: format!(
                "{} does not list an {} with this id for this API key",
                provider.display_name(),
                provider.agent_noun()
            ),
        })
        .collect();
    let selected = listed
        .into_iter()
        .filter(|id| wanted.contains(id))
        .collect();
    (selected, failures)
}

/// Checks that a get endpoint answered an object, and makes sure it carries the id it was
/// fetched by (so that a failure can name it).
fn agent_object(provider: Provider, id: &str, mut agent: Value) -> Result<Value, Failure> {
    let key = match provider {
        Provider::ElevenLabs | Provider::Retell => "agent_id",
        Provider::Vapi => "id",
    };
    match &mut agent {
        Value::Object(object) => {
            let has_id = object
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !has_id {
                object.insert(key.into(), Value::String(id.to_owned()));
            }
            Ok(agent)
        }
        other => Err(Failure {
            import_id: id.to_owned(),
            reason: format!(
                "{} answered with {} instead of an {} object",
                provider.display_name(),
                kind_of(other),
                provider.agent_noun()
            ),
        }),
    }
}

/// Pushes `id` unless seen; false once [`MAX_AGENTS`] ids are known.
fn remember(ids: &mut Vec<String>, seen: &mut BTreeSet<String>, id: &str) -> bool {
    if seen.insert(id.to_owned()) {
        ids.push(id.to_owned());
    }
    ids.len() < MAX_AGENTS
}

/// The agent `id` read from `path` and checked: `None`, with the failure recorded, when this
/// agent cannot be imported; an error when the whole import must stop.
async fn fetch_agent(
    f: &Fetcher,
    provider: Provider,
    path: &str,
    id: String,
    failures: &mut Vec<Failure>,
) -> ApiResult<Option<ProviderObjects>> {
    let agent = match f.get(path, &[]).await {
        Ok(agent) => agent_object(provider, &id, agent),
        Err(FetchError::Agent(reason)) => Err(Failure {
            import_id: id,
            reason,
        }),
        Err(FetchError::Abort(e)) => return Err(e),
    };
    match agent {
        Ok(agent) => Ok(Some(ProviderObjects {
            agent,
            ..ProviderObjects::default()
        })),
        Err(failure) => {
            failures.push(failure);
            Ok(None)
        }
    }
}

/// Reads the tools whose ids the agent lists at `pointer` from `{prefix}/{id}`; a tool that
/// cannot be read is noted as unavailable, not a failure of the agent.
async fn fetch_tools(
    f: &Fetcher,
    objects: &mut ProviderObjects,
    pointer: &str,
    prefix: &str,
) -> ApiResult<()> {
    let tool_ids: Vec<String> = objects
        .agent
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    for tool_id in tool_ids {
        match f.get(&format!("{prefix}/{}", segment(&tool_id)), &[]).await {
            Ok(tool) => objects.tools.push(tool),
            Err(FetchError::Agent(_)) => objects.unavailable_tools.push(tool_id),
            Err(FetchError::Abort(e)) => return Err(e),
        }
    }
    Ok(())
}

/// ElevenLabs: `GET /v1/convai/agents?page_size=100&cursor=…` while `has_more`, then
/// `GET /v1/convai/agents/{id}`, `GET /v1/convai/tools/{id}` for its `tool_ids`, and
/// `GET /v1/convai/secrets` (best effort) to name the workspace secrets its tools use.
async fn fetch_elevenlabs(
    f: &Fetcher,
    wanted: Option<&[String]>,
) -> ApiResult<(Fetched, Vec<Failure>)> {
    const LIST: &str = "/v1/convai/agents";
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..MAX_PAGES {
        let mut query = vec![("page_size", "100".to_owned())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let page = f.list(LIST, &query).await?;
        let agents = page
            .get("agents")
            .and_then(Value::as_array)
            .ok_or_else(|| f.unexpected(LIST, "{agents: [...]}"))?;
        for agent in agents {
            if let Some(id) = agent.get("agent_id").and_then(Value::as_str) {
                if !remember(&mut ids, &mut seen, id) {
                    break 'pages;
                }
            }
        }
        let more = page.get("has_more").and_then(Value::as_bool) == Some(true);
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) if more && !next.is_empty() && cursor.as_deref() != Some(next) => {
                cursor = Some(next.to_owned());
            }
            _ => break,
        }
    }
    let (selected, mut failures) = select(ids, wanted, Provider::ElevenLabs);
    let mut agents = Vec::new();
    for id in selected {
        let path = format!("{LIST}/{}", segment(&id));
        let Some(mut objects) =
            fetch_agent(f, Provider::ElevenLabs, &path, id, &mut failures).await?
        else {
            continue;
        };
        fetch_tools(
            f,
            &mut objects,
            "/conversation_config/agent/prompt/tool_ids",
            "/v1/convai/tools",
        )
        .await?;
        agents.push(objects);
    }
    let mut secret_names = BTreeMap::new();
    let uses_secrets = agents.iter().any(|a| {
        a.agent.to_string().contains("\"secret_id\"")
            || a.tools
                .iter()
                .any(|t| t.to_string().contains("\"secret_id\""))
    });
    if uses_secrets {
        // Best effort: without names the placeholders are named after the secret ids.
        if let Ok(listing) = f.get("/v1/convai/secrets", &[]).await {
            for secret in listing
                .get("secrets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(id), Some(name)) = (
                    secret.get("secret_id").and_then(Value::as_str),
                    secret.get("name").and_then(Value::as_str),
                ) {
                    secret_names.insert(id.to_owned(), name.to_owned());
                }
            }
        }
    }
    Ok((
        Fetched {
            agents,
            secret_names,
        },
        failures,
    ))
}

/// Vapi: `GET /assistant?limit=100&createdAtLt=…` (newest first; the next page is what was
/// created before the oldest of this one) until a page brings nothing new, then
/// `GET /assistant/{id}` and `GET /tool/{id}` for its `model.toolIds`.
async fn fetch_vapi(f: &Fetcher, wanted: Option<&[String]>) -> ApiResult<(Fetched, Vec<Failure>)> {
    const LIST: &str = "/assistant";
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    let mut before: Option<String> = None;
    'pages: for _ in 0..MAX_PAGES {
        let mut query = vec![("limit", "100".to_owned())];
        if let Some(before) = &before {
            query.push(("createdAtLt", before.clone()));
        }
        let page = f.list(LIST, &query).await?;
        let items = page
            .as_array()
            .ok_or_else(|| f.unexpected(LIST, "an array of assistants"))?;
        let known = ids.len();
        for item in items {
            if let Some(id) = item.get("id").and_then(Value::as_str) {
                if !remember(&mut ids, &mut seen, id) {
                    break 'pages;
                }
            }
        }
        let oldest = items
            .iter()
            .filter_map(|i| i.get("createdAt").and_then(Value::as_str))
            .min()
            .map(str::to_owned);
        match oldest {
            Some(oldest) if ids.len() > known && before.as_deref() != Some(oldest.as_str()) => {
                before = Some(oldest);
            }
            _ => break,
        }
    }
    let (selected, mut failures) = select(ids, wanted, Provider::Vapi);
    let mut agents = Vec::new();
    for id in selected {
        let path = format!("{LIST}/{}", segment(&id));
        let Some(mut objects) = fetch_agent(f, Provider::Vapi, &path, id, &mut failures).await?
        else {
            continue;
        };
        fetch_tools(f, &mut objects, "/model/toolIds", "/tool").await?;
        agents.push(objects);
    }
    Ok((
        Fetched {
            agents,
            secret_names: BTreeMap::new(),
        },
        failures,
    ))
}

/// Retell: `GET /list-agents?limit=1000&pagination_key=…&pagination_key_version=…` (the last
/// agent of a page is the key of the next) until a page brings nothing new, then
/// `GET /get-agent/{id}` and, for Retell-LLM agents, `GET /get-retell-llm/{llm_id}`.
async fn fetch_retell(
    f: &Fetcher,
    wanted: Option<&[String]>,
) -> ApiResult<(Fetched, Vec<Failure>)> {
    const LIST: &str = "/list-agents";
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    let mut key: Option<(String, Option<i64>)> = None;
    'pages: for _ in 0..MAX_PAGES {
        let mut query = vec![("limit", "1000".to_owned())];
        if let Some((id, version)) = &key {
            query.push(("pagination_key", id.clone()));
            if let Some(version) = version {
                query.push(("pagination_key_version", version.to_string()));
            }
        }
        let page = f.list(LIST, &query).await?;
        let items = page
            .as_array()
            .ok_or_else(|| f.unexpected(LIST, "an array of agents"))?;
        let known = ids.len();
        for item in items {
            if let Some(id) = item.get("agent_id").and_then(Value::as_str) {
                if !remember(&mut ids, &mut seen, id) {
                    break 'pages;
                }
            }
        }
        let last = items.last().and_then(|last| {
            let id = last.get("agent_id").and_then(Value::as_str)?;
            Some((id.to_owned(), last.get("version").and_then(Value::as_i64)))
        });
        match last {
            Some(last) if ids.len() > known && key.as_ref() != Some(&last) => key = Some(last),
            _ => break,
        }
    }
    let (selected, mut failures) = select(ids, wanted, Provider::Retell);
    let mut agents = Vec::new();
    for id in selected {
        let path = format!("/get-agent/{}", segment(&id));
        let Some(mut objects) =
            fetch_agent(f, Provider::Retell, &path, id.clone(), &mut failures).await?
        else {
            continue;
        };
        let engine = objects
            .agent
            .get("response_engine")
            .cloned()
            .unwrap_or_default();
        if engine.get("type").and_then(Value::as_str) == Some("retell-llm") {
            if let Some(llm_id) = engine.get("llm_id").and_then(Value::as_str) {
                let query: Vec<(&str, String)> = engine
                    .get("version")
                    .and_then(Value::as_i64)
                    .map(|v| vec![("version", v.to_string())])
                    .unwrap_or_default();
                match f
                    .get(&format!("/get-retell-llm/{}", segment(llm_id)), &query)
                    .await
                {
                    Ok(llm) => objects.llm = Some(llm),
                    Err(FetchError::Agent(reason)) => {
                        failures.push(Failure {
                            import_id: id,
                            reason: format!(
                                "its Retell LLM {llm_id} could not be fetched: {reason}"
                            ),
                        });
                        continue;
                    }
                    Err(FetchError::Abort(e)) => return Err(e),
                }
            }
        }
        agents.push(objects);
    }
    Ok((
        Fetched {
            agents,
            secret_names: BTreeMap::new(),
        },
        failures,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_with_pointers() {
        let body = json!({"provider": "vapi", "api_key_ref": "k", "import_ids": ["a", "a", "b"]});
        let request = parse_request(body.as_object().unwrap()).unwrap();
        assert_eq!(request.provider, Provider::Vapi);
        assert_eq!(
            request.import_ids,
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        let body = json!({"provider": "bland", "import_ids": [1]});
        let errors = parse_request(body.as_object().unwrap()).unwrap_err();
        let pointers: Vec<&str> = errors.0.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/provider", "/api_key_ref", "/import_ids/0"]);
        let body = json!({"provider": "retell", "api_key_ref": "k", "import_ids": []});
        assert_eq!(
            parse_request(body.as_object().unwrap()).unwrap().import_ids,
            None
        );
    }

    #[test]
    fn the_failures_header_is_ascii_json() {
        let failures = vec![Failure {
            import_id: "agent_ü".into(),
            reason: "bad\nagent ✓".into(),
        }];
        let header = failures_header(&failures);
        assert!(header.is_ascii(), "{header}");
        let parsed: Value = serde_json::from_str(&header).unwrap();
        assert_eq!(
            parsed,
            json!([{"import_id": "agent_ü", "reason": "bad agent ✓"}])
        );
        assert!(HeaderValue::from_str(&header).is_ok());
    }

    #[test]
    fn provider_reasons_are_found() {
        assert_eq!(
            provider_reason(
                br#"{"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}"#
            ),
            "Invalid API key"
        );
        assert_eq!(
            provider_reason(
                br#"{"message": "Invalid Key.", "error": "Unauthorized", "statusCode": 401}"#
            ),
            "Invalid Key."
        );
        assert_eq!(provider_reason(b""), "no details given");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
