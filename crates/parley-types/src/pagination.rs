//! Pagination shapes: `{data, meta}` pages, plain `{data}` lists and objects, and the
//! `page[number]`/`page[size]` query parameters.

use serde::{Deserialize, Serialize};

/// Page metadata. `page_number` always echoes the page served, which the official SDKs
/// rely on to stop auto-pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The 1-based page that was served.
    pub page_number: u32,
    /// The page size that was applied.
    pub page_size: u32,
    /// Number of pages for this page size (0 when there are no results).
    pub total_pages: u32,
    /// Number of results across all pages.
    pub total_results: u64,
}

impl Meta {
    /// Metadata for page `page_number` of size `page_size` over `total_results` items.
    pub fn new(page_number: u32, page_size: u32, total_results: u64) -> Self {
        let size = u64::from(page_size.max(1));
        let total_pages = u32::try_from(total_results.div_ceil(size)).unwrap_or(u32::MAX);
        Self {
            page_number,
            page_size,
            total_pages,
            total_results,
        }
    }
}

/// A paginated list: `{"data": [...], "meta": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Where this page sits in the whole list.
    pub meta: Meta,
}

/// A list wrapped in `{"data": [...]}`, as the non-paginated Telnyx lists are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataList<T> {
    /// The items.
    pub data: Vec<T>,
}

/// A single object wrapped in `{"data": {...}}`, as integration secrets and connections are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data<T> {
    /// The object.
    pub data: T,
}

/// The pagination query parameters: `page[number]` (1-based) and `page[size]`. Unset
/// parameters are not sent, so the server's defaults apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageParams {
    /// The 1-based page to fetch.
    #[serde(
        rename = "page[number]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_number: Option<u32>,
    /// Items per page (Telnyx allows 1 to 100).
    #[serde(
        rename = "page[size]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::Meta;

    #[test]
    fn total_pages_rounds_up_and_is_zero_when_empty() {
        assert_eq!(Meta::new(1, 20, 0).total_pages, 0);
        assert_eq!(Meta::new(1, 20, 20).total_pages, 1);
        assert_eq!(Meta::new(2, 20, 21).total_pages, 2);
        assert_eq!(Meta::new(1, 1, 3).total_pages, 3);
    }
}
