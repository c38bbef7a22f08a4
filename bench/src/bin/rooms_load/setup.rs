//! Set-up through the API itself: users' tokens minted by signed server requests, one room
//! created and started by its anchor, and the clients that must be in it joined.

use crate::http::{field, request, signed, Connection};
use crate::Options;

/// What the load runs with: the room and the users' client tokens.
pub struct SetUp {
    pub live_id: String,
    /// Users joined to the room (they beat, or send chat).
    pub joined: Vec<String>,
    /// Users with a token who did not join (they only read the room's events).
    pub watchers: Vec<String>,
}

/// `joined` users in a live room and `watchers` more users with tokens, all through the first
/// node of `--api`.
pub async fn set_up(options: &Options, joined: usize, watchers: usize) -> Result<SetUp, String> {
    let api = options.api[0];
    let mut admin = Connection::open(api).await?;
    let run = std::process::id();
    let mut tokens = Vec::with_capacity(joined + watchers + 1);
    for index in 0..=joined + watchers {
        let user = format!("load-{run}-{index}");
        let path = format!("/server/auth/token?user_id={user}&app_id=load");
        tokens.push(field(
            admin.exchange(&signed(options, "GET", &path, "")?).await?,
            "access_token",
        )?);
    }
    let anchor = tokens.remove(0);
    let watchers = tokens.split_off(joined);
    let host = api.to_string();
    let bearer = format!("Bearer {anchor}");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let create = request(
        "POST",
        &host,
        "/client/live/room/instance",
        &auth,
        r#"{"title":"load"}"#,
    );
    let live_id = field(admin.exchange(&create).await?, "live_id")?;
    let start = request(
        "PUT",
        &host,
        &format!("/client/live/room/{live_id}"),
        &auth[..1],
        "",
    );
    field(admin.exchange(&start).await?, "live_id")?;
    for token in &tokens {
        let bearer = format!("Bearer {token}");
        let join = request(
            "POST",
            &host,
            &format!("/client/live/room/user/{live_id}"),
            &[("Authorization", &bearer)],
            "",
        );
        field(admin.exchange(&join).await?, "live_id")?;
    }
    Ok(SetUp {
        live_id,
        joined: tokens,
        watchers,
    })
}
