-- The durable job queue: background work with a due time and a lease. `(kind, key)` names
-- the work (a scheduled event, a test run), so the same work is queued once. A job is
-- claimable when it is due and no lease holds it (none, or one that ran out).
create table jobs (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    kind text not null,
    key text not null,
    payload text not null,
    due_at text not null,
    attempts integer not null default 0,
    lease_owner text,
    lease_expires_at text,
    last_error text,
    created_at text not null,
    constraint jobs_pk primary key (id),
    constraint jobs_kind_key_unique unique (kind, key)
);

create index jobs_due_idx on jobs (due_at);
