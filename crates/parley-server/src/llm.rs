//! Which language model serves an assistant.
//!
//! An assistant names its model in one of three ways, and [`LlmRouter`] turns each into a
//! [`ChatModel`]:
//!
//! 1. `external_llm` (`base_url`, `model`, `llm_api_key_ref`): the assistant's own
//!    OpenAI-compatible endpoint, reached through the outbound address guard
//!    ([`crate::outbound`]); the key is the integration secret the ref names. It replaces
//!    `model` entirely.
//! 2. `model`, served by, in this order: the embedded model (llama.cpp in this process, under
//!    [`LlmSettings::embedded_name`]); an entry of the model table (`[[models]]`, exact name or
//!    `prefix/*`); the catch-all upstream (`llm_base_url`). The assistant's `llm_api_key_ref`,
//!    when set, replaces the configured key.
//! 3. `fallback_config` (`model`, `llm_api_key_ref`, or `external_llm`), resolved the same way
//!    and used when the primary fails before it produced any text.
//!
//! A `model` nothing serves is refused when the assistant is saved ([`LlmRouter::check`]), so
//! chat never discovers it late — unless the configuration changed since, which chat reports
//! as a 400 naming the model.

use crate::error::{ApiError, ApiResult};
use crate::outbound::Outbound;
use crate::secrets::{resolve_secret, SecretValue};
use crate::settings::{LlmSettings, ModelRoute};
use crate::state::AppState;
use parley_core::ids::OrgId;
use parley_core::validation::FieldError;
use parley_llm::models::SMOLLM2_135M_INSTRUCT;
use parley_llm::{
    ChatModel, EmbeddedConfig, EmbeddedModel, LlmError, OpenAiConfig, OpenAiProvider,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Context size assumed for upstream models without a configured one.
pub const DEFAULT_UPSTREAM_CONTEXT_TOKENS: u32 = 128_000;
/// Most cached upstream providers; the cache is emptied when it grows past this.
const MAX_CACHED_PROVIDERS: usize = 256;

/// A model ready to be asked: the provider, the model name to send, and what to report.
#[derive(Clone)]
pub struct ResolvedModel {
    /// The provider.
    pub provider: Arc<dyn ChatModel>,
    /// The model name as the assistant gave it (reported in traces).
    pub label: String,
    /// Context size in tokens.
    pub context_tokens: u32,
    /// Whether requests carry the conversation's variables as `extra_metadata`.
    pub forward_metadata: bool,
}

impl std::fmt::Debug for ResolvedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedModel")
            .field("label", &self.label)
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

/// The models of one assistant version: the primary and, if configured, the fallback.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// Asked first.
    pub primary: ResolvedModel,
    /// Asked when the primary fails before producing text.
    pub fallback: Option<ResolvedModel>,
}

/// An entry of `GET /v2/ai/models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The model name (a prefix entry ends in `*`; the catch-all is `*`).
    pub id: String,
    /// Who serves it: `parley` (embedded), or `upstream`.
    pub owned_by: &'static str,
    /// Whether it is the default of new assistants.
    pub default: bool,
}

/// Where a model name is served.
enum Served<'a> {
    Embedded,
    Route(&'a ModelRoute, String),
    Upstream(String),
}

/// Resolves assistants' models to providers; owns the embedded model (loaded on first use)
/// and a cache of upstream providers.
pub struct LlmRouter {
    settings: LlmSettings,
    default_model: String,
    outbound: Outbound,
    embedded: OnceCell<Arc<EmbeddedModel>>,
    embedded_path: Option<PathBuf>,
    providers: Mutex<HashMap<String, Arc<OpenAiProvider>>>,
}

impl std::fmt::Debug for LlmRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRouter")
            .field("default_model", &self.default_model)
            .field("embedded_path", &self.embedded_path)
            .finish_non_exhaustive()
    }
}

