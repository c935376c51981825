//! The contract of [`crate::ScheduledEventStore`] and [`crate::MessagingStore`]: an event and
//! its job written together and deleted together, tenancy, list filters (channel, inclusive
//! date range) and windows, edits that save state and re-enqueue the job atomically (and lose
//! nothing under concurrency), the call look-up; SMS messages (carrier ids, delivery status,
//! threads, replies), phone-number assignments (one organization per number), and webhook
//! event ids accepted once, with their job.
//!
//! Every job this section enqueues is removed before it returns, so sections that claim jobs
//! never see them.

use super::{concurrently, new_org, ok, secs, unique};
use crate::{
    AssignOutcome, EventEdit, NewJob, PageRequest, ScheduledEventFilter, ScheduledEventRecord,
    SmsDirection, SmsMessageRecord, Store,
};
use chrono::{DateTime, Utc};
use parley_core::ids::{AssistantId, OrgId};
use parley_core::scheduled_events::{
    CallAttempt, EventChannel, EventStatus, ScheduledEventSpec, JOB_KIND,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    events_and_their_jobs(store, t0).await;
    event_lists(store, t0).await;
    edits(store, t0).await;
    sms_messages(store, t0).await;
    phone_numbers(store, t0).await;
    webhook_events(store, t0).await;
}

fn spec(channel: EventChannel, at: DateTime<Utc>) -> ScheduledEventSpec {
    let mut metadata = Map::new();
    metadata.insert("campaign".into(), json!("spring"));
    metadata.insert("wave".into(), json!(2));
    ScheduledEventSpec {
        channel,
        agent_target: "+13125550100".into(),
        end_user_target: "+13125550101".into(),
        scheduled_at: at,
        text: (channel == EventChannel::SmsChat).then(|| "Hello".to_owned()),
        call_settings: (channel == EventChannel::PhoneCall).then(|| {
            let mut settings = Map::new();
            settings.insert("sip_region".into(), json!("Europe"));
            settings
        }),
        conversation_metadata: metadata,
        dynamic_variables: BTreeMap::from([("name".to_owned(), "Ada".to_owned())]),
        max_retries_client_errors: u32::from(channel == EventChannel::PhoneCall) * 2,
        retry_interval_secs: (channel == EventChannel::PhoneCall).then_some(60),
    }
}

fn job_for(event: &ScheduledEventRecord) -> NewJob {
    NewJob {
        org_id: event.org_id.clone(),
        kind: JOB_KIND.into(),
        key: event.id.clone(),
        payload: json!({"assistant_id": event.assistant_id.as_str()}),
        due_at: event.spec.scheduled_at,
    }
}

