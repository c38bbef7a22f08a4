//! Gifts: the catalogue (`/server/gift/config`, `/admin/gift/config`, `/client/gift/config`),
//! sending with a payment call to the app (`POST /client/gift/send`), the ledger, the app's
//! confirmation of a payment it settled itself: the routes, their request types (but the
//! send's, [`SendBody`], which the rules read) and their handlers, with the checks before a send (room live, sender in it, not muted). The rules
//! (price, one `client_biz_id` one gift, the answers) are in `gift_rules`; the reconciler that
//! settles payments whose call said nothing is a job (`jobs`).

use crate::auth::{signed, AdminCaller, ClientCaller};
use crate::error::{store_error, CODE_BAD_STATE};
use crate::gift_rules::{
    check_same_send, ledger_query, parse_number, price, settled, SendBody, MAX_QUANTITY,
};
use crate::rooms::anchor_only;
use crate::state::Rooms;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use relay_control::{ApiError, ApiJson, ApiQuery, Page, PageQuery, Reply};
use relay_rooms::{Gift, GiftQuery, GiftRecord, GiftStatus, NewGift, NewGiftRecord, Settlement};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The gift routes of `/server` (behind the server signature), `/admin` and `/client`.
pub fn router(rooms: Arc<Rooms>) -> OpenApiRouter {
    signed(&rooms, server_routes())
        .merge(admin_routes())
        .merge(client_routes())
        .with_state(rooms)
}

/// `/server/gift/...`.
fn server_routes() -> OpenApiRouter<Arc<Rooms>> {
    OpenApiRouter::new()
        .routes(routes!(server_list_config, server_put_config))
        .routes(routes!(server_delete_config))
        .routes(routes!(server_gifts))
        .routes(routes!(room_totals))
        .routes(routes!(gift_record))
        .routes(routes!(confirm))
}

/// `/admin/gift/config`, for operators.
fn admin_routes() -> OpenApiRouter<Arc<Rooms>> {
    OpenApiRouter::new()
        .routes(routes!(admin_list_config, admin_put_config))
        .routes(routes!(admin_delete_config))
}

/// `/client/gift/...`.
fn client_routes() -> OpenApiRouter<Arc<Rooms>> {
    OpenApiRouter::new()
        .routes(routes!(client_config))
        .routes(routes!(client_config_of_type))
        .routes(routes!(send))
        .routes(routes!(client_room_gifts))
        .routes(routes!(client_own_gifts))
}

/// A room's paid gifts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GiftTotalsView {
    pub live_id: String,
    pub paid_count: i64,
    /// Sum of their `total`.
    pub paid_total: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfigQuery {
    /// Only gifts of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub gift_type: Option<i64>,
}

/// How the app settled a payment itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// "paid" or "failed".
    pub status: String,
    /// For a failure: the code and message the sender is shown.
    pub biz_code: Option<i64>,
    pub biz_message: Option<String>,
}

// ---- Catalogue ----

/// The catalogue (one type of it with `?type=`), in panel order.
#[utoipa::path(get, path = "/server/gift/config", params(ConfigQuery), responses(
    (status = 200, body = Reply<Vec<Gift>>), (status = 400), (status = 401)))]
pub async fn server_list_config(
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<ConfigQuery>, ApiError>,
) -> Result<Reply<Vec<Gift>>, ApiError> {
    let ApiQuery(query) = query?;
    Ok(Reply::ok(rooms.catalogue(query.gift_type).await?))
}

/// Creates a gift, or replaces the one with its `gift_id`. Gifts already sent keep their price.
#[utoipa::path(post, path = "/server/gift/config", request_body = NewGift, responses(
    (status = 200, body = Reply<Gift>), (status = 400), (status = 401)))]
pub async fn server_put_config(
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<NewGift>, ApiError>,
) -> Result<Reply<Gift>, ApiError> {
    let ApiJson(body) = body?;
    Ok(Reply::ok(rooms.put_gift(body).await?))
}

