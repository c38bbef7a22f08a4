//! The rules of gifts, apart from their routes: the catalogue and ledger reads and writes,
//! the price of a send (the catalogue's, or a custom amount within its bound), one
//! `client_biz_id` one gift, the answer a send gets, and the room event `gift` for each gift
//! paid; and what a send asks for ([`SendBody`]), which the rules read. The rules that keep
//! one send one charge are in [`relay_rooms::Payments`].

use crate::error::{store_error, CODE_EXISTS};
use crate::state::Rooms;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use relay_control::{ApiError, Page, PageQuery, Reply, RequestId};
use relay_rooms::{Gift, GiftQuery, GiftRecord, GiftStatus, NewGift, Paid, Payments};
use serde::Deserialize;
use utoipa::ToSchema;

/// The code of a refusal whose payment service gave no non-zero code of its own (it said
/// `data.status` 2), kept from the vendor room servers ("payment failed").
pub const CODE_PAYMENT_REFUSED: u32 = 200_002;
/// The code of a send whose payment is not settled yet (the call timed out or failed in
/// transport): the ledger row waits as `unknown` and is retried with the same `biz_id`.
pub const CODE_PAYMENT_UNSETTLED: u32 = 200_004;
/// Most of one gift in one send.
pub(crate) const MAX_QUANTITY: i64 = 10_000;

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
    pub(crate) fn same_send(&self, record: &GiftRecord) -> bool {
        let sent = &record.sent;
        sent.live_id == self.live_id
            && sent.gift_id == self.gift_id
            && sent.amount == self.amount
            && self
                .custom_amount
                .is_none_or(|unit| unit == sent.unit_price)
    }
}

pub(crate) fn parse_number(name: &str, text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{name} must be an integer, not {text:?}")))
}

impl Rooms {
    /// Gift payments, or 503 while `gift_addr` is empty.
    pub(crate) fn payments(&self) -> Result<&Payments, ApiError> {
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
        self.tell(
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
        )
        .await;
    }

    pub(crate) async fn catalogue(&self, gift_type: Option<i64>) -> Result<Vec<Gift>, ApiError> {
        self.store.list_gifts(gift_type).await.map_err(store_error)
    }

    pub(crate) async fn put_gift(&self, gift: NewGift) -> Result<Gift, ApiError> {
        self.store.put_gift(&gift).await.map_err(store_error)
    }

    pub(crate) async fn delete_gift(&self, gift_id: &str) -> Result<serde_json::Value, ApiError> {
        let gift_id = parse_number("gift_id", gift_id)?;
        if !self.store.delete_gift(gift_id).await.map_err(store_error)? {
            return Err(ApiError::not_found(format!("gift {gift_id} not found")));
        }
        Ok(serde_json::json!({ "gift_id": gift_id }))
    }

    /// The ledger row `biz_id`, or 404.
    pub(crate) async fn sent_gift(&self, biz_id: &str) -> Result<GiftRecord, ApiError> {
        self.store
            .gift_record(biz_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("gift {biz_id} not found")))
    }

    pub(crate) async fn ledger(
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
pub(crate) fn send_answer(paid: Paid) -> Response {
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

/// 409 code 600 when `client_biz_id` was used for another gift.
pub(crate) fn check_same_send(body: &SendBody, record: &GiftRecord) -> Result<(), ApiError> {
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
    .with_code(CODE_EXISTS))
}

/// The unit price of `gift`: the catalogue's, or for a custom-amount gift the sender's
/// `custom_amount` within `gift_max_custom_amount`.
pub(crate) fn price(
    rooms: &Rooms,
    gift: &Gift,
    custom_amount: Option<i64>,
) -> Result<i64, ApiError> {
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
pub(crate) async fn settled(rooms: &Rooms, paid: Paid) -> Response {
    if paid.settled_here {
        rooms.announce_gift(&paid.record).await;
    }
    send_answer(paid)
}

/// Which ledger `by` (a path segment) names, for `id`: `live` a room, `anchor` the anchor
/// receiving, `user` the sender.
pub(crate) fn ledger_query<'a>(by: &str, id: &'a str) -> Result<GiftQuery<'a>, ApiError> {
    match by {
        "live" => Ok(GiftQuery::Room(id)),
        "anchor" => Ok(GiftQuery::Anchor(id)),
        "user" => Ok(GiftQuery::Sender(id)),
        other => Err(ApiError::not_found(format!(
            "no gift list by {other:?}: live, anchor or user"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_rooms::NewGiftRecord;

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
