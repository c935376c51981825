//! Integration secrets at rest: the master key and the cipher that seals a secret's JSON
//! payload with XChaCha20-Poly1305.
//!
//! A sealed payload is `version (1 byte) ‖ nonce (24 random bytes) ‖ ciphertext ‖ tag`. The
//! organization id and the secret's identifier are bound as associated data, so a ciphertext
//! copied to another row (another organization, another identifier) does not open. Nothing
//! here does IO: reading or writing the key file is the server's business.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::Value;
use std::fmt;

use crate::ids::OrgId;

/// An integration secret's id: a UUID, as Telnyx gives them.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SecretId(String);

impl SecretId {
    /// A new random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Wraps an id read from storage or from a request path.
    pub fn from_string(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Length of a master key, in bytes.
pub const MASTER_KEY_LEN: usize = 32;
/// Format version written as the first byte of every sealed payload.
const FORMAT_VERSION: u8 = 1;
/// Length of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// Domain separation for the associated data.
const AAD_LABEL: &[u8] = b"parley/integration-secret/v1";

/// The 32-byte key every integration secret is encrypted with. Its `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Why a master key could not be read. Never carries the text that was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 64 hexadecimal characters or the base64 encoding of 32 bytes")]
pub struct InvalidMasterKey;

impl MasterKey {
    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads a key written as 64 hexadecimal characters or as base64 (standard or URL-safe,
    /// padded or not) of 32 bytes. Surrounding white space is ignored.
    pub fn parse(text: &str) -> Result<Self, InvalidMasterKey> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine;
        let text = text.trim();
        let bytes =
            if text.len() == 2 * MASTER_KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text).map_err(|_| InvalidMasterKey)?
            } else {
                [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                    .iter()
                    .find_map(|engine| engine.decode(text).ok())
                    .ok_or(InvalidMasterKey)?
            };
        let bytes: [u8; MASTER_KEY_LEN] = bytes.try_into().map_err(|_| InvalidMasterKey)?;
        Ok(Self(bytes))
    }

    /// The key as 64 lowercase hexadecimal characters (what the key file holds).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Why a payload could not be sealed or opened. Never carries the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The sealed bytes are too short or of an unknown format version.
    #[error("sealed secret is malformed")]
    Malformed,
    /// Authentication failed: another master key, a tampered ciphertext, or a ciphertext
    /// moved to another organization or identifier.
    #[error("sealed secret does not open with this master key (wrong key, or tampered or moved)")]
    Open,
    /// Encryption failed (not expected with valid inputs).
    #[error("sealing the secret failed")]
    Seal,
    /// The opened payload is not the JSON that was sealed.
    #[error("opened secret is not valid JSON")]
    Payload,
}

/// Seals and opens secret payloads with one [`MasterKey`]. Its `Debug` prints no key.
#[derive(Clone)]
pub struct SecretCipher {
    aead: XChaCha20Poly1305,
    /// Key of [`SecretCipher::keyed_digest`], derived from the master key.
    digest_key: [u8; 32],
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCipher(***)")
    }
}

/// The associated data of a secret: a label, then the organization id and the identifier,
/// each length-prefixed so that no two pairs encode alike.
fn associated_data(org: &OrgId, identifier: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 8 + org.as_str().len() + identifier.len());
    aad.extend_from_slice(AAD_LABEL);
    for part in [org.as_str(), identifier] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

impl SecretCipher {
    /// A cipher using `key`.
    pub fn new(key: &MasterKey) -> Self {
        use sha2::Digest;
        let digest_key = sha2::Sha256::new()
            .chain_update(b"parley/keyed-digest/v1\0")
            .chain_update(key.0)
            .finalize()
            .into();
        Self {
            aead: XChaCha20Poly1305::new(Key::from_slice(&key.0)),
            digest_key,
        }
    }

