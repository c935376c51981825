//! `OpenAiProvider` against the scripted OpenAI-compatible server: answers whole and streamed,
//! tool calls, and every class of failure.

use parley_llm::test_support::{Reply, ScriptedServer};
use parley_llm::{
    ChatEvent, ChatMessage, ChatModel, ChatOutcome, ChatRequest, FinishReason, LlmError,
    OpenAiConfig, OpenAiProvider, ToolChoice, ToolSpec,
};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn provider(base_url: &str, stream: bool) -> OpenAiProvider {
    let mut config = OpenAiConfig::new(base_url, "gpt-scripted");
    config.api_key = Some("sk-test".into());
    config.stream = stream;
    config.connect_timeout = Duration::from_secs(2);
    config.read_timeout = Duration::from_millis(300);
    OpenAiProvider::new(config).unwrap()
}

fn hello() -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Hello?"),
    ])
}

fn weather_request() -> ChatRequest {
    ChatRequest {
        tools: vec![ToolSpec {
            name: "get_weather".into(),
            description: "The weather in a city".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }],
        tool_choice: ToolChoice::Required,
        ..ChatRequest::new(vec![ChatMessage::user("Weather in Oslo?")])
    }
}

/// Runs a completion, collecting its events.
async fn run(
    provider: &OpenAiProvider,
    request: ChatRequest,
) -> (Result<ChatOutcome, LlmError>, Vec<ChatEvent>) {
    let (sender, mut receiver) = mpsc::channel(8);
    let collect = async move {
        let mut events = Vec::new();
        while let Some(event) = receiver.recv().await {
            events.push(event);
        }
        events
    };
    tokio::join!(provider.complete(request, sender), collect)
}

fn content_deltas(events: &[ChatEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ContentDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_whole_answer_with_bearer_auth() {
    let server = ScriptedServer::start([Reply::text("Hello there, friend.")]).await;
    let (outcome, events) = run(&provider(&server.base_url(), false), hello()).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.message.content, "Hello there, friend.");
    assert_eq!(outcome.finish_reason, FinishReason::Stop);
    assert_eq!(
        (outcome.usage.prompt_tokens, outcome.usage.completion_tokens),
        (11, 7)
    );
    assert_eq!(outcome.model, "gpt-scripted");
    assert_eq!(content_deltas(&events), ["Hello there, friend."]);
    assert_eq!(events.last(), Some(&ChatEvent::Finished(outcome)));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-test"));
    let body = &requests[0].body;
    assert_eq!(body["model"], "gpt-scripted");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Hello?"})
    );
    assert!(body.get("stream").is_none());
    assert!(body.get("tools").is_none());
}

#[tokio::test]
async fn a_streamed_answer_arrives_in_deltas() {
    let server = ScriptedServer::start([Reply::text("One two three four.")]).await;
    let (outcome, events) = run(&provider(&server.base_url(), true), hello()).await;
    let outcome = outcome.unwrap();
    assert_eq!(content_deltas(&events), ["One ", "two ", "three ", "four."]);
    assert_eq!(outcome.message.content, "One two three four.");
    assert_eq!(outcome.finish_reason, FinishReason::Stop);
    assert_eq!(outcome.usage.total_tokens(), 18);
    assert!(outcome.timings.first_token.is_some());
    assert!(matches!(events.last(), Some(ChatEvent::Finished(_))));
    let body = &server.requests()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn tool_calls_whole_and_streamed() {
    for stream in [false, true] {
        let server = ScriptedServer::start([Reply::tool_call(
            "get_weather",
            json!({"city": "Oslo", "unit": "c"}),
        )])
        .await;
        let (outcome, events) = run(&provider(&server.base_url(), stream), weather_request()).await;
        let outcome = outcome.unwrap();
        assert_eq!(
            outcome.finish_reason,
            FinishReason::ToolCalls,
            "stream={stream}"
        );
        assert_eq!(outcome.message.content, "");
        let call = &outcome.message.tool_calls[0];
        assert_eq!(
            (call.id.as_str(), call.name.as_str()),
            ("call_0", "get_weather")
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&call.arguments).unwrap(),
            json!({"city": "Oslo", "unit": "c"})
        );
        // The deltas of the call put together give the call.
        let mut arguments = String::new();
        let mut names = Vec::new();
        for event in &events {
            if let ChatEvent::ToolCallDelta {
                index: 0,
                name,
                arguments: part,
                ..
            } = event
            {
                names.extend(name.clone());
                arguments.push_str(part);
            }
        }
        assert_eq!(names, ["get_weather"]);
        assert_eq!(arguments, call.arguments);
        if stream {
            let fragments = events
                .iter()
                .filter(|e| matches!(e, ChatEvent::ToolCallDelta { .. }))
                .count();
            assert_eq!(fragments, 3, "id and name, then two argument fragments");
        }
        let body = &server.requests()[0].body;
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(body["tool_choice"], "required");
    }
}

