//! Dead letters of the webhook outbox, for operators: the events the app's back end did not
//! acknowledge within `callback_dead_after_s`, which are no longer sent (`GET
//! /admin/webhook/dead`), and sending one again once the back end is fixed (`POST
//! /admin/webhook/dead/{id}/retry`).

use crate::auth::AdminCaller;
use crate::error::store_error;
use crate::state::Rooms;
use axum::extract::{Path, State};
use relay_control::{ApiError, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::Event;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET /admin/webhook/dead`, `POST /admin/webhook/dead/{id}/retry`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead_letter))
        .with_state(rooms)
}

/// A webhook event in the outbox, as operators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEventView {
    /// The event's id (also the `id` of its delivery body).
    pub id: String,
    /// Its type: `live_started`, `live_stopped`, ...
    #[serde(rename = "type")]
    pub event_type: String,
    /// The room it is about, if any.
    pub live_id: Option<String>,
    /// Deliveries tried since it was written or last retried.
    pub attempts: i64,
    /// Why the last delivery failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// When it was given up on, Unix ms; null once retried.
    pub dead_at: Option<i64>,
}

impl From<Event> for WebhookEventView {
    fn from(event: Event) -> Self {
        WebhookEventView {
            id: event.id,
            event_type: event.event_type,
            live_id: event.live_id,
            attempts: event.attempts,
            last_error: event.last_error,
            created_at: event.created_at,
            dead_at: event.dead_at,
        }
    }
}

/// The dead letters, most recently given up on first.
#[utoipa::path(get, path = "/admin/webhook/dead", params(PageQuery), responses(
    (status = 200, body = Reply<Page<WebhookEventView>>), (status = 400), (status = 401), (status = 403)))]
pub async fn dead_letters(
    _admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<WebhookEventView>>, ApiError> {
    let ApiQuery(page) = query?;
    let page = rooms.store.dead_events(page).await.map_err(store_error)?;
    Ok(Reply::ok(page.map(WebhookEventView::from)))
}

/// Sends a dead letter again: due at once, its attempts from 0 and its age from now. It is
/// delivered out of its room's order (the room's later events went out while it was dead).
#[utoipa::path(post, path = "/admin/webhook/dead/{id}/retry", params(("id" = String, Path)),
    responses((status = 200, body = Reply<WebhookEventView>), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "code 601: the event is not dead (pending or delivered)")))]
pub async fn retry_dead_letter(
    _admin: AdminCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(id): Path<String>,
) -> Result<Reply<WebhookEventView>, ApiError> {
    let event = rooms
        .store
        .retry_dead_event(&id)
        .await
        .map_err(store_error)?;
    tracing::info!(event_id = %id, "webhook dead letter sent back to the queue");
    rooms.wake_webhooks();
    Ok(Reply::ok(event.into()))
}
