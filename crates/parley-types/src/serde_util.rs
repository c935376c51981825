//! Lenient decoding helpers shared by the response types.

use serde::{Deserialize, Deserializer};

/// Decodes `null` (as well as an absent field, with `#[serde(default)]`) as `T::default()`:
/// Telnyx sometimes sends `null` for an empty list.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
