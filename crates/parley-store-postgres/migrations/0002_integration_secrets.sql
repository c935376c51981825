-- integration_secrets: values sealed by the server (XChaCha20-Poly1305 under the master key,
-- bound to org_id and identifier); the database never sees a value in clear.
create table integration_secrets (
    id text primary key,
    org_id text not null references organizations(id) on delete cascade,
    identifier text not null,
    kind text not null,
    sealed bytea not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint integration_secrets_org_identifier_unique unique (org_id, identifier),
    constraint integration_secrets_kind_check check (kind in ('bearer', 'basic'))
);

create index integration_secrets_org_created_idx on integration_secrets (org_id, created_at, id);
