-- Parley's schema. The SQLite backend has the same tables and columns (TEXT timestamps/JSON).

create table organizations (
    id text primary key,
    name text not null,
    created_at timestamptz not null,
    constraint organizations_name_unique unique (name)
);

create table api_keys (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    key_hash text not null,
    prefix text not null,
    created_at timestamptz not null,
    revoked_at timestamptz,
    constraint api_keys_key_hash_unique unique (key_hash)
);

create table assistants (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    main_version_id text not null,
    tags jsonb not null default '[]',
    import_metadata jsonb,
    created_at timestamptz not null,
    deleted_at timestamptz
);

create index assistants_org_created_idx on assistants (org_id, created_at, id);

create table assistant_versions (
    id text primary key,
    assistant_id text not null references assistants(id) on delete cascade,
    org_id text not null,
    number bigint not null,
    name text not null,
    config jsonb not null,
    created_at timestamptz not null,
    constraint assistant_versions_number_unique unique (assistant_id, number)
);

create table idempotency_keys (
    org_id text not null references organizations(id) on delete cascade,
    key text not null,
    fingerprint text not null,
    status integer,
    body bytea,
    created_at timestamptz not null,
    constraint idempotency_keys_pk primary key (org_id, key)
);
