//! Gifts: the catalogue (`/server/gift/config`, `/admin/gift/config`, `/client/gift/config`),
//! sending with a payment call to the app (`POST /client/gift/send`), the ledger, the app's
//! confirmation of a payment it settled itself, and the reconciler that settles payments whose
//! call said nothing. The rules that keep one send one charge are in [`relay_rooms::Payments`];
//! here are the checks before a send (room live, sender in it, price from the catalogue), the
//! answers, and the room event `gift` for each gift paid.

use super::auth::{AdminCaller, ClientCaller};
use super::client::anchor_only;
use super::{store_error, Rooms, CODE_BAD_STATE};
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use relay_control::{ApiError, ApiJson, ApiQuery, Page, PageQuery, Reply, RequestId};
use relay_rooms::{
    Gift, GiftQuery, GiftRecord, GiftStatus, NewGift, NewGiftRecord, Paid, Payments, Settlement,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};

/// The code of a refusal whose payment service gave no non-zero code of its own (it said
/// `data.status` 2), kept from the vendor room servers ("payment failed").
pub const CODE_PAYMENT_REFUSED: u32 = 200_002;
/// The code of a send whose payment is not settled yet (the call timed out or failed in
/// transport): the ledger row waits as `unknown` and is retried with the same `biz_id`.
pub const CODE_PAYMENT_UNSETTLED: u32 = 200_004;
/// Most of one gift in one send.
const MAX_QUANTITY: i64 = 10_000;

/// `/server/gift/...`, behind the server signature (merged before its layer).
pub fn server_routes() -> Router<Arc<Rooms>> {
    catalogue_routes(
        "/server/gift/config",
        server_list_config,
        server_put_config,
        server_delete_config,
    )
    .route("/server/gift/list/{by}/{id}", get(server_gifts))
    .route("/server/gift/total/live/{live_id}", get(room_totals))
    .route("/server/gift/{biz_id}", get(gift_record))
    .route("/server/gift/{biz_id}/confirm", post(confirm))
}

/// `/admin/gift/config`, for operators.
pub fn admin_routes() -> Router<Arc<Rooms>> {
    catalogue_routes(
        "/admin/gift/config",
        admin_list_config,
        admin_put_config,
        admin_delete_config,
    )
}

/// The catalogue's routes under `base`: GET lists, POST creates or replaces, DELETE
/// `base/{gift_id}` removes.
fn catalogue_routes<L, P, D, TL, TP, TD>(
    base: &str,
    list: L,
    put: P,
    delete: D,
) -> Router<Arc<Rooms>>
where
    L: Handler<TL, Arc<Rooms>>,
    P: Handler<TP, Arc<Rooms>>,
    D: Handler<TD, Arc<Rooms>>,
    TL: 'static,
    TP: 'static,
    TD: 'static,
{
    Router::new().route(base, get(list).post(put)).route(
        &format!("{base}/{{gift_id}}"),
        axum::routing::delete(delete),
    )
}

/// `/client/gift/...`.
pub fn client_routes() -> Router<Arc<Rooms>> {
    Router::new()
        .route("/client/gift/config", get(client_config))
        .route(
            "/client/gift/config/{gift_type}",
            get(client_config_of_type),
        )
        .route("/client/gift/send", post(send))
        .route("/client/gift/list/live/{live_id}", get(client_room_gifts))
        .route("/client/gift/list/{by}", get(client_own_gifts))
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

/// A send. The price is the catalogue's: a body naming a price or total is refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    pub live_id: String,
    pub gift_id: i64,
    /// How many (1 to 10000).
    pub amount: i64,
    /// The sender's own id of this send (1 to 128 bytes): sending again with it (after a
    /// timeout, a lost answer) returns the same gift instead of paying twice.
    pub client_biz_id: String,
    /// The unit price of a custom-amount gift (catalogue `amount` 0), 1 to
    /// `gift_max_custom_amount`; refused for other gifts.
    pub custom_amount: Option<i64>,
}

