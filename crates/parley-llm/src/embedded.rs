//! `EmbeddedModel`: a GGUF model run by llama.cpp inside this process.
//!
//! Requests wait in one FIFO queue; a fixed number of worker threads, each owning a llama.cpp
//! context, take them in order. Inference is blocking, so it runs only on those threads —
//! never on an async runtime's workers. A worker checks between two tokens whether the caller
//! is still there (its event receiver, or the future `complete` returned) and stops if not.

use crate::grammar::{json_schema_to_gbnf, text_or_tool_call_gbnf, tool_call_gbnf};
use crate::models::{self, ModelSpec, Quiet};
use crate::{
    ChatEvent, ChatMessage, ChatModel, ChatOutcome, ChatRequest, FinishReason, LlmError,
    OutputConstraint, Role, Timings, ToolCall, ToolChoice, ToolSpec, Usage,
};
use async_trait::async_trait;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How to load and run an embedded model.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// The name reported in [`ChatOutcome::model`].
    pub name: String,
    /// The file's SHA-256 (lowercase hex), checked before loading when set.
    pub sha256: Option<String>,
    /// How many requests run at once (one llama.cpp context, and one thread, each).
    pub contexts: usize,
    /// Tokens per context: the prompt and the answer together.
    pub context_tokens: u32,
    /// Threads each context computes with; `None` divides the machine's cores among contexts.
    pub threads_per_context: Option<usize>,
    /// The most requests that may wait for a context; more are refused with
    /// [`LlmError::Busy`].
    pub max_queued: usize,
    /// Sampling temperature when a request sets none.
    pub default_temperature: f32,
}

impl EmbeddedConfig {
    /// Defaults for the model in `model_path`: one context of 2,048 tokens, 64 waiting
    /// requests, temperature 0.7, no checksum.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        let model_path = model_path.into();
        let name = model_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "embedded".to_owned());
        EmbeddedConfig {
            model_path,
            name,
            sha256: None,
            contexts: 1,
            context_tokens: 2048,
            threads_per_context: None,
            max_queued: 64,
            default_temperature: 0.7,
        }
    }

    /// The defaults for a catalogue chat model (e.g. [`models::SMOLLM2_135M_INSTRUCT`]) in
    /// `models_dir`, named and checksummed as recorded.
    pub fn for_spec(spec: &ModelSpec, models_dir: &Path) -> Self {
        EmbeddedConfig {
            name: spec.display_name.to_owned(),
            sha256: Some(spec.files[0].sha256.to_owned()),
            ..EmbeddedConfig::new(spec.main_path(models_dir))
        }
    }
}

/// llama.cpp's backend: initialised once per process, on first use.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::Model(format!("cannot initialise llama.cpp: {e}")))
}

/// A chat model run by llama.cpp in this process.
///
/// Requests wait in one FIFO queue (at most [`EmbeddedConfig::max_queued`]); each of
/// [`EmbeddedConfig::contexts`] worker threads owns a llama.cpp context and takes the oldest
/// request when it is free. Inference runs only on those threads, never on an async runtime's.
/// A worker stops a request between two tokens once its caller went away (the events receiver
/// or the [`Completion`] dropped). The prompt is the request's messages through the chat
/// template stored in the GGUF file ([`EmbeddedModel::prompt`] shows it).
///
/// Tools: with `tool_choice` `required` or a function, a grammar forces a call
/// `{"name": …, "arguments": {…}}` whose arguments match the tool's schema; with `auto`, the
/// tools are described in the system message and an answer that is such a JSON object (and
/// nothing else) becomes a tool call — text that starts with `{` is held back until the end to
/// tell. [`OutputConstraint`]s become llama.cpp grammars.
///
/// Dropping it stops the workers (after their current request) and frees the model.
pub struct EmbeddedModel {
    name: String,
    model: Arc<LlamaModel>,
    template: Arc<LlamaChatTemplate>,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    context_tokens: u32,
    load_time: Duration,
}

