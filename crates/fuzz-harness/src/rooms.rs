//! The room API's JSON request bodies, parsed as the API's extractor parses them.

use serde::de::DeserializeOwned;

/// Parses `data` as a `T` body the way `ApiJson<T>` does (serde_json); `None` if refused.
pub fn json_body<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

/// The bodies reachable from library crates: a gift catalogue entry (`/server/gift/config` and
/// `/admin/gift/config`), round-tripped, and any JSON value. The cloud's own body types are
/// replayed against this target's corpus by the cloud's tests through [`json_body`].
pub fn room_json(data: &[u8]) {
    if let Some(gift) = json_body::<relay_rooms::NewGift>(data) {
        let again = serde_json::to_vec(&gift).expect("a gift serializes");
        let back: relay_rooms::NewGift = serde_json::from_slice(&again).expect("and parses back");
        assert_eq!(back, gift, "a gift body round-trips");
    }
    let _ = json_body::<serde_json::Value>(data);
}