impl SendBody {
    /// Whether `record` (found by this body's `client_biz_id`) is the send this body describes.
    fn same_send(&self, record: &GiftRecord) -> bool {
        let sent = &record.sent;
        sent.live_id == self.live_id
            && sent.gift_id == self.gift_id
            && sent.amount == self.amount
            && self
                .custom_amount
                .is_none_or(|unit| unit == sent.unit_price)
    }
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

fn parse_number(name: &str, text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{name} must be an integer, not {text:?}")))
}

impl Rooms {
    /// Gift payments, or 503 while `gift_addr` is empty.
    fn payments(&self) -> Result<&Payments, ApiError> {
        self.payments.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sending gifts is disabled: cloud.gift_addr (the app's payment service) is not set",
            )
        })
    }

    /// Tells a live room's clients about a gift this node just settled as paid: the room event
    /// `gift`, keyed by `biz_id`. Called only by the settler whose update applied, so each gift
    /// is announced once.
    pub async fn announce_gift(&self, record: &GiftRecord) {
        if record.status != GiftStatus::Paid {
            return;
        }
        let sent = &record.sent;
        match self.store.get_room(&sent.live_id).await {
            Ok(Some(room)) if room.status == relay_rooms::RoomStatus::Live => {}
            Ok(_) => return, // ended: its clients are gone
            Err(error) => {
                tracing::warn!(%error, biz_id = %record.biz_id, "gift paid but its room cannot be read");
                return;
            }
        }
        let nick = match self.store.get_user(&sent.user_id).await {
            Ok(user) => user.map(|user| user.nick).unwrap_or_default(),
            Err(_) => String::new(),
        };
        self.emit(
            &sent.live_id,
            "gift",
            serde_json::json!({
                "biz_id": record.biz_id,
                "user_id": sent.user_id,
                "nick": nick,
                "gift_id": sent.gift_id,
                "amount": sent.amount,
                "unit_price": sent.unit_price,
                "total": record.total,
            }),
        );
    }

    async fn catalogue(&self, gift_type: Option<i64>) -> Result<Vec<Gift>, ApiError> {
        self.store.list_gifts(gift_type).await.map_err(store_error)
    }

    async fn put_gift(&self, gift: NewGift) -> Result<Gift, ApiError> {
        self.store.put_gift(&gift).await.map_err(store_error)
    }

    async fn delete_gift(&self, gift_id: &str) -> Result<serde_json::Value, ApiError> {
        let gift_id = parse_number("gift_id", gift_id)?;
        if !self.store.delete_gift(gift_id).await.map_err(store_error)? {
            return Err(ApiError::not_found(format!("gift {gift_id} not found")));
        }
        Ok(serde_json::json!({ "gift_id": gift_id }))
    }

    /// The ledger row `biz_id`, or 404.
    async fn sent_gift(&self, biz_id: &str) -> Result<GiftRecord, ApiError> {
        self.store
            .gift_record(biz_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("gift {biz_id} not found")))
    }

    async fn ledger(
        &self,
        query: GiftQuery<'_>,
        page: PageQuery,
    ) -> Result<Page<GiftRecord>, ApiError> {
        self.store
            .list_gift_records(query, page)
            .await
            .map_err(store_error)
    }
}

/// The answer to a send: 200 code 0 when paid; 402 with the payment service's code and message
/// when it refused; 202 code 200004 while the payment is not settled. The ledger row is the
/// `data` of every one.
fn send_answer(paid: Paid) -> Response {
    let because = paid.unsettled_because.unwrap_or_default();
    let record = paid.record;
    let (status, code, message) = match record.status {
        GiftStatus::Paid => (StatusCode::OK, 0, "ok".to_owned()),
        GiftStatus::Failed => {
            let code = record
                .biz_code
                .and_then(|code| u32::try_from(code).ok())
                .filter(|code| *code != 0)
                .unwrap_or(CODE_PAYMENT_REFUSED);
            let message = record
                .biz_message
                .clone()
                .filter(|message| !message.is_empty())
                .unwrap_or_else(|| "the payment was refused".to_owned());
            (StatusCode::PAYMENT_REQUIRED, code, message)
        }
        GiftStatus::Pending | GiftStatus::Unknown => (
            StatusCode::ACCEPTED,
            CODE_PAYMENT_UNSETTLED,
            format!(
                "payment not settled yet ({because}); it is asked again with the same biz_id: \
                 send again with the same client_biz_id, or wait for the gift event"
            ),
        ),
    };
    let reply = Reply {
        request_id: RequestId::current(),
        code,
        message,
        data: record,
    };
    (status, Json(reply)).into_response()
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
    if !rooms.is_online(&room.live_id, &caller.user_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("not in room {}: join it before sending gifts", room.live_id),
        ));
    }
    rooms.check_not_muted(&room.live_id, &caller.user_id)?;
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

/// 409 code 600 when `client_biz_id` was used for another gift.
fn check_same_send(body: &SendBody, record: &GiftRecord) -> Result<(), ApiError> {
    if body.same_send(record) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "client_biz_id {:?} was used for another gift (biz_id {}); use a new one for a new send",
            body.client_biz_id, record.biz_id
        ),
    )
    .with_code(relay_rooms::CODE_EXISTS))
}