/// Removes a gift from the catalogue (the ledger keeps gifts sent).
#[utoipa::path(delete, path = "/server/gift/config/{gift_id}", params(("gift_id" = i64, Path)),
    responses((status = 200, body = Reply<Object>), (status = 400), (status = 401), (status = 404)))]
pub async fn server_delete_config(
    State(rooms): State<Arc<Rooms>>,
    Path(gift_id): Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    Ok(Reply::ok(rooms.delete_gift(&gift_id).await?))
}

/// The catalogue, for operators (as the server's).
#[utoipa::path(get, path = "/admin/gift/config", params(ConfigQuery), responses(
    (status = 200, body = Reply<Vec<Gift>>), (status = 400), (status = 401), (status = 403)))]
pub async fn admin_list_config(
    _admin: AdminCaller,
    rooms: State<Arc<Rooms>>,
    query: Result<ApiQuery<ConfigQuery>, ApiError>,
) -> Result<Reply<Vec<Gift>>, ApiError> {
    server_list_config(rooms, query).await
}

/// Creates or replaces a gift, for operators (as the server's).
#[utoipa::path(post, path = "/admin/gift/config", request_body = NewGift, responses(
    (status = 200, body = Reply<Gift>), (status = 400), (status = 401), (status = 403)))]
pub async fn admin_put_config(
    admin: AdminCaller,
    rooms: State<Arc<Rooms>>,
    body: Result<ApiJson<NewGift>, ApiError>,
) -> Result<Reply<Gift>, ApiError> {
    let reply = server_put_config(rooms, body).await?;
    tracing::info!(
        gift_id = reply.data.entry.gift_id,
        admin = admin.user_id,
        "gift set by an admin"
    );
    Ok(reply)
}

/// Removes a gift, for operators (as the server's).
#[utoipa::path(delete, path = "/admin/gift/config/{gift_id}", params(("gift_id" = i64, Path)),
    responses((status = 200, body = Reply<Object>), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn admin_delete_config(
    admin: AdminCaller,
    rooms: State<Arc<Rooms>>,
    gift_id: Path<String>,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let reply = server_delete_config(rooms, gift_id).await?;
    tracing::info!(deleted = %reply.data, admin = admin.user_id, "gift deleted by an admin");
    Ok(reply)
}

/// Every gift, for the gift panel.
#[utoipa::path(get, path = "/client/gift/config", responses(
    (status = 200, body = Reply<Vec<Gift>>), (status = 401)))]
pub async fn client_config(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
) -> Result<Reply<Vec<Gift>>, ApiError> {
    Ok(Reply::ok(rooms.catalogue(None).await?))
}

/// The gifts of one type (one tab of the panel).
#[utoipa::path(get, path = "/client/gift/config/{gift_type}", params(("gift_type" = i64, Path)),
    responses((status = 200, body = Reply<Vec<Gift>>), (status = 400), (status = 401)))]
pub async fn client_config_of_type(
    _caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(gift_type): Path<String>,
) -> Result<Reply<Vec<Gift>>, ApiError> {
    let gift_type = parse_number("type", &gift_type)?;
    Ok(Reply::ok(rooms.catalogue(Some(gift_type)).await?))
}

// ---- Sending ----

/// Sends a gift to a live room the caller has joined, priced from the catalogue, and pays for
/// it through the app's payment service. 200 code 0: paid. 402 with the payment service's
/// code and message: refused. 202 code 200004: not settled yet (the service did not answer in
/// time); it is asked again with the same `biz_id`. A send repeated with the same
/// `client_biz_id` answers for the same gift and never pays twice.
#[utoipa::path(post, path = "/client/gift/send", request_body = SendBody, responses(
    (status = 200, body = Reply<GiftRecord>, description = "paid"),
    (status = 202, body = Reply<GiftRecord>, description = "code 200004: payment not settled yet"),
    (status = 400), (status = 401),
    (status = 402, body = Reply<GiftRecord>, description = "refused: the payment service's code and message"),
    (status = 403, description = "not in the room"), (status = 404),
    (status = 409, description = "code 601: the room is not live; code 600: client_biz_id used for another gift"),
    (status = 503, description = "gift_addr not set")))]
