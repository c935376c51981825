//! API keys: generated with a CSPRNG, shown once, stored only as a SHA-256 hash.
//!
//! Keys carry 238 bits of randomness, so a fast unsalted hash is the right tool: there is
//! nothing to brute-force, and lookups by hash stay a single index probe per request.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of the random part of a key.
const RANDOM_LEN: usize = 40;
/// How many leading characters of a key are kept in clear, to tell keys apart in listings.
pub const DISPLAY_PREFIX_LEN: usize = 11;

/// A freshly generated key: the secret (to show once) and what may be stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key itself. Never stored.
    pub secret: String,
    /// SHA-256 of the key, lowercase hex.
    pub hash: String,
    /// The first characters of the key, for listings.
    pub prefix: String,
}

/// Generates a new key (`KEY` followed by 40 random alphanumerics).
pub fn generate() -> NewApiKey {
    let random: String = rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    from_secret(&format!("KEY{random}"))
}

/// Describes a key whose value is given (for `PARLEY_API_KEY`).
pub fn from_secret(secret: &str) -> NewApiKey {
    NewApiKey {
        secret: secret.to_owned(),
        hash: hash(secret),
        prefix: display_prefix(secret),
    }
}

/// SHA-256 of a presented key, lowercase hex.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The part of a key that may be shown in listings.
pub fn display_prefix(secret: &str) -> String {
    secret.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// Compares two hashes in constant time.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_hash_to_their_stored_hash() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("KEY"));
        assert_eq!(a.secret.len(), 3 + RANDOM_LEN);
        assert!(hashes_match(&hash(&a.secret), &a.hash));
        assert!(!hashes_match(&hash(&b.secret), &a.hash));
        assert!(!a.hash.contains(&a.secret));
    }
}