/// The unit price of `gift`: the catalogue's, or for a custom-amount gift the sender's
/// `custom_amount` within `gift_max_custom_amount`.
fn price(rooms: &Rooms, gift: &Gift, custom_amount: Option<i64>) -> Result<i64, ApiError> {
    let max = rooms.settings.gift_max_custom_amount;
    match (gift.entry.amount, custom_amount) {
        (0, Some(unit)) if (1..=max).contains(&unit) => Ok(unit),
        (0, Some(_)) => Err(ApiError::bad_request(format!(
            "custom_amount must be 1 to {max} (cloud.gift_max_custom_amount)"
        ))),
        (0, None) => Err(ApiError::bad_request(format!(
            "gift {} is a custom-amount gift: give custom_amount (1 to {max})",
            gift.entry.gift_id
        ))),
        (_, Some(_)) => Err(ApiError::bad_request(format!(
            "gift {} has a fixed price: custom_amount is not taken",
            gift.entry.gift_id
        ))),
        (unit, None) => Ok(unit),
    }
}

/// Announces what this call settled, then answers.
async fn settled(rooms: &Rooms, paid: Paid) -> Response {
    if paid.settled_here {
        rooms.announce_gift(&paid.record).await;
    }
    send_answer(paid)
}

// ---- Ledger ----

/// Which ledger `by` (a path segment) names, for `id`: `live` a room, `anchor` the anchor
/// receiving, `user` the sender.
fn ledger_query<'a>(by: &str, id: &'a str) -> Result<GiftQuery<'a>, ApiError> {
    match by {
        "live" => Ok(GiftQuery::Room(id)),
        "anchor" => Ok(GiftQuery::Anchor(id)),
        "user" => Ok(GiftQuery::Sender(id)),
        other => Err(ApiError::not_found(format!(
            "no gift list by {other:?}: live, anchor or user"
        ))),
    }
}

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

/// Every `gift_reconcile_s`, settles the payments whose call said nothing (timed out, failed in
/// transport, or was cut short when a node died): asks the payment service again with the same
/// `biz_id`, and announces each gift it finds paid. Runs on every node (a row is claimed by
/// one); returns at shutdown, a call under way then being left for the next start.
pub async fn reconcile_gifts(rooms: Arc<Rooms>, mut shutdown: watch::Receiver<bool>) {
    let Some(payments) = rooms.payments.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(rooms.settings.gift_reconcile);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let pass = tokio::select! {
            _ = tick.tick() => payments.reconcile(),
            _ = shutdown.changed() => return,
        };
        let settled = tokio::select! {
            settled = pass => settled,
            _ = shutdown.changed() => return,
        };
        match settled {
            Ok(settled) => {
                for record in &settled {
                    rooms.announce_gift(record).await;
                }
            }
            Err(error) => tracing::warn!(%error, "gift reconciler: cannot take unsettled gifts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: GiftStatus, biz_code: Option<i64>, biz_message: Option<&str>) -> Paid {
        Paid {
            record: GiftRecord {
                biz_id: "b1".to_owned(),
                sent: NewGiftRecord {
                    client_biz_id: "k1".to_owned(),
                    amount: 2,
                    unit_price: 5,
                    ..NewGiftRecord::default()
                },
                total: 10,
                status,
                biz_code,
                biz_message: biz_message.map(str::to_owned),
                last_error: None,
                attempts: 1,
                next_attempt_at: 0,
                created_at: 0,
                updated_at: 0,
                settled_at: None,
            },
            settled_here: true,
            unsettled_because: Some("no answer within 3000 ms".to_owned()),
        }
    }

    async fn answer(paid: Paid) -> (u16, serde_json::Value) {
        let response = send_answer(paid);
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    #[tokio::test]
    async fn answers_carry_the_outcome_and_the_ledger_row() {
        let (status, body) = answer(record(GiftStatus::Paid, None, None)).await;
        assert_eq!(
            (status, &body["code"], &body["data"]["total"]),
            (200, &0.into(), &10.into())
        );
        let refused = record(
            GiftStatus::Failed,
            Some(400001),
            Some("insufficient balance"),
        );
        let (status, body) = answer(refused).await;
        assert_eq!(status, 402);
        assert_eq!(
            (&body["code"], &body["message"]),
            (&400001.into(), &"insufficient balance".into())
        );
        assert_eq!(body["data"]["status"], "failed");
        // A refusal without a usable code of its own (data.status 2, or a negative code).
        for code in [Some(0), Some(-5), None] {
            let (status, body) = answer(record(GiftStatus::Failed, code, None)).await;
            assert_eq!((status, &body["code"]), (402, &CODE_PAYMENT_REFUSED.into()));
            assert_eq!(body["message"], "the payment was refused");
        }
        let (status, body) = answer(record(GiftStatus::Unknown, None, None)).await;
        assert_eq!(
            (status, &body["code"]),
            (202, &CODE_PAYMENT_UNSETTLED.into())
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("no answer within 3000 ms"), "{message}");
        assert_eq!(body["data"]["biz_id"], "b1");
    }
}
