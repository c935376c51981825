-- Outreach: scheduled events, SMS messages, phone-number assignments and the carrier's webhook
-- event ids. An event's job (kind 'scheduled_event', key = the event id) lives in `jobs` and
-- is written in the same transaction as the event.
create table scheduled_events (
    org_id text not null references organizations (id) on delete cascade,
    id text not null,
    assistant_id text not null,
    channel text not null,
    agent_target text not null,
    end_user_target text not null,
    scheduled_at timestamptz not null,
    text text,
    call_settings jsonb,
    conversation_metadata jsonb not null default '{}',
    dynamic_variables jsonb not null default '{}',
    max_retries_client_errors integer not null default 0,
    retry_interval_secs integer,
    status text not null,
    retry_count integer not null default 0,
    call_attempts jsonb not null default '[]',
    call_status text,
    call_duration bigint,
    call_control_id text,
    conversation_id text,
    dispatched_at timestamptz,
    errors jsonb not null default '[]',
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint scheduled_events_pk primary key (org_id, id),
    constraint scheduled_events_channel check (channel in ('phone_call', 'sms_chat')),
    constraint scheduled_events_status check (status in ('pending', 'in_progress', 'completed', 'failed')),
    constraint scheduled_events_metadata_object check (jsonb_typeof(conversation_metadata) = 'object'),
    constraint scheduled_events_variables_object check (jsonb_typeof(dynamic_variables) = 'object'),
    constraint scheduled_events_attempts_array check (jsonb_typeof(call_attempts) = 'array'),
    constraint scheduled_events_errors_array check (jsonb_typeof(errors) = 'array')
);

create index scheduled_events_assistant_idx
    on scheduled_events (org_id, assistant_id, scheduled_at, id);
create index scheduled_events_call_idx on scheduled_events (call_control_id)
    where call_control_id is not null;

-- Every SMS sent or received for an assistant. The carrier's ids are unique across the
-- deployment (one carrier account), so inbound webhooks find messages and threads by them.
create table sms_messages (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    direction text not null,
    carrier_message_id text,
    agent_number text not null,
    end_user_number text not null,
    assistant_id text not null,
    conversation_id text,
    scheduled_event_id text,
    in_reply_to text,
    text text not null,
    status text not null,
    errors jsonb not null default '[]',
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint sms_messages_pk primary key (id),
    constraint sms_messages_direction check (direction in ('inbound', 'outbound')),
    constraint sms_messages_errors_array check (jsonb_typeof(errors) = 'array')
);

create unique index sms_messages_carrier_id_unique on sms_messages (carrier_message_id)
    where carrier_message_id is not null;
create index sms_messages_thread_idx
    on sms_messages (agent_number, end_user_number, created_at);
create index sms_messages_reply_idx on sms_messages (org_id, in_reply_to)
    where in_reply_to is not null;

-- Which assistant answers texts to a number (a Parley extension). A number belongs to one
-- organization.
create table phone_numbers (
    phone_number text not null,
    org_id text not null references organizations (id) on delete cascade,
    assistant_id text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint phone_numbers_pk primary key (phone_number)
);

create index phone_numbers_org_idx on phone_numbers (org_id, phone_number);

-- Webhook event ids already handled, so a redelivered event is ignored.
create table webhook_events (
    id text not null,
    received_at timestamptz not null,
    constraint webhook_events_pk primary key (id)
);

create index webhook_events_received_idx on webhook_events (received_at);
