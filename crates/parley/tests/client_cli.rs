//! The client commands as a user runs them: the built `parley` binary against a
//! `parley serve` child, checking what it prints as tables and as JSON, and its errors.

use parley_llm::test_support::Reply;

mod client_support;

use client_support::{detail, Llm, Server, KEY};

#[test]
fn assistants_versions_and_canary_deploys_from_the_command_line() {
    let server = Server::start();

    let out = server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "Support",
            "--instructions",
            "You help with billing.",
            "--greeting",
            "Hi!",
            "--tag",
            "billing",
            "--tag",
            "vip",
        ])
        .out();
    let id = detail(&out, "id");
    assert!(id.starts_with("assistant-"), "{out}");
    assert_eq!(detail(&out, "name"), "Support");
    assert_eq!(detail(&out, "tags"), "billing, vip");
    let main_version = detail(&out, "version_id");

    // The whole body from standard input; flags override its fields.
    let body = r#"{"name": "from json", "instructions": "Be brief.",
                   "tools": [{"type": "hangup", "hangup": {}}], "description": "second"}"#;
    let second = server
        .parley_with(
            &[
                "assistants",
                "create",
                "--json",
                "-",
                "--name",
                "Sales",
                "--output",
                "json",
            ],
            &[("PARLEY_API_KEY", KEY)],
            Some(body),
        )
        .json();
    assert_eq!(second["name"], "Sales");
    assert_eq!(second["description"], "second");
    assert_eq!(second["tools"][0]["type"], "hangup");

    let table = server.parley(&["assistants", "list"]).out();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["id", "name", "model", "tags", "created_at"]);
    assert!(
        lines[1].starts_with(&id)
            && lines[1].contains("Support")
            && lines[1].contains("billing, vip")
    );
    assert!(lines[2].contains("Sales"));
    let listed = server
        .parley(&["assistants", "list", "--output", "json"])
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let one_page = server
        .parley(&[
            "assistants",
            "list",
            "--page",
            "2",
            "--page-size",
            "1",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(one_page[0]["name"], "Sales");
    assert_eq!(
        detail(
            &server.parley(&["assistants", "get", &id]).out(),
            "greeting"
        ),
        "Hi!"
    );

    // A draft version, listed beside main, then promoted.
    let out = server
        .parley(&[
            "assistants",
            "update",
            &id,
            "--greeting",
            "Hello again",
            "--draft",
            "--version-name",
            "draft 1",
        ])
        .out();
    let draft = detail(&out, "version_id");
    assert_ne!(draft, main_version);
    assert_eq!(detail(&out, "version_name"), "draft 1");
    let versions = server.parley(&["versions", "list", &id]).out();
    let rows: Vec<&str> = versions.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{versions}");
    assert!(
        rows[0].trim_start().starts_with(&draft),
        "the draft is newest and not main: {versions}"
    );
    assert!(
        rows[1].starts_with('*') && rows[1].contains(&main_version),
        "{versions}"
    );
    let version = server
        .parley(&["versions", "get", &id, &draft, "--output", "json"])
        .json();
    assert_eq!(version["greeting"], "Hello again");

    // The canary deploy, from flags and as JSON.
    let out = server
        .parley(&[
            "canary",
            "set",
            &id,
            "--rollout",
            &format!("{draft}=25"),
            "--match",
            "tier=gold,silver",
        ])
        .out();
    assert!(out.contains("tier in gold,silver"), "{out}");
    assert!(out.contains(&format!("{draft} 25%, main 75%")), "{out}");
    let canary = server
        .parley(&["canary", "get", &id, "--output", "json"])
        .json();
    assert_eq!(canary["rules"][0]["serve"]["rollout"][0]["weight"], 25.0);
    assert_eq!(canary["rules"][0]["match"][0]["operator"], "in");
    let error = server.parley(&["versions", "delete", &id, &draft]).error();
    assert!(error.starts_with("error: 400 "), "{error}");
    let out = server.parley(&["canary", "delete", &id]).out();
    assert_eq!(out.trim(), format!("deleted the canary deploy of {id}"));
    let error = server.parley(&["canary", "get", &id]).error();
    assert!(
        error.starts_with("error: 404 Resource not found: "),
        "{error}"
    );

    let out = server.parley(&["versions", "promote", &id, &draft]).out();
    assert_eq!(detail(&out, "version_id"), draft);
    let out = server
        .parley(&["versions", "delete", &id, &main_version])
        .out();
    assert!(out.starts_with("deleted version"), "{out}");

    let out = server.parley(&["assistants", "clone", &id]).out();
    assert_eq!(detail(&out, "name"), "Support (Clone)");
    let clone_id = detail(&out, "id");
    let out = server.parley(&["assistants", "delete", &clone_id]).out();
    assert_eq!(
        out.trim(),
        format!("deleted (restorable for 30 days) {clone_id}")
    );
    let deleted = server
        .parley(&["assistants", "delete", &id, "--hard", "--output", "json"])
        .json();
    assert_eq!(deleted["deleted"], true);
    let error = server.parley(&["assistants", "get", &id]).error();
    assert_eq!(
        error,
        format!("error: 404 Resource not found: Assistant {id} not found (at /assistant_id)")
    );
}

#[test]
fn mcp_servers_secrets_and_integrations_from_the_command_line() {
    let server = Server::start();

    // A secret from standard input keeps its value off the command line; none is printed.
    let secret = server
        .parley_with(
            &["secrets", "create", "--json", "-", "--output", "json"],
            &[("PARLEY_API_KEY", KEY)],
            Some(r#"{"identifier": "crm", "type": "bearer", "token": "t0ken-never-shown"}"#),
        )
        .json();
    assert_eq!(secret["identifier"], "crm");
    let out = server
        .parley(&[
            "secrets",
            "create",
            "--identifier",
            "ftp",
            "--type",
            "basic",
            "--username",
            "u",
            "--password",
            "p4ss",
        ])
        .out();
    let ftp = detail(&out, "id");
    let listing = server.parley(&["secrets", "list"]).out();
    assert!(
        listing.contains("crm") && listing.contains("ftp"),
        "{listing}"
    );
    assert!(!listing.contains("t0ken") && !listing.contains("p4ss"));
    let basic = server
        .parley(&["secrets", "list", "--type", "basic", "--output", "json"])
        .json();
    assert_eq!(basic.as_array().unwrap().len(), 1);
    assert_eq!(
        server.parley(&["secrets", "delete", &ftp]).out().trim(),
        format!("deleted {ftp}")
    );

    let out = server
        .parley(&[
            "mcp",
            "create",
            "--name",
            "Docs",
            "--type",
            "sse",
            "--url",
            "https://mcp.example.com/sse",
            "--allowed-tool",
            "search",
            "--api-key-ref",
            "crm",
        ])
        .out();
    let mcp = detail(&out, "id");
    assert_eq!(detail(&out, "allowed_tools"), "search");
    for n in 1..=2 {
        server
            .parley(&[
                "mcp",
                "create",
                "--name",
                &format!("S{n}"),
                "--type",
                "http",
                "--url",
                &format!("https://s{n}.example.com/"),
            ])
            .out();
    }
    // Every page, one server per page.
    let all = server
        .parley(&["mcp", "list", "--page-size", "1", "--output", "json"])
        .json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Docs", "S1", "S2"]);
    let table = server.parley(&["mcp", "list", "--type", "sse"]).out();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with(&mcp));
    assert_eq!(
        detail(&server.parley(&["mcp", "get", &mcp]).out(), "api_key_ref"),
        "crm"
    );
    assert_eq!(
        server.parley(&["mcp", "delete", &mcp]).out().trim(),
        format!("deleted {mcp}")
    );
    let error = server.parley(&["mcp", "get", &mcp]).error();
    assert!(error.starts_with("error: 404 "), "{error}");
    let error = server
        .parley(&[
            "mcp",
            "create",
            "--name",
            "Bad",
            "--type",
            "carrier-pigeon",
            "--url",
            "https://x.example.com/",
        ])
        .error();
    assert!(
        error.starts_with("error: 422 ") && error.contains("(at /type)"),
        "{error}"
    );

    let catalogue = server.parley(&["integrations", "list"]).out();
    let header: Vec<&str> = catalogue
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["id", "display_name", "status", "available_tools"]);
    assert!(catalogue
        .lines()
        .any(|l| l.starts_with("hubspot") && l.contains("disconnected")));
    let connections = server
        .parley(&["integrations", "connections", "--output", "json"])
        .json();
    assert_eq!(connections, serde_json::json!([]));
}