pub async fn send(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    body: Result<ApiJson<SendBody>, ApiError>,
) -> Result<Response, ApiError> {
    let payments = rooms.payments()?;
    let ApiJson(body) = body?;
    if body.client_biz_id.is_empty() {
        return Err(ApiError::bad_request(
            "client_biz_id is required: the sender's own id of this send, the same on a retry",
        ));
    }
    // A repeat of a send already made answers for that gift, whatever the room is now.
    let earlier = rooms
        .store
        .gift_record_by_client(&caller.user_id, &body.client_biz_id)
        .await
        .map_err(store_error)?;
    if let Some(record) = earlier {
        check_same_send(&body, &record)?;
        let paid = payments.resume(record).await.map_err(store_error)?;
        return Ok(settled(&rooms, paid).await);
    }
    let room = rooms.room(&body.live_id).await?;
    if room.status != relay_rooms::RoomStatus::Live {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "room {} is {}: gifts go to live rooms",
                room.live_id,
                room.status.as_str()
            ),
        )
        .with_code(CODE_BAD_STATE));
    }
    if !rooms.is_online(&room.live_id, &caller.user_id).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("not in room {}: join it before sending gifts", room.live_id),
        ));
    }
    rooms
        .check_not_muted(&room.live_id, &caller.user_id)
        .await?;
    let gift = rooms
        .store
        .get_gift(body.gift_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("gift {} not found", body.gift_id)))?;
    if !(1..=MAX_QUANTITY).contains(&body.amount) {
        return Err(ApiError::bad_request(format!(
            "amount (how many) must be 1 to {MAX_QUANTITY}"
        )));
    }
    let unit_price = price(&rooms, &gift, body.custom_amount)?;
    let new = NewGiftRecord {
        client_biz_id: body.client_biz_id.clone(),
        user_id: caller.user_id,
        live_id: room.live_id,
        anchor_id: room.anchor_id,
        gift_id: gift.entry.gift_id,
        amount: body.amount,
        unit_price,
    };
    let paid = payments.send(&new).await.map_err(store_error)?;
    // A concurrent send with this client_biz_id may have written the row first.
    check_same_send(&body, &paid.record)?;
    Ok(settled(&rooms, paid).await)
}

// ---- Ledger ----

/// A room's (`live`), an anchor's (`anchor`, all its rooms) or a sender's (`user`) gifts,
/// newest first, every status.
#[utoipa::path(get, path = "/server/gift/list/{by}/{id}",
    params(("by" = String, Path, description = "live, anchor or user"),
        ("id" = String, Path, description = "the live_id, or the user_id"), PageQuery),
    responses((status = 200, body = Reply<Page<GiftRecord>>), (status = 400), (status = 401), (status = 404)))]
pub async fn server_gifts(
    State(rooms): State<Arc<Rooms>>,
    Path((by, id)): Path<(String, String)>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<GiftRecord>>, ApiError> {
    let ApiQuery(page) = query?;
    Ok(Reply::ok(
        rooms.ledger(ledger_query(&by, &id)?, page).await?,
    ))
}

/// How many paid gifts a room got, and their sum.
#[utoipa::path(get, path = "/server/gift/total/live/{live_id}", params(("live_id" = String, Path)),
    responses((status = 200, body = Reply<GiftTotalsView>), (status = 401), (status = 404)))]
pub async fn room_totals(
    State(rooms): State<Arc<Rooms>>,
    Path(live_id): Path<String>,
) -> Result<Reply<GiftTotalsView>, ApiError> {
    rooms.room(&live_id).await?;
    let totals = rooms
        .store
        .gift_totals(&live_id)
        .await
        .map_err(store_error)?;
    Ok(Reply::ok(GiftTotalsView {
        live_id,
        paid_count: totals.paid_count,
        paid_total: totals.paid_total,
    }))
}

