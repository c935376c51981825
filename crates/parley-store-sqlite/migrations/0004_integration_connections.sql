-- Connections of an organization to catalogue integrations: at most one per integration.
-- `allowed_tools` is a JSON array; `api_key_ref` names an integration secret.
create table integration_connections (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    integration_id text not null,
    allowed_tools text not null,
    api_key_ref text not null,
    base_url text,
    created_at text not null,
    constraint integration_connections_pk primary key (id),
    constraint integration_connections_org_integration_unique unique (org_id, integration_id),
    constraint integration_connections_allowed_tools_array check (json_type(allowed_tools) = 'array')
);

create index integration_connections_org_created_idx on integration_connections (org_id, created_at, id);