impl std::fmt::Debug for EmbeddedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedModel")
            .field("name", &self.name)
            .field("contexts", &self.workers.len())
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    max_queued: usize,
    completed: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    generated_tokens: AtomicU64,
}

/// Counters of an [`EmbeddedModel`] since it was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    /// Requests that ran to the end.
    pub completed: u64,
    /// Requests whose caller went away (before or during generation).
    pub cancelled: u64,
    /// Requests that failed otherwise.
    pub failed: u64,
    /// Tokens generated, including those of cancelled requests.
    pub generated_tokens: u64,
}

struct Queue {
    jobs: VecDeque<Job>,
    shutdown: bool,
}

struct Job {
    request: ChatRequest,
    events: mpsc::Sender<ChatEvent>,
    reply: oneshot::Sender<Result<ChatOutcome, LlmError>>,
    enqueued: Instant,
    span: tracing::Span,
}

impl Job {
    /// The caller went away: nobody reads the events or awaits the outcome.
    fn abandoned(&self) -> bool {
        self.events.is_closed() || self.reply.is_closed()
    }
}

impl Shared {
    /// The next job, oldest first; `None` once shutting down.
    fn next_job(&self) -> Option<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if queue.shutdown {
                return None;
            }
            if let Some(job) = queue.jobs.pop_front() {
                return Some(job);
            }
            queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The outcome of a request submitted with [`EmbeddedModel::submit`]. Dropping it cancels the
/// request.
#[derive(Debug)]
pub struct Completion {
    receiver: oneshot::Receiver<Result<ChatOutcome, LlmError>>,
}

impl Future for Completion {
    type Output = Result<ChatOutcome, LlmError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(|result| {
            result.unwrap_or_else(|_| Err(LlmError::Model("the worker stopped".to_owned())))
        })
    }
}