/// One gift by its `biz_id`.
#[utoipa::path(get, path = "/server/gift/{biz_id}", params(("biz_id" = String, Path)),
    responses((status = 200, body = Reply<GiftRecord>), (status = 401), (status = 404)))]
pub async fn gift_record(
    State(rooms): State<Arc<Rooms>>,
    Path(biz_id): Path<String>,
) -> Result<Reply<GiftRecord>, ApiError> {
    Ok(Reply::ok(rooms.sent_gift(&biz_id).await?))
}

/// The app settles a payment itself (it charged, or refused, out of band). Applies only to a
/// gift still pending or unknown; confirming what it already is answers it again; confirming
/// the other outcome is 409 code 601. Paid: the room hears `gift`.
#[utoipa::path(post, path = "/server/gift/{biz_id}/confirm", params(("biz_id" = String, Path)),
    request_body = ConfirmBody, responses((status = 200, body = Reply<GiftRecord>),
    (status = 400), (status = 401), (status = 404), (status = 409, description = "code 601: already settled otherwise")))]
pub async fn confirm(
    State(rooms): State<Arc<Rooms>>,
    Path(biz_id): Path<String>,
    body: Result<ApiJson<ConfirmBody>, ApiError>,
) -> Result<Reply<GiftRecord>, ApiError> {
    let ApiJson(body) = body?;
    let status = match body.status.as_str() {
        "paid" => GiftStatus::Paid,
        "failed" => GiftStatus::Failed,
        other => {
            return Err(ApiError::bad_request(format!(
                "status must be paid or failed, not {other:?}"
            )))
        }
    };
    let settlement = Settlement {
        status,
        biz_code: body.biz_code,
        biz_message: body.biz_message,
    };
    let applied = rooms
        .store
        .settle_gift(&biz_id, &settlement)
        .await
        .map_err(store_error)?;
    if let Some(record) = applied {
        tracing::info!(
            biz_id,
            status = status.as_str(),
            "gift payment confirmed by the app"
        );
        rooms.announce_gift(&record).await;
        return Ok(Reply::ok(record));
    }
    let record = rooms.sent_gift(&biz_id).await?;
    if record.status != status {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("gift {biz_id} is already {}", record.status.as_str()),
        )
        .with_code(CODE_BAD_STATE));
    }
    Ok(Reply::ok(record))
}

/// A room's gifts, for its anchor only.
#[utoipa::path(get, path = "/client/gift/list/live/{live_id}", params(("live_id" = String, Path), PageQuery),
    responses((status = 200, body = Reply<Page<GiftRecord>>), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn client_room_gifts(
    Path(live_id): Path<String>,
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<GiftRecord>>, ApiError> {
    let room = rooms.room(&live_id).await?;
    let ApiQuery(page) = query?;
    anchor_only(&caller, &room, "list the gifts of")?;
    Ok(Reply::ok(
        rooms.ledger(GiftQuery::Room(&live_id), page).await?,
    ))
}

/// The gifts the caller received as an anchor (`anchor`) or sent (`user`), newest first.
#[utoipa::path(get, path = "/client/gift/list/{by}",
    params(("by" = String, Path, description = "anchor or user"), PageQuery),
    responses((status = 200, body = Reply<Page<GiftRecord>>), (status = 400), (status = 401), (status = 404)))]
pub async fn client_own_gifts(
    caller: ClientCaller,
    State(rooms): State<Arc<Rooms>>,
    Path(by): Path<String>,
    query: Result<ApiQuery<PageQuery>, ApiError>,
) -> Result<Reply<Page<GiftRecord>>, ApiError> {
    let ApiQuery(page) = query?;
    if by == "live" {
        return Err(ApiError::bad_request(
            "a room's gifts: /client/gift/list/live/{live_id}",
        ));
    }
    let query = ledger_query(&by, &caller.user_id)?;
    Ok(Reply::ok(rooms.ledger(query, page).await?))
}

// ---- Reconciler ----
