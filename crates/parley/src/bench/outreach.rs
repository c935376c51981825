//! The outreach scenarios of `parley bench`, with the bench playing Telnyx's messaging API
//! (`POST /v2/messages` on `--carrier-listen`; the server under test must have
//! `PARLEY_TELNYX_API_URL` pointing there).
//!
//! `scheduler-lag`: how late scheduled events reach the carrier.
//! The bench plays the carrier: it serves Telnyx's `POST /v2/messages` on `--carrier-listen`
//! (the server under test must have `PARLEY_TELNYX_API_URL` pointing there) and notes when
//! each message arrives. It then schedules `--events` SMS events through the API, due at
//! evenly spaced instants over `--spread-secs` seconds starting a few seconds ahead, each
//! carrying its due time in its text, and waits until every one has arrived (or a deadline
//! passes). The lag of an event is its arrival minus its due time: the scheduler's latency
//! (wake-up, claim, dispatch, the carrier request) as the carrier sees it. With several
//! servers sharing one PostgreSQL database, every server's worker competes for the events.
//!
//! `sms-inbound`: the time from an inbound SMS webhook (`message.received` posted to
//! `/v2/webhooks/messaging`) to the reply's request at the carrier, one message at a time,
//! each from a new number (a new conversation) to a number assigned to an assistant whose
//! model answers at once (`--fast-model`, a zero-latency `parley bench llm-stub`): Parley's
//! own cost of receiving, running a chat turn and sending.

use super::{connect, request, send, Target};
use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Options of the outreach scenarios.
#[derive(Debug, Args)]
pub struct OutreachOptions {
    /// scheduler-lag: where the bench plays Telnyx's messaging API (the server's
    /// `PARLEY_TELNYX_API_URL` must be `http://THIS/v2`).
    #[arg(long, default_value = "127.0.0.1:9400")]
    carrier_listen: String,
    /// scheduler-lag: events to schedule.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// scheduler-lag: seconds over which the events fall due.
    #[arg(long, default_value_t = 60)]
    spread_secs: u64,
    /// scheduler-lag: seconds between the start of scheduling and the first due time.
    #[arg(long, default_value_t = 15)]
    lead_secs: u64,
    /// sms-inbound: measured inbound messages (after ten warm-up ones).
    #[arg(long, default_value_t = 500)]
    messages: usize,
}

/// Message ids the stand-in hands out.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Arrivals by message text: when it arrived, and how many times.
type Arrivals = Arc<Mutex<HashMap<String, (DateTime<Utc>, u32)>>>;

/// Every arrival in order: the recipient and when.
type ArrivalFeed = tokio::sync::mpsc::UnboundedSender<(String, tokio::time::Instant)>;

