//! The open PK each room is in, as this node keeps it for the rooms' views.

use relay_rooms::{PkSession, PkStatus};

/// What this node knows of the open PK a room is in, for the room's views.
#[derive(Debug, Clone)]
pub(crate) struct PkLink {
    /// The session.
    pub(crate) pk_id: String,
    /// The other room.
    pub(crate) peer_live_id: String,
    /// The other room's stream.
    pub(crate) peer_stream_name: String,
    /// Invited or active.
    pub(crate) status: PkStatus,
}

/// Both rooms' links of an open session.
pub(crate) fn links_of(pk: &PkSession) -> [(String, PkLink); 2] {
    let link = |peer_live_id: &str, peer_stream_name: &str| PkLink {
        pk_id: pk.pk_id.clone(),
        peer_live_id: peer_live_id.to_owned(),
        peer_stream_name: peer_stream_name.to_owned(),
        status: pk.status,
    };
    [
        (
            pk.init_room_id.clone(),
            link(&pk.recv_room_id, &pk.recv_stream_name),
        ),
        (
            pk.recv_room_id.clone(),
            link(&pk.init_room_id, &pk.init_stream_name),
        ),
    ]
}
