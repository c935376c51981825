//! Assistant test runs: a simulated user talks to the assistant through the real chat engine,
//! then a judge grades the conversation, one rubric item at a time.
//!
//! A run is a job of the queue ([`crate::jobs`], kind [`TEST_RUN_JOB`], key = the run id),
//! queued with the run. [`TestRunHandler`] carries it out:
//!
//! 1. **Claim.** The run moves `pending → starting` (compare-and-set: a run already past
//!    `pending` is not started twice). A run found `starting` or `running` when its job starts
//!    was interrupted — the node running it died and the job's lease ran out — and is ended as
//!    `error` with a log line saying so. It is not restarted: the conversation so far is
//!    stored and a second one would leave two transcripts for one run; trigger a new run.
//! 2. **Destination.** `web_chat`: the assistant whose id is the test's `destination`.
//!    `sms_chat`: the assistant the number `destination` is assigned to; the conversation is
//!    an SMS conversation (channel `sms_chat`, the number as `telnyx_agent_target`), run
//!    through the same engine without a carrier. `phone_call`/`web_call`: the run ends in
//!    `error` — voice is not available on this server. The version is the run's
//!    `destination_version_id`, else the assistant's main version (canary rules do not apply).
//! 3. **Conversation** (`running`). The simulated user — the evaluation model told the test's
//!    `instructions` as its persona and goal — writes each user message as the JSON object
//!    `{"message": "…", "end_conversation": false}` (constrained: a JSON schema as
//!    `response_format` on OpenAI-compatible providers, a grammar on the embedded model), and
//!    `end_conversation: true` ends the conversation (a model that ignores the schema may
//!    write `[END]` instead). Each message is a real chat turn (tools, variables and all,
//!    stored like any other). The conversation stops when the simulated user ends it, when the
//!    assistant hangs up, after [`EvalSettings::max_turns`] user messages, or when
//!    `max_duration_seconds` (else [`EvalSettings::default_max_duration_secs`]) has passed —
//!    a turn in flight then is abandoned and leaves nothing. A run in which no message was
//!    exchanged, or in which a turn failed, is `error`.
//! 4. **Judging.** For each rubric item the judge sees the scenario, the transcript and the
//!    item's criteria and answers `{"passed": true|false, "reasoning": "…"}` (constrained the
//!    same way). An answer that does not parse is asked for once more, then the item is
//!    `error`. The run is `failed` if any item failed, else `error` if any could not be
//!    graded, else `passed`.
//!
//! `logs` is a readable account: the destination and version, the evaluation model, the
//! transcript, why the conversation stopped, each verdict with its reasoning, and timings.
//!
//! The evaluation model is `PARLEY_EVAL_MODEL` at `PARLEY_EVAL_BASE_URL` (OpenAI-compatible)
//! when configured, else the server's default model through [`crate::llm::LlmRouter`] (the
//! embedded model unless configured otherwise). The 135M default model makes a weak judge;
//! the flow and the format are the same.
//!
//! [`EvalSettings::max_turns`]: crate::settings::EvalSettings::max_turns
//! [`EvalSettings::default_max_duration_secs`]: crate::settings::EvalSettings::default_max_duration_secs

