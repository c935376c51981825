//! `parley tests …`: assistant tests — a simulated user talks to an assistant and a judge
//! grades the conversation against a rubric — their runs, and test suites.
//!
//! `parley tests run` triggers runs (of tests by id, of a suite, or both); with `--wait` it
//! follows them: on a terminal, one live status line per test (indicatif); otherwise one line
//! on standard error each time a run's status changes. At the end it prints a table with
//! each rubric item's result and the judge's reason (read from the run's logs), and exits with
//! status 1 unless every run passed.

use super::{emit, from_body, read_json_object, table, truncate, Output, Paging, Printer};
use anyhow::bail;
use clap::Subcommand;
use futures::TryStreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parley_client::resources::ai::assistants::tests::is_finished;
use parley_client::types::assistant_tests::{
    AssistantTest, RunTriggerParams, TestCreateParams, TestListParams, TestRunListParams,
    TestRunResponse, TestUpdateParams,
};
use parley_client::Client;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `parley tests …`
#[derive(Debug, Subcommand)]
pub enum TestsCommand {
    /// List tests.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Only tests of this suite.
        #[arg(long)]
        suite: Option<String>,
        /// Only tests with this destination.
        #[arg(long)]
        destination: Option<String>,
        /// Only tests on this channel (web_chat, sms_chat, phone_call, web_call).
        #[arg(long)]
        channel: Option<String>,
    },
    /// Show one test.
    Get {
        /// Test id.
        id: String,
    },
    /// Create a test (`--name`, `--destination`, `--instructions` and at least one
    /// `--rubric`, or all of them in `--json`).
    Create {
        #[command(flatten)]
        fields: TestFields,
    },
    /// Change a test: only the fields given change (`--rubric` replaces the rubric).
    Update {
        /// Test id.
        id: String,
        #[command(flatten)]
        fields: TestFields,
    },
    /// Delete a test and its runs.
    Delete {
        /// Test id.
        id: String,
    },
    /// The test suite names.
    Suites,
    /// The run history of a test, or of a suite (`--suite`).
    Runs {
        /// Test id (or `--suite`).
        #[arg(required_unless_present = "suite", conflicts_with = "suite")]
        test_id: Option<String>,
        /// Suite name.
        #[arg(long)]
        suite: Option<String>,
        /// Only runs in this status (pending, starting, running, passed, failed, error).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Run tests: the given ones, and every test of `--suite`.
    Run {
        /// Test ids.
        test_ids: Vec<String>,
        /// Run every test of this suite.
        #[arg(long)]
        suite: Option<String>,
        /// Test this version of the destination assistant instead of its main one.
        #[arg(long, value_name = "VERSION_ID")]
        version: Option<String>,
        /// Follow the runs until they end, then show each verdict; exit with status 1 unless
        /// every run passed.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 900, requires = "wait")]
        timeout: u64,
        /// How often to ask for the runs' status, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
        poll_ms: u64,
    },
}

/// The fields of a test body.
#[derive(Debug, clap::Args)]
pub struct TestFields {
    /// Name.
    #[arg(long)]
    name: Option<String>,
    /// What the test talks to (for web_chat, an assistant id).
    #[arg(long)]
    destination: Option<String>,
    /// The scenario the simulated user plays.
    #[arg(long)]
    instructions: Option<String>,
    /// A rubric item (repeat for several).
    #[arg(long = "rubric", value_name = "NAME=CRITERIA")]
    rubric: Vec<String>,
    /// The suite it belongs to.
    #[arg(long)]
    suite: Option<String>,
    /// web_chat (default), sms_chat, phone_call or web_call.
    #[arg(long)]
    channel: Option<String>,
    /// Longest the conversation may last, in seconds.
    #[arg(long, value_name = "SECONDS")]
    max_duration: Option<u32>,
    /// What it is for.
    #[arg(long)]
    description: Option<String>,
    /// A JSON file (`-` for standard input) with the whole body; flags override its fields.
    #[arg(long, value_name = "FILE|-")]
    json: Option<PathBuf>,
}