async fn create_event(
    store: &Arc<dyn Store>,
    org: &OrgId,
    assistant: &AssistantId,
    channel: EventChannel,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ScheduledEventRecord {
    let event = ScheduledEventRecord::new(
        unique("event"),
        org.clone(),
        assistant.clone(),
        spec(channel, due),
        now,
    );
    ok(
        "create_scheduled_event",
        store.create_scheduled_event(&event, &job_for(&event)).await,
    );
    event
}

async fn get(
    store: &Arc<dyn Store>,
    org: &OrgId,
    assistant: &AssistantId,
    id: &str,
) -> Option<ScheduledEventRecord> {
    ok(
        "get_scheduled_event",
        store.get_scheduled_event(org, assistant, id).await,
    )
}

async fn has_job(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> bool {
    ok("get_job", store.get_job(org, JOB_KIND, id).await).is_some()
}

async fn events_and_their_jobs(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "events", t0).await;
    let other = new_org(store, "events-other", t0).await;
    let assistant = AssistantId::generate();
    let sms = create_event(
        store,
        &org,
        &assistant,
        EventChannel::SmsChat,
        t0 + secs(600),
        t0,
    )
    .await;
    let call = create_event(
        store,
        &org,
        &assistant,
        EventChannel::PhoneCall,
        t0 + secs(700),
        t0,
    )
    .await;
    assert_eq!(
        get(store, &org, &assistant, &sms.id).await.as_ref(),
        Some(&sms),
        "an SMS event reads back as written"
    );
    assert_eq!(
        get(store, &org, &assistant, &call.id).await.as_ref(),
        Some(&call),
        "a phone event reads back as written (call settings, retries, metadata)"
    );
    let job = ok("get_job", store.get_job(&org, JOB_KIND, &sms.id).await)
        .expect("the event's job was enqueued with it");
    assert_eq!(
        job.due_at, sms.spec.scheduled_at,
        "the job is due with the event"
    );
    assert!(
        get(store, &other, &assistant, &sms.id).await.is_none(),
        "another organization does not see the event"
    );
    assert!(
        get(store, &org, &AssistantId::generate(), &sms.id)
            .await
            .is_none(),
        "another assistant does not see the event"
    );
    assert!(
        !ok(
            "delete_scheduled_event",
            store
                .delete_scheduled_event(&other, &assistant, &sms.id)
                .await
        ),
        "another organization cannot delete it"
    );
    assert!(ok(
        "delete_scheduled_event",
        store
            .delete_scheduled_event(&org, &assistant, &sms.id)
            .await
    ));
    assert!(get(store, &org, &assistant, &sms.id).await.is_none());
    assert!(
        !has_job(store, &org, &sms.id).await,
        "deleting the event cancels its job"
    );
    assert!(
        !ok(
            "delete_scheduled_event",
            store
                .delete_scheduled_event(&org, &assistant, &sms.id)
                .await
        ),
        "a second delete finds nothing"
    );
    assert!(has_job(store, &org, &call.id).await, "other jobs stay");
    assert!(ok(
        "delete_scheduled_event",
        store
            .delete_scheduled_event(&org, &assistant, &call.id)
            .await
    ));
}

async fn event_lists(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "event-lists", t0).await;
    let assistant = AssistantId::generate();
    let mut created = Vec::new();
    for i in 0..6 {
        let channel = if i % 2 == 0 {
            EventChannel::SmsChat
        } else {
            EventChannel::PhoneCall
        };
        created.push(
            create_event(
                store,
                &org,
                &assistant,
                channel,
                t0 + secs(100 * (6 - i)),
                t0,
            )
            .await,
        );
    }
    // Another assistant's event is never listed.
    let stranger = create_event(
        store,
        &org,
        &AssistantId::generate(),
        EventChannel::SmsChat,
        t0 + secs(50),
        t0,
    )
    .await;
    let list = |filter: ScheduledEventFilter, offset: u64, limit: Option<u64>| {
        let store = store.clone();
        let (org, assistant) = (org.clone(), assistant.clone());
        async move {
            let (events, total) = ok(
                "list_scheduled_events",
                store
                    .list_scheduled_events(&org, &assistant, &filter, PageRequest { offset, limit })
                    .await,
            );
            (events.into_iter().map(|e| e.id).collect::<Vec<_>>(), total)
        }
    };
    let mut by_time = created.clone();
    by_time.sort_by_key(|e| e.spec.scheduled_at);
    let ids = |events: &[&ScheduledEventRecord]| -> Vec<String> {
        events.iter().map(|e| e.id.clone()).collect()
    };
    let all: Vec<&ScheduledEventRecord> = by_time.iter().collect();
    assert_eq!(
        list(ScheduledEventFilter::default(), 0, None).await,
        (ids(&all), 6),
        "earliest due first"
    );
    assert_eq!(
        list(ScheduledEventFilter::default(), 2, Some(2)).await,
        (ids(&all[2..4]), 6),
        "a window, with the total"
    );
    let sms: Vec<&ScheduledEventRecord> = by_time
        .iter()
        .filter(|e| e.spec.channel == EventChannel::SmsChat)
        .collect();
    assert_eq!(
        list(
            ScheduledEventFilter {
                channel: Some(EventChannel::SmsChat),
                ..ScheduledEventFilter::default()
            },
            0,
            None
        )
        .await,
        (ids(&sms), 3),
        "channel filter"
    );
    let (from, to) = (all[1].spec.scheduled_at, all[3].spec.scheduled_at);
    assert_eq!(
        list(
            ScheduledEventFilter {
                from: Some(from),
                to: Some(to),
                ..ScheduledEventFilter::default()
            },
            0,
            None
        )
        .await,
        (ids(&all[1..4]), 3),
        "the date range is inclusive at both ends"
    );
    for event in created.iter().chain([&stranger]) {
        ok(
            "delete_scheduled_event",
            store
                .delete_scheduled_event(&org, &event.assistant_id, &event.id)
                .await,
        );
    }
}

