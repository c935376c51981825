-- Assistant tests and their runs. A run keeps a snapshot of its test (`test_snapshot`, the
-- create body as JSON) as it was when triggered, and its suite name (`test_suite`) at that
-- time. `detail_status` is a JSON array of `{name, status}`, one per rubric item.
create table assistant_tests (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    name text not null,
    description text,
    destination text not null,
    instructions text not null,
    rubric text not null,
    channel text not null,
    max_duration_seconds integer,
    test_suite text,
    created_at text not null,
    updated_at text not null,
    constraint assistant_tests_pk primary key (id),
    constraint assistant_tests_rubric_array check (json_type(rubric) = 'array')
);

create index assistant_tests_org_created_idx on assistant_tests (org_id, created_at, id);
create index assistant_tests_org_suite_idx on assistant_tests (org_id, test_suite);

create table test_runs (
    id text not null,
    org_id text not null references organizations (id) on delete cascade,
    test_id text not null references assistant_tests (id) on delete cascade,
    status text not null,
    triggered_by text not null,
    test_suite text,
    test_suite_run_id text,
    destination_version_id text,
    test_snapshot text not null,
    conversation_id text,
    logs text,
    detail_status text not null,
    created_at text not null,
    updated_at text not null,
    started_at text,
    completed_at text,
    constraint test_runs_pk primary key (id),
    constraint test_runs_status_known check (status in ('pending', 'starting', 'running', 'passed', 'failed', 'error')),
    constraint test_runs_detail_status_array check (json_type(detail_status) = 'array')
);

create index test_runs_test_created_idx on test_runs (test_id, created_at desc, id);
create index test_runs_org_suite_created_idx on test_runs (org_id, test_suite, created_at desc, id);