use crate::chat::{self, ChatInput};
use crate::error::ApiError;
use crate::jobs::{JobHandler, JobOutcome};
use crate::state::AppState;
use async_trait::async_trait;
use parley_core::assistant_tests::{RubricItem, RubricResult, TestChannel, TestConfig, TestStatus};
use parley_core::clock::format_timestamp;
use parley_core::conversation::{
    META_AGENT_TARGET, META_CHANNEL, META_ENDED_AT, META_END_USER_TARGET,
};
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_llm::{
    ChatMessage, ChatModel, ChatRequest, OpenAiConfig, OpenAiProvider, OutputConstraint,
};
use parley_store::{
    AssistantRecord, JobRecord, NewConversation, StoreError, StoreResult, TestRunRecord,
    TestRunTransition, TestRunUpdate,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use parley_store::TEST_RUN_JOB;

/// What a simulated user may write instead of `end_conversation: true` when its model ignores
/// the JSON schema.
pub const END_MARKER: &str = "[END]";
/// The end user's number in SMS test conversations (no message is ever sent to it).
pub const SIMULATED_USER_NUMBER: &str = "+10000000000";
/// Conversation metadata naming the run a conversation belongs to.
pub const META_TEST_RUN_ID: &str = "test_run_id";
/// Conversation metadata naming the test a conversation belongs to.
pub const META_TEST_ID: &str = "test_id";
/// Most tokens of one simulated-user message.
const USER_MAX_TOKENS: u32 = 256;
/// Most tokens of one verdict.
const JUDGE_MAX_TOKENS: u32 = 384;
/// Tokens kept free of transcript in an evaluation prompt (instructions, criteria, answer).
const PROMPT_RESERVE_TOKENS: u32 = 900;

/// What a test's `destination` leads to.
#[derive(Debug, Clone)]
pub enum Destination {
    /// This assistant (its main version) answers.
    Assistant(Box<AssistantRecord>),
    /// Nothing on this server can answer; why, for the client.
    Unavailable(String),
}

/// Resolves a test's destination to the assistant that answers it.
pub async fn resolve_destination(
    state: &AppState,
    org: &OrgId,
    test: &TestConfig,
) -> StoreResult<Destination> {
    let destination = &test.destination;
    match test.channel {
        TestChannel::PhoneCall | TestChannel::WebCall => Ok(Destination::Unavailable(format!(
            "the voice channel ({}) is not available on this server; use web_chat or sms_chat",
            test.channel
        ))),
        TestChannel::WebChat => Ok(
            match state
                .store
                .get_assistant(org, &AssistantId::from_string(destination))
                .await?
            {
                Some(assistant) => Destination::Assistant(Box::new(assistant)),
                None => Destination::Unavailable(format!(
                    "destination {destination:?} is not an assistant of this organization"
                )),
            },
        ),
        TestChannel::SmsChat => {
            let Some(number) = state.store.get_phone_number(org, destination).await? else {
                return Ok(Destination::Unavailable(format!(
                    "destination {destination:?} is not a phone number assigned to an \
                     assistant of this organization"
                )));
            };
            Ok(
                match state.store.get_assistant(org, &number.assistant_id).await? {
                    Some(assistant) => Destination::Assistant(Box::new(assistant)),
                    None => Destination::Unavailable(format!(
                        "the number {destination} is assigned to assistant {}, which no longer \
                     exists",
                        number.assistant_id
                    )),
                },
            )
        }
    }
}

/// Runs the jobs of kind [`TEST_RUN_JOB`].
#[derive(Default)]
pub struct TestRunHandler {
    /// The configured evaluation endpoint's provider, built on first use.
    configured: tokio::sync::OnceCell<Arc<OpenAiProvider>>,
}

impl std::fmt::Debug for TestRunHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRunHandler").finish_non_exhaustive()
    }
}

#[async_trait]
impl JobHandler for TestRunHandler {
    async fn run(&self, state: &AppState, job: &JobRecord) -> JobOutcome {
        match self.execute(state, &job.org_id, &job.key).await {
            Ok(()) => JobOutcome::Done,
            Err(e) => JobOutcome::RetryAt {
                due_at: state.clock.now() + chrono::Duration::seconds(30),
                error: e.to_string(),
            },
        }
    }
}

/// The model that plays the simulated user and the judge.
struct Evaluator {
    model: Arc<dyn ChatModel>,
    label: String,
    context_tokens: u32,
    /// Limit of one call.
    timeout: Duration,
}

impl Evaluator {
    /// Characters of transcript that fit one prompt.
    fn transcript_budget(&self) -> usize {
        (self
            .context_tokens
            .saturating_sub(PROMPT_RESERVE_TOKENS)
            .max(256) as usize)
            * 3
    }

    async fn ask(&self, request: ChatRequest) -> Result<String, String> {
        match tokio::time::timeout(self.timeout, self.model.complete_buffered(request)).await {
            Ok(Ok(outcome)) => Ok(outcome.message.content),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs())),
        }
    }
}

/// Why a run could not be carried out (it ends as `error`).
struct RunError(String);

/// Who said a line of the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    User,
    Assistant,
}