async fn edits(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "event-edits", t0).await;
    let assistant = AssistantId::generate();
    let event = create_event(
        store,
        &org,
        &assistant,
        EventChannel::PhoneCall,
        t0 + secs(60),
        t0,
    )
    .await;
    let unchanged = ok(
        "edit_scheduled_event",
        store
            .edit_scheduled_event(&org, &event.id, Box::new(|_| EventEdit::Unchanged))
            .await,
    );
    assert_eq!(
        unchanged.as_ref(),
        Some(&event),
        "an unchanged edit writes nothing"
    );
    assert!(
        ok(
            "edit_scheduled_event",
            store
                .edit_scheduled_event(&org, "no-such-event", Box::new(|_| EventEdit::Unchanged))
                .await
        )
        .is_none(),
        "editing a missing event finds nothing"
    );
    // Dispatch: in progress with a call; then the call fails and a retry is scheduled.
    let dispatched_at = t0 + secs(61);
    let after = ok(
        "edit_scheduled_event",
        store
            .edit_scheduled_event(
                &org,
                &event.id,
                Box::new(move |current| {
                    let mut next = current.clone();
                    next.status = EventStatus::InProgress;
                    next.call_control_id = Some("call-1".into());
                    next.dispatched_at = Some(dispatched_at);
                    next.conversation_id = Some("conversation-1".into());
                    next.updated_at = dispatched_at;
                    EventEdit::Save(Box::new(next), None)
                }),
            )
            .await,
    )
    .expect("the event exists");
    assert_eq!(after.status, EventStatus::InProgress);
    assert_eq!(after.dispatched_at, Some(dispatched_at));
    let found = ok(
        "find_scheduled_event_by_call",
        store.find_scheduled_event_by_call("call-1").await,
    );
    assert_eq!(found.as_ref(), Some(&after), "the call finds its event");
    assert!(ok(
        "find_scheduled_event_by_call",
        store.find_scheduled_event_by_call("call-2").await
    )
    .is_none());
    let retry_at = t0 + secs(300);
    let (org2, id2) = (org.clone(), event.id.clone());
    let after = ok(
        "edit_scheduled_event",
        store
            .edit_scheduled_event(
                &org,
                &event.id,
                Box::new(move |current| {
                    let mut next = current.clone();
                    next.status = EventStatus::Pending;
                    next.retry_count += 1;
                    next.call_status = Some("busy".into());
                    next.call_attempts.push(CallAttempt {
                        attempt_number: 1,
                        attempted_at: dispatched_at,
                        call_status: "busy".into(),
                        call_duration: None,
                        telnyx_call_control_id: Some("call-1".into()),
                    });
                    next.errors.push("call ended: busy".into());
                    next.spec.scheduled_at = retry_at;
                    let job = NewJob {
                        org_id: org2,
                        kind: JOB_KIND.into(),
                        key: id2,
                        payload: Value::Null,
                        due_at: retry_at,
                    };
                    EventEdit::Save(Box::new(next), Some(job))
                }),
            )
            .await,
    )
    .expect("the event exists");
    assert_eq!(after.spec.scheduled_at, retry_at, "the due time moved");
    assert_eq!(after.call_attempts.len(), 1);
    assert_eq!(after.errors, ["call ended: busy"]);
    assert_eq!(
        get(store, &org, &assistant, &event.id).await.as_ref(),
        Some(&after),
        "the edit was stored"
    );
    let job =
        ok("get_job", store.get_job(&org, JOB_KIND, &event.id).await).expect("the retry's job");
    assert_eq!(
        job.due_at, retry_at,
        "the job was re-enqueued with the edit"
    );

    // Concurrent edits queue up: every increment is kept.
    concurrently(10, |_| {
        let (store, org, id) = (store.clone(), org.clone(), event.id.clone());
        async move {
            ok(
                "edit_scheduled_event",
                store
                    .edit_scheduled_event(
                        &org,
                        &id,
                        Box::new(|current| {
                            let mut next = current.clone();
                            next.errors.push(format!("edit {}", current.errors.len()));
                            EventEdit::Save(Box::new(next), None)
                        }),
                    )
                    .await,
            )
        }
    })
    .await;
    let last = get(store, &org, &assistant, &event.id).await.unwrap();
    assert_eq!(last.errors.len(), 11, "concurrent edits lose nothing");
    assert!(ok(
        "delete_scheduled_event",
        store
            .delete_scheduled_event(&org, &assistant, &event.id)
            .await
    ));
}

