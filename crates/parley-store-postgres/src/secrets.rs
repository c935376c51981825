//! [`parley_store::SecretStore`] on PostgreSQL.

use crate::{
    begin, corrupt, count_from_row, db, execute, query, read_snapshot, to_i64, PostgresStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::secrets::SecretId;
use parley_store::{
    CreateSecretOutcome, NewSecretRecord, PageRequest, SealedSecret, SecretKind, SecretRecord,
    SecretStore, StoreError, StoreResult,
};
use std::collections::BTreeSet;
use tokio_postgres::Row;

/// Columns read by [`secret_from_row`].
const SECRET_COLUMNS: &str = "id, identifier, kind, created_at, updated_at";

/// Reads a row of [`SECRET_COLUMNS`].
fn secret_from_row(row: &Row) -> StoreResult<SecretRecord> {
    let kind: String = row.try_get(2).map_err(corrupt)?;
    Ok(SecretRecord {
        id: SecretId::from_string(row.try_get::<_, String>(0).map_err(corrupt)?),
        identifier: row.try_get(1).map_err(corrupt)?,
        kind: SecretKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("secret kind {kind:?}")))?,
        created_at: row.try_get(3).map_err(corrupt)?,
        updated_at: row.try_get(4).map_err(corrupt)?,
    })
}

#[async_trait]
impl SecretStore for PostgresStore {
    async fn create_secret(
        &self,
        org: &OrgId,
        new: NewSecretRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateSecretOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let inserted = execute(
            &tx,
            "insert into integration_secrets \
             (id, org_id, identifier, kind, sealed, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $6) \
             on conflict on constraint integration_secrets_org_identifier_unique do nothing",
            &[
                &new.id.as_str(),
                &org.as_str(),
                &new.identifier,
                &new.kind.as_str(),
                &new.sealed,
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
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
    }

    async fn list_secrets(
        &self,
        org: &OrgId,
        kind: Option<SecretKind>,
        page: PageRequest,
    ) -> StoreResult<(Vec<SecretRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let kind = kind.map(SecretKind::as_str);
        let offset = to_i64(page.offset);
        let limit = page.limit.map(to_i64);
        let rows = query(
            &tx,
            &format!(
                "select {SECRET_COLUMNS} from integration_secrets \
                 where org_id = $1 and ($2::text is null or kind = $2) \
                 order by created_at, id offset $3 limit $4"
            ),
            &[&org.as_str(), &kind, &offset, &limit],
        )
        .await?;
        let records = rows
            .iter()
            .map(secret_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let total = query(
            &tx,
            "select count(*) from integration_secrets \
             where org_id = $1 and ($2::text is null or kind = $2)",
            &[&org.as_str(), &kind],
        )
        .await?;
        let total = total.first().map(count_from_row).transpose()?.unwrap_or(0);
        tx.commit().await.map_err(db)?;
        Ok((records, total))
    }

    async fn delete_secret(&self, org: &OrgId, id: &SecretId) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = execute(
            &tx,
            "delete from integration_secrets where org_id = $1 and id = $2",
            &[&org.as_str(), &id.as_str()],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }

    async fn get_secret_by_identifier(
        &self,
        org: &OrgId,
        identifier: &str,
    ) -> StoreResult<Option<SealedSecret>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "select {SECRET_COLUMNS}, sealed from integration_secrets \
                 where org_id = $1 and identifier = $2"
            ))
            .await
            .map_err(db)?;
        let row = client
            .query_opt(&statement, &[&org.as_str(), &identifier])
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(SealedSecret {
                record: secret_from_row(&row)?,
                sealed: row.try_get(5).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn existing_secret_identifiers(
        &self,
        org: &OrgId,
        identifiers: &[String],
    ) -> StoreResult<BTreeSet<String>> {
        if identifiers.is_empty() {
            return Ok(BTreeSet::new());
        }
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "select identifier from integration_secrets \
                 where org_id = $1 and identifier = any($2)",
            )
            .await
            .map_err(db)?;
        let rows = client
            .query(&statement, &[&org.as_str(), &identifiers])
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(corrupt))
            .collect()
    }
}