/// Why the conversation stopped.
enum Stop {
    UserEnded(String),
    AssistantHungUp,
    TurnLimit(u32),
    Timeout(u32),
}

/// The run's readable account, built as it goes.
struct RunLog {
    started: Instant,
    text: String,
}

impl RunLog {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            text: String::new(),
        }
    }

    fn line(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(
            self.text,
            "[{:>7.2}s] {}",
            self.started.elapsed().as_secs_f64(),
            line.as_ref()
        );
    }

    fn raw(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }
}

impl TestRunHandler {
    /// Carries out run `id` of `org`; `Err` only for store failures (the job is retried).
    async fn execute(&self, state: &AppState, org: &OrgId, id: &str) -> StoreResult<()> {
        let Some(run) = state.store.get_test_run(org, id).await? else {
            // The test (and its runs) was deleted.
            return Ok(());
        };
        match run.status {
            status if status.is_terminal() => return Ok(()),
            TestStatus::Starting | TestStatus::Running => {
                return interrupted(state, org, &run).await;
            }
            _ => {}
        }
        let mut log = RunLog::new();
        log.line(format!(
            "run {} of test {:?} started at {} on {}",
            run.id,
            run.test.name,
            format_timestamp(&state.clock.now()),
            state.jobs.owner()
        ));
        let claimed = state
            .store
            .update_test_run(
                org,
                id,
                &[TestStatus::Pending],
                &TestRunUpdate {
                    status: Some(TestStatus::Starting),
                    logs: Some(log.text.clone()),
                    ..TestRunUpdate::default()
                },
                state.clock.now(),
            )
            .await?;
        if !matches!(claimed, TestRunTransition::Updated(_)) {
            return Ok(());
        }
        tracing::info!(run = %run.id, test = %run.test_id, "test run started");
        let (status, results) = match self.carry_out(state, org, &run, &mut log).await {
            Ok(results) => {
                let status = overall(&results);
                (status, results)
            }
            Err(RunError(reason)) => {
                log.line(format!("error: {reason}"));
                (TestStatus::Error, error_results(&run.test, None))
            }
        };
        let passed = results
            .iter()
            .filter(|r| r.status == TestStatus::Passed)
            .count();
        log.line(format!(
            "result: {status} ({passed} of {} rubric items passed) in {:.2} s",
            results.len(),
            log.started.elapsed().as_secs_f64()
        ));
        tracing::info!(run = %run.id, %status, elapsed_ms = log.started.elapsed().as_millis() as u64, "test run finished");
        state
            .store
            .update_test_run(
                org,
                id,
                &[TestStatus::Starting, TestStatus::Running],
                &TestRunUpdate {
                    status: Some(status),
                    logs: Some(log.text),
                    detail_status: Some(results),
                    ..TestRunUpdate::default()
                },
                state.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// The conversation and the judging; `Err` when the run cannot be carried out.
    async fn carry_out(
        &self,
        state: &AppState,
        org: &OrgId,
        run: &TestRunRecord,
        log: &mut RunLog,
    ) -> Result<Vec<RubricResult>, RunError> {
        let test = &run.test;
        let store_error = |e: StoreError| RunError(format!("storage failed: {e}"));
        let assistant = match resolve_destination(state, org, test)
            .await
            .map_err(store_error)?
        {
            Destination::Assistant(assistant) => assistant,
            Destination::Unavailable(reason) => return Err(RunError(reason)),
        };
        let version = match &run.destination_version_id {
            Some(version) => {
                let id = VersionId::from_string(version);
                let exists = id == assistant.version.id
                    || state
                        .store
                        .get_version(org, &assistant.id, &id)
                        .await
                        .map_err(store_error)?
                        .is_some();
                if !exists {
                    return Err(RunError(format!(
                        "version {version} of assistant {} no longer exists",
                        assistant.id
                    )));
                }
                log.line(format!(
                    "destination: assistant {} ({:?}) over {}, version {version}",
                    assistant.id,
                    assistant_name(&assistant),
                    test.channel
                ));
                Some(id)
            }
            None => {
                log.line(format!(
                    "destination: assistant {} ({:?}) over {}, main version {}",
                    assistant.id,
                    assistant_name(&assistant),
                    test.channel,
                    assistant.version.id
                ));
                None
            }
        };
        let evaluator = self.evaluator(state, org).await?;
        log.line(format!("evaluation model: {}", evaluator.label));

        // The conversation, created up front so the run points at it from the start.
        let conversation_id = uuid::Uuid::new_v4().to_string();
        let mut metadata = BTreeMap::new();
        metadata.insert(META_TEST_RUN_ID.to_owned(), run.id.clone());
        metadata.insert(META_TEST_ID.to_owned(), run.test_id.clone());
        if test.channel == TestChannel::SmsChat {
            metadata.insert(
                META_CHANNEL.to_owned(),
                TestChannel::SmsChat.as_str().to_owned(),
            );
            metadata.insert(META_AGENT_TARGET.to_owned(), test.destination.clone());
            metadata.insert(
                META_END_USER_TARGET.to_owned(),
                SIMULATED_USER_NUMBER.to_owned(),
            );
        }
        state
            .store
            .create_conversation(
                org,
                &conversation_id,
                &NewConversation {
                    name: Some(format!("Test run: {}", test.name)),
                    metadata,
                    variables: BTreeMap::new(),
                },
                state.clock.now(),
            )
            .await
            .map_err(store_error)?;
        let limit = test
            .max_duration_seconds
            .unwrap_or(state.settings.eval.default_max_duration_secs);
        log.line(format!(
            "conversation {conversation_id}: at most {} user messages, {limit} s",
            state.settings.eval.max_turns
        ));
        state
            .store
            .update_test_run(
                org,
                &run.id,
                &[TestStatus::Starting],
                &TestRunUpdate {
                    status: Some(TestStatus::Running),
                    conversation_id: Some(conversation_id.clone()),
                    logs: Some(log.text.clone()),
                    ..TestRunUpdate::default()
                },
                state.clock.now(),
            )
            .await
            .map_err(store_error)?;

        let conversation_started = Instant::now();
        let mut transcript: Vec<(Speaker, String)> = Vec::new();
        let talk = converse(
            state,
            org,
            &assistant.id,
            version.as_ref(),
            &conversation_id,
            test,
            &evaluator,
            &mut transcript,
            log,
        );
        let stop = match tokio::time::timeout(Duration::from_secs(u64::from(limit)), talk).await {
            Ok(stop) => stop?,
            Err(_) => Stop::Timeout(limit),
        };
        let exchanged = transcript
            .iter()
            .filter(|(s, _)| *s == Speaker::Assistant)
            .count();
        let conversation_secs = conversation_started.elapsed().as_secs_f64();
        match &stop {
            Stop::UserEnded(farewell) if farewell.is_empty() => log.line(format!(
                "the simulated user ended the conversation after {exchanged} exchanges ({conversation_secs:.2} s)"
            )),
            Stop::UserEnded(farewell) => log.line(format!(
                "the simulated user ended the conversation after {exchanged} exchanges ({conversation_secs:.2} s), saying: {farewell}"
            )),
            Stop::AssistantHungUp => log.line(format!(
                "the assistant ended the conversation after {exchanged} exchanges ({conversation_secs:.2} s)"
            )),
            Stop::TurnLimit(turns) => log.line(format!(
                "the turn limit ({turns} user messages) was reached ({conversation_secs:.2} s)"
            )),
            Stop::Timeout(secs) => log.line(format!(
                "max_duration_seconds ({secs} s) passed after {exchanged} exchanges; the conversation was stopped"
            )),
        }
        if exchanged == 0 {
            return Err(RunError(match stop {
                Stop::Timeout(secs) => {
                    format!("no exchange completed within max_duration_seconds ({secs} s)")
                }
                _ => "no message was exchanged, so there is nothing to grade".to_owned(),
            }));
        }
        // Let readers see the transcript while the judge works.
        state
            .store
            .update_test_run(
                org,
                &run.id,
                &[TestStatus::Running],
                &TestRunUpdate {
                    logs: Some(log.text.clone()),
                    ..TestRunUpdate::default()
                },
                state.clock.now(),
            )
            .await
            .map_err(store_error)?;

        let judging = Instant::now();
        log.raw("--- verdicts ---");
        let rendered = render_transcript(&transcript, evaluator.transcript_budget());
        let mut results = Vec::with_capacity(test.rubric.len());
        for item in &test.rubric {
            let (status, reasoning) = judge(&evaluator, test, &rendered, item).await;
            log.line(format!("[{status}] {}: {reasoning}", item.name));
            results.push(RubricResult {
                name: item.name.clone(),
                status,
            });
        }
        log.line(format!(
            "timings: conversation {conversation_secs:.2} s, judging {:.2} s",
            judging.elapsed().as_secs_f64()
        ));
        Ok(results)
    }

    /// The evaluation model: the configured endpoint, else the default model.
    async fn evaluator(&self, state: &AppState, org: &OrgId) -> Result<Evaluator, RunError> {
        let eval = &state.settings.eval;
        let timeout = Duration::from_millis(state.settings.llm.turn_deadline_ms);
        if let (Some(base_url), Some(model)) = (&eval.base_url, &eval.model) {
            let provider = self
                .configured
                .get_or_try_init(|| async {
                    let read_timeout = Duration::from_millis(state.settings.llm.timeout_ms);
                    // Answers are read whole: nothing streams them anywhere.
                    let config = OpenAiConfig {
                        api_key: eval.api_key.clone(),
                        stream: false,
                        connect_timeout: read_timeout.min(Duration::from_secs(10)),
                        read_timeout,
                        ..OpenAiConfig::new(base_url.clone(), model.clone())
                    };
                    OpenAiProvider::new(config).map(Arc::new)
                })
                .await
                .map_err(|e| RunError(format!("the evaluation model cannot be used: {e}")))?;
            return Ok(Evaluator {
                model: provider.clone(),
                label: format!("{model} at {base_url}"),
                context_tokens: crate::llm::DEFAULT_UPSTREAM_CONTEXT_TOKENS,
                timeout,
            });
        }
        let plan = state.llm.plan(state, org, &Map::new()).await.map_err(|e| {
            RunError(format!(
                "the evaluation model cannot be used: {}",
                describe(&e)
            ))
        })?;
        Ok(Evaluator {
            model: plan.primary.provider,
            label: format!("{} (the default model)", plan.primary.label),
            context_tokens: plan.primary.context_tokens,
            timeout,
        })
    }
}

/// The name of an assistant's version, for the log.
fn assistant_name(assistant: &AssistantRecord) -> String {
    assistant
        .version
        .config
        .as_map()
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// An error as a sentence for the log (the envelope's detail for client errors).
fn describe(error: &ApiError) -> String {
    match error {
        ApiError::Refused { detail, .. } | ApiError::MalformedBody { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// Ends a run found `starting`/`running` at the start of its job: its node stopped.
async fn interrupted(state: &AppState, org: &OrgId, run: &TestRunRecord) -> StoreResult<()> {
    let mut logs = run.logs.clone().unwrap_or_default();
    let _ = writeln!(
        logs,
        "[interrupted] the run was {} when the node carrying it out stopped (found at {}); \
         it is not restarted — trigger a new run",
        run.status,
        format_timestamp(&state.clock.now())
    );
    let outcome = state
        .store
        .update_test_run(
            org,
            &run.id,
            &[TestStatus::Starting, TestStatus::Running],
            &TestRunUpdate {
                status: Some(TestStatus::Error),
                logs: Some(logs),
                detail_status: Some(error_results(&run.test, Some(&run.detail_status))),
                ..TestRunUpdate::default()
            },
            state.clock.now(),
        )
        .await?;
    if matches!(outcome, TestRunTransition::Updated(_)) {
        tracing::warn!(run = %run.id, "test run was interrupted; marked error");
    }
    Ok(())
}

/// Rubric results after a run that could not be graded: items not graded yet are `error`.
fn error_results(test: &TestConfig, so_far: Option<&[RubricResult]>) -> Vec<RubricResult> {
    match so_far {
        Some(results) if !results.is_empty() => results
            .iter()
            .map(|r| RubricResult {
                name: r.name.clone(),
                status: if r.status.is_terminal() {
                    r.status
                } else {
                    TestStatus::Error
                },
            })
            .collect(),
        _ => test
            .rubric
            .iter()
            .map(|item| RubricResult {
                name: item.name.clone(),
                status: TestStatus::Error,
            })
            .collect(),
    }
}

/// The run's status from its items: `failed` if any failed, else `error` if any could not be
/// graded, else `passed`.
fn overall(results: &[RubricResult]) -> TestStatus {
    if results.iter().any(|r| r.status == TestStatus::Failed) {
        TestStatus::Failed
    } else if results.iter().all(|r| r.status == TestStatus::Passed) {
        TestStatus::Passed
    } else {
        TestStatus::Error
    }
}

/// The simulated user and the assistant take turns until one of them ends or the turn limit.
#[allow(clippy::too_many_arguments)]
async fn converse(
    state: &AppState,
    org: &OrgId,
    assistant: &AssistantId,
    version: Option<&VersionId>,
    conversation_id: &str,
    test: &TestConfig,
    evaluator: &Evaluator,
    transcript: &mut Vec<(Speaker, String)>,
    log: &mut RunLog,
) -> Result<Stop, RunError> {
    let max_turns = state.settings.eval.max_turns;
    log.raw("--- conversation ---");
    for turn in 1..=max_turns {
        let (message, leaving) = match simulated_user(evaluator, test, transcript).await {
            Ok(UserTurn::Say(message)) => (message, None),
            // Nobody leaves before saying anything: a first message that also ends the
            // conversation is still delivered and answered (small models often do this).
            Ok(UserTurn::End(farewell)) if turn == 1 && !farewell.trim().is_empty() => {
                (farewell.clone(), Some(farewell))
            }
            Ok(UserTurn::End(farewell)) => return Ok(Stop::UserEnded(farewell)),
            Err(e) => {
                return Err(RunError(format!(
                    "the simulated user failed to answer (turn {turn}): {e}"
                )))
            }
        };
        log.line(format!("user: {message}"));
        transcript.push((Speaker::User, message.clone()));
        let input = ChatInput {
            content: message,
            conversation_id: conversation_id.to_owned(),
            name: None,
            stream: false,
        };
        let answer = async {
            let prepared =
                chat::prepare_pinned(state, org, assistant.as_str(), input, version).await?;
            chat::run(state, prepared, None).await
        }
        .await
        .map_err(|e| {
            RunError(format!(
                "the assistant failed to answer (turn {turn}): {}",
                describe(&e)
            ))
        })?;
        log.line(format!("assistant: {}", answer.content));
        transcript.push((Speaker::Assistant, answer.content));
        let ended = state
            .store
            .get_conversation(org, conversation_id)
            .await
            .map_err(|e| RunError(format!("storage failed: {e}")))?
            .is_some_and(|c| c.metadata.contains_key(META_ENDED_AT));
        if ended {
            return Ok(Stop::AssistantHungUp);
        }
        if let Some(farewell) = leaving {
            return Ok(Stop::UserEnded(farewell));
        }
    }
    Ok(Stop::TurnLimit(max_turns))
}

/// What the simulated user does next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UserTurn {
    /// Sends this message.
    Say(String),
    /// Ends the conversation (with these last words, possibly empty).
    End(String),
}

fn user_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "end_conversation": {"type": "boolean"}
        },
        "required": ["message", "end_conversation"],
        "additionalProperties": false
    })
}

fn verdict_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "passed": {"type": "boolean"},
            "reasoning": {"type": "string"}
        },
        "required": ["passed", "reasoning"],
        "additionalProperties": false
    })
}