fn message(
    org: &OrgId,
    direction: SmsDirection,
    agent: &str,
    end_user: &str,
    at: DateTime<Utc>,
) -> SmsMessageRecord {
    SmsMessageRecord {
        id: unique("sms"),
        org_id: org.clone(),
        direction,
        carrier_message_id: None,
        agent_number: agent.into(),
        end_user_number: end_user.into(),
        assistant_id: AssistantId::from_string("assistant-x"),
        conversation_id: Some("conversation-1".into()),
        scheduled_event_id: None,
        in_reply_to: None,
        text: "hi".into(),
        status: "queued".into(),
        errors: Vec::new(),
        created_at: at,
        updated_at: at,
    }
}

async fn sms_messages(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "sms", t0).await;
    let other = new_org(store, "sms-other", t0).await;
    let agent = format!("+1{}", &uuid_digits()[..10]);
    let first = message(&org, SmsDirection::Outbound, &agent, "+15550001", t0);
    ok("insert_sms_message", store.insert_sms_message(&first).await);
    let carrier_id = unique("carrier");
    let sent = ok(
        "set_sms_sent",
        store
            .set_sms_sent(
                &org,
                &first.id,
                Some(&carrier_id),
                "queued",
                None,
                t0 + secs(1),
            )
            .await,
    )
    .expect("the message exists");
    assert_eq!(
        sent.carrier_message_id.as_deref(),
        Some(carrier_id.as_str())
    );
    assert!(
        ok(
            "set_sms_sent",
            store
                .set_sms_sent(&other, &first.id, None, "sent", None, t0)
                .await
        )
        .is_none(),
        "another organization cannot touch it"
    );
    let delivered = ok(
        "update_sms_status",
        store
            .update_sms_status(
                &carrier_id,
                "delivery_failed",
                &["30003: unreachable".into()],
                t0 + secs(2),
            )
            .await,
    )
    .expect("found by carrier id");
    assert_eq!(delivered.status, "delivery_failed");
    assert_eq!(delivered.errors, ["30003: unreachable"]);
    assert_eq!(delivered.updated_at, t0 + secs(2));
    assert!(ok(
        "update_sms_status",
        store.update_sms_status("unknown", "sent", &[], t0).await
    )
    .is_none());

    let mut inbound = message(
        &org,
        SmsDirection::Inbound,
        &agent,
        "+15550001",
        t0 + secs(5),
    );
    inbound.carrier_message_id = Some(unique("in"));
    inbound.status = "received".into();
    ok(
        "insert_sms_message",
        store.insert_sms_message(&inbound).await,
    );
    let elsewhere = message(
        &org,
        SmsDirection::Outbound,
        &agent,
        "+15550002",
        t0 + secs(9),
    );
    ok(
        "insert_sms_message",
        store.insert_sms_message(&elsewhere).await,
    );
    let thread = ok(
        "find_sms_thread",
        store.find_sms_thread(&agent, "+15550001").await,
    );
    assert_eq!(
        thread.as_ref(),
        Some(&inbound),
        "the newest message of the two numbers"
    );
    assert!(ok(
        "find_sms_thread",
        store.find_sms_thread("+15550001", &agent).await
    )
    .is_none());

    let mut reply = message(
        &org,
        SmsDirection::Outbound,
        &agent,
        "+15550001",
        t0 + secs(6),
    );
    reply.in_reply_to = inbound.carrier_message_id.clone();
    ok("insert_sms_message", store.insert_sms_message(&reply).await);
    let in_reply_to = inbound.carrier_message_id.clone().unwrap();
    assert_eq!(
        ok(
            "find_sms_reply",
            store.find_sms_reply(&org, &in_reply_to).await
        )
        .as_ref(),
        Some(&reply)
    );
    assert!(ok(
        "find_sms_reply",
        store.find_sms_reply(&other, &in_reply_to).await
    )
    .is_none());
}

