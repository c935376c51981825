-- Knowledge bases. Buckets and their objects (the S3-compatible API: object bytes live in the
-- server's object store, `blob` names them), multipart uploads, embedding tasks, and the
-- embedded files and chunks of a bucket. A bucket is embedded when `embedding_model` is set;
-- `vectors_version` grows with every change to its chunks. Vectors are little-endian f32s.
create table buckets (
    org_id text not null references organizations (id) on delete cascade,
    name text not null,
    created_at text not null,
    embedding_model text,
    embedding_params text,
    embedded_at text,
    vectors_version integer not null default 0,
    constraint buckets_pk primary key (org_id, name)
);

create table bucket_objects (
    org_id text not null,
    bucket text not null,
    key text not null,
    blob text not null,
    size integer not null,
    etag text not null,
    sha256 text not null,
    content_type text,
    metadata text not null,
    updated_at text not null,
    constraint bucket_objects_pk primary key (org_id, bucket, key),
    constraint bucket_objects_bucket_fk foreign key (org_id, bucket)
        references buckets (org_id, name) on delete cascade
);

create table multipart_uploads (
    org_id text not null,
    bucket text not null,
    id text not null,
    key text not null,
    content_type text,
    metadata text not null,
    created_at text not null,
    constraint multipart_uploads_pk primary key (org_id, bucket, id),
    constraint multipart_uploads_bucket_fk foreign key (org_id, bucket)
        references buckets (org_id, name) on delete cascade
);

create table embedding_tasks (
    org_id text not null references organizations (id) on delete cascade,
    id text not null,
    bucket text not null,
    task_name text not null,
    status text not null,
    payload text not null,
    error text,
    created_at text not null,
    finished_at text,
    constraint embedding_tasks_pk primary key (org_id, id)
);

create index embedding_tasks_org_created_idx on embedding_tasks (org_id, created_at);

create table embedded_files (
    org_id text not null,
    bucket text not null,
    filename text not null,
    checksum text not null,
    fingerprint text not null,
    source text not null,
    status text not null,
    error_reason text,
    chunks integer not null default 0,
    created_at text not null,
    updated_at text not null,
    last_embedded_at text,
    constraint embedded_files_pk primary key (org_id, bucket, filename),
    constraint embedded_files_bucket_fk foreign key (org_id, bucket)
        references buckets (org_id, name) on delete cascade
);

create table embedding_chunks (
    id integer primary key autoincrement,
    org_id text not null,
    bucket text not null,
    filename text not null,
    seq integer not null,
    text text not null,
    vector blob not null,
    model text not null,
    metadata text not null,
    constraint embedding_chunks_file_fk foreign key (org_id, bucket, filename)
        references embedded_files (org_id, bucket, filename) on delete cascade
);

create index embedding_chunks_file_idx on embedding_chunks (org_id, bucket, filename);