/// The simulated user's system prompt.
fn user_prompt(test: &TestConfig) -> String {
    format!(
        "You are role-playing a person who is chatting with an AI assistant, to test it. Stay \
         in character: you are the person, never an AI, and you never mention this test.\n\n\
         Your scenario (who you are and what you want):\n{}\n\n\
         Write only your next message to the assistant: short and natural, one message at a \
         time. When your goal is reached, or the conversation cannot go anywhere, end it.\n\
         Answer with a JSON object: {{\"message\": \"your next message\", \
         \"end_conversation\": false}} — or {{\"message\": \"\", \"end_conversation\": true}} \
         to end the conversation.",
        test.instructions
    )
}

/// Asks the simulated user for its next message.
async fn simulated_user(
    evaluator: &Evaluator,
    test: &TestConfig,
    transcript: &[(Speaker, String)],
) -> Result<UserTurn, String> {
    let mut messages = vec![ChatMessage::system(user_prompt(test))];
    // Its own lines are the assistant's side, the assistant's lines the user's side; the
    // newest lines that fit.
    let mut budget = evaluator.transcript_budget();
    let mut kept = Vec::new();
    for (speaker, text) in transcript.iter().rev() {
        if text.len() > budget {
            break;
        }
        budget -= text.len();
        kept.push(match speaker {
            Speaker::User => ChatMessage::assistant(format!(
                "{{\"message\": {}, \"end_conversation\": false}}",
                Value::String(text.clone())
            )),
            Speaker::Assistant => ChatMessage::user(text.clone()),
        });
    }
    if kept.is_empty() || transcript.last().map(|(s, _)| *s) != Some(Speaker::Assistant) {
        kept.insert(
            0,
            ChatMessage::user("(The conversation starts. Write your first message.)"),
        );
    }
    kept.reverse();
    messages.extend(kept);
    let answer = evaluator
        .ask(ChatRequest {
            messages,
            max_tokens: Some(USER_MAX_TOKENS),
            constraint: Some(OutputConstraint::JsonSchema {
                name: "simulated_user_turn".into(),
                schema: user_schema(),
            }),
            ..ChatRequest::default()
        })
        .await?;
    Ok(parse_user_turn(&answer))
}

