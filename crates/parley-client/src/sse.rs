//! A parser of `text/event-stream` bodies (the server-sent events of the WHATWG HTML
//! standard), fed chunk by chunk as they arrive.
//!
//! Lines end with `\n`, `\r\n` or `\r`, and a chunk may end anywhere, even inside a UTF-8
//! sequence or between the `\r` and `\n` of one line end. `event:` names the event (default
//! `message`), `data:` lines are joined with `\n`, a blank line dispatches the event, lines
//! starting with `:` are comments (keep-alives), `id:`, `retry:` and unknown fields are
//! ignored. One space after the colon is dropped. An event without `data:` lines is not
//! dispatched, nor is an unterminated one at the end of the stream.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, `message` when none was given.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of a line not ended yet.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting this one ends nothing.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds a chunk; the events it completes, in order.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut bytes = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    self.end_line(&mut events);
                }
                b'\r' => {
                    self.end_line(&mut events);
                    match bytes.get(i + 1) {
                        Some(b'\n') => i += 1,
                        Some(_) => {}
                        None => self.after_cr = true,
                    }
                }
                byte => self.line.push(byte),
            }
            i += 1;
        }
        events
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                events.push(SseEvent {
                    event: event
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| "message".to_owned()),
                    data,
                });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_dispatch_on_blank_lines_with_joined_data() {
        let mut parser = SseParser::default();
        let events = parser.push(
            b": keep-alive\n\nevent: delta\ndata: {\"content\":\"Hel\"}\n\n\
              data:one\ndata: two\nid: 7\nretry: 10\n\nevent: done\n",
        );
        assert_eq!(
            events,
            [
                event("delta", "{\"content\":\"Hel\"}"),
                event("message", "one\ntwo"),
            ]
        );
        // The unterminated event waits for its blank line.
        assert_eq!(parser.push(b"data: {}\n"), []);
        assert_eq!(parser.push(b"\n"), [event("done", "{}")]);
        // An event without data is not dispatched.
        assert_eq!(parser.push(b"event: ping\n\n"), []);
    }

    #[test]
    fn chunks_may_split_lines_line_ends_and_characters() {
        let body = "event: delta\r\ndata: {\"content\":\"héllo\"}\r\n\r\nevent: x\rdata: y\r\r";
        let whole = SseParser::default().push(body.as_bytes());
        assert_eq!(
            whole,
            [event("delta", "{\"content\":\"héllo\"}"), event("x", "y")]
        );
        for size in 1..body.len() {
            let mut parser = SseParser::default();
            let events: Vec<SseEvent> = body
                .as_bytes()
                .chunks(size)
                .flat_map(|chunk| parser.push(chunk))
                .collect();
            assert_eq!(events, whole, "chunks of {size}");
        }
    }
}
