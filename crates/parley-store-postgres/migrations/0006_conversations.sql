-- Conversations and their messages. Ids are unique per organization (a client may choose
-- them), so the key is (org_id, id). `metadata` and `variables` are JSON objects of strings;
-- `last_message_at` is the creation time until a message is appended.
create table conversations (
    org_id text not null references organizations (id) on delete cascade,
    id text not null,
    name text,
    metadata jsonb not null default '{}',
    variables jsonb not null default '{}',
    created_at timestamptz not null,
    last_message_at timestamptz not null,
    constraint conversations_pk primary key (org_id, id),
    constraint conversations_metadata_object check (jsonb_typeof(metadata) = 'object'),
    constraint conversations_variables_object check (jsonb_typeof(variables) = 'object')
);

create index conversations_org_created_idx on conversations (org_id, created_at, id);
create index conversations_org_last_message_idx on conversations (org_id, last_message_at, id);

-- Messages in append order: `seq` counts from 1 within a conversation. Deleting the
-- conversation deletes them.
create table conversation_messages (
    org_id text not null,
    conversation_id text not null,
    seq bigint not null,
    role text not null,
    text text not null,
    name text,
    tool_calls jsonb not null default '[]',
    tool_call_id text,
    metadata jsonb not null default '{}',
    sent_at timestamptz,
    created_at timestamptz not null,
    constraint conversation_messages_pk primary key (org_id, conversation_id, seq),
    constraint conversation_messages_conversation_fk foreign key (org_id, conversation_id)
        references conversations (org_id, id) on delete cascade,
    constraint conversation_messages_role check (role in ('user', 'assistant', 'tool', 'system')),
    constraint conversation_messages_tool_calls_array check (jsonb_typeof(tool_calls) = 'array'),
    constraint conversation_messages_metadata_object check (jsonb_typeof(metadata) = 'object')
);
