-- MCP servers an organization registers. `allowed_tools` is a JSON array, or null for all.
create table mcp_servers (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    name text not null,
    type text not null,
    url text not null,
    allowed_tools text,
    api_key_ref text,
    created_at text not null,
    constraint mcp_servers_pk primary key (id),
    constraint mcp_servers_allowed_tools_array check (allowed_tools is null or json_type(allowed_tools) = 'array')
);

create index mcp_servers_org_created_idx on mcp_servers (org_id, created_at, id);
