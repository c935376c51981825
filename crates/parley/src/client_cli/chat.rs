//! `parley chat ASSISTANT_ID`: a conversation with an assistant in the terminal.
//!
//! Each line read from standard input is one message; the answer is streamed to standard
//! output as its tokens arrive, then a newline. The conversation id is printed at the start
//! (`conversation <id>`) and again after `/new`, which starts a fresh conversation;
//! `/quit` (or `/exit`, or the end of input) leaves. An API error is printed on one line
//! (`error: …`) on standard error and the loop goes on. The `> ` prompt is shown only when
//! standard input is a terminal, so piped input gives clean output.

use super::{describe, emit};
use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use parley_client::types::chat::AssistantChatParams;
use parley_client::{new_conversation_id, ChatEvent, Client};
use std::io::{BufRead, IsTerminal};
use tokio::sync::mpsc;

/// `parley chat` arguments.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Assistant id.
    assistant_id: String,
    /// Continue this conversation instead of starting a new one.
    #[arg(long, value_name = "ID")]
    conversation: Option<String>,
    /// Your display name, stored with your messages.
    #[arg(long)]
    name: Option<String>,
}

/// What a line of input asks for.
#[derive(Debug, PartialEq, Eq)]
enum Input<'a> {
    /// Nothing (a blank line).
    Blank,
    /// A message to send.
    Message(&'a str),
    /// `/new`: a fresh conversation.
    New,
    /// `/quit` or `/exit`.
    Quit,
    /// `/help` or `/?`.
    Help,
    /// Any other `/command`.
    Unknown(&'a str),
}

fn parse_input(line: &str) -> Input<'_> {
    let line = line.trim();
    match line {
        "" => Input::Blank,
        "/new" => Input::New,
        "/quit" | "/exit" => Input::Quit,
        "/help" | "/?" => Input::Help,
        // `//text` sends `/text`.
        _ if line.starts_with("//") => Input::Message(&line[1..]),
        _ if line.starts_with('/') => Input::Unknown(line),
        _ => Input::Message(line),
    }
}

const HELP: &str = "/new starts a new conversation, /quit (or end of input) leaves, \
                    //text sends a message starting with /";

/// Runs the chat loop until `/quit` or the end of input.
pub(super) async fn run(client: &Client, args: ChatArgs, keyless: bool) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut lines = read_lines();
    let mut conversation = args.conversation.unwrap_or_else(new_conversation_id);
    emit(&format!("conversation {conversation}\n"))?;
    if interactive {
        eprintln!("({HELP})");
    }
    loop {
        if interactive {
            emit("> ")?;
        }
        let Some(line) = lines.recv().await else {
            break;
        };
        let line = line.context("cannot read standard input")?;
        match parse_input(&line) {
            Input::Blank => {}
            Input::Quit => break,
            Input::Help => eprintln!("{HELP}"),
            Input::Unknown(command) => eprintln!("error: unknown command {command} ({HELP})"),
            Input::New => {
                conversation = new_conversation_id();
                emit(&format!("conversation {conversation}\n"))?;
            }
            Input::Message(text) => {
                let params = AssistantChatParams {
                    name: args.name.clone(),
                    ..AssistantChatParams::new(text, &conversation)
                };
                if let Err(error) = turn(client, &args.assistant_id, &params).await? {
                    eprintln!("error: {}", describe(&error, keyless));
                }
            }
        }
    }
    Ok(())
}

/// One turn: the answer streamed to standard output. The outer error is a failure to write
/// the output (which ends the loop); the inner one an API error (which does not).
async fn turn(
    client: &Client,
    assistant_id: &str,
    params: &AssistantChatParams,
) -> anyhow::Result<Result<(), parley_client::Error>> {
    let mut events = match client
        .ai()
        .assistants()
        .chat_stream(assistant_id, params)
        .await
    {
        Ok(events) => events,
        Err(error) => return Ok(Err(error)),
    };
    let mut started = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(ChatEvent::Delta(text)) => {
                started |= !text.is_empty();
                emit(&text)?;
            }
            Ok(ChatEvent::Done(done)) => {
                // A reply that came whole (no delta) is printed from `done`.
                if !started {
                    emit(&done.content)?;
                }
                emit("\n")?;
                return Ok(Ok(()));
            }
            Err(error) => {
                if started {
                    emit("\n")?;
                }
                return Ok(Err(error));
            }
        }
    }
    Ok(Ok(()))
}

/// Lines of standard input, read on a thread of their own so that reading never blocks the
/// runtime; the channel closes at the end of input.
fn read_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (sender, receiver) = mpsc::channel(1);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let failed = line.is_err();
            if sender.blocking_send(line).is_err() || failed {
                break;
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_are_messages_or_commands() {
        assert_eq!(
            parse_input("  hello there \n"),
            Input::Message("hello there")
        );
        assert_eq!(parse_input("   "), Input::Blank);
        assert_eq!(parse_input("/new"), Input::New);
        assert_eq!(parse_input(" /quit "), Input::Quit);
        assert_eq!(parse_input("/exit"), Input::Quit);
        assert_eq!(parse_input("/help"), Input::Help);
        assert_eq!(parse_input("/nwe"), Input::Unknown("/nwe"));
        assert_eq!(parse_input("//etc/hosts?"), Input::Message("/etc/hosts?"));
    }
}