impl TestFields {
    fn body(&self) -> anyhow::Result<Map<String, Value>> {
        let mut body = read_json_object(self.json.as_ref())?;
        for (key, value) in [
            ("name", &self.name),
            ("destination", &self.destination),
            ("instructions", &self.instructions),
            ("test_suite", &self.suite),
            ("telnyx_conversation_channel", &self.channel),
            ("description", &self.description),
        ] {
            if let Some(value) = value {
                body.insert(key.into(), json!(value));
            }
        }
        if let Some(secs) = self.max_duration {
            body.insert("max_duration_seconds".into(), json!(secs));
        }
        if !self.rubric.is_empty() {
            let items = self
                .rubric
                .iter()
                .map(|item| match item.split_once('=') {
                    Some((name, criteria)) if !name.trim().is_empty() => {
                        Ok(json!({"name": name.trim(), "criteria": criteria.trim()}))
                    }
                    _ => bail!("--rubric {item:?} is not NAME=CRITERIA"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            body.insert("rubric".into(), Value::Array(items));
        }
        Ok(body)
    }
}

const COLUMNS: &[&str] = &[
    "test_id",
    "name",
    "test_suite",
    "telnyx_conversation_channel",
    "destination",
    "rubric",
];
const DETAILS: &[&str] = &[
    "test_id",
    "name",
    "description",
    "test_suite",
    "telnyx_conversation_channel",
    "destination",
    "instructions",
    "max_duration_seconds",
    "rubric",
    "created_at",
];
const RUN_COLUMNS: &[&str] = &["run_id", "test_id", "status", "created_at", "completed_at"];

/// A test for a table: rubric items by name.
fn view(test: &AssistantTest) -> Value {
    let mut value = json!(test);
    value["rubric"] = json!(test.rubric.iter().map(|r| &r.name).collect::<Vec<_>>());
    value
}

fn details(out: &Printer, test: &AssistantTest) -> anyhow::Result<()> {
    if out.output == Output::Json {
        return out.json(test);
    }
    let mut value = json!(test);
    value["rubric"] = json!(test
        .rubric
        .iter()
        .map(|r| format!("{}: {}", r.name, r.criteria))
        .collect::<Vec<_>>());
    out.details(&value, DETAILS)
}

/// Runs `parley tests …`.
pub async fn run(client: &Client, out: &Printer, command: TestsCommand) -> anyhow::Result<()> {
    let tests = client.ai().assistants().tests();
    match command {
        TestsCommand::List {
            paging,
            suite,
            destination,
            channel,
        } => {
            let params = TestListParams {
                page_number: paging.page,
                page_size: paging.page_size,
                destination,
                telnyx_conversation_channel: channel,
                test_suite: suite,
            };
            let items: Vec<AssistantTest> = if paging.page.is_some() {
                tests.list_with(&params).await?.data
            } else {
                tests.list_all(&params).try_collect().await?
            };
            if out.output == Output::Json {
                return out.json(&items);
            }
            let rows: Vec<Value> = items.iter().map(view).collect();
            out.list(&rows, COLUMNS)
        }
        TestsCommand::Get { id } => details(out, &tests.retrieve(&id).await?),
        TestsCommand::Create { fields } => {
            let body = fields.body()?;
            for (required, flag) in [
                ("name", "--name"),
                ("destination", "--destination"),
                ("instructions", "--instructions"),
            ] {
                if !body.get(required).is_some_and(Value::is_string) {
                    bail!("{flag} is required (or `{required}` in --json)");
                }
            }
            if !body.get("rubric").is_some_and(Value::is_array) {
                bail!("--rubric NAME=CRITERIA is required (or `rubric` in --json)");
            }
            let params: TestCreateParams = from_body(body)?;
            details(out, &tests.create(&params).await?)
        }
        TestsCommand::Update { id, fields } => {
            let body = fields.body()?;
            if body.is_empty() {
                bail!("nothing to change: give a field flag or --json");
            }
            let params: TestUpdateParams = from_body(body)?;
            details(out, &tests.update(&id, &params).await?)
        }
        TestsCommand::Delete { id } => {
            tests.delete(&id).await?;
            out.done(
                &json!({"test_id": id, "deleted": true}),
                &format!("deleted {id}"),
            )
        }
        TestsCommand::Suites => {
            let suites = tests.test_suites().list().await?.data;
            if out.output == Output::Json {
                return out.json(&suites);
            }
            let rows = suites.into_iter().map(|s| vec![s]).collect();
            emit(&table(&["suite"], rows))
        }
        TestsCommand::Runs {
            test_id,
            suite,
            status,
            paging,
        } => {
            let params = TestRunListParams {
                page_number: paging.page,
                page_size: paging.page_size,
                status,
                test_suite_run_id: None,
            };
            let runs: Vec<TestRunResponse> = match (&test_id, &suite, paging.page) {
                (Some(id), _, Some(_)) => tests.runs().list_with(id, &params).await?.data,
                (Some(id), _, None) => tests.runs().list_all(id, &params).try_collect().await?,
                (None, Some(s), Some(_)) => {
                    tests.test_suites().runs().list_with(s, &params).await?.data
                }
                (None, Some(s), None) => {
                    tests
                        .test_suites()
                        .runs()
                        .list_all(s, &params)
                        .try_collect()
                        .await?
                }
                (None, None, _) => bail!("give a test id or --suite"),
            };
            out.list(&runs, RUN_COLUMNS)
        }
        TestsCommand::Run {
            test_ids,
            suite,
            version,
            wait,
            timeout,
            poll_ms,
        } => {
            if test_ids.is_empty() && suite.is_none() {
                bail!("give test ids or --suite NAME");
            }
            let params = RunTriggerParams {
                destination_version_id: version,
                ..Default::default()
            };
            let mut runs = Vec::new();
            for id in &test_ids {
                runs.push(tests.runs().trigger_with(id, &params).await?);
            }
            if let Some(suite) = &suite {
                let triggered = tests
                    .test_suites()
                    .runs()
                    .trigger_with(suite, &params)
                    .await?;
                if triggered.is_empty() {
                    bail!("suite {suite:?} has no tests");
                }
                runs.extend(triggered);
            }
            let names = test_names(client, &runs).await?;
            if !wait {
                if out.output == Output::Json {
                    return out.json(&runs);
                }
                let rows = runs
                    .iter()
                    .map(|r| {
                        vec![
                            r.run_id.clone(),
                            names[&r.test_id].clone(),
                            r.status.clone(),
                        ]
                    })
                    .collect();
                return emit(&table(&["run_id", "test", "status"], rows));
            }
            let runs = follow(
                client,
                runs,
                &names,
                Duration::from_secs(timeout),
                Duration::from_millis(poll_ms.max(10)),
            )
            .await?;
            if out.output == Output::Json {
                out.json(&runs)?;
            } else {
                emit(&verdicts(&runs, &names))?;
            }
            let passed = runs.iter().filter(|r| r.status == "passed").count();
            if passed < runs.len() {
                bail!(
                    "{} of {} tests did not pass",
                    runs.len() - passed,
                    runs.len()
                );
            }
            Ok(())
        }
    }
}

/// The name of each test the runs belong to.
async fn test_names(
    client: &Client,
    runs: &[TestRunResponse],
) -> anyhow::Result<HashMap<String, String>> {
    let mut names = HashMap::new();
    for run in runs {
        if !names.contains_key(&run.test_id) {
            let test = client
                .ai()
                .assistants()
                .tests()
                .retrieve(&run.test_id)
                .await?;
            names.insert(run.test_id.clone(), test.name);
        }
    }
    Ok(names)
}

/// How a run is shown while it is followed.
fn live_status(run: &TestRunResponse) -> String {
    let graded = run
        .detail_status
        .iter()
        .flatten()
        .filter(|d| d.status != "pending")
        .count();
    let total = run.detail_status.as_ref().map_or(0, Vec::len);
    match run.status.as_str() {
        "running" if graded > 0 => format!("judging ({graded}/{total} graded)"),
        "running" => "conversing".to_owned(),
        "passed" => "✓ passed".to_owned(),
        "failed" => "✗ failed".to_owned(),
        "error" => "! error".to_owned(),
        other => other.to_owned(),
    }
}

/// Polls the runs until each has ended (or the timeout passes), showing their status.
async fn follow(
    client: &Client,
    mut runs: Vec<TestRunResponse>,
    names: &HashMap<String, String>,
    timeout: Duration,
    every: Duration,
) -> anyhow::Result<Vec<TestRunResponse>> {
    let api = client.ai().assistants().tests().runs();
    let terminal = std::io::stderr().is_terminal();
    let bars = MultiProgress::with_draw_target(if terminal {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let width = names.values().map(|n| n.chars().count()).max().unwrap_or(4);
    let style = ProgressStyle::with_template(&format!("{{spinner}} {{prefix:{width}}}  {{msg}}"))
        .expect("a valid template")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
    let lines: Vec<ProgressBar> = runs
        .iter()
        .map(|run| {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(names[&run.test_id].clone());
            bar.set_message(live_status(run));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
        .collect();
    let mut shown: Vec<String> = vec![String::new(); runs.len()];
    let deadline = Instant::now() + timeout;
    loop {
        for (i, run) in runs.iter_mut().enumerate() {
            if !is_finished(run) {
                *run = api.retrieve(&run.test_id, &run.run_id).await?;
            }
            let status = live_status(run);
            if status != shown[i] {
                if !terminal {
                    eprintln!("{}: {status}", names[&run.test_id]);
                }
                lines[i].set_message(status.clone());
                if is_finished(run) {
                    lines[i].finish();
                }
                shown[i] = status;
            }
        }
        if runs.iter().all(is_finished) {
            break;
        }
        if Instant::now() >= deadline {
            for line in &lines {
                line.abandon();
            }
            let left = runs.iter().filter(|r| !is_finished(r)).count();
            bail!(
                "{left} run(s) still going after {} s (see `parley tests runs`)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(every).await;
    }
    Ok(runs)
}

/// The judge's reason for a rubric item, read from a run's logs (`[status] name: reason`).
fn reason(logs: &str, name: &str, status: &str) -> Option<String> {
    let wanted = format!("[{status}] {name}: ");
    logs.lines()
        .find_map(|line| line.split_once(&wanted).map(|(_, reason)| reason.trim()))
        .map(str::to_owned)
}

/// Why a run ended in error without grades: its last `error: …` log line.
fn run_error(logs: &str) -> Option<String> {
    logs.lines()
        .rev()
        .find_map(|line| line.split_once("error: ").map(|(_, e)| e.trim().to_owned()))
}

/// The final table: one row per rubric item (one per run without items), then a summary.
fn verdicts(runs: &[TestRunResponse], names: &HashMap<String, String>) -> String {
    let mut rows = Vec::new();
    for run in runs {
        let logs = run.logs.as_deref().unwrap_or_default();
        let name = names[&run.test_id].clone();
        let items = run.detail_status.as_deref().unwrap_or_default();
        if items.is_empty() {
            let why = run_error(logs).unwrap_or_default();
            rows.push(vec![
                name,
                run.status.clone(),
                String::new(),
                String::new(),
                why,
            ]);
            continue;
        }
        for (i, item) in items.iter().enumerate() {
            let why = reason(logs, &item.name, &item.status)
                .or_else(|| (item.status == "error").then(|| run_error(logs)).flatten())
                .unwrap_or_default();
            let (test, status) = if i == 0 {
                (name.clone(), run.status.clone())
            } else {
                (String::new(), String::new())
            };
            rows.push(vec![
                test,
                status,
                item.name.clone(),
                item.status.clone(),
                truncate(&why, 100),
            ]);
        }
    }
    let count = |status: &str| runs.iter().filter(|r| r.status == status).count();
    let mut summary = vec![format!("{} passed", count("passed"))];
    for status in ["failed", "error"] {
        if count(status) > 0 {
            summary.push(format!("{} {status}", count(status)));
        }
    }
    format!(
        "{}\n{}\n",
        table(&["test", "status", "rubric", "result", "reason"], rows),
        summary.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_read_from_the_verdict_lines_of_the_logs() {
        let logs = "[   0.00s] destination: assistant-1 (main version v1)\n\
                    --- verdicts ---\n\
                    [   1.52s] [passed] Echo: looked for \"hello\": true\n\
                    [   1.60s] [failed] Refund offered: The assistant never offered one.\n";
        assert_eq!(
            reason(logs, "Echo", "passed").as_deref(),
            Some("looked for \"hello\": true")
        );
        assert_eq!(
            reason(logs, "Refund offered", "failed").as_deref(),
            Some("The assistant never offered one.")
        );
        assert_eq!(reason(logs, "Echo", "failed"), None);
        assert_eq!(
            run_error("[   0.10s] error: voice is not available\n").as_deref(),
            Some("voice is not available")
        );
    }
}
