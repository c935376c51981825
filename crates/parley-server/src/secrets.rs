//! Integration secrets for the rest of the server: the master key at start-up, resolving an
//! identifier to its value, and checking that `*_ref` fields name existing secrets.
//!
//! Values are sealed with [`SecretCipher`] (XChaCha20-Poly1305 under the master key, bound
//! to the organization and the identifier) before they reach the store, and opened only by
//! [`resolve_secret`]. Nothing here logs or formats a value: [`SecretValue`]'s `Debug`
//! prints `***`, and every error names the identifier, never the value.

use crate::error::ApiError;
use crate::settings::Settings;
use crate::state::AppState;
use anyhow::Context;
use parley_core::ids::OrgId;
use parley_core::secrets::{MasterKey, SecretCipher};
use parley_core::{FieldError, ValidationErrors};
use parley_store::SecretKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// File in the data directory holding the master key generated at first start (mode 0600),
/// used when `PARLEY_MASTER_KEY` is not set.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The value of an integration secret. Its `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretValue {
    /// A bearer token.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic credentials.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer { .. } => f.write_str("SecretValue::Bearer(***)"),
            Self::Basic { .. } => f.write_str("SecretValue::Basic(***)"),
        }
    }
}

/// The sealed JSON form of a [`SecretValue`]: `{"type": "bearer", "token": …}` or
/// `{"type": "basic", "username": …, "password": …}`. Private, so that nothing can put a
/// value into a response by serializing it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Payload {
    Bearer { token: String },
    Basic { username: String, password: String },
}

impl SecretValue {
    /// Bearer or basic.
    pub fn kind(&self) -> SecretKind {
        match self {
            Self::Bearer { .. } => SecretKind::Bearer,
            Self::Basic { .. } => SecretKind::Basic,
        }
    }

    /// The value of an HTTP `Authorization` header carrying this secret: `Bearer <token>`, or
    /// `Basic <base64 of username:password>`. The result is the secret: never log it.
    pub fn authorization(&self) -> String {
        use base64::Engine;
        match self {
            Self::Bearer { token } => format!("Bearer {token}"),
            Self::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
        }
    }

    /// The JSON that is sealed.
    fn to_payload(&self) -> Value {
        let payload = match self.clone() {
            Self::Bearer { token } => Payload::Bearer { token },
            Self::Basic { username, password } => Payload::Basic { username, password },
        };
        serde_json::to_value(payload).unwrap_or(Value::Null)
    }

    /// Reads an opened payload.
    fn from_payload(payload: Value) -> Option<Self> {
        Some(match serde_json::from_value(payload).ok()? {
            Payload::Bearer { token } => Self::Bearer { token },
            Payload::Basic { username, password } => Self::Basic { username, password },
        })
    }

    /// Seals this value for the secret `identifier` of `org`.
    pub fn seal(
        &self,
        cipher: &SecretCipher,
        org: &OrgId,
        identifier: &str,
    ) -> Result<Vec<u8>, ApiError> {
        cipher
            .seal(org, identifier, &self.to_payload())
            .map_err(|e| {
                ApiError::Internal(format!("sealing integration secret {identifier:?}: {e}"))
            })
    }
}

/// The value of the integration secret `identifier` of `org`, or `None` when the
/// organization has no such secret. A secret that does not open (another master key, a
/// tampered row) is an internal error, logged without its value.
pub async fn resolve_secret(
    state: &AppState,
    org: &OrgId,
    identifier: &str,
) -> Result<Option<SecretValue>, ApiError> {
    let Some(secret) = state
        .store
        .get_secret_by_identifier(org, identifier)
        .await?
    else {
        return Ok(None);
    };
    let payload = state
        .cipher
        .open(org, identifier, &secret.sealed)
        .map_err(|e| {
            ApiError::Internal(format!(
                "integration secret {identifier:?} of organization {org} cannot be opened: {e}; \
                 is PARLEY_MASTER_KEY the key it was stored with?"
            ))
        })?;
    match SecretValue::from_payload(payload) {
        Some(value) if value.kind() == secret.record.kind => Ok(Some(value)),
        _ => Err(ApiError::Internal(format!(
            "integration secret {identifier:?} of organization {org} opened to an unexpected shape"
        ))),
    }
}

