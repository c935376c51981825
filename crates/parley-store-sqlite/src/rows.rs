//! Row shapes: how columns decode into records. Private to this crate.

use chrono::{DateTime, Utc};
use parley_core::assistant::AssistantConfig;
use parley_core::clock::format_timestamp;
use parley_core::ids::{ApiKeyId, AssistantId, OrgId, VersionId};
use parley_store::{ApiKeyInfo, AssistantRecord, StoreError, StoreResult, VersionRecord};
use rusqlite::Row;

/// Columns read by [`read_assistant`], for `assistants a join assistant_versions v`.
pub const ASSISTANT_COLUMNS: &str = "a.id, a.created_at, a.deleted_at, a.tags, a.import_metadata, \
     v.id, v.name, v.created_at, v.config";

/// Select of everything [`read_api_key`] reads, aliased `k`.
pub const API_KEY_SELECT: &str =
    "select k.id, k.org_id, o.name, k.prefix, k.created_at, k.revoked_at \
     from api_keys k join organizations o on o.id = k.org_id";

/// Maps a driver error.
pub fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A timestamp as stored.
pub fn ts(at: &DateTime<Utc>) -> String {
    format_timestamp(at)
}

/// Parses a stored timestamp.
pub fn parse_ts(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

/// Parses a stored configuration document.
pub fn read_config(text: &str) -> StoreResult<AssistantConfig> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(AssistantConfig::from_stored(map)),
        Ok(_) => Err(StoreError::Corrupt(
            "assistant config is not an object".into(),
        )),
        Err(e) => Err(StoreError::Corrupt(format!("assistant config: {e}"))),
    }
}

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn ts_col(row: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(&row.get::<_, String>(i)?).map_err(conversion)
}

fn opt_ts_col(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(i)?
        .map(|t| parse_ts(&t).map_err(conversion))
        .transpose()
}

/// Decodes a row of [`ASSISTANT_COLUMNS`].
pub fn read_assistant(row: &Row<'_>) -> rusqlite::Result<AssistantRecord> {
    let tags: Vec<String> = serde_json::from_str(&row.get::<_, String>(3)?).map_err(conversion)?;
    let import_metadata = row
        .get::<_, Option<String>>(4)?
        .map(|t| serde_json::from_str(&t).map_err(conversion))
        .transpose()?;
    Ok(AssistantRecord {
        id: AssistantId::from_string(row.get::<_, String>(0)?),
        created_at: ts_col(row, 1)?,
        deleted_at: opt_ts_col(row, 2)?,
        tags,
        import_metadata,
        version: VersionRecord {
            id: VersionId::from_string(row.get::<_, String>(5)?),
            name: row.get(6)?,
            created_at: ts_col(row, 7)?,
            config: read_config(&row.get::<_, String>(8)?).map_err(conversion)?,
        },
    })
}

/// Decodes a row of [`API_KEY_SELECT`].
pub fn read_api_key(row: &Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: ApiKeyId::from_string(row.get::<_, String>(0)?),
        org_id: OrgId::from_string(row.get::<_, String>(1)?),
        org_name: row.get(2)?,
        prefix: row.get(3)?,
        created_at: ts_col(row, 4)?,
        revoked_at: opt_ts_col(row, 5)?,
    })
}
