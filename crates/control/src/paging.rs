//! Paged lists: `page_num` (from 1) and `page_size` in, `{total_count, page_total, end_page,
//! list}` out, the shape the live-room clients already read.

use crate::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Rows per page when `page_size` is not given.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Larger pages are refused rather than silently cut, so a client never misses rows.
pub const MAX_PAGE_SIZE: usize = 200;

/// The paging parameters of a list endpoint's query string.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page to return, from 1 (default 1).
    pub page_num: Option<usize>,
    /// Rows per page, 1 to 200 (default 20).
    pub page_size: Option<usize>,
}

/// One page of a list, in the shape the live-room clients read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// Rows in the whole list, over all pages.
    pub total_count: usize,
    /// Number of pages of the requested size (0 when there are no rows).
    pub page_total: usize,
    /// True when this is the last page (or there are no rows).
    pub end_page: bool,
    /// The rows of this page.
    pub list: Vec<T>,
}

impl<T> Page<T> {
    /// Page `num` (from 1) of `size` rows, holding `list`, out of `total_count` rows.
    pub fn new(total_count: usize, num: usize, size: usize, list: Vec<T>) -> Self {
        let page_total = total_count.div_ceil(size.max(1));
        Page {
            total_count,
            page_total,
            end_page: num >= page_total,
            list,
        }
    }

    /// The same page with every row turned into `U`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            total_count: self.total_count,
            page_total: self.page_total,
            end_page: self.end_page,
            list: self.list.into_iter().map(f).collect(),
        }
    }

    /// As [`Page::map`], stopping at the first row that fails.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            total_count: self.total_count,
            page_total: self.page_total,
            end_page: self.end_page,
            list: self.list.into_iter().map(f).collect::<Result<_, _>>()?,
        })
    }
}

impl PageQuery {
    /// Checks the numbers; errors say which one is wrong.
    pub fn checked(self) -> Result<(usize, usize), ApiError> {
        let num = self.page_num.unwrap_or(1);
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if num == 0 {
            return Err(ApiError::bad_request("page_num starts at 1"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::bad_request(format!(
                "page_size must be 1 to {MAX_PAGE_SIZE}"
            )));
        }
        Ok((num, size))
    }

    /// The requested page of `rows` (already in their listing order).
    pub fn page<T>(self, rows: Vec<T>) -> Result<Page<T>, ApiError> {
        let (num, size) = self.checked()?;
        let total_count = rows.len();
        let list: Vec<T> = rows
            .into_iter()
            .skip((num - 1).saturating_mul(size))
            .take(size)
            .collect();
        Ok(Page::new(total_count, num, size, list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(num: Option<usize>, size: Option<usize>) -> PageQuery {
        PageQuery {
            page_num: num,
            page_size: size,
        }
    }

    #[test]
    fn pages_split_and_flag_the_end() {
        let rows: Vec<u32> = (0..45).collect();
        let first = query(None, None).page(rows.clone()).unwrap();
        assert_eq!(
            (first.total_count, first.page_total, first.end_page),
            (45, 3, false)
        );
        assert_eq!(first.list, (0..20).collect::<Vec<_>>());
        let last = query(Some(3), Some(20)).page(rows.clone()).unwrap();
        assert_eq!((last.list.len(), last.end_page), (5, true));
        let beyond = query(Some(9), Some(20)).page(rows).unwrap();
        assert!(beyond.list.is_empty() && beyond.end_page);
        let empty = query(None, None).page(Vec::<u32>::new()).unwrap();
        assert_eq!(
            (empty.total_count, empty.page_total, empty.end_page),
            (0, 0, true)
        );
    }

    #[test]
    fn bad_numbers_are_refused_with_the_parameter_named() {
        let error = query(Some(0), None).page(vec![1]).unwrap_err();
        assert!(error.message.contains("page_num"), "{error}");
        let error = query(None, Some(201)).page(vec![1]).unwrap_err();
        assert!(error.message.contains("page_size"), "{error}");
        assert_eq!(error.status.as_u16(), 400);
    }
}