/// Reads the simulated user's answer: the JSON object, else plain text (with [`END_MARKER`]
/// ending the conversation). An empty message ends it too.
fn parse_user_turn(answer: &str) -> UserTurn {
    if let Some(object) = json_object(answer) {
        let message = object
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let end = object.get("end_conversation").and_then(Value::as_bool) == Some(true);
        return if end || message.is_empty() {
            UserTurn::End(message)
        } else {
            UserTurn::Say(message)
        };
    }
    let text = answer.trim();
    match text.find(END_MARKER) {
        Some(at) => UserTurn::End(text[..at].trim().to_owned()),
        None if text.is_empty() => UserTurn::End(String::new()),
        None => UserTurn::Say(text.to_owned()),
    }
}

/// The first JSON object in `text`, tolerating code fences and words around it, and an answer
/// cut off by the token limit inside its last string (closed here).
fn json_object(text: &str) -> Option<Map<String, Value>> {
    let start = text.find('{')?;
    let parse = |candidate: &str| match serde_json::from_str(candidate) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    if let Some(end) = text.rfind('}').filter(|end| *end > start) {
        if let Some(map) = parse(&text[start..=end]) {
            return Some(map);
        }
    }
    let cut = text[start..].trim_end();
    ["\"}", "}"]
        .iter()
        .find_map(|close| parse(&format!("{cut}{close}")))
}