    /// HMAC-SHA256, under a key derived from the master key, of `parts` (each
    /// length-prefixed), as lowercase hex. For fingerprints of requests that may carry secret
    /// values (idempotency keys): an unkeyed hash of a weak secret could be guessed offline.
    pub fn keyed_digest(&self, parts: &[&[u8]]) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.digest_key)
            .expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Encrypts `payload` (serialized as JSON) with a fresh random nonce, bound to `org` and
    /// `identifier`.
    pub fn seal(
        &self,
        org: &OrgId,
        identifier: &str,
        payload: &Value,
    ) -> Result<Vec<u8>, CipherError> {
        let plain = serde_json::to_vec(payload).map_err(|_| CipherError::Seal)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(org, identifier);
        let ciphertext = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Seal)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts what [`SecretCipher::seal`] produced for the same `org` and `identifier`.
    pub fn open(&self, org: &OrgId, identifier: &str, sealed: &[u8]) -> Result<Value, CipherError> {
        let (&version, rest) = sealed.split_first().ok_or(CipherError::Malformed)?;
        // A Poly1305 tag is 16 bytes: anything shorter than nonce + tag cannot be ours.
        if version != FORMAT_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(CipherError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = associated_data(org, identifier);
        let plain = self
            .aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Open)?;
        serde_json::from_slice(&plain).map_err(|_| CipherError::Payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cipher() -> SecretCipher {
        SecretCipher::new(&MasterKey::generate())
    }

    fn org(name: &str) -> OrgId {
        OrgId::from_string(name)
    }

    #[test]
    fn keyed_digests_depend_on_the_key_and_on_part_boundaries() {
        let a = SecretCipher::new(&MasterKey::generate());
        let b = SecretCipher::new(&MasterKey::generate());
        assert_eq!(a.keyed_digest(&[b"x", b"y"]), a.keyed_digest(&[b"x", b"y"]));
        assert_ne!(a.keyed_digest(&[b"x", b"y"]), b.keyed_digest(&[b"x", b"y"]));
        assert_ne!(a.keyed_digest(&[b"xy", b""]), a.keyed_digest(&[b"x", b"y"]));
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_value() {
        let c = cipher();
        let payload = json!({"type": "bearer", "token": "tok-very-secret-123"});
        let sealed = c.seal(&org("o1"), "stripe", &payload).unwrap();
        assert_eq!(sealed[0], FORMAT_VERSION);
        let needle = b"tok-very-secret-123";
        assert!(!sealed.windows(needle.len()).any(|w| w == needle));
        assert_eq!(c.open(&org("o1"), "stripe", &sealed).unwrap(), payload);
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let c = cipher();
        let payload = json!({"token": "same"});
        let a = c.seal(&org("o1"), "x", &payload).unwrap();
        let b = c.seal(&org("o1"), "x", &payload).unwrap();
        assert_ne!(a, b);
        assert_ne!(a[1..=NONCE_LEN], b[1..=NONCE_LEN]);
    }

    #[test]
    fn tampering_with_any_byte_is_refused() {
        let c = cipher();
        let sealed = c.seal(&org("o1"), "x", &json!({"token": "t"})).unwrap();
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                c.open(&org("o1"), "x", &bad),
                Err(CipherError::Open),
                "byte {i}"
            );
        }
        let mut bad_version = sealed.clone();
        bad_version[0] = 9;
        assert_eq!(
            c.open(&org("o1"), "x", &bad_version),
            Err(CipherError::Malformed)
        );
        assert_eq!(
            c.open(&org("o1"), "x", &sealed[..10]),
            Err(CipherError::Malformed)
        );
        assert_eq!(c.open(&org("o1"), "x", &[]), Err(CipherError::Malformed));
    }

    #[test]
    fn a_ciphertext_cannot_move_to_another_organization_or_identifier() {
        let c = cipher();
        let sealed = c.seal(&org("o1"), "x", &json!({"token": "t"})).unwrap();
        assert_eq!(c.open(&org("o2"), "x", &sealed), Err(CipherError::Open));
        assert_eq!(c.open(&org("o1"), "y", &sealed), Err(CipherError::Open));
        // Length prefixes keep ("o1", "x") apart from ("o1x", "") and the like.
        let joined = c.seal(&org("ab"), "c", &json!(1)).unwrap();
        assert_eq!(c.open(&org("a"), "bc", &joined), Err(CipherError::Open));
    }

    #[test]
    fn another_master_key_cannot_open() {
        let sealed = cipher()
            .seal(&org("o1"), "x", &json!({"token": "t"}))
            .unwrap();
        assert_eq!(
            cipher().open(&org("o1"), "x", &sealed),
            Err(CipherError::Open)
        );
    }

    #[test]
    fn master_keys_parse_from_hex_and_base64_only_when_32_bytes() {
        let key = MasterKey::generate();
        assert_eq!(MasterKey::parse(&key.to_hex()).unwrap(), key);
        assert_eq!(
            MasterKey::parse(&format!("  {}\n", key.to_hex().to_uppercase())).unwrap(),
            key
        );
        use base64::Engine;
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            assert_eq!(MasterKey::parse(&engine.encode(key.0)).unwrap(), key);
        }
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        for bad in [
            "",
            "zz",
            &"g".repeat(64),
            &"ab".repeat(31),
            &short,
            "not a key!",
        ] {
            assert_eq!(MasterKey::parse(bad), Err(InvalidMasterKey), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let key = MasterKey::from_bytes([0xab; MASTER_KEY_LEN]);
        let shown = format!("{key:?} {:?}", SecretCipher::new(&key));
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
        assert!(shown.contains("***"));
        assert!(!InvalidMasterKey.to_string().contains("ab"));
    }
}
