create table canary_deploys (
    assistant_id text primary key references assistants (id) on delete cascade,
    org_id text not null references organizations (id) on delete cascade,
    rules jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