#[test]
fn keys_urls_and_mistakes_are_reported_on_one_line() {
    let server = Server::start();
    let list = ["assistants", "list", "--output", "json"];

    // The key: --api-key, else TELNYX_API_KEY, else PARLEY_API_KEY.
    assert!(
        server
            .parley_with(&list, &[("PARLEY_API_KEY", KEY)], None)
            .ok
    );
    assert!(
        server
            .parley_with(
                &list,
                &[("TELNYX_API_KEY", KEY), ("PARLEY_API_KEY", "wrong-key")],
                None
            )
            .ok
    );
    let error = server
        .parley_with(
            &list,
            &[("TELNYX_API_KEY", "wrong-key"), ("PARLEY_API_KEY", KEY)],
            None,
        )
        .error();
    assert!(
        error.starts_with("error: 401 Authentication failed"),
        "{error}"
    );
    let with_flag = ["assistants", "list", "--api-key", KEY];
    assert!(
        server
            .parley_with(&with_flag, &[("TELNYX_API_KEY", "wrong-key")], None)
            .ok
    );
    let error = server.parley_with(&list, &[], None).error();
    assert!(error.contains("no API key given"), "{error}");

    // The base URL: --base-url beats TELNYX_BASE_URL; nothing listening is a transport error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}/v2", closed.local_addr().unwrap());
    drop(closed);
    let error = server
        .parley_with(
            &["assistants", "list", "--base-url", &nowhere],
            &[("PARLEY_API_KEY", KEY)],
            None,
        )
        .error();
    assert!(error.starts_with("error: request failed"), "{error}");
    let error = server
        .parley(&["assistants", "list", "--base-url", "not a url"])
        .error();
    assert!(error.contains("base URL"), "{error}");

    // Mistakes caught before a request, and the server's validation errors.
    let error = server
        .parley(&["assistants", "create", "--name", "x"])
        .error();
    assert_eq!(
        error,
        "error: --instructions is required (or `instructions` in --json)"
    );
    let error = server
        .parley_with(
            &["assistants", "create", "--json", "-"],
            &[("PARLEY_API_KEY", KEY)],
            Some("[1]"),
        )
        .error();
    assert!(error.contains("must hold a JSON object"), "{error}");
    let error = server
        .parley(&["assistants", "create", "--json", "/no/such/file.json"])
        .error();
    assert!(error.contains("cannot read /no/such/file.json"), "{error}");
    let error = server
        .parley_with(
            &["assistants", "update", "assistant-x", "--json", "-"],
            &[("PARLEY_API_KEY", KEY)],
            Some(r#"{"dynamic_variables_webhook_timeout_ms": 0}"#),
        )
        .error();
    assert!(error.starts_with("error: 4"), "{error}");
    let id = server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "n",
            "--instructions",
            "i",
            "--output",
            "json",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let error = server
        .parley_with(
            &["assistants", "update", &id, "--json", "-"],
            &[("PARLEY_API_KEY", KEY)],
            Some(r#"{"dynamic_variables_webhook_timeout_ms": 0}"#),
        )
        .error();
    assert!(
        error.starts_with("error: 422 ")
            && error.contains("(at /dynamic_variables_webhook_timeout_ms)"),
        "{error}"
    );
    let error = server.parley(&["canary", "set", &id]).error();
    assert_eq!(error, "error: give --version, --rollout or --json");
    let run = server.parley(&["assistants", "frobnicate"]);
    assert!(
        !run.ok && run.stderr.contains("unrecognized subcommand"),
        "{}",
        run.stderr
    );
}

/// Creates an assistant answered by the scripted model; its id.
fn scripted_assistant(server: &Server) -> String {
    server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "Chatty",
            "--instructions",
            "Be brief.",
            "--model",
            "scripted/model",
            "--output",
            "json",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The conversation ids a `parley chat` printed, in order.
fn conversation_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|line| line.strip_prefix("conversation "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn chat_reads_stdin_streams_answers_and_starts_new_conversations() {
    let llm = Llm::start(vec![
        Reply::text("Hello! How can I help?"),
        Reply::text("Paris is the capital."),
        Reply::text("A fresh start."),
    ]);
    let server = Server::start_with_llm(&llm.server.base_url());
    let assistant = scripted_assistant(&server);

    let run = server.parley_with(
        &["chat", &assistant, "--name", "Ada"],
        &[("PARLEY_API_KEY", KEY)],
        Some("Hi\n\nWhat is the capital of France?\n/new\n  Another topic  \n/quit\nnever sent\n"),
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let ids = conversation_ids(&run.stdout);
    assert_eq!(ids.len(), 2, "{}", run.stdout);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        run.stdout,
        format!(
            "conversation {}\nHello! How can I help?\nParis is the capital.\n\
             conversation {}\nA fresh start.\n",
            ids[0], ids[1]
        )
    );
    // Nothing after /quit was sent; the second turn saw the first.
    let requests = llm.server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].body["messages"].as_array().unwrap().len(), 4);
    assert_eq!(requests[2].body["messages"].as_array().unwrap().len(), 2);

    // What was said is in the conversations.
    let messages = server
        .parley(&["conversations", "messages", &ids[0], "--output", "json"])
        .json();
    let texts: Vec<(&str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [
            ("user", "Hi"),
            ("assistant", "Hello! How can I help?"),
            ("user", "What is the capital of France?"),
            ("assistant", "Paris is the capital."),
        ]
    );
    assert_eq!(messages[0]["name"], "Ada");
    let table = server.parley(&["conversations", "messages", &ids[1]]).out();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("created_at") && lines[0].ends_with("text"),
        "{table}"
    );
    let words = |line: &str| {
        line.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(words(lines[1]), "user Ada Another topic", "{table}");
    assert_eq!(words(lines[2]), "assistant A fresh start.", "{table}");
    let listed = server
        .parley(&[
            "conversations",
            "list",
            "--assistant",
            &assistant,
            "--output",
            "json",
        ])
        .json();
    let mut listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);

    // --conversation continues one; the end of input leaves like /quit.
    llm.server.push(Reply::text("Still here."));
    let run = server.parley(&["chat", &assistant, "--conversation", &ids[0]]);
    assert!(
        run.ok && run.stdout == format!("conversation {}\n", ids[0]),
        "{run:?}"
    );
    let run = server.parley_with(
        &["chat", &assistant, "--conversation", &ids[0]],
        &[("PARLEY_API_KEY", KEY)],
        Some("And now?"),
    );
    assert_eq!(
        run.stdout,
        format!("conversation {}\nStill here.\n", ids[0])
    );
    let requests = llm.server.requests();
    assert_eq!(
        requests.last().unwrap().body["messages"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn chat_prints_errors_on_one_line_and_goes_on() {
    let llm = Llm::start(vec![]);
    let server = Server::start_with_llm(&llm.server.base_url());
    let assistant = scripted_assistant(&server);

    // An unknown assistant: every message fails, one line each; the loop goes on to /quit.
    let run = server.parley_with(
        &["chat", "assistant-missing"],
        &[("PARLEY_API_KEY", KEY)],
        Some("hello\n/bogus\nagain\n/quit\n"),
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(conversation_ids(&run.stdout).len(), 1, "{}", run.stdout);
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 3, "{}", run.stderr);
    assert!(errors[0].starts_with("error: 404 "), "{}", errors[0]);
    assert!(
        errors[1].starts_with("error: unknown command /bogus"),
        "{}",
        errors[1]
    );
    assert_eq!(errors[2], errors[0]);

    // The model fails (and fails the retries too), then recovers.
    for _ in 0..3 {
        llm.server
            .push(Reply::Status(500, r#"{"error":{"message":"boom"}}"#.into()));
    }
    llm.server.push(Reply::text("Back again."));
    let run = server.parley_with(
        &["chat", &assistant],
        &[("PARLEY_API_KEY", KEY)],
        Some("first\nsecond\n"),
    );
    assert!(run.ok, "{run:?}");
    let id = &conversation_ids(&run.stdout)[0];
    assert_eq!(run.stdout, format!("conversation {id}\nBack again.\n"));
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].starts_with("error: 502 "), "{}", errors[0]);

    // A conversation id the server refuses.
    let run = server.parley_with(
        &["chat", &assistant, "--conversation", "has space"],
        &[("PARLEY_API_KEY", KEY)],
        Some("hi\n"),
    );
    assert!(run.ok, "{run:?}");
    assert!(
        run.stderr.starts_with("error: 422 ") && run.stderr.contains("/conversation_id"),
        "{}",
        run.stderr
    );

    // A wrong key says so, on one line, without leaving.
    let run = server.parley_with(
        &["chat", &assistant],
        &[("PARLEY_API_KEY", "wrong-key")],
        Some("hi\n"),
    );
    assert!(run.ok);
    assert!(run.stderr.starts_with("error: 401 "), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn conversations_and_models_from_the_command_line() {
    let server = Server::start();

    let out = server
        .parley(&[
            "conversations",
            "create",
            "--name",
            "Imported",
            "--metadata",
            "source=crm",
            "--metadata",
            "tier=gold",
        ])
        .out();
    let id = detail(&out, "id");
    assert_eq!(id.len(), 36, "{out}");
    assert_eq!(detail(&out, "name"), "Imported");
    assert_eq!(detail(&out, "metadata.source"), "crm");
    assert_eq!(detail(&out, "metadata.tier"), "gold");
    let other = server
        .parley(&["conversations", "create", "--output", "json"])
        .json();
    assert_eq!(other["metadata"], serde_json::json!({}));

    let updated = server
        .parley(&[
            "conversations",
            "update",
            &id,
            "--metadata",
            "tier=platinum",
            "--remove",
            "source",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(updated["metadata"], serde_json::json!({"tier": "platinum"}));
    let out = server.parley(&["conversations", "get", &id]).out();
    assert_eq!(detail(&out, "metadata.tier"), "platinum");
    assert!(!out.contains("metadata.source"), "{out}");

    let table = server
        .parley(&[
            "conversations",
            "list",
            "--filter",
            "metadata->tier=eq.platinum",
        ])
        .out();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("id") && lines[0].ends_with("metadata"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&id) && lines[1].ends_with("tier=platinum"),
        "{table}"
    );
    let all = server
        .parley(&[
            "conversations",
            "list",
            "--order",
            "created_at.asc",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(all[0]["id"], id.as_str());
    assert_eq!(all[1]["id"], other["id"]);
    let limited = server
        .parley(&["conversations", "list", "--limit", "1", "--output", "json"])
        .json();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let out = server
        .parley(&["conversations", "messages", &id, "--output", "json"])
        .json();
    assert_eq!(out, serde_json::json!([]));

    // Mistakes: before a request, and the server's.
    let error = server
        .parley(&["conversations", "list", "--filter", "tier"])
        .error();
    assert!(
        error.starts_with("error: --filter \"tier\" is not NAME=OPERATOR.VALUE"),
        "{error}"
    );
    let error = server
        .parley(&[
            "conversations",
            "list",
            "--filter",
            "created_at=gte.yesterday",
        ])
        .error();
    assert!(
        error.starts_with("error: 400 ") && error.contains("created_at"),
        "{error}"
    );
    let error = server.parley(&["conversations", "update", &id]).error();
    assert!(
        error.contains("--metadata KEY=VALUE or --remove KEY"),
        "{error}"
    );
    let error = server
        .parley(&["conversations", "create", "--metadata", "novalue"])
        .error();
    assert_eq!(error, "error: --metadata \"novalue\" is not KEY=VALUE");

    assert_eq!(
        server.parley(&["conversations", "delete", &id]).out(),
        format!("deleted {id}\n")
    );
    let error = server.parley(&["conversations", "get", &id]).error();
    assert!(error.starts_with("error: 404 "), "{error}");
    let error = server.parley(&["conversations", "messages", &id]).error();
    assert!(error.starts_with("error: 404 "), "{error}");

    // The models the server answers with; `*` marks the default of new assistants.
    let table = server.parley(&["ai-models", "list"]).out();
    let default = table
        .lines()
        .find(|line| line.starts_with('*'))
        .unwrap_or_else(|| panic!("no default model: {table}"));
    assert!(
        default.contains("HuggingFaceTB/SmolLM2-135M-Instruct") && default.ends_with("parley"),
        "{table}"
    );
    let models = server
        .parley(&["ai-models", "list", "--output", "json"])
        .json();
    assert!(models
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["recommended_for_assistants"] == true));
}
