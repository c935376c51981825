//! Versions of an assistant and its canary deploy.

use crate::{AssistantRecord, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::assistant::AssistantUpdate;
use parley_core::canary::CanaryRules;
use parley_core::ids::{AssistantId, OrgId, VersionId};

/// An assistant's canary deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRecord {
    /// The assistant it routes.
    pub assistant_id: AssistantId,
    /// Its rules.
    pub rules: CanaryRules,
    /// When it was first created.
    pub created_at: DateTime<Utc>,
    /// When its rules were last replaced.
    pub updated_at: DateTime<Utc>,
}

/// What editing or deleting one version did.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionChange {
    /// Done; for an edit, the assistant showing the edited version.
    Done(Option<Box<AssistantRecord>>),
    /// No such assistant, or no such version of it.
    NotFound,
    /// Refused: the version is main.
    IsMain,
    /// Refused: the canary deploy serves this version.
    ServedByCanary,
}

/// What saving a canary deploy did.
#[derive(Debug, Clone, PartialEq)]
pub enum CanaryChange {
    /// Saved.
    Saved(CanaryRecord),
    /// No such assistant.
    AssistantNotFound,
    /// These version ids are not versions of the assistant.
    UnknownVersions(Vec<String>),
}

/// Versions and canary deploys. Every method is scoped to an organization and an assistant
/// that is not deleted.
#[async_trait]
pub trait VersionStore: Send + Sync + 'static {
    /// Every version of an assistant, newest first, each shown as the assistant with that
    /// version; `None` when there is no such assistant.
    async fn list_versions(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<Vec<AssistantRecord>>>;

    /// One version of an assistant.
    async fn get_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<Option<AssistantRecord>>;

    /// Edits a version that is not main in place (tags and `promote_to_main` do not apply).
    async fn edit_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
        update: &AssistantUpdate,
    ) -> StoreResult<VersionChange>;

    /// Deletes a version that is neither main nor served by the canary deploy.
    async fn delete_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<VersionChange>;

    /// Makes a version main and removes the canary deploy; returns the assistant.
    async fn promote_version(
        &self,
        org: &OrgId,
        id: &AssistantId,
        version: &VersionId,
    ) -> StoreResult<Option<AssistantRecord>>;

    /// The canary deploy; `None` when there is no such assistant, `Some(None)` when it has
    /// no canary deploy.
    async fn get_canary(
        &self,
        org: &OrgId,
        id: &AssistantId,
    ) -> StoreResult<Option<Option<CanaryRecord>>>;

    /// Creates or replaces the canary deploy, checking that every version it serves is a
    /// version of the assistant.
    async fn save_canary(
        &self,
        org: &OrgId,
        id: &AssistantId,
        rules: &CanaryRules,
        now: DateTime<Utc>,
    ) -> StoreResult<CanaryChange>;

    /// Removes the canary deploy; `None` when there is no such assistant, `Some(false)` when
    /// there was no canary deploy.
    async fn delete_canary(&self, org: &OrgId, id: &AssistantId) -> StoreResult<Option<bool>>;
}