/// Checks that every `(JSON pointer, identifier)` of `refs` names an integration secret of
/// `org`; otherwise a 422 whose errors point at each ref that names none
/// (`integration secret "<identifier>" not found`).
pub async fn check_refs_exist(
    state: &AppState,
    org: &OrgId,
    refs: &[(String, String)],
) -> Result<(), ApiError> {
    if refs.is_empty() {
        return Ok(());
    }
    let identifiers: Vec<String> = refs.iter().map(|(_, id)| id.clone()).collect();
    let existing = state
        .store
        .existing_secret_identifiers(org, &identifiers)
        .await?;
    let missing: Vec<FieldError> = refs
        .iter()
        .filter(|(_, id)| !existing.contains(id))
        .map(|(pointer, id)| {
            FieldError::invalid(
                pointer.clone(),
                format!("integration secret {id:?} not found"),
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(ValidationErrors(missing)))
    }
}

/// The cipher of this process: `master_key` (`PARLEY_MASTER_KEY`) when set, otherwise the key
/// in `DATA_DIR/master.key`, generated (mode 0600) on first start and reused afterwards.
/// With PostgreSQL and no configured key, warns that every server needs the same key.
pub fn load_cipher(settings: &Settings) -> anyhow::Result<SecretCipher> {
    if let Some(key) = &settings.master_key {
        return Ok(SecretCipher::new(key));
    }
    let path = settings.data_dir.join(MASTER_KEY_FILE);
    let key = read_or_create_key_file(&settings.data_dir, &path)?;
    let postgres = settings
        .database_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres"));
    if postgres {
        tracing::warn!(
            path = %path.display(),
            "PARLEY_MASTER_KEY is not set: integration secrets are encrypted with this node's \
             key file; every server sharing the PostgreSQL database needs the same key \
             (set PARLEY_MASTER_KEY on each of them)"
        );
    }
    Ok(SecretCipher::new(&key))
}

fn read_or_create_key_file(dir: &Path, path: &Path) -> anyhow::Result<MasterKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return MasterKey::parse(&text).with_context(|| {
                format!(
                    "master key file {} (used when master_key / PARLEY_MASTER_KEY is not set)",
                    path.display()
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read master key file {}", path.display()))
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let key = MasterKey::generate();
    match write_new_key_file(path, &key) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the master key for integration secrets");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_or_create_key_file(dir, path)
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot write master key file {}", path.display()))
        }
    }
}

fn write_new_key_file(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.to_hex().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_debug_without_their_contents_and_round_trip_as_payloads() {
        let bearer = SecretValue::Bearer {
            token: "tok-123".into(),
        };
        let basic = SecretValue::Basic {
            username: "alice".into(),
            password: "pw-456".into(),
        };
        let shown = format!("{bearer:?} {basic:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("alice") && !shown.contains("pw-456")
        );
        for value in [bearer.clone(), basic.clone()] {
            assert_eq!(SecretValue::from_payload(value.to_payload()), Some(value));
        }
        assert_eq!(bearer.authorization(), "Bearer tok-123");
        assert_eq!(basic.authorization(), "Basic YWxpY2U6cHctNDU2");
        assert_eq!(
            SecretValue::from_payload(serde_json::json!({"type": "bearer"})),
            None
        );
    }

    #[test]
    fn the_key_file_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let settings = Settings {
            data_dir: data.clone(),
            ..Settings::default()
        };
        let org = OrgId::from_string("org-1");
        let sealed = load_cipher(&settings)
            .unwrap()
            .seal(&org, "x", &serde_json::json!(1))
            .unwrap();
        let path = data.join(MASTER_KEY_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start reads the same key and opens what the first sealed.
        let again = load_cipher(&settings).unwrap();
        assert_eq!(
            again.open(&org, "x", &sealed).unwrap(),
            serde_json::json!(1)
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // A configured key wins over the file.
        let configured = Settings {
            master_key: Some(MasterKey::generate()),
            ..settings.clone()
        };
        assert!(load_cipher(&configured)
            .unwrap()
            .open(&org, "x", &sealed)
            .is_err());

        // A damaged file stops start-up with a message naming it, not its content.
        std::fs::write(&path, "garbage-key-material\n").unwrap();
        let err = format!("{:#}", load_cipher(&settings).unwrap_err());
        assert!(
            err.contains("master.key") && !err.contains("garbage-key-material"),
            "{err}"
        );
    }
}