impl LlmRouter {
    /// A router for these settings (nothing is loaded or contacted yet).
    pub fn new(settings: &LlmSettings, default_model: &str, outbound: Outbound) -> Self {
        let embedded_path = match (&settings.model_path, &settings.models_dir) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(dir)) => Some(SMOLLM2_135M_INSTRUCT.main_path(dir)),
            (None, None) => None,
        };
        LlmRouter {
            settings: settings.clone(),
            default_model: default_model.to_owned(),
            outbound,
            embedded: OnceCell::new(),
            embedded_path,
            providers: Mutex::new(HashMap::new()),
        }
    }

    /// The GGUF file the embedded model loads from, when it is enabled.
    pub fn embedded_path(&self) -> Option<&PathBuf> {
        self.embedded_path
            .as_ref()
            .filter(|_| self.settings.embedded)
    }

    /// Whether `name` can be served.
    pub fn can_serve(&self, name: &str) -> bool {
        self.served(name).is_some()
    }

    fn served(&self, name: &str) -> Option<Served<'_>> {
        if self.settings.embedded && name == self.settings.embedded_name {
            return Some(Served::Embedded);
        }
        if let Some(route) = self.settings.models.iter().find(|r| r.name == name) {
            let upstream = route.model.clone().unwrap_or_else(|| name.to_owned());
            return Some(Served::Route(route, upstream));
        }
        let prefixed = self
            .settings
            .models
            .iter()
            .filter_map(|r| r.name.strip_suffix('*').map(|prefix| (r, prefix)))
            .filter(|(_, prefix)| name.starts_with(prefix) && name.len() > prefix.len())
            .max_by_key(|(_, prefix)| prefix.len());
        if let Some((route, prefix)) = prefixed {
            let upstream = route
                .model
                .clone()
                .unwrap_or_else(|| name[prefix.len()..].to_owned());
            return Some(Served::Route(route, upstream));
        }
        self.settings
            .upstream_base_url
            .as_ref()
            .map(|_| Served::Upstream(name.to_owned()))
    }

    /// What `GET /v2/ai/models` lists.
    pub fn list(&self) -> Vec<ModelEntry> {
        let mut entries = Vec::new();
        if self.settings.embedded {
            entries.push(ModelEntry {
                id: self.settings.embedded_name.clone(),
                owned_by: "parley",
                default: self.settings.embedded_name == self.default_model,
            });
        }
        for route in &self.settings.models {
            entries.push(ModelEntry {
                id: route.name.clone(),
                owned_by: "upstream",
                default: route.name == self.default_model,
            });
        }
        if self.settings.upstream_base_url.is_some() {
            entries.push(ModelEntry {
                id: "*".to_owned(),
                owned_by: "upstream",
                default: false,
            });
        }
        entries
    }

    /// Refuses, with a pointer into `fields`, models nothing serves and `external_llm` URLs
    /// the outbound policy refuses: the save-time check of assistant bodies (create, update,
    /// version edits).
    pub fn check(&self, fields: &Map<String, Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let has_external =
            |map: &Map<String, Value>| matches!(map.get("external_llm"), Some(Value::Object(_)));
        let mut check_external = |pointer: &str, map: &Map<String, Value>| {
            if let Some(Value::String(url)) = map
                .get("external_llm")
                .and_then(Value::as_object)
                .and_then(|e| e.get("base_url"))
            {
                if let Err(e) = self.outbound.check_url(url) {
                    errors.push(FieldError::invalid(
                        format!("{pointer}/external_llm/base_url"),
                        e.to_string(),
                    ));
                }
            }
        };
        check_external("", fields);
        if let Some(Value::Object(fallback)) = fields.get("fallback_config") {
            check_external("/fallback_config", fallback);
        }
        if !has_external(fields) {
            if let Some(Value::String(model)) = fields.get("model") {
                if !self.can_serve(model) {
                    errors.push(self.unservable("/model", model));
                }
            }
        }
        if let Some(Value::Object(fallback)) = fields.get("fallback_config") {
            if !has_external(fallback) {
                if let Some(Value::String(model)) = fallback.get("model") {
                    if !self.can_serve(model) {
                        errors.push(self.unservable("/fallback_config/model", model));
                    }
                }
            }
        }
        errors
    }

    fn unservable(&self, pointer: &str, model: &str) -> FieldError {
        FieldError::invalid(
            pointer,
            format!(
                "model {model:?} is not served by this server (see GET /v2/ai/models); add it to \
                 the [[models]] table or set llm_base_url"
            ),
        )
    }

    /// The models of an assistant version's configuration.
    pub async fn plan(
        &self,
        state: &AppState,
        org: &OrgId,
        config: &Map<String, Value>,
    ) -> ApiResult<ModelPlan> {
        let primary = self.resolve(state, org, config, "").await?;
        let fallback = match config.get("fallback_config") {
            Some(Value::Object(fallback))
                if fallback.contains_key("model") || has_object(fallback, "external_llm") =>
            {
                Some(
                    self.resolve(state, org, fallback, "/fallback_config")
                        .await?,
                )
            }
            _ => None,
        };
        Ok(ModelPlan { primary, fallback })
    }

    async fn resolve(
        &self,
        state: &AppState,
        org: &OrgId,
        config: &Map<String, Value>,
        pointer: &str,
    ) -> ApiResult<ResolvedModel> {
        if let Some(Value::Object(external)) = config.get("external_llm") {
            return self.external(state, org, external, pointer).await;
        }
        let name = config
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&self.default_model)
            .to_owned();
        let key = match config.get("llm_api_key_ref").and_then(Value::as_str) {
            Some(reference) => {
                Some(bearer(state, org, reference, &format!("{pointer}/llm_api_key_ref")).await?)
            }
            None => None,
        };
        let refused = || ApiError::Refused {
            detail: format!(
                "model {name:?} is not served by this server any more (see GET /v2/ai/models)"
            ),
            pointer: Some(format!("{pointer}/model")),
        };
        match self.served(&name).ok_or_else(refused)? {
            Served::Embedded => {
                let model = self.embedded().await.map_err(ApiError::Llm)?;
                let context_tokens = model.context_tokens();
                Ok(ResolvedModel {
                    provider: model,
                    label: name,
                    context_tokens,
                    forward_metadata: false,
                })
            }
            Served::Route(route, upstream) => {
                let provider = self.provider(
                    &route.base_url,
                    &upstream,
                    key.or_else(|| route.api_key.clone()),
                    false,
                )?;
                Ok(ResolvedModel {
                    provider,
                    label: name,
                    context_tokens: route
                        .context_tokens
                        .unwrap_or(DEFAULT_UPSTREAM_CONTEXT_TOKENS),
                    forward_metadata: false,
                })
            }
            Served::Upstream(upstream) => {
                let base_url = self
                    .settings
                    .upstream_base_url
                    .clone()
                    .expect("served by the upstream only when it is configured");
                let provider = self.provider(
                    &base_url,
                    &upstream,
                    key.or_else(|| self.settings.upstream_api_key.clone()),
                    false,
                )?;
                Ok(ResolvedModel {
                    provider,
                    label: name,
                    context_tokens: DEFAULT_UPSTREAM_CONTEXT_TOKENS,
                    forward_metadata: false,
                })
            }
        }
    }

    async fn external(
        &self,
        state: &AppState,
        org: &OrgId,
        external: &Map<String, Value>,
        pointer: &str,
    ) -> ApiResult<ResolvedModel> {
        let text = |field: &str| external.get(field).and_then(Value::as_str);
        if text("authentication_method") == Some("certificate") {
            return Err(ApiError::Refused {
                detail: "external_llm certificate authentication is not supported by this \
                         server; use token authentication"
                    .into(),
                pointer: Some(format!("{pointer}/external_llm/authentication_method")),
            });
        }
        let base_url = text("base_url").unwrap_or_default();
        self.outbound
            .check_url(base_url)
            .map_err(|e| ApiError::Refused {
                detail: format!("external_llm.base_url: {e}"),
                pointer: Some(format!("{pointer}/external_llm/base_url")),
            })?;
        let model = text("model").unwrap_or_default().to_owned();
        let key = match text("llm_api_key_ref") {
            Some(reference) => Some(
                bearer(
                    state,
                    org,
                    reference,
                    &format!("{pointer}/external_llm/llm_api_key_ref"),
                )
                .await?,
            ),
            None => None,
        };
        let provider = self.provider(base_url, &model, key, true)?;
        Ok(ResolvedModel {
            provider,
            label: model,
            context_tokens: DEFAULT_UPSTREAM_CONTEXT_TOKENS,
            forward_metadata: external.get("forward_metadata") == Some(&Value::Bool(true)),
        })
    }

    /// An upstream provider, cached by endpoint, model and key.
    fn provider(
        &self,
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        guarded: bool,
    ) -> ApiResult<Arc<dyn ChatModel>> {
        let mut hasher = Sha256::new();
        for part in [base_url, model, api_key.as_deref().unwrap_or_default()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update([u8::from(guarded)]);
        let cache_key = hex::encode(hasher.finalize());
        let mut cache = self.providers.lock().expect("provider cache lock");
        if let Some(provider) = cache.get(&cache_key) {
            return Ok(provider.clone());
        }
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let config = OpenAiConfig {
            api_key,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            read_timeout: timeout,
            ..OpenAiConfig::new(base_url, model)
        };
        let builder = if guarded {
            self.outbound.builder()
        } else {
            reqwest::Client::builder()
        };
        let provider =
            Arc::new(OpenAiProvider::with_client_builder(config, builder).map_err(ApiError::Llm)?);
        if cache.len() >= MAX_CACHED_PROVIDERS {
            cache.clear();
        }
        cache.insert(cache_key, provider.clone());
        Ok(provider)
    }

    /// The embedded model, loaded on first use (a missing file is a 503 that says how to get
    /// it).
    pub async fn embedded(&self) -> Result<Arc<EmbeddedModel>, LlmError> {
        let path = self
            .embedded_path()
            .cloned()
            .ok_or_else(|| LlmError::Model("the embedded model is disabled".into()))?;
        let settings = self.settings.clone();
        self.embedded
            .get_or_try_init(|| async move {
                if !path.is_file() {
                    return Err(LlmError::Busy(format!(
                        "the embedded model file {} is missing; run `parley models pull`",
                        path.display()
                    )));
                }
                let mut config = if settings.model_path.is_some() {
                    EmbeddedConfig::new(&path)
                } else {
                    let dir = settings.models_dir.clone().unwrap_or_default();
                    EmbeddedConfig::for_spec(&SMOLLM2_135M_INSTRUCT, &dir)
                };
                config.name = settings.embedded_name.clone();
                config.contexts = settings.contexts;
                config.context_tokens = settings.context_tokens;
                let model = tokio::task::spawn_blocking(move || EmbeddedModel::load(config))
                    .await
                    .map_err(|e| LlmError::Model(format!("loading panicked: {e}")))??;
                tracing::info!(
                    model = %settings.embedded_name,
                    load_ms = model.load_time().as_millis() as u64,
                    "embedded model loaded"
                );
                Ok(Arc::new(model))
            })
            .await
            .cloned()
    }
}

fn has_object(map: &Map<String, Value>, key: &str) -> bool {
    matches!(map.get(key), Some(Value::Object(_)))
}

/// The bearer token of the integration secret `reference`.
async fn bearer(
    state: &AppState,
    org: &OrgId,
    reference: &str,
    pointer: &str,
) -> ApiResult<String> {
    match resolve_secret(state, org, reference).await? {
        Some(SecretValue::Bearer { token }) => Ok(token),
        Some(SecretValue::Basic { .. }) => Err(ApiError::Refused {
            detail: format!("integration secret {reference:?} is not a bearer token"),
            pointer: Some(pointer.to_owned()),
        }),
        None => Err(ApiError::Refused {
            detail: format!("integration secret {reference:?} does not exist"),
            pointer: Some(pointer.to_owned()),
        }),
    }
}
