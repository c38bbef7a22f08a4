//! Which rooms a listing asks for: by status, paged.

use relay_control::{ApiError, PageQuery};
use relay_rooms::RoomStatus;
use serde::Deserialize;
use utoipa::IntoParams;

/// The query of the room listings (`GET /server/live`, `/admin/live`, ...).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// created, live or ended; absent: all (live first, then created, then ended).
    pub status: Option<String>,
    pub page_num: Option<usize>,
    pub page_size: Option<usize>,
}

impl ListQuery {
    pub fn statuses(&self) -> Result<Vec<RoomStatus>, ApiError> {
        match self.status.as_deref() {
            None | Some("") => Ok(Vec::new()),
            Some("created") => Ok(vec![RoomStatus::Created]),
            Some("live") => Ok(vec![RoomStatus::Live]),
            Some("ended") => Ok(vec![RoomStatus::Ended]),
            Some(other) => Err(ApiError::bad_request(format!(
                "status must be created, live or ended, not {other:?}"
            ))),
        }
    }

    pub fn page(&self) -> PageQuery {
        PageQuery {
            page_num: self.page_num,
            page_size: self.page_size,
        }
    }
}