async fn phone_numbers(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "numbers", t0).await;
    let other = new_org(store, "numbers-other", t0).await;
    let number = format!("+1{}", &uuid_digits()[..10]);
    let (a, b) = (AssistantId::generate(), AssistantId::generate());
    let assigned = match ok(
        "assign_phone_number",
        store.assign_phone_number(&org, &number, &a, t0).await,
    ) {
        AssignOutcome::Assigned(record) => record,
        AssignOutcome::Taken => panic!("a new number is free"),
    };
    assert_eq!((assigned.created_at, assigned.updated_at), (t0, t0));
    let reassigned = match ok(
        "assign_phone_number",
        store
            .assign_phone_number(&org, &number, &b, t0 + secs(5))
            .await,
    ) {
        AssignOutcome::Assigned(record) => record,
        AssignOutcome::Taken => panic!("the organization's own number can be reassigned"),
    };
    assert_eq!(reassigned.assistant_id, b);
    assert_eq!(reassigned.created_at, t0, "reassigning keeps created_at");
    assert_eq!(
        ok(
            "assign_phone_number",
            store.assign_phone_number(&other, &number, &a, t0).await
        ),
        AssignOutcome::Taken,
        "another organization cannot take it"
    );
    assert_eq!(
        ok(
            "get_phone_number",
            store.get_phone_number(&org, &number).await
        )
        .as_ref(),
        Some(&reassigned)
    );
    assert!(ok(
        "get_phone_number",
        store.get_phone_number(&other, &number).await
    )
    .is_none());
    assert_eq!(
        ok("find_phone_number", store.find_phone_number(&number).await).as_ref(),
        Some(&reassigned)
    );
    let second = format!("+1{}", &uuid_digits()[..10]);
    ok(
        "assign_phone_number",
        store.assign_phone_number(&org, &second, &a, t0).await,
    );
    let (numbers, total) = ok(
        "list_phone_numbers",
        store
            .list_phone_numbers(
                &org,
                PageRequest {
                    offset: 0,
                    limit: Some(1),
                },
            )
            .await,
    );
    assert_eq!(total, 2);
    assert_eq!(
        numbers[0].phone_number,
        number.clone().min(second.clone()),
        "number order"
    );
    assert!(!ok(
        "delete_phone_number",
        store.delete_phone_number(&other, &number).await
    ));
    assert!(ok(
        "delete_phone_number",
        store.delete_phone_number(&org, &number).await
    ));
    assert!(ok("find_phone_number", store.find_phone_number(&number).await).is_none());
    assert!(ok(
        "delete_phone_number",
        store.delete_phone_number(&org, &second).await
    ));
}

fn uuid_digits() -> String {
    unique("d")
        .bytes()
        .map(|b| char::from(b'0' + b % 10))
        .collect::<String>()
        .replacen('0', "5", 1)
}

async fn webhook_events(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "webhooks", t0).await;
    let event_id = unique("event");
    let job = NewJob {
        org_id: org.clone(),
        kind: "inbound_sms".into(),
        key: event_id.clone(),
        payload: json!({"text": "hi"}),
        due_at: t0,
    };
    assert!(ok(
        "accept_webhook_event",
        store.accept_webhook_event(&event_id, t0, Some(&job)).await
    ));
    assert!(ok(
        "get_job",
        store.get_job(&org, "inbound_sms", &event_id).await
    )
    .is_some());
    ok(
        "cancel_job",
        store.cancel_job(&org, "inbound_sms", &event_id).await,
    );
    assert!(
        !ok(
            "accept_webhook_event",
            store.accept_webhook_event(&event_id, t0, Some(&job)).await
        ),
        "a redelivered event is refused"
    );
    assert!(
        ok(
            "get_job",
            store.get_job(&org, "inbound_sms", &event_id).await
        )
        .is_none(),
        "and enqueues nothing"
    );
    let other = unique("event");
    assert!(ok(
        "accept_webhook_event",
        store
            .accept_webhook_event(&other, t0 + secs(10), None)
            .await
    ));
    let purged = ok(
        "purge_webhook_events",
        store.purge_webhook_events(t0 + secs(5)).await,
    );
    assert!(purged >= 1, "old ids are forgotten");
    assert!(
        ok(
            "accept_webhook_event",
            store
                .accept_webhook_event(&event_id, t0 + secs(20), None)
                .await
        ),
        "a forgotten id is new again"
    );
    assert!(
        !ok(
            "accept_webhook_event",
            store
                .accept_webhook_event(&other, t0 + secs(20), None)
                .await
        ),
        "a recent one is still known"
    );
}