impl EmbeddedModel {
    /// Verifies the file (if a checksum is configured), loads the model and starts the workers,
    /// each with its context. Blocking (about a tenth of a second for SmolLM2-135M, plus the
    /// checksum): call it from a blocking thread, not from async code.
    pub fn load(config: EmbeddedConfig) -> Result<Self, LlmError> {
        let started = Instant::now();
        if let Some(expected) = &config.sha256 {
            models::verify_file(&config.model_path, expected, &Quiet)
                .map_err(|e| LlmError::Model(e.to_string()))?;
        }
        let backend = backend()?;
        let model =
            LlamaModel::load_from_file(backend, &config.model_path, &LlamaModelParams::default())
                .map_err(|e| {
                LlmError::Model(format!("cannot load {}: {e}", config.model_path.display()))
            })?;
        let template = match model.chat_template(None) {
            Ok(template) => template,
            Err(e) => {
                tracing::warn!(error = %e, "the model has no chat template; using chatml");
                LlamaChatTemplate::new("chatml").expect("no NUL")
            }
        };
        let model = Arc::new(model);
        let template = Arc::new(template);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                shutdown: false,
            }),
            wake: Condvar::new(),
            max_queued: config.max_queued,
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
        });
        let contexts = config.contexts.max(1);
        let threads = config.threads_per_context.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / contexts).max(1)
        });
        let mut embedded = EmbeddedModel {
            name: config.name.clone(),
            model,
            template,
            shared,
            workers: Vec::with_capacity(contexts),
            context_tokens: config.context_tokens,
            load_time: Duration::ZERO,
        };
        // Contexts are created one at a time: creating two from one model at once is unsound.
        for index in 0..contexts {
            let (ready_sender, ready) = std::sync::mpsc::sync_channel(1);
            let worker = Worker {
                name: config.name.clone(),
                model: Arc::clone(&embedded.model),
                template: Arc::clone(&embedded.template),
                shared: Arc::clone(&embedded.shared),
                context_tokens: config.context_tokens,
                threads,
                default_temperature: config.default_temperature,
            };
            let handle = std::thread::Builder::new()
                .name(format!("llm-{index}"))
                .spawn(move || worker.run(ready_sender))
                .map_err(|e| LlmError::Model(format!("cannot start a worker thread: {e}")))?;
            embedded.workers.push(handle);
            match ready.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(LlmError::Model(message)),
                Err(_) => return Err(LlmError::Model("a worker died while starting".into())),
            }
        }
        embedded.load_time = started.elapsed();
        tracing::info!(
            model = %embedded.name,
            contexts,
            threads,
            context_tokens = config.context_tokens,
            load_ms = embedded.load_time.as_millis() as u64,
            "embedded model loaded"
        );
        Ok(embedded)
    }

    /// How long [`load`](Self::load) took (checksum, model, contexts).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Tokens per context (prompt and answer together).
    pub fn context_tokens(&self) -> u32 {
        self.context_tokens
    }

    /// How many requests run at once.
    pub fn contexts(&self) -> usize {
        self.workers.len()
    }

    /// How many requests wait for a context now.
    pub fn queued(&self) -> usize {
        self.lock_queue().jobs.len()
    }

    /// Counters since the model was loaded.
    pub fn stats(&self) -> EmbeddedStats {
        let shared = &self.shared;
        EmbeddedStats {
            completed: shared.completed.load(Ordering::Relaxed),
            cancelled: shared.cancelled.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
            generated_tokens: shared.generated_tokens.load(Ordering::Relaxed),
        }
    }

    /// How many tokens `text` is to this model (no special tokens added).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len()
    }

    /// The exact prompt `request` becomes: its messages (with the tool instructions, if any)
    /// through the model's own chat template, ending where the assistant's answer begins.
    pub fn prompt(&self, request: &ChatRequest) -> Result<String, LlmError> {
        render_prompt(&self.model, &self.template, request, &plan(request)?)
    }

    /// Queues `request`; events go to `events` as tokens are generated. Await the returned
    /// [`Completion`] for the outcome; dropping it (or the events receiver) cancels.
    pub fn submit(
        &self,
        request: ChatRequest,
        events: mpsc::Sender<ChatEvent>,
    ) -> Result<Completion, LlmError> {
        let (reply, receiver) = oneshot::channel();
        let span = tracing::info_span!(
            "llm_call",
            provider = "embedded",
            model = %self.name,
            queued_ms = tracing::field::Empty,
            prompt_tokens = tracing::field::Empty,
            completion_tokens = tracing::field::Empty,
            finish_reason = tracing::field::Empty,
        );
        let mut queue = self.lock_queue();
        if queue.jobs.len() >= self.shared.max_queued {
            return Err(LlmError::Busy(format!(
                "{} requests are waiting for the embedded model",
                queue.jobs.len()
            )));
        }
        queue.jobs.push_back(Job {
            request,
            events,
            reply,
            enqueued: Instant::now(),
            span,
        });
        drop(queue);
        self.shared.wake.notify_one();
        Ok(Completion { receiver })
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for EmbeddedModel {
    fn drop(&mut self) {
        {
            let mut queue = self.lock_queue();
            queue.shutdown = true;
            for job in queue.jobs.drain(..) {
                let _ = job
                    .reply
                    .send(Err(LlmError::Model("the model was unloaded".into())));
            }
        }
        self.shared.wake.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[async_trait]
impl ChatModel for EmbeddedModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn context_tokens(&self) -> Option<u32> {
        Some(self.context_tokens)
    }

    fn count_tokens(&self, text: &str) -> usize {
        EmbeddedModel::count_tokens(self, text)
    }

    async fn complete(
        &self,
        request: ChatRequest,
        events: mpsc::Sender<ChatEvent>,
    ) -> Result<ChatOutcome, LlmError> {
        self.submit(request, events)?.await
    }
}

/// How a request is run: which grammar constrains it and what happens to the output.
struct Plan {
    grammar: Option<String>,
    /// The tools described to the model (empty: none).
    tools: Vec<ToolSpec>,
    output: OutputMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputMode {
    /// Text, streamed as it comes.
    Text,
    /// Text, unless it begins with `{`: then it is held back and, if it is a call of one of
    /// the tools, returned as a tool call.
    MaybeToolCall,
    /// A tool call, forced by the grammar.
    ToolCall,
}

fn plan(request: &ChatRequest) -> Result<Plan, LlmError> {
    let invalid = |e: crate::grammar::SchemaError| LlmError::InvalidRequest(e.to_string());
    let tools: Vec<ToolSpec> = match &request.tool_choice {
        _ if request.tools.is_empty() => Vec::new(),
        ToolChoice::None => Vec::new(),
        ToolChoice::Auto | ToolChoice::Required => request.tools.clone(),
        ToolChoice::Function(name) => {
            let tool = request
                .tools
                .iter()
                .find(|t| &t.name == name)
                .ok_or_else(|| {
                    LlmError::InvalidRequest(format!(
                        "tool_choice names `{name}`, which is not a tool"
                    ))
                })?;
            vec![tool.clone()]
        }
    };
    let forced = !tools.is_empty()
        && matches!(
            request.tool_choice,
            ToolChoice::Required | ToolChoice::Function(_)
        );
    if forced {
        if request.constraint.is_some() {
            return Err(LlmError::InvalidRequest(
                "a required tool call and an output constraint exclude each other".into(),
            ));
        }
        return Ok(Plan {
            grammar: Some(tool_call_gbnf(&tools).map_err(invalid)?),
            tools,
            output: OutputMode::ToolCall,
        });
    }
    let grammar = match &request.constraint {
        None => None,
        Some(OutputConstraint::Grammar(grammar)) => Some(grammar.clone()),
        Some(OutputConstraint::JsonSchema { schema, .. }) => {
            Some(json_schema_to_gbnf(schema).map_err(invalid)?)
        }
    };
    let output = if tools.is_empty() || grammar.is_some() {
        OutputMode::Text
    } else {
        OutputMode::MaybeToolCall
    };
    // May call a tool: free text, or a call the grammar keeps valid for an existing tool.
    let grammar = match output {
        OutputMode::MaybeToolCall => Some(text_or_tool_call_gbnf(&tools).map_err(invalid)?),
        _ => grammar,
    };
    Ok(Plan {
        grammar,
        tools,
        output,
    })
}

/// The system-message paragraph that tells the model about its tools.
fn tool_instructions(tools: &[ToolSpec]) -> String {
    let mut text = String::from(
        "You can call tools. To call one, answer with only a JSON object \
         {\"name\": <tool name>, \"arguments\": <arguments object>} and nothing else.\nTools:",
    );
    for tool in tools {
        text.push_str(&format!(
            "\n- {}: {} Arguments: {}",
            tool.name, tool.description, tool.parameters
        ));
    }
    text
}

/// A tool call as the embedded model writes it (and reads earlier ones).
fn tool_call_text(call: &ToolCall) -> String {
    let arguments: serde_json::Value = serde_json::from_str(&call.arguments)
        .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
    serde_json::json!({"name": call.name, "arguments": arguments}).to_string()
}

fn render_prompt(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    request: &ChatRequest,
    plan: &Plan,
) -> Result<String, LlmError> {
    let mut messages: Vec<(String, String)> = Vec::with_capacity(request.messages.len() + 1);
    for message in &request.messages {
        let mut content = message.content.clone();
        for call in &message.tool_calls {
            if !content.is_empty() {
                content.push('\n');
            }
            content.push_str(&tool_call_text(call));
        }
        messages.push((message.role.as_str().to_owned(), content));
    }
    if !plan.tools.is_empty() {
        let instructions = tool_instructions(&plan.tools);
        match messages.first_mut() {
            Some((role, content)) if role == Role::System.as_str() => {
                content.push_str("\n\n");
                content.push_str(&instructions);
            }
            _ => messages.insert(0, (Role::System.as_str().to_owned(), instructions)),
        }
    }
    let chat = messages
        .into_iter()
        .map(|(role, content)| LlamaChatMessage::new(role, content))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LlmError::InvalidRequest(format!("a message cannot be used: {e}")))?;
    model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| LlmError::Model(format!("the chat template failed: {e}")))
}

/// Everything one worker thread needs; it owns one context.
struct Worker {
    name: String,
    model: Arc<LlamaModel>,
    template: Arc<LlamaChatTemplate>,
    shared: Arc<Shared>,
    context_tokens: u32,
    threads: usize,
    default_temperature: f32,
}

const BATCH_TOKENS: usize = 512;

impl Worker {
    fn run(self, ready: std::sync::mpsc::SyncSender<Result<(), String>>) {
        let threads = i32::try_from(self.threads).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.context_tokens))
            .with_n_batch(BATCH_TOKENS as u32)
            .with_n_ubatch(BATCH_TOKENS as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = backend()
            .and_then(|backend| {
                self.model
                    .new_context(backend, params)
                    .map_err(|e| LlmError::Model(format!("cannot create a context: {e}")))
            })
            .map_err(|e| e.to_string());
        let mut context = match context {
            Ok(context) => {
                let _ = ready.send(Ok(()));
                context
            }
            Err(message) => {
                let _ = ready.send(Err(message));
                return;
            }
        };
        let mut batch = LlamaBatch::new(BATCH_TOKENS, 1);
        while let Some(job) = self.shared.next_job() {
            let span = job.span.clone();
            let _entered = span.enter();
            span.record("queued_ms", job.enqueued.elapsed().as_millis() as u64);
            let result = if job.abandoned() {
                Err(LlmError::Cancelled)
            } else {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.generate(&mut context, &mut batch, &job)
                }))
                .unwrap_or_else(|_| Err(LlmError::Model("generation panicked".into())))
            };
            let counter = match &result {
                Ok(_) => &self.shared.completed,
                Err(LlmError::Cancelled) => &self.shared.cancelled,
                Err(_) => &self.shared.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(outcome) => {
                    span.record("prompt_tokens", outcome.usage.prompt_tokens);
                    span.record("completion_tokens", outcome.usage.completion_tokens);
                    span.record("finish_reason", outcome.finish_reason.as_str());
                    let _ = job
                        .events
                        .blocking_send(ChatEvent::Finished(outcome.clone()));
                    let _ = job.reply.send(Ok(outcome));
                }
                Err(error) => {
                    tracing::debug!(%error, "embedded completion failed");
                    let _ = job.reply.send(Err(error));
                }
            }
        }
    }

    fn generate(
        &self,
        context: &mut LlamaContext<'_>,
        batch: &mut LlamaBatch<'_>,
        job: &Job,
    ) -> Result<ChatOutcome, LlmError> {
        let started = job.enqueued;
        let queued = started.elapsed();
        let request = &job.request;
        let plan = plan(request)?;
        let prompt = render_prompt(&self.model, &self.template, request, &plan)?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let n_ctx = context.n_ctx() as usize;
        if tokens.is_empty() || tokens.len() >= n_ctx {
            return Err(LlmError::InvalidRequest(format!(
                "the prompt is {} tokens; the context holds {n_ctx}",
                tokens.len()
            )));
        }
        let room = n_ctx - tokens.len();
        let max_tokens = request.max_tokens.map_or(room, |m| (m as usize).min(room));
        let mut sampler = self.sampler(request, plan.grammar.as_deref())?;

        // The prompt, in batches; logits for its last token only.
        context.clear_kv_cache();
        let prompt_started = Instant::now();
        for (chunk_index, chunk) in tokens.chunks(BATCH_TOKENS).enumerate() {
            if job.abandoned() {
                return Err(LlmError::Cancelled);
            }
            batch.clear();
            let offset = chunk_index * BATCH_TOKENS;
            for (i, token) in chunk.iter().enumerate() {
                let position = offset + i;
                batch
                    .add(*token, position as i32, &[0], position == tokens.len() - 1)
                    .map_err(|e| LlmError::Model(e.to_string()))?;
            }
            context
                .decode(batch)
                .map_err(|e| LlmError::Model(format!("decoding the prompt failed: {e}")))?;
        }
        let prompt_time = prompt_started.elapsed();

        let mut output = Output::new(plan.output, &request.stop);
        let mut pending_bytes: Vec<u8> = Vec::new();
        let mut first_token = None;
        let mut generated = 0usize;
        let mut finish = FinishReason::Length;
        let mut position = tokens.len();
        while generated < max_tokens {
            if job.abandoned() {
                return Err(LlmError::Cancelled);
            }
            let token: LlamaToken = sampler.sample(context, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                finish = FinishReason::Stop;
                break;
            }
            generated += 1;
            self.shared.generated_tokens.fetch_add(1, Ordering::Relaxed);
            first_token.get_or_insert_with(|| started.elapsed());
            pending_bytes.extend(vocab.token_to_piece(token, false, None));
            let text = take_utf8(&mut pending_bytes);
            let (deltas, stopped) = output.push(&text);
            for delta in deltas {
                job.events
                    .blocking_send(ChatEvent::ContentDelta(delta))
                    .map_err(|_| LlmError::Cancelled)?;
            }
            if stopped {
                finish = FinishReason::Stop;
                break;
            }
            if generated == max_tokens {
                break;
            }
            batch.clear();
            batch
                .add(token, position as i32, &[0], true)
                .map_err(|e| LlmError::Model(e.to_string()))?;
            position += 1;
            context
                .decode(batch)
                .map_err(|e| LlmError::Model(format!("decoding failed: {e}")))?;
        }
        if !pending_bytes.is_empty() {
            let (deltas, _) = output.push(&String::from_utf8_lossy(&pending_bytes));
            for delta in deltas {
                job.events
                    .blocking_send(ChatEvent::ContentDelta(delta))
                    .map_err(|_| LlmError::Cancelled)?;
            }
        }
        let (message, events) = output.finish(&plan.tools);
        for event in events {
            job.events
                .blocking_send(event)
                .map_err(|_| LlmError::Cancelled)?;
        }
        if !message.tool_calls.is_empty() {
            finish = FinishReason::ToolCalls;
        }
        Ok(ChatOutcome {
            message,
            finish_reason: finish,
            usage: Usage {
                prompt_tokens: tokens.len() as u32,
                completion_tokens: generated as u32,
            },
            model: self.name.clone(),
            timings: Timings {
                queued,
                prompt: prompt_time,
                first_token,
                total: started.elapsed(),
            },
        })
    }

    fn sampler(
        &self,
        request: &ChatRequest,
        grammar: Option<&str>,
    ) -> Result<LlamaSampler, LlmError> {
        let mut chain = Vec::new();
        if let Some(grammar) = grammar {
            chain.push(
                LlamaSampler::grammar(&self.model, grammar, "root").map_err(|e| {
                    LlmError::InvalidRequest(format!("the grammar does not compile: {e}"))
                })?,
            );
        }
        let temperature = request.temperature.unwrap_or(self.default_temperature);
        if temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.extend([
                LlamaSampler::top_k(40),
                LlamaSampler::top_p(0.95, 1),
                LlamaSampler::min_p(0.05, 1),
                LlamaSampler::temp(temperature),
                LlamaSampler::dist(request.seed.unwrap_or(u32::MAX)),
            ]);
        }
        Ok(LlamaSampler::chain_simple(chain))
    }
}

