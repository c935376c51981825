//! [`parley_store::SecretStore`] on Sqlite.

use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::secrets::SecretId;
use parley_store::{
    CreateSecretOutcome, NewSecretRecord, PageRequest, SealedSecret, SecretKind, SecretRecord,
    SecretStore, StoreError, StoreResult,
};
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use std::collections::BTreeSet;

/// Columns read by [`read_secret`].
const SECRET_COLUMNS: &str = "id, identifier, kind, created_at, updated_at";

/// A decoding failure, as the driver's error type so it can leave a row-mapping closure.
fn corrupt(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

/// Decodes a row of [`SECRET_COLUMNS`].
fn read_secret(row: &Row<'_>) -> rusqlite::Result<SecretRecord> {
    let kind: String = row.get(2)?;
    Ok(SecretRecord {
        id: SecretId::from_string(row.get::<_, String>(0)?),
        identifier: row.get(1)?,
        kind: SecretKind::parse(&kind)
            .ok_or_else(|| corrupt(StoreError::Corrupt(format!("secret kind {kind:?}"))))?,
        created_at: parse_ts(&row.get::<_, String>(3)?).map_err(corrupt)?,
        updated_at: parse_ts(&row.get::<_, String>(4)?).map_err(corrupt)?,
    })
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn create_secret(
        &self,
        org: &OrgId,
        new: NewSecretRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateSecretOutcome> {
        let org = org.clone();
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(
                    "insert into integration_secrets \
                     (id, org_id, identifier, kind, sealed, created_at, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                     on conflict (org_id, identifier) do nothing",
                )
                .map_err(db_err)?
                .execute(params![
                    new.id.as_str(),
                    org.as_str(),
                    new.identifier,
                    new.kind.as_str(),
                    new.sealed,
                    ts(&now)
                ])
                .map_err(db_err)?;
            if inserted == 0 {
                return Ok(CreateSecretOutcome::DuplicateIdentifier);
            }
            Ok(CreateSecretOutcome::Created(SecretRecord {
                id: new.id,
                identifier: new.identifier,
                kind: new.kind,
                created_at: now,
                updated_at: now,
            }))
        })
        .await
    }

    async fn list_secrets(
        &self,
        org: &OrgId,
        kind: Option<SecretKind>,
        page: PageRequest,
    ) -> StoreResult<(Vec<SecretRecord>, u64)> {
        let org = org.clone();
        self.read(move |c| {
            let kind = kind.map(SecretKind::as_str);
            let total: i64 = c
                .prepare_cached(
                    "select count(*) from integration_secrets \
                     where org_id = ?1 and (?2 is null or kind = ?2)",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), kind], |r| r.get(0))
                .map_err(db_err)?;
            let limit = page
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
            let mut stmt = c
                .prepare_cached(&format!(
                    "select {SECRET_COLUMNS} from integration_secrets \
                     where org_id = ?1 and (?2 is null or kind = ?2) \
                     order by created_at, id limit ?3 offset ?4"
                ))
                .map_err(db_err)?;
            let records = stmt
                .query_map(params![org.as_str(), kind, limit, offset], read_secret)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok((records, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn delete_secret(&self, org: &OrgId, id: &SecretId) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.clone());
        self.write(move |tx| {
            let n = tx
                .prepare_cached("delete from integration_secrets where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), id.as_str()])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn get_secret_by_identifier(
        &self,
        org: &OrgId,
        identifier: &str,
    ) -> StoreResult<Option<SealedSecret>> {
        let (org, identifier) = (org.clone(), identifier.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {SECRET_COLUMNS}, sealed from integration_secrets \
                     where org_id = ?1 and identifier = ?2"
            ))
            .map_err(db_err)?
            .query_row(params![org.as_str(), identifier], |r| {
                Ok(SealedSecret {
                    record: read_secret(r)?,
                    sealed: r.get(5)?,
                })
            })
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn existing_secret_identifiers(
        &self,
        org: &OrgId,
        identifiers: &[String],
    ) -> StoreResult<BTreeSet<String>> {
        if identifiers.is_empty() {
            return Ok(BTreeSet::new());
        }
        let org = org.clone();
        let wanted: Vec<String> = identifiers
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.read(move |c| {
            let mut found = BTreeSet::new();
            // Stay well under SQLite's limit on bound parameters.
            for chunk in wanted.chunks(500) {
                let marks = (0..chunk.len())
                    .map(|i| format!("?{}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "select identifier from integration_secrets \
                     where org_id = ?1 and identifier in ({marks})"
                );
                let mut stmt = c.prepare(&sql).map_err(db_err)?;
                let values = std::iter::once(org.as_str()).chain(chunk.iter().map(String::as_str));
                let rows = stmt
                    .query_map(params_from_iter(values), |r| r.get::<_, String>(0))
                    .map_err(db_err)?;
                for row in rows {
                    found.insert(row.map_err(db_err)?);
                }
            }
            Ok(found)
        })
        .await
    }
}