/// Serves `POST /v2/messages` like Telnyx (a message id, status `queued`) and records arrivals
/// by text, and in `feed` by recipient.
async fn carrier(listen: &str, arrivals: Arrivals, feed: ArrivalFeed) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("the carrier stand-in cannot listen on {listen}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (arrivals, feed) = (arrivals.clone(), feed.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<Incoming>| {
                    let (arrivals, feed) = (arrivals.clone(), feed.clone());
                    async move {
                        let (at, instant) = (Utc::now(), tokio::time::Instant::now());
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let body = serde_json::from_slice::<Value>(&body).unwrap_or_default();
                        let text = body["text"].as_str().unwrap_or_default().to_owned();
                        let to = body["to"].as_str().unwrap_or_default().to_owned();
                        let _ = feed.send((to, instant));
                        arrivals
                            .lock()
                            .expect("arrivals")
                            .entry(text)
                            .and_modify(|e| e.1 += 1)
                            .or_insert((at, 1));
                        let answer = json!({"data": {
                            "id": format!("bench-msg-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
                            "record_type": "message",
                            "to": [{"status": "queued"}],
                        }});
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .header(http::header::CONTENT_TYPE, "application/json")
                                .body(Full::new(Bytes::from(answer.to_string())))
                                .expect("a valid response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

/// `scheduler-lag`: prints one line with the lag distribution.
pub(super) async fn lag(
    target: &Target,
    options: &OutreachOptions,
    label: &str,
) -> anyhow::Result<()> {
    let arrivals: Arrivals = Arc::default();
    let (feed, _ignored) = tokio::sync::mpsc::unbounded_channel();
    carrier(&options.carrier_listen, arrivals.clone(), feed).await?;
    let mut sender = connect(target).await?;
    let assistant = super::create_assistant(
        target,
        &mut sender,
        json!({"name": "Bench scheduler", "instructions": "Scheduled outreach."}),
    )
    .await?;
    let path = format!("/v2/ai/assistants/{assistant}/scheduled_events");
    let n = options.events.max(1);
    let first = Utc::now() + chrono::Duration::seconds(options.lead_secs as i64);
    let step = options.spread_secs as f64 * 1000.0 / n as f64;
    let run = format!("{:x}", rand_suffix());
    let mut due = HashMap::with_capacity(n);
    for i in 0..n {
        let at = first + chrono::Duration::milliseconds((i as f64 * step) as i64);
        let at_text = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let text = format!("lag probe {run} {i} due {at_text}");
        let body = json!({
            "telnyx_conversation_channel": "sms_chat",
            "telnyx_agent_target": "+15550001000",
            "telnyx_end_user_target": format!("+1555{:07}", i),
            "scheduled_at_fixed_datetime": at_text,
            "text": text,
        });
        let (status, answer) = send(
            &mut sender,
            request(
                target,
                http::Method::POST,
                &path,
                Bytes::from(body.to_string()),
            )?,
        )
        .await?;
        if status != 201 && status != 200 {
            bail!(
                "scheduling event {i} failed with {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        due.insert(text, at);
    }
    let scheduled_by = Utc::now();
    if scheduled_by > first {
        println!(
            "{label:<10}   warning: scheduling took until {} ms after the first due time",
            (scheduled_by - first).num_milliseconds()
        );
    }
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(options.lead_secs + options.spread_secs + 60);
    loop {
        let arrived = {
            let arrivals = arrivals.lock().expect("arrivals");
            due.keys().filter(|t| arrivals.contains_key(*t)).count()
        };
        if arrived == n || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrivals = arrivals.lock().expect("arrivals").clone();
    let mut lag = Histogram::<u64>::new(3)?;
    let (mut missing, mut duplicates, mut early) = (0, 0, 0);
    for (text, at) in &due {
        match arrivals.get(text) {
            Some((arrived, count)) => {
                duplicates += count - 1;
                let ms = (*arrived - *at).num_milliseconds();
                if ms < 0 {
                    early += 1;
                }
                lag.record(ms.max(0) as u64)?;
            }
            None => missing += 1,
        }
    }
    println!(
        "{label:<10} scheduler-lag  events {n} over {} s: lag p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; missing {missing}, duplicates {duplicates}, early {early}",
        options.spread_secs,
        lag.value_at_quantile(0.5),
        lag.value_at_quantile(0.9),
        lag.value_at_quantile(0.99),
        lag.max(),
    );
    Ok(())
}

/// The number inbound messages are sent to; assigned to the benchmark's assistant.
const AGENT_NUMBER: &str = "+15550009000";

/// `sms-inbound`: prints one line with the webhook → reply latency distribution.
pub(super) async fn inbound(
    target: &Target,
    options: &OutreachOptions,
    model: &str,
    label: &str,
) -> anyhow::Result<()> {
    let (feed, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    carrier(&options.carrier_listen, Arrivals::default(), feed).await?;
    let mut sender = connect(target).await?;
    let assistant = super::create_assistant(
        target,
        &mut sender,
        json!({"name": "Bench inbound", "model": model, "instructions": "Answer briefly."}),
    )
    .await?;
    let assign = json!({"phone_number": AGENT_NUMBER, "assistant_id": assistant});
    let (status, answer) = send(
        &mut sender,
        request(
            target,
            http::Method::POST,
            "/v2/ai/phone_numbers",
            Bytes::from(assign.to_string()),
        )?,
    )
    .await?;
    if !(200..300).contains(&status) {
        bail!(
            "assigning {AGENT_NUMBER} failed with {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let run = format!("{:x}", rand_suffix());
    let n = options.messages.max(1);
    let mut latency = Histogram::<u64>::new(3)?;
    let mut lost = 0;
    for i in 0..n + 10 {
        // The first ten warm up (connections, prepared statements) and are not counted.
        let from = format!("+1556{:07}", (rand_suffix() as usize + i) % 10_000_000);
        let event = json!({"data": {
            "event_type": "message.received",
            "id": format!("bench-{run}-{i}"),
            "occurred_at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "record_type": "event",
            "payload": {
                "direction": "inbound",
                "id": format!("bench-msg-{run}-{i}"),
                "type": "SMS",
                "record_type": "message",
                "from": {"phone_number": from},
                "to": [{"phone_number": AGENT_NUMBER, "status": "webhook_delivered"}],
                "text": "Hello, are you open today?",
            },
        }});
        let started = tokio::time::Instant::now();
        let (status, answer) = send(
            &mut sender,
            request(
                target,
                http::Method::POST,
                "/v2/webhooks/messaging",
                Bytes::from(event.to_string()),
            )?,
        )
        .await?;
        if !(200..300).contains(&status) {
            bail!(
                "the messaging webhook answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let deadline = started + Duration::from_secs(10);
        let arrived = loop {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((to, at))) if to == from => break Some(at),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break None,
            }
        };
        match arrived {
            Some(at) if i >= 10 => latency.record((at - started).as_micros() as u64)?,
            Some(_) => {}
            None => lost += 1,
        }
    }
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{label:<10} sms-inbound    {n} messages, webhook → reply at the carrier: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; no reply {lost}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        latency.max() as f64 / 1000.0,
    );
    Ok(())
}

/// Tells this run's probes from an earlier run's.
fn rand_suffix() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos ^ u128::from(std::process::id())) & 0xffff_ffff_ffff
}