/// The longest valid UTF-8 prefix of `bytes`, removed from it; an incomplete character at the
/// end stays for the next token, invalid bytes become U+FFFD.
fn take_utf8(bytes: &mut Vec<u8>) -> String {
    let mut text = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                text.push_str(valid);
                bytes.clear();
                return text;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                text.push_str(std::str::from_utf8(&bytes[..valid]).expect("valid"));
                match error.error_len() {
                    None => {
                        bytes.drain(..valid);
                        return text;
                    }
                    Some(invalid) => {
                        text.push('\u{FFFD}');
                        bytes.drain(..valid + invalid);
                    }
                }
            }
        }
    }
}

/// Where generated text goes: streamed (with stop strings held back until they can no longer
/// match), or held back as a possible tool call.
struct Output {
    mode: OutputMode,
    stops: Vec<String>,
    /// Everything generated that counts as text.
    text: String,
    /// How much of `text` was sent.
    sent: usize,
    /// Raw output while it may be a tool call.
    held: String,
}

impl Output {
    fn new(mode: OutputMode, stops: &[String]) -> Self {
        Output {
            mode,
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            text: String::new(),
            sent: 0,
            held: String::new(),
        }
    }

    /// Takes generated text; returns the deltas to send now and whether a stop string ended
    /// the answer.
    fn push(&mut self, delta: &str) -> (Vec<String>, bool) {
        match self.mode {
            OutputMode::ToolCall => {
                self.held.push_str(delta);
                (Vec::new(), false)
            }
            OutputMode::MaybeToolCall => {
                self.held.push_str(delta);
                let start = self.held.trim_start();
                if start.is_empty() || start.starts_with('{') {
                    return (Vec::new(), false);
                }
                self.mode = OutputMode::Text;
                let held = std::mem::take(&mut self.held);
                self.push_text(&held)
            }
            OutputMode::Text => self.push_text(delta),
        }
    }

