//! The `parley` binary as a user runs it: serve, keys, migrate, configuration errors,
//! graceful shutdown.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

/// A `parley serve` child process and the lines it printed before it was ready.
struct Server {
    child: Child,
    base: String,
    printed: Vec<String>,
}

impl Server {
    fn start(data_dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Self {
        Self::start_logging_to(data_dir, env, extra, Stdio::inherit())
    }

    // The child is waited for in `Drop`.
    #[allow(clippy::zombie_processes)]
    fn start_logging_to(
        data_dir: &Path,
        env: &[(&str, &str)],
        extra: &[&str],
        stderr: Stdio,
    ) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("PARLEY_API_KEY")
            .env("PARLEY_LOG", "warn")
            .env("PARLEY_PULL_MODELS", "false")
            .env_remove("PARLEY_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            command.env(k, v);
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
        let mut printed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("server never said it was listening: {printed:?}"));
            if let Some(rest) = line.strip_prefix("parley listening on ") {
                let base = rest.split_whitespace().next().unwrap().to_owned();
                return Self {
                    child,
                    base,
                    printed,
                };
            }
            printed.push(line);
        }
    }

    fn status(&self, path: &str, key: Option<&str>) -> u16 {
        get_status(&format!("{}{path}", self.base), key)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET on a throwaway runtime, enough for status checks.
fn get_status(url: &str, key: Option<&str>) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new().get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
            .send()
            .await
            .expect("server answers")
            .status()
            .as_u16()
    })
}

fn run(args: &[&str], data_dir: &Path) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PARLEY_API_KEY")
        .output()
        .expect("parley runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn first_start_creates_prints_and_saves_a_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    let key = server
        .printed
        .last()
        .expect("the key is printed")
        .trim()
        .to_owned();
    assert!(key.starts_with("KEY"), "{:?}", server.printed);
    let file = dir.path().join("admin.key");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(server.status("/health", None), 200);
    assert_eq!(server.status("/v2/ai/assistants", Some(&key)), 200);
    assert_eq!(server.status("/v2/ai/assistants", None), 401);
    assert!(server.terminate().success());
    // A second start finds the key and prints none.
    let again = Server::start(dir.path(), &[], &[]);
    assert!(again.printed.is_empty(), "{:?}", again.printed);
    assert_eq!(again.status("/v2/ai/assistants", Some(&key)), 200);
    // The database holds only the hash.
    let db = std::fs::read(dir.path().join("parley.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&key));
}

#[test]
fn parley_api_key_is_honoured_and_keys_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    // Without the key cache a revocation takes effect at the next request (with it, within
    // `auth_cache_ms`; `parley-server/tests/assistants.rs` checks that on a manual clock).
    let server = Server::start(
        dir.path(),
        &[
            ("PARLEY_API_KEY", "local-dev-key-1"),
            ("PARLEY_AUTH_CACHE_MS", "0"),
        ],
        &[],
    );
    assert!(
        server.printed.is_empty(),
        "no key is generated when one is configured"
    );
    assert!(!dir.path().join("admin.key").exists());
    assert_eq!(
        server.status("/v2/ai/assistants", Some("local-dev-key-1")),
        200
    );

    let (ok, stdout, stderr) = run(&["keys", "create", "--org", "acme"], dir.path());
    assert!(ok, "{stderr}");
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert_eq!(server.status("/v2/ai/assistants", Some(&key)), 200);

    let (ok, listing, _) = run(&["keys", "list"], dir.path());
    assert!(ok);
    assert!(listing.contains("acme") && listing.contains("default"));
    assert!(!listing.contains(&key), "keys are never shown again");
    let prefix: String = key.chars().take(11).collect();
    assert!(listing.contains(&prefix));

    let (ok, _, _) = run(&["keys", "revoke", &prefix], dir.path());
    assert!(ok);
    assert_eq!(server.status("/v2/ai/assistants", Some(&key)), 401);
    let (ok, _, stderr) = run(&["keys", "revoke", &prefix], dir.path());
    assert!(!ok && stderr.contains("no active key"), "{stderr}");
}

#[test]
fn invalid_settings_stop_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("PARLEY_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("listen") && stderr.contains("not-an-address"),
        "{stderr}"
    );

    let config = dir.path().join("parley.toml");
    std::fs::write(&config, "max_body_bytes = \"big\"\n").unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_body_bytes"));
}