/// The transcript as `USER:`/`ASSISTANT:` lines, the oldest dropped to fit `budget`
/// characters.
fn render_transcript(transcript: &[(Speaker, String)], budget: usize) -> String {
    let mut lines = Vec::new();
    let mut used = 0;
    for (speaker, text) in transcript.iter().rev() {
        let line = match speaker {
            Speaker::User => format!("USER: {text}"),
            Speaker::Assistant => format!("ASSISTANT: {text}"),
        };
        if used + line.len() > budget {
            lines.push("(earlier messages left out)".to_owned());
            break;
        }
        used += line.len() + 1;
        lines.push(line);
    }
    lines.reverse();
    lines.join("\n")
}

const JUDGE_PROMPT: &str = "You are a strict, fair judge. You grade a conversation between a \
    user and an AI assistant against one criterion, using only the transcript. Answer with a \
    JSON object: {\"passed\": true or false, \"reasoning\": \"one or two sentences\"}.";

/// Grades one rubric item: the status and the judge's reasoning (or why there is none).
async fn judge(
    evaluator: &Evaluator,
    test: &TestConfig,
    transcript: &str,
    item: &RubricItem,
) -> (TestStatus, String) {
    let question = format!(
        "The user's scenario:\n{}\n\nTranscript:\n{transcript}\n\nCriterion {:?}: {}\n\n\
         Did the assistant meet this criterion?",
        test.instructions, item.name, item.criteria
    );
    let request = ChatRequest {
        messages: vec![
            ChatMessage::system(JUDGE_PROMPT),
            ChatMessage::user(question),
        ],
        max_tokens: Some(JUDGE_MAX_TOKENS),
        temperature: Some(0.0),
        constraint: Some(OutputConstraint::JsonSchema {
            name: "verdict".into(),
            schema: verdict_schema(),
        }),
        ..ChatRequest::default()
    };
    let mut problems = Vec::new();
    for _attempt in 0..2 {
        match evaluator.ask(request.clone()).await {
            Ok(answer) => match parse_verdict(&answer) {
                Some((passed, reasoning)) => {
                    let status = if passed {
                        TestStatus::Passed
                    } else {
                        TestStatus::Failed
                    };
                    return (status, reasoning);
                }
                None => problems.push(format!("unreadable verdict {:?}", clip(&answer, 200))),
            },
            Err(e) => problems.push(format!("the judge failed: {e}")),
        }
    }
    (
        TestStatus::Error,
        format!("not graded after two attempts: {}", problems.join("; ")),
    )
}

