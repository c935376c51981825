create table organizations (
    id text primary key,
    name text not null,
    created_at text not null,
    constraint organizations_name_unique unique (name)
);

create table api_keys (
    id text primary key,
    org_id text not null references organizations (id) on delete cascade,
    key_hash text not null,
    prefix text not null,
    created_at text not null,
    revoked_at text,
    constraint api_keys_key_hash_unique unique (key_hash)
);

create table assistants (
    id text primary key,
    org_id text not null references organizations (id) on delete cascade,
    main_version_id text not null,
    tags text not null default '[]',
    import_metadata text,
    created_at text not null,
    deleted_at text
);

create index assistants_org_created_idx on assistants (org_id, created_at, id);

create table assistant_versions (
    id text primary key,
    assistant_id text not null references assistants (id) on delete cascade,
    org_id text not null,
    number integer not null,
    name text not null,
    config text not null,
    created_at text not null,
    constraint assistant_versions_number_unique unique (assistant_id, number)
);

create table idempotency_keys (
    org_id text not null references organizations (id) on delete cascade,
    key text not null,
    fingerprint text not null,
    status integer,
    body blob,
    created_at text not null,
    constraint idempotency_keys_pk primary key (org_id, key)
);