    fn push_text(&mut self, delta: &str) -> (Vec<String>, bool) {
        self.text.push_str(delta);
        let unsent = &self.text[self.sent..];
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| unsent.find(s.as_str()))
            .min();
        if let Some(at) = earliest {
            let end = self.sent + at;
            self.text.truncate(end);
            let delta = self.text[self.sent..].to_owned();
            self.sent = end;
            return (nonempty(delta), true);
        }
        // Hold back a tail that could be the beginning of a stop string.
        let mut hold = 0;
        for stop in &self.stops {
            for len in (1..stop.len().min(unsent.len() + 1)).rev() {
                let from = unsent.len() - len;
                if unsent.is_char_boundary(from) && stop.starts_with(&unsent[from..]) {
                    hold = hold.max(len);
                    break;
                }
            }
        }
        let end = self.text.len() - hold;
        let delta = self.text[self.sent..end].to_owned();
        self.sent = end;
        (nonempty(delta), false)
    }

    /// The final message, and the events still to send (held-back text, or the tool call).
    fn finish(mut self, tools: &[ToolSpec]) -> (ChatMessage, Vec<ChatEvent>) {
        let mut events = Vec::new();
        if matches!(self.mode, OutputMode::ToolCall | OutputMode::MaybeToolCall) {
            if let Some(call) = parse_tool_call(&self.held, tools) {
                events.push(ChatEvent::ToolCallDelta {
                    index: 0,
                    id: Some(call.id.clone()),
                    name: Some(call.name.clone()),
                    arguments: call.arguments.clone(),
                });
                let mut message = ChatMessage::assistant("");
                message.tool_calls.push(call);
                return (message, events);
            }
            let held = std::mem::take(&mut self.held);
            self.mode = OutputMode::Text;
            let (deltas, _) = self.push_text(&held);
            events.extend(deltas.into_iter().map(ChatEvent::ContentDelta));
        }
        if self.sent < self.text.len() {
            events.push(ChatEvent::ContentDelta(self.text[self.sent..].to_owned()));
        }
        (ChatMessage::assistant(self.text), events)
    }
}

