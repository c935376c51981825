//! Streams that walk every page of a list, as the official SDKs' auto-pagination does.
//!
//! - `{data, meta}` pages: stop when `data` is empty or `meta.page_number >=
//!   meta.total_pages` (or when there is no `meta`); otherwise ask for
//!   `meta.page_number + 1`, repeating the other query parameters.
//! - Bare-array pages (MCP servers): ask for the next page until one is empty.

use crate::error::Result;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use parley_types::Meta;
use std::future::Future;

/// Every item of every page, fetched lazily, one page at a time. `fetch(page)` returns the
/// page's items and the next page to ask for, if any.
pub(crate) fn paginate<T, F, Fut>(first_page: u32, fetch: F) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    F: FnMut(u32) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<T>, Option<u32>)>> + Send + 'static,
{
    stream::try_unfold((Some(first_page), fetch), |(page, mut fetch)| async move {
        let Some(page) = page else {
            return Ok(None);
        };
        let (items, next) = fetch(page).await?;
        Ok(Some((items, (next, fetch))))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

/// The page after a `{data, meta}` page, if there is one.
pub(crate) fn next_page(items: usize, meta: Option<&Meta>) -> Option<u32> {
    let meta = meta?;
    (items > 0 && meta.page_number < meta.total_pages).then(|| meta.page_number + 1)
}

/// The page after a bare-array page `page`, if there may be one.
pub(crate) fn next_bare_page(items: usize, page: u32) -> Option<u32> {
    (items > 0).then(|| page + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stop_on_the_last_page_an_empty_page_or_no_meta() {
        let meta = |page_number, total_pages| Meta {
            page_number,
            page_size: 2,
            total_pages,
            total_results: 5,
        };
        assert_eq!(next_page(2, Some(&meta(1, 3))), Some(2));
        assert_eq!(next_page(1, Some(&meta(3, 3))), None);
        assert_eq!(next_page(0, Some(&meta(1, 3))), None);
        assert_eq!(next_page(2, Some(&meta(4, 3))), None);
        assert_eq!(next_page(2, None), None);
        assert_eq!(next_bare_page(3, 1), Some(2));
        assert_eq!(next_bare_page(0, 2), None);
    }

    #[tokio::test]
    async fn the_stream_yields_items_in_order_across_pages_and_stops_on_errors() {
        let pages = [vec![1, 2], vec![3], vec![]];
        let items: Vec<i32> = paginate(1, move |page| {
            let items = pages[page as usize - 1].clone();
            async move {
                let next = next_bare_page(items.len(), page);
                Ok((items, next))
            }
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(items, [1, 2, 3]);

        let mut failing = paginate(1, |page| async move {
            if page == 1 {
                Ok((vec!["a"], Some(2)))
            } else {
                Err(crate::Error::Timeout)
            }
        });
        assert_eq!(failing.next().await.unwrap().unwrap(), "a");
        assert!(matches!(
            failing.next().await,
            Some(Err(crate::Error::Timeout))
        ));
    }
}
