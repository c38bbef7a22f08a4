//! Store failures as the room API answers them: the HTTP status and the vendor room servers'
//! numeric codes belong here, not in the store, whose [`RoomsError`] only says what kind of
//! failure it was.

use axum::http::StatusCode;
use relay_control::ApiError;
use relay_rooms::RoomsError;

/// QNLiveKit-compatible code of a duplicate (a user id, an event id already there).
pub const CODE_EXISTS: u32 = 600;
/// Not in a state for that (start an ended room, accept a PK that timed out).
pub const CODE_STATE: u32 = 601;
/// The database failed (the answer says no more; the log has the error).
pub const CODE_STORAGE: u32 = 602;
/// The room is in a PK already (or has an invitation pending).
pub const CODE_BUSY: u32 = 603;

/// Code of a request that does not fit the room's state (start an ended room, stop one that
/// is not live), kept from the vendor room servers.
pub const CODE_BAD_STATE: u32 = CODE_STATE;

/// The envelope answer for a store error: 400 / 404 / 409 (code 600, 601 or 603) as the client
/// can act on them; everything else is a 500 with code 602 whose message does not leak SQL
/// (the full error is logged here).
pub fn store_error(error: RoomsError) -> ApiError {
    match error {
        RoomsError::Invalid(message) => ApiError::bad_request(message),
        RoomsError::NotFound { .. } => ApiError::not_found(error.to_string()),
        RoomsError::Exists { .. } => {
            ApiError::new(StatusCode::CONFLICT, error.to_string()).with_code(CODE_EXISTS)
        }
        RoomsError::State(message) => {
            ApiError::new(StatusCode::CONFLICT, message).with_code(CODE_STATE)
        }
        RoomsError::Busy(message) => {
            ApiError::new(StatusCode::CONFLICT, message).with_code(CODE_BUSY)
        }
        _ => {
            if error.code() == "storage" || error.code() == "corrupt" {
                tracing::error!(%error, "rooms store");
            }
            ApiError::internal("storage error").with_code(CODE_STORAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_statuses_and_codes() {
        let answer = |error| {
            let answer = store_error(error);
            (answer.status, answer.code)
        };
        assert_eq!(
            answer(RoomsError::Invalid("bad".into())).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            answer(RoomsError::NotFound {
                what: "room".into()
            })
            .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            answer(RoomsError::Exists {
                what: "user".into()
            }),
            (StatusCode::CONFLICT, CODE_EXISTS)
        );
        assert_eq!(
            answer(RoomsError::State("ended".into())),
            (StatusCode::CONFLICT, CODE_STATE)
        );
        assert_eq!(
            answer(RoomsError::Busy("in a PK".into())),
            (StatusCode::CONFLICT, CODE_BUSY)
        );
        assert_eq!(
            answer(RoomsError::Corrupt("json".into())),
            (StatusCode::INTERNAL_SERVER_ERROR, CODE_STORAGE)
        );
    }
}