#[test]
fn migrate_runs_alone_on_postgres() {
    let admin = std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("parley_cli_{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin}: {e}"));
        tokio::spawn(connection);
        client
            .batch_execute(&format!("create database {name}"))
            .await
            .unwrap();
        client
    });
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(&["migrate", "--database-url", &url], dir.path());
    let (again, _, _) = run(&["migrate", "--database-url", &url], dir.path());
    let (keyed, key_out, _) = run(
        &["keys", "create", "--org", "pg-org", "--database-url", &url],
        dir.path(),
    );
    runtime.block_on(async {
        client
            .batch_execute(&format!("drop database if exists {name} with (force)"))
            .await
            .unwrap();
    });
    assert!(ok, "{stderr}");
    assert!(stdout.contains("migrations applied"));
    assert!(again, "migrating twice is a no-op");
    assert!(keyed && key_out.lines().last().unwrap().starts_with("KEY"));
    assert!(
        !dir.path().join("parley.db").exists(),
        "PostgreSQL runs leave no SQLite file"
    );
}

/// A request as a client sends it, on a throwaway runtime: status and body.
fn send_json(
    method: &str,
    url: &str,
    key: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(idempotency_key) = idempotency_key {
            request = request.header("idempotency-key", idempotency_key);
        }
        let response = request.send().await.expect("server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

#[test]
fn secret_values_reach_no_response_log_or_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let token = "tok-5ec7e7-value-never-shown";
    let password = "pw-5ec7e7-value-never-shown";
    let server = Server::start_logging_to(
        dir.path(),
        &[
            ("PARLEY_API_KEY", "local-dev-key-2"),
            ("PARLEY_LOG", "trace"),
        ],
        &[],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let url = format!("{}/v2/integration_secrets", server.base);
    let key = "local-dev-key-2";
    let mut responses = Vec::new();
    let bearer = format!(r#"{{"identifier": "crm", "type": "bearer", "token": "{token}"}}"#);
    let basic = format!(
        r#"{{"identifier": "ftp", "type": "basic", "username": "u", "password": "{password}"}}"#
    );
    responses.push(send_json("POST", &url, key, &bearer, Some("idem-secret")));
    responses.push(send_json("POST", &url, key, &bearer, Some("idem-secret")));
    responses.push(send_json("POST", &url, key, &bearer, None));
    responses.push(send_json("POST", &url, key, &basic, None));
    responses.push(send_json(
        "POST",
        &url,
        key,
        &format!(r#"{{"identifier": "bad id!", "type": "bearer", "token": "{token}"}}"#),
        None,
    ));
    responses.push(send_json(
        "POST",
        &url,
        key,
        &format!(r#"{{"identifier": "x", "type": "bearer", "token": "{token}""#),
        None,
    ));
    responses.push(send_json("GET", &url, key, "", None));
    let statuses: Vec<u16> = responses.iter().map(|(status, _)| *status).collect();
    assert_eq!(
        statuses,
        vec![201, 201, 422, 201, 422, 400, 200],
        "{responses:?}"
    );
    let assistant = r#"{"name": "n", "instructions": "i", "llm_api_key_ref": "crm"}"#;
    let (status, body) = send_json(
        "POST",
        &format!("{}/v2/ai/assistants", server.base),
        key,
        assistant,
        None,
    );
    assert_eq!(status, 200, "{body}");
    responses.push((status, body));
    assert!(server.terminate().success());
    for (_, body) in &responses {
        assert!(!body.contains(token) && !body.contains(password), "{body}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("request"), "the log captured request spans");
    assert!(!logged.contains(token) && !logged.contains(password));
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(
                !bytes.contains(token) && !bytes.contains(password),
                "{} holds a secret",
                path.display()
            );
        }
    }
}
