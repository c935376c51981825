//! `POST /ai/assistants/{assistant_id}/chat`: one turn of a conversation, answered at once
//! ([`Assistants::chat`]) or streamed token by token ([`Assistants::chat_stream`]).

use super::{assistant_path, Assistants};
use crate::client::{ApiRequest, BodyStream};
use crate::error::{Error, Result};
use crate::sse::{SseEvent, SseParser};
use futures::stream::{self, BoxStream, StreamExt};
use parley_types::chat::{AssistantChatParams, AssistantChatResponse, ChatDelta, ChatDone};
use parley_types::ErrorEnvelope;
use std::collections::VecDeque;

/// One event of a streamed chat answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The next piece of the reply (`event: delta`), to append to the pieces before it.
    Delta(String),
    /// The end of the turn (`event: done`): the whole reply and the conversation it was
    /// stored in. Always the last event.
    Done(ChatDone),
}

impl<'a> Assistants<'a> {
    /// `POST /ai/assistants/{assistant_id}/chat`: sends `params.content` to the assistant in
    /// the conversation `params.conversation_id` (created on its first message) and waits for
    /// the whole reply. `params.stream` is not sent: see [`Assistants::chat_stream`].
    ///
    /// ```no_run
    /// # async fn run(client: parley_client::Client) -> parley_client::Result<()> {
    /// use parley_client::types::chat::AssistantChatParams;
    /// let conversation = parley_client::new_conversation_id();
    /// let reply = client
    ///     .ai()
    ///     .assistants()
    ///     .chat("assistant-123", &AssistantChatParams::new("Hi!", &conversation))
    ///     .await?;
    /// println!("{}", reply.content);
    /// # Ok(()) }
    /// ```
    pub async fn chat(
        &self,
        assistant_id: &str,
        params: &AssistantChatParams,
    ) -> Result<AssistantChatResponse> {
        let params = AssistantChatParams {
            stream: None,
            ..params.clone()
        };
        let path = format!("{}/chat", assistant_path(assistant_id)?);
        let request = ApiRequest::post(path).body(&params)?;
        self.client.json(request).await
    }

    /// `POST /ai/assistants/{assistant_id}/chat` with `stream: true`: the reply as a stream
    /// of [`ChatEvent`]s, read from the server-sent events as they arrive.
    ///
    /// A failure before the reply starts (unknown assistant, invalid body, the model
    /// unreachable) is the `Err` of this call, with its status, after any retries. A failure
    /// after it started is an [`Error::Stream`] item (with the server's error envelope) and
    /// ends the stream; so does a stream cut before its `done` event. Nothing of a failed turn
    /// is stored. Dropping the stream closes the connection, which cancels the turn.
    ///
    /// ```no_run
    /// # async fn run(client: parley_client::Client) -> parley_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use parley_client::resources::ai::assistants::ChatEvent;
    /// use parley_client::types::chat::AssistantChatParams;
    /// let conversation = parley_client::new_conversation_id();
    /// let params = AssistantChatParams::new("Tell me a story", &conversation);
    /// let mut events = client.ai().assistants().chat_stream("assistant-123", &params).await?;
    /// while let Some(event) = events.try_next().await? {
    ///     match event {
    ///         ChatEvent::Delta(text) => print!("{text}"),
    ///         ChatEvent::Done(done) => println!("\n(conversation {})", done.conversation_id),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn chat_stream(
        &self,
        assistant_id: &str,
        params: &AssistantChatParams,
    ) -> Result<BoxStream<'static, Result<ChatEvent>>> {
        let params = AssistantChatParams {
            stream: Some(true),
            ..params.clone()
        };
        let path = format!("{}/chat", assistant_path(assistant_id)?);
        let request = ApiRequest::post(path)
            .body(&params)?
            .accept("text/event-stream");
        let body = self.client.send_streaming(request).await?;
        Ok(chat_events(body))
    }
}

/// What the event stream has read so far.
struct Reader {
    body: BodyStream,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    finished: bool,
}

/// The chat events of an event-stream body; the stream ends after `done` or the first error.
fn chat_events(body: BodyStream) -> BoxStream<'static, Result<ChatEvent>> {
    let reader = Reader {
        body,
        parser: SseParser::default(),
        pending: VecDeque::new(),
        finished: false,
    };
    stream::unfold(reader, |mut reader| async move {
        loop {
            if reader.finished {
                return None;
            }
            if let Some(event) = reader.pending.pop_front() {
                let Some(item) = decode(event) else {
                    continue;
                };
                reader.finished = !matches!(item, Ok(ChatEvent::Delta(_)));
                return Some((item, reader));
            }
            match reader.body.next_chunk().await {
                Ok(Some(chunk)) => {
                    let events = reader.parser.push(&chunk);
                    reader.pending.extend(events);
                }
                Ok(None) => {
                    reader.finished = true;
                    let error = Error::Stream {
                        envelope: None,
                        message: "the chat stream ended before its done event".into(),
                    };
                    return Some((Err(error), reader));
                }
                Err(error) => {
                    reader.finished = true;
                    return Some((Err(error), reader));
                }
            }
        }
    })
    .boxed()
}

/// The chat event of a server-sent event; `None` for events this SDK does not know.
fn decode(event: SseEvent) -> Option<Result<ChatEvent>> {
    Some(match event.event.as_str() {
        "delta" => serde_json::from_str::<ChatDelta>(&event.data)
            .map(|delta| ChatEvent::Delta(delta.content))
            .map_err(Error::Decode),
        "done" => serde_json::from_str::<ChatDone>(&event.data)
            .map(ChatEvent::Done)
            .map_err(Error::Decode),
        "error" => {
            let envelope = serde_json::from_str::<ErrorEnvelope>(&event.data)
                .ok()
                .filter(|e| !e.errors.is_empty());
            Err(Error::Stream {
                envelope,
                message: event.data,
            })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_decode_to_deltas_done_and_errors() {
        assert_eq!(
            decode(sse("delta", r#"{"content":"Hel"}"#))
                .unwrap()
                .unwrap(),
            ChatEvent::Delta("Hel".into())
        );
        let Ok(ChatEvent::Done(done)) = decode(sse(
            "done",
            r#"{"content":"Hello","conversation_id":"c1","whatsapp_template":null}"#,
        ))
        .unwrap() else {
            panic!("not done");
        };
        assert_eq!(
            (done.content.as_str(), done.conversation_id.as_str()),
            ("Hello", "c1")
        );
        let error = decode(sse(
            "error",
            r#"{"errors":[{"code":"10012","title":"Upstream model failed","detail":"boom"}]}"#,
        ))
        .unwrap()
        .unwrap_err();
        assert_eq!(error.code(), Some("10012"));
        assert_eq!(
            error.to_string(),
            "stream failed: Upstream model failed: boom"
        );
        let garbled = decode(sse("error", "oops")).unwrap().unwrap_err();
        assert_eq!(garbled.to_string(), "stream failed: oops");
        assert!(matches!(
            decode(sse("delta", "{}")),
            Some(Err(Error::Decode(_)))
        ));
        assert!(decode(sse("message", "{}")).is_none());
    }
}
