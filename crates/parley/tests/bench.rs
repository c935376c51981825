//! `parley bench llm-stub` and the chat scenarios of `parley bench`, end to end and briefly:
//! a stub, a server wired to it, one-second runs. (Checks that the instruments work; the
//! numbers are `scripts/bench`'s business.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_parley");
const KEY: &str = "bench-test-key-0001";

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` and waits for the stdout line starting with `prefix`; returns the process
/// and the first word after the prefix.
fn start(mut command: Command, prefix: &str) -> (Process, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("parley starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let process = Process(child);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            let word = rest.split_whitespace().next().unwrap().to_owned();
            return (process, word);
        }
    }
}

/// A bare HTTP/1.1 exchange (the stub closes nothing, so `Connection: close` ends it).
fn exchange(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn post(address: &str, body: &str) -> String {
    exchange(
        address,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nContent-Type: \
             application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn the_stub_answers_whole_and_streamed_completions() {
    let mut command = Command::new(BIN);
    command.args(["bench", "llm-stub", "--tokens", "3", "--latency-ms", "20"]);
    let (_stub, url) = start(command, "llm-stub listening on ");
    let address = url
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix("/v1")
        .unwrap()
        .to_owned();

    let whole = post(
        &address,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");
    assert!(
        whole.contains(r#""content":"Certainly here is""#),
        "{whole}"
    );
    assert!(whole.contains(r#""completion_tokens":3"#), "{whole}");

    let streamed = post(
        &address,
        r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true},"max_tokens":2}"#,
    );
    assert!(streamed.contains("text/event-stream"), "{streamed}");
    assert_eq!(streamed.matches(r#""delta":{"#).count(), 3, "{streamed}");
    assert!(streamed.contains(r#""finish_reason":"stop""#), "{streamed}");
    assert!(streamed.contains(r#""completion_tokens":2"#), "{streamed}");
    assert!(streamed.trim_end().ends_with("data: [DONE]"), "{streamed}");

    let stats = exchange(
        &address,
        &format!("GET /stats HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    );
    assert!(stats.contains(r#""requests":2"#), "{stats}");
}

#[test]
fn chat_scenarios_run_against_a_stubbed_server() {
    let mut command = Command::new(BIN);
    command.args(["bench", "llm-stub", "--tokens", "5"]);
    let (_stub, stub_url) = start(command, "llm-stub listening on ");

    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("PARLEY_API_KEY", KEY)
        .env("PARLEY_LOG", "warn")
        .env("PARLEY_EMBEDDED_MODEL", "false")
        .env("PARLEY_PULL_MODELS", "false")
        .env("PARLEY_LLM_BASE_URL", &stub_url)
        .env_remove("PARLEY_DATABASE_URL")
        .env_remove("PARLEY_MASTER_KEY");
    let (_server, url) = start(command, "parley listening on ");

    let output = Command::new(BIN)
        .args(["bench", "--url", &url, "--api-key", KEY, "--seconds", "1"])
        .args(["--connections", "4", "--label", "test"])
        .args(["--scenarios", "chat-overhead,chat-concurrent"])
        .args(["--fast-model", "stub-a", "--slow-model", "stub-b"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for scenario in [
        "chat-overhead/new",
        "chat-overhead/history",
        "chat-concurrent",
    ] {
        let row = stdout
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(scenario))
            .unwrap_or_else(|| panic!("no {scenario} row in {stdout}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        let requests: u64 = fields[3].parse().unwrap();
        assert!(requests > 0, "{row}");
        // label scenario conns requests req/s p50 p90 p99 max errors host-cpu
        assert_eq!(fields[9], "0", "errors in {row}");
    }
}

#[test]
fn the_search_bench_fills_and_searches_a_bucket() {
    let output = Command::new(BIN)
        .args(["bench", "search", "--chunks", "300,1200", "--queries", "5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("embeddings stub round trip"), "{stdout}");
    for chunks in ["300", "1200"] {
        let row = stdout
            .lines()
            .find(|line| line.split_whitespace().take(2).eq(["sqlite", chunks]))
            .unwrap_or_else(|| panic!("no sqlite {chunks} row in {stdout}"));
        // backend chunks write first p50 p90 p99 max scan-p50 scan-p99 errors
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields.len(), 11, "{row}");
        assert!(fields[4].parse::<f64>().unwrap() > 0.0, "{row}");
        assert_eq!(fields[10], "0", "errors in {row}");
    }
}

#[test]
fn the_stub_answers_embeddings() {
    let mut command = Command::new(BIN);
    command.args(["bench", "llm-stub"]);
    let (_stub, url) = start(command, "llm-stub listening on ");
    let address = url
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix("/v1")
        .unwrap()
        .to_owned();
    let body = r#"{"model":"m","input":["one","two"]}"#;
    let answer = exchange(
        &address,
        &format!(
            "POST /v1/embeddings HTTP/1.1\r\nHost: {address}\r\nContent-Type: \
             application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json: serde_json::Value =
        serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(json["data"].as_array().unwrap().len(), 2);
    assert_eq!(json["data"][1]["embedding"].as_array().unwrap().len(), 384);
}
