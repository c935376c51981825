//! The embedded SmolLM2-135M-Instruct, for real: streaming, queueing, cancellation,
//! grammar-constrained JSON and forced tool calls.
//!
//! The model is pulled into the models directory (`PARLEY_MODELS_DIR`, else the user's cache)
//! if it is not there — never skipped — and loaded once for the whole binary. The tests take
//! turns (`TURN`) so that the model's counters belong to one test at a time; answers are kept
//! short.

use parley_llm::models::{self, PullOptions, Quiet, SMOLLM2_135M_INSTRUCT};
use parley_llm::{
    ChatEvent, ChatMessage, ChatModel, ChatRequest, EmbeddedConfig, EmbeddedModel, FinishReason,
    LlmError, OutputConstraint, ToolChoice, ToolSpec,
};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Instant;
use tokio::sync::mpsc;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn model() -> &'static EmbeddedModel {
    static MODEL: OnceLock<EmbeddedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = models::default_models_dir(std::env::vars())
            .expect("PARLEY_MODELS_DIR, XDG_CACHE_HOME or HOME must be set");
        models::pull(
            &SMOLLM2_135M_INSTRUCT,
            &dir,
            &PullOptions::default(),
            &Quiet,
        )
        .expect("pull SmolLM2-135M-Instruct");
        EmbeddedModel::load(EmbeddedConfig {
            context_tokens: 1024,
            ..EmbeddedConfig::for_spec(&SMOLLM2_135M_INSTRUCT, &dir)
        })
        .expect("load SmolLM2-135M-Instruct")
    })
}

/// The model, loaded off the async runtime's threads.
async fn loaded() -> &'static EmbeddedModel {
    tokio::task::spawn_blocking(model).await.unwrap()
}

