//! Query-string extraction whose failures are 400s in the API envelope, with a message saying
//! what was wrong (axum's own rejection is a bare text body).

use crate::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Like `axum::extract::Query`, failing with an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| {
                ApiError::bad_request(format!("bad query string: {}", rejection.body_text()))
            })
    }
}

/// A stream named `app/name` in a parameter: one `/`, each side 1 to 128 characters of letters,
/// digits, `_`, `-` and `.` (the names the cloud accepts at publish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName(pub String);

impl StreamName {
    /// Parses the value of parameter `param`; the error names it and shows the expected form.
    pub fn parse(param: &str, value: Option<&str>) -> Result<StreamName, ApiError> {
        let value = value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("{param} is required (app/name)")))?;
        let valid_part = |part: &str| {
            (1..=128).contains(&part.len())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                && part != "."
                && part != ".."
        };
        match value.split_once('/') {
            Some((app, name)) if valid_part(app) && valid_part(name) => {
                Ok(StreamName(value.to_owned()))
            }
            _ => Err(ApiError::bad_request(format!(
                "{param} must be app/name of letters, digits, '_', '-' and '.', not {value:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(
            StreamName::parse("room", Some("live/cam-1.hd")).unwrap().0,
            "live/cam-1.hd"
        );
        for bad in [
            "", "live", "live/", "/x", "live/a/b", "live/a b", "live/..", "a/é",
        ] {
            let error = StreamName::parse("room", Some(bad)).unwrap_err();
            assert_eq!(error.status.as_u16(), 400, "{bad}");
            assert!(error.message.contains("room"), "{error}");
        }
        assert!(StreamName::parse("stream", None)
            .unwrap_err()
            .message
            .contains("stream is required"));
    }
}

/// Like `axum::Json`, failing with an [`ApiError`] 400 that says what was wrong with the body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| ApiJson(value))
            .map_err(|rejection| {
                ApiError::bad_request(format!("bad JSON body: {}", rejection.body_text()))
            })
    }
}
