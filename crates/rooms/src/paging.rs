//! Paged reads in the control API's shape ([`PageQuery`] in, [`Page`] out), done in the
//! database with LIMIT/OFFSET and a COUNT, so a page costs the same however many rows there are.
//! Also the helpers for SQL built at run time: placeholders, bound text, LIKE patterns.

use crate::RoomsError;
use relay_control::{Page, PageQuery};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

/// A checked page request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    num: usize,
    size: usize,
}

impl Window {
    /// Same limits and messages as the control API (`page_num` from 1, `page_size` 1–200).
    pub(crate) fn new(query: PageQuery) -> Result<Window, RoomsError> {
        let (num, size) = query
            .checked()
            .map_err(|error| RoomsError::Invalid(error.message))?;
        Ok(Window { num, size })
    }

    pub(crate) fn limit(&self) -> i64 {
        i64::try_from(self.size).unwrap_or(i64::MAX)
    }

    pub(crate) fn offset(&self) -> i64 {
        i64::try_from((self.num - 1).saturating_mul(self.size)).unwrap_or(i64::MAX)
    }

    pub(crate) fn page<T>(&self, total: i64, list: Vec<T>) -> Page<T> {
        let total_count = usize::try_from(total).unwrap_or(0);
        let page_total = total_count.div_ceil(self.size);
        Page {
            total_count,
            page_total,
            end_page: self.num >= page_total,
            list,
        }
    }
}

/// Binds `args`, in order, to the text placeholders of SQL built at run time.
pub(crate) fn bind_texts<'q>(
    mut query: Query<'q, Any, AnyArguments<'q>>,
    args: &[String],
) -> Query<'q, Any, AnyArguments<'q>> {
    for arg in args {
        query = query.bind(arg.clone());
    }
    query
}

/// `$first, $first+1, ...` for `count` values: the list inside `IN (...)`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The escape character of LIKE patterns (queries say `ESCAPE '!'`). Not a backslash, whose
/// meaning in a string literal depends on a PostgreSQL setting.
pub(crate) const LIKE_ESCAPE: char = '!';

/// A LIKE pattern matching `keyword` anywhere, with `%`, `_` and [`LIKE_ESCAPE`] taken literally.
pub(crate) fn contains_pattern(keyword: &str) -> String {
    let mut pattern = String::with_capacity(keyword.len() + 2);
    pattern.push('%');
    for c in keyword.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_pages() {
        let window = Window::new(PageQuery {
            page_num: Some(3),
            page_size: Some(20),
        })
        .unwrap();
        assert_eq!((window.limit(), window.offset()), (20, 40));
        let page = window.page(45, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            (page.total_count, page.page_total, page.end_page),
            (45, 3, true)
        );
        let error = Window::new(PageQuery {
            page_num: Some(0),
            page_size: None,
        })
        .unwrap_err();
        assert_eq!(error.code(), "invalid");
        assert!(error.to_string().contains("page_num"), "{error}");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("100%"), "%100!%%");
        assert_eq!(contains_pattern("a_b!c\\d"), "%a!_b!!c\\d%");
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