/// Reads `{"passed": bool, "reasoning": string}`.
fn parse_verdict(answer: &str) -> Option<(bool, String)> {
    let object = json_object(answer)?;
    let passed = object.get("passed")?.as_bool()?;
    let reasoning = object
        .get("reasoning")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    Some((passed, reasoning))
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_turns_parse_json_markers_and_text() {
        assert_eq!(
            parse_user_turn(r#"{"message": "Hi", "end_conversation": false}"#),
            UserTurn::Say("Hi".into())
        );
        assert_eq!(
            parse_user_turn("```json\n{\"message\": \"Bye\", \"end_conversation\": true}\n```"),
            UserTurn::End("Bye".into())
        );
        assert_eq!(
            parse_user_turn(r#"{"message": "  ", "end_conversation": false}"#),
            UserTurn::End(String::new())
        );
        assert_eq!(
            parse_user_turn("Hello there"),
            UserTurn::Say("Hello there".into())
        );
        assert_eq!(
            parse_user_turn("Thanks! [END]"),
            UserTurn::End("Thanks!".into())
        );
        assert_eq!(
            parse_user_turn(r#"{"message": "I need help with my ord"#),
            UserTurn::Say("I need help with my ord".into()),
            "an answer cut off by the token limit"
        );
    }

    #[test]
    fn verdicts_parse_or_not() {
        assert_eq!(
            parse_verdict(r#"{"passed": true, "reasoning": "Polite."}"#),
            Some((true, "Polite.".into()))
        );
        assert_eq!(
            parse_verdict("Sure! {\"passed\": false, \"reasoning\": \"No.\"} Hope it helps"),
            Some((false, "No.".into()))
        );
        assert_eq!(
            parse_verdict(r#"{"passed": false, "reasoning": "It never said"#),
            Some((false, "It never said".into()))
        );
        assert_eq!(parse_verdict(r#"{"passed": "yes"}"#), None);
        assert_eq!(parse_verdict("I think it passed"), None);
    }

    #[test]
    fn overall_status_prefers_failed_then_error() {
        let r = |status| RubricResult {
            name: "x".into(),
            status,
        };
        use TestStatus::*;
        assert_eq!(overall(&[r(Passed), r(Passed)]), Passed);
        assert_eq!(overall(&[r(Passed), r(Error)]), Error);
        assert_eq!(overall(&[r(Error), r(Failed)]), Failed);
    }

    #[test]
    fn transcripts_keep_the_newest_lines_that_fit() {
        let transcript = vec![
            (Speaker::User, "a".repeat(50)),
            (Speaker::Assistant, "b".repeat(50)),
            (Speaker::User, "c".repeat(10)),
        ];
        let all = render_transcript(&transcript, 1000);
        assert!(all.starts_with("USER: aaa") && all.ends_with("USER: cccccccccc"));
        let some = render_transcript(&transcript, 80);
        assert!(
            some.starts_with("(earlier messages left out)\nASSISTANT: bbb"),
            "{some}"
        );
    }
}
