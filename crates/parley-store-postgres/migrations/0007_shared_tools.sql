-- Shared tools (the Tools Library) an organization keeps. `definition` is the tool's
-- configuration object, the one under the key named like `type`. Assistants attach them by
-- id in their versions' `tool_ids`; deleting a tool removes its id from those.
create table shared_tools (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    display_name text not null,
    type text not null,
    definition jsonb not null,
    timeout_ms bigint,
    created_at timestamptz not null,
    constraint shared_tools_pk primary key (id),
    constraint shared_tools_definition_object check (jsonb_typeof(definition) = 'object')
);

create index shared_tools_org_created_idx on shared_tools (org_id, created_at, id);