#[tokio::test]
async fn an_upstream_error_status_is_upstream_status() {
    for stream in [false, true] {
        let server = ScriptedServer::start([Reply::Status(
            500,
            r#"{"error":{"message":"model overloaded"}}"#.into(),
        )])
        .await;
        let (outcome, events) = run(&provider(&server.base_url(), stream), hello()).await;
        assert_eq!(
            outcome.unwrap_err(),
            LlmError::UpstreamStatus {
                status: 500,
                message: "model overloaded".into()
            }
        );
        assert!(events.is_empty());
    }
    let server = ScriptedServer::start([Reply::Status(429, "slow down".into())]).await;
    let (outcome, _) = run(&provider(&server.base_url(), true), hello()).await;
    assert!(matches!(
        outcome,
        Err(LlmError::UpstreamStatus { status: 429, ref message }) if message == "slow down"
    ));
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let (outcome, _) = run(&provider(&format!("http://{address}/v1"), true), hello()).await;
    assert!(
        matches!(outcome, Err(LlmError::Unreachable(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_slow_upstream_is_a_timeout() {
    let server = ScriptedServer::start([
        Reply::delayed(Duration::from_secs(10), Reply::text("too late")),
        Reply::Stalled("Once upon".into()),
    ])
    .await;
    // No response headers within the read timeout.
    let started = Instant::now();
    let (outcome, _) = run(&provider(&server.base_url(), false), hello()).await;
    assert_eq!(outcome.unwrap_err(), LlmError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A stream that stops sending mid-answer.
    let (outcome, events) = run(&provider(&server.base_url(), true), hello()).await;
    assert_eq!(outcome.unwrap_err(), LlmError::Timeout);
    assert_eq!(content_deltas(&events), ["Once upon"]);
}

#[tokio::test]
async fn garbage_is_a_bad_response() {
    let server = ScriptedServer::start([
        Reply::Garbage("<html>oops</html>".into()),
        Reply::Garbage("data: {\"choices\": [nope\n\n".into()),
        Reply::Garbage("hello, not an event stream".into()),
        Reply::Garbage(r#"{"choices": []}"#.into()),
    ])
    .await;
    let (outcome, _) = run(&provider(&server.base_url(), false), hello()).await;
    assert!(
        matches!(outcome, Err(LlmError::BadResponse(_))),
        "{outcome:?}"
    );
    let (outcome, _) = run(&provider(&server.base_url(), true), hello()).await;
    assert!(
        matches!(outcome, Err(LlmError::BadResponse(_))),
        "{outcome:?}"
    );
    let (outcome, _) = run(&provider(&server.base_url(), true), hello()).await;
    assert!(
        matches!(outcome, Err(LlmError::BadResponse(_))),
        "{outcome:?}"
    );
    let (outcome, _) = run(&provider(&server.base_url(), false), hello()).await;
    assert!(
        matches!(outcome, Err(LlmError::BadResponse(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn dropping_the_receiver_cancels_a_stream() {
    let server = ScriptedServer::start([Reply::Stalled("Once upon".into())]).await;
    let mut config = OpenAiConfig::new(server.base_url(), "gpt-scripted");
    config.read_timeout = Duration::from_secs(30);
    let provider = OpenAiProvider::new(config).unwrap();
    let (sender, mut receiver) = mpsc::channel(8);
    let task = tokio::spawn(async move { provider.complete(hello(), sender).await });
    assert_eq!(
        receiver.recv().await,
        Some(ChatEvent::ContentDelta("Once upon".into()))
    );
    drop(receiver);
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("cancelled promptly, not after the read timeout")
        .unwrap();
    assert_eq!(outcome.unwrap_err(), LlmError::Cancelled);
}
