//! What the command-line tests share: a `parley serve` child on 127.0.0.1:0 with a fresh
//! SQLite data directory, running the `parley` binary against it, a scripted
//! OpenAI-compatible server, and local HTTP stubs (providers, webhooks, an API that Parley
//! does not serve yet) that answer from a handler and record what they were sent.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use parley_llm::test_support::{Reply, ScriptedServer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_parley");
pub const KEY: &str = "client-cli-key-1";

/// A `parley serve` child on 127.0.0.1:0 with a fresh SQLite data directory.
pub struct Server {
    child: Child,
    pub base_url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server whose every model is answered by the scripted LLM at `llm_base_url`, with no
    /// embedded model.
    pub fn start_with_llm(llm_base_url: &str) -> Self {
        Self::start_with(&[
            ("PARLEY_LLM_BASE_URL", llm_base_url),
            ("PARLEY_EMBEDDED_MODEL", "false"),
            ("PARLEY_ALLOW_PRIVATE_NETWORK", "true"),
            ("PARLEY_LLM_TIMEOUT_MS", "2000"),
        ])
    }

    /// A server with these extra environment variables.
    // The child is waited for in `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("PARLEY_API_KEY", KEY)
            .env("PARLEY_LOG", "warn")
            .env("PARLEY_PULL_MODELS", "false")
            .env_remove("PARLEY_DATABASE_URL")
            .env_remove("PARLEY_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("parley starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the server says it is listening");
            if let Some(rest) = line.strip_prefix("parley listening on ") {
                let origin = rest.split_whitespace().next().unwrap();
                return Self {
                    child,
                    base_url: format!("{origin}/v2"),
                    _dir: dir,
                };
            }
        }
    }

    /// Runs `parley ARGS` against this server with `PARLEY_API_KEY` set, as a user who
    /// exported it would.
    pub fn parley(&self, args: &[&str]) -> Run {
        self.parley_with(args, &[("PARLEY_API_KEY", KEY)], None)
    }

    /// Runs `parley ARGS` with these variables (and `TELNYX_BASE_URL` for this server unless
    /// given) and this standard input.
    pub fn parley_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut all = vec![("TELNYX_BASE_URL", self.base_url.as_str())];
        all.extend_from_slice(env);
        run(args, &all, stdin)
    }
}

/// Runs `parley ARGS` with only these of the client variables set, and this standard input.
pub fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("TELNYX_BASE_URL")
        .env_remove("TELNYX_API_KEY")
        .env_remove("PARLEY_API_KEY")
        .env_remove("TELNYX_CUSTOM_HEADERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("parley runs");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        ok: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a command did.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The output of a command that must succeed.
    pub fn out(self) -> String {
        assert!(self.ok, "command failed: {}", self.stderr);
        self.stdout
    }

    /// The JSON output of a command that must succeed.
    pub fn json(self) -> Value {
        let out = self.out();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// The one error line of a command that must fail with status 1.
    pub fn error(self) -> String {
        assert!(!self.ok, "command succeeded: {}", self.stdout);
        assert_eq!(self.code, Some(1), "{}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{}", self.stderr);
        lines[0].to_owned()
    }
}

/// The value of `field` in a `field  value` detail view.
pub fn detail(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == field).then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {field} in {out}"))
}

/// A scripted OpenAI-compatible server on its own runtime, playing the model for a
/// `parley serve` child.
pub struct Llm {
    pub server: ScriptedServer,
    _runtime: tokio::runtime::Runtime,
}

impl Llm {
    pub fn start(replies: Vec<Reply>) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(ScriptedServer::start(replies));
        Self {
            server,
            _runtime: runtime,
        }
    }
}

/// A request a [`Stub`] received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path and query, as sent.
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Handler = dyn Fn(&Seen) -> (u16, Value) + Send + Sync;

struct StubState {
    handler: Box<Handler>,
    seen: Mutex<Vec<Seen>>,
}

/// A local HTTP server on its own runtime: every request is recorded and answered by the
/// handler (status and JSON body; `null` for an empty body, a string sent as it is).
pub struct Stub {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    state: Arc<StubState>,
    _runtime: tokio::runtime::Runtime,
}

impl Stub {
    pub fn start(handler: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let state = Arc::new(StubState {
            handler: Box::new(handler),
            seen: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(state.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url,
            state,
            _runtime: runtime,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// `METHOD path?query` of every request, in order.
    pub fn calls(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }
}

async fn answer(State(state): State<Arc<StubState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        body: body.to_vec(),
    };
    let (status, reply) = (state.handler)(&seen);
    state.seen.lock().unwrap().push(seen);
    let body = match reply {
        Value::Null => Body::empty(),
        Value::String(raw) => Body::from(raw),
        other => Body::from(other.to_string()),
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

/// The cells of a table's rows (columns are two or more spaces apart), header included.
pub fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// `text` with each of `ids` replaced by its name.
pub fn redact(text: &str, ids: &[(&str, &str)]) -> String {
    ids.iter()
        .fold(text.to_owned(), |text, (id, name)| text.replace(id, name))
}
