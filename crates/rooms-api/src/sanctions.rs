//! The kicks and mutes in force, as this node keeps them to answer without the store.

use relay_rooms::SanctionKind;
use std::collections::HashMap;

/// Kicks and mutes in force, by (room, user, kind): until when, Unix ms.
pub(crate) type SanctionCache = HashMap<(String, String, SanctionKind), i64>;