fn nonempty(text: String) -> Vec<String> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![text]
    }
}

/// `{"name": …, "arguments": {…}}` naming one of `tools`, as a [`ToolCall`] with a fresh id.
fn parse_tool_call(text: &str, tools: &[ToolSpec]) -> Option<ToolCall> {
    let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let name = value.get("name")?.as_str()?;
    let arguments = value.get("arguments")?;
    if !arguments.is_object() || !tools.iter().any(|t| t.name == name) {
        return None;
    }
    Some(ToolCall {
        id: format!("call_{}", uuid::Uuid::new_v4().simple()),
        name: name.to_owned(),
        arguments: arguments.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(events: Vec<ChatEvent>) -> Vec<String> {
        events
            .into_iter()
            .map(|e| match e {
                ChatEvent::ContentDelta(t) => t,
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn utf8_split_across_tokens_is_joined() {
        let mut bytes = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_utf8(&mut bytes), "");
        bytes.extend_from_slice(&"é".as_bytes()[1..]);
        bytes.extend_from_slice(b"a\xff");
        assert_eq!(take_utf8(&mut bytes), "éa\u{FFFD}");
        assert!(bytes.is_empty());
    }

    #[test]
    fn stop_strings_are_held_back_then_cut() {
        let mut output = Output::new(OutputMode::Text, &["<END>".to_owned()]);
        assert_eq!(output.push("Hello <"), (vec!["Hello ".to_owned()], false));
        assert_eq!(output.push("E"), (vec![], false));
        assert_eq!(output.push("x"), (vec!["<Ex".to_owned()], false));
        assert_eq!(output.push(" bye<EN"), (vec![" bye".to_owned()], false));
        assert_eq!(output.push("D> more"), (vec![], true));
        let (message, events) = output.finish(&[]);
        assert_eq!(message.content, "Hello <Ex bye");
        assert!(events.is_empty());
    }

    #[test]
    fn held_back_text_is_sent_at_the_end() {
        let mut output = Output::new(OutputMode::Text, &["\n\n".to_owned()]);
        assert_eq!(output.push("a\n"), (vec!["a".to_owned()], false));
        let (message, events) = output.finish(&[]);
        assert_eq!(message.content, "a\n");
        assert_eq!(texts(events), ["\n"]);
    }

    fn weather() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "get_weather".into(),
            description: "Weather".into(),
            parameters: json!({"type": "object"}),
        }]
    }

    #[test]
    fn text_that_begins_with_a_brace_may_be_a_tool_call() {
        let mut output = Output::new(OutputMode::MaybeToolCall, &[]);
        assert_eq!(output.push(" {\"name\": \"get_weather\","), (vec![], false));
        assert_eq!(
            output.push(" \"arguments\": {\"city\": \"Oslo\"}}"),
            (vec![], false)
        );
        let (message, events) = output.finish(&weather());
        assert_eq!(message.content, "");
        assert_eq!(message.tool_calls[0].name, "get_weather");
        assert_eq!(message.tool_calls[0].arguments, r#"{"city":"Oslo"}"#);
        assert!(
            matches!(&events[0], ChatEvent::ToolCallDelta { index: 0, name: Some(n), .. } if n == "get_weather")
        );
    }

    #[test]
    fn text_that_is_not_a_tool_call_is_streamed() {
        let mut output = Output::new(OutputMode::MaybeToolCall, &[]);
        assert_eq!(output.push("  "), (vec![], false));
        assert_eq!(output.push("Hi"), (vec!["  Hi".to_owned()], false));
        assert_eq!(output.push(" there"), (vec![" there".to_owned()], false));

        let mut output = Output::new(OutputMode::MaybeToolCall, &[]);
        output.push("{not json");
        let (message, events) = output.finish(&weather());
        assert_eq!(message.content, "{not json");
        assert!(message.tool_calls.is_empty());
        assert_eq!(texts(events), ["{not json"]);
    }

    #[test]
    fn plans_follow_tool_choice_and_constraints() {
        let mut request = ChatRequest::new(vec![ChatMessage::user("hi")]);
        assert_eq!(plan(&request).unwrap().output, OutputMode::Text);
        request.tools = weather();
        let auto = plan(&request).unwrap();
        assert_eq!(auto.output, OutputMode::MaybeToolCall);
        assert!(auto
            .grammar
            .unwrap()
            .starts_with("root ::= call | free-text"));
        request.tool_choice = ToolChoice::None;
        let none = plan(&request).unwrap();
        assert!(none.tools.is_empty() && none.grammar.is_none());
        request.tool_choice = ToolChoice::Required;
        let forced = plan(&request).unwrap();
        assert_eq!(forced.output, OutputMode::ToolCall);
        assert!(forced.grammar.unwrap().contains("get_weather"));
        request.tool_choice = ToolChoice::Function("nope".into());
        assert!(matches!(plan(&request), Err(LlmError::InvalidRequest(_))));
    }
}
