//! Typed identifiers. Every id is an opaque string on the wire; the newtypes keep an
//! assistant id from being passed where an organization id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id with this kind's prefix.
            pub fn generate() -> Self {
                Self(format!(concat!($prefix, "{}"), uuid::Uuid::new_v4()))
            }

            /// Wraps an id read from storage or from a request path.
            pub fn from_string(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// An organization: the unit of tenancy. Every row belongs to exactly one.
    OrgId,
    "org-"
);
string_id!(
    /// An API key's id (not the key itself, which is never stored).
    ApiKeyId,
    "key-"
);
string_id!(
    /// An assistant: a head that points at its main version.
    AssistantId,
    "assistant-"
);
string_id!(
    /// One immutable snapshot of an assistant's configuration.
    VersionId,
    "version-"
);
string_id!(
    /// A job of the durable job queue.
    JobId,
    "job-"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_differ() {
        let a = AssistantId::generate();
        let b = AssistantId::generate();
        assert!(a.as_str().starts_with("assistant-"));
        assert_ne!(a, b);
        assert!(OrgId::generate().as_str().starts_with("org-"));
    }
}