fn question(text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::new(vec![
            ChatMessage::system("You are a concise assistant."),
            ChatMessage::user(text),
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chat_streams_tokens() {
    let model = loaded().await;
    let _turn = TURN.lock().await;
    let (sender, mut receiver) = mpsc::channel(16);
    let collect = async move {
        let mut events = Vec::new();
        while let Some(event) = receiver.recv().await {
            events.push(event);
        }
        events
    };
    let (outcome, events) = tokio::join!(
        model.complete(question("What is the capital of France?", 24), sender),
        collect
    );
    let outcome = outcome.unwrap();
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ContentDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(deltas.len() >= 2, "streamed token by token: {deltas:?}");
    assert_eq!(deltas.concat(), outcome.message.content);
    assert!(!outcome.message.content.trim().is_empty());
    assert!(outcome.usage.prompt_tokens > 10);
    assert!((1..=24).contains(&outcome.usage.completion_tokens));
    assert!(matches!(
        outcome.finish_reason,
        FinishReason::Stop | FinishReason::Length
    ));
    assert_eq!(outcome.model, "HuggingFaceTB/SmolLM2-135M-Instruct");
    assert!(outcome.timings.first_token.is_some());
    assert_eq!(events.last(), Some(&ChatEvent::Finished(outcome)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_queue_in_order_and_all_complete() {
    let model = loaded().await;
    let _turn = TURN.lock().await;
    assert_eq!(model.contexts(), 1);
    let mut completions = Vec::new();
    let mut drains = Vec::new();
    for text in ["Say hello.", "Name a colour.", "Count to three."] {
        let (sender, mut receiver) = mpsc::channel(16);
        completions.push(model.submit(question(text, 8), sender).unwrap());
        drains.push(tokio::spawn(async move {
            while receiver.recv().await.is_some() {}
        }));
    }
    let finished_at = |completion: parley_llm::Completion| async move {
        let outcome = completion.await;
        (outcome, Instant::now())
    };
    let mut completions = completions.into_iter();
    let (a, b, c) = tokio::join!(
        finished_at(completions.next().unwrap()),
        finished_at(completions.next().unwrap()),
        finished_at(completions.next().unwrap()),
    );
    for (outcome, _) in [&a, &b, &c] {
        let outcome = outcome.as_ref().unwrap();
        assert!(!outcome.message.content.is_empty());
    }
    assert!(a.1 <= b.1 && b.1 <= c.1, "first in, first out");
    let waited = |o: &Result<parley_llm::ChatOutcome, LlmError>| o.as_ref().unwrap().timings.queued;
    assert!(
        waited(&c.0) > waited(&a.0),
        "the third waited for the others"
    );
    for drain in drains {
        drain.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_receiver_stops_generation_early() {
    let model = loaded().await;
    let _turn = TURN.lock().await;
    let before = model.stats();
    let max_tokens = 400;
    let mut request = question(
        "Write a very long story about a dragon who learns to bake bread.",
        max_tokens,
    );
    request.temperature = Some(0.8);
    request.seed = Some(7);
    let (sender, mut receiver) = mpsc::channel(1);
    let completion = model.submit(request, sender).unwrap();
    let mut received = 0;
    while received < 5 {
        match receiver.recv().await {
            Some(ChatEvent::ContentDelta(_)) => received += 1,
            other => panic!("the story ended early: {other:?}"),
        }
    }
    drop(receiver);
    assert_eq!(completion.await.unwrap_err(), LlmError::Cancelled);
    let after = model.stats();
    let generated = after.generated_tokens - before.generated_tokens;
    assert!(
        generated < 20,
        "stopped between tokens: {generated} of {max_tokens} generated"
    );
    assert_eq!(after.cancelled, before.cancelled + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_schema_constrains_the_answer() {
    let model = loaded().await;
    let _turn = TURN.lock().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 20},
            "age": {"type": "integer"},
            "mood": {"enum": ["happy", "sad", "calm"]},
            "pets": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 2},
        },
        "required": ["name", "age", "mood"],
    });
    let mut request = question(
        "Invent a person. Answer in JSON with their name, age and mood.",
        96,
    );
    request.constraint = Some(OutputConstraint::JsonSchema {
        name: "person".into(),
        schema: schema.clone(),
    });
    let outcome = model.complete_buffered(request).await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&outcome.message.content)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", outcome.message.content));
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&answer),
        "does not match the schema: {answer}"
    );
    assert_eq!(outcome.finish_reason, FinishReason::Stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gbnf_grammar_constrains_the_answer_and_a_broken_one_is_refused() {
    let model = loaded().await;
    let _turn = TURN.lock().await;
    let mut request = question("Is the sky blue? Answer yes or no.", 8);
    request.constraint = Some(OutputConstraint::Grammar(r#"root ::= "yes" | "no""#.into()));
    let outcome = model.complete_buffered(request.clone()).await.unwrap();
    assert!(
        ["yes", "no"].contains(&outcome.message.content.as_str()),
        "{:?}",
        outcome.message.content
    );
    request.constraint = Some(OutputConstraint::Grammar("root ::= (".into()));
    let refused = model.complete_buffered(request).await;
    assert!(
        matches!(refused, Err(LlmError::InvalidRequest(_))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_tool_call_is_a_tool_call() {
    let model = loaded().await;
    let _turn = TURN.lock().await;
    let mut request = question("What is the weather like in Paris?", 48);
    request.tools = vec![
        ToolSpec {
            name: "get_weather".into(),
            description: "The current weather in a city.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 30}},
                "required": ["city"],
            }),
        },
        ToolSpec {
            name: "hang_up".into(),
            description: "End the conversation.".into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ];
    request.tool_choice = ToolChoice::Function("get_weather".into());
    let prompt = model.prompt(&request).unwrap();
    assert!(prompt.contains("get_weather") && !prompt.contains("hang_up"));
    let outcome = model.complete_buffered(request).await.unwrap();
    assert_eq!(outcome.finish_reason, FinishReason::ToolCalls);
    let call = &outcome.message.tool_calls[0];
    assert_eq!(call.name, "get_weather");
    assert!(call.id.starts_with("call_"));
    let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_uses_the_models_chat_template_and_must_fit() {
    let model = loaded().await;
    let prompt = model.prompt(&question("Hi", 8)).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a concise assistant.<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let long = "word ".repeat(3000);
    assert!(model.count_tokens(&long) > 1024);
    let outcome = model.complete_buffered(question(&long, 8)).await;
    assert!(
        matches!(outcome, Err(LlmError::InvalidRequest(_))),
        "{outcome:?}"
    );
}
