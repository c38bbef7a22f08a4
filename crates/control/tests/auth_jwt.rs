//! Client tokens (HS256 JWT with the vendor SDKs' claim names) against values computed apart
//! from this crate: the tokens below come from `auth_vectors.py` (Python's hmac/hashlib/base64)
//! and PyJWT produced the same bytes.

mod common;

use common::{secret, NOW};
use relay_control::auth::jwt::{self, ADMIN_ROLE};
use relay_control::auth::{AuthError, Claims};
use relay_control::ApiError;

const JWT_KEY: &str = "liverelay-jwt-key";
const USER_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NDE5NDgwMTMsImlhdCI6MTc0MTk0NDQxMywiQXBwSWQiOiJhcHAxIiwiVXNlcklkIjoidXNlci00MiIsIkRldmljZUlkIjoiZGV2LTciLCJSb2xlIjoiIn0.n6jQEfPt5LydUD0oNaG2mHg29rViLQqrddUu7GLjZkY";
const ADMIN_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NDE5NDgwMTMsImlhdCI6MTc0MTk0NDQxMywiQXBwSWQiOiJhcHAxIiwiVXNlcklkIjoicm9vdCIsIkRldmljZUlkIjoiZGV2LTciLCJSb2xlIjoiYWRtaW4ifQ.2p4bZJfxqLFYwe6NBbykRQlYctPMsdai2NowKWLW4lI";
const EXPIRED_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NDE5NDQ0MTIsImlhdCI6MTc0MTk0NDQxMywiQXBwSWQiOiJhcHAxIiwiVXNlcklkIjoidXNlci00MiIsIkRldmljZUlkIjoiZGV2LTciLCJSb2xlIjoiIn0.mSSegZ9yZZjGH3DUBSOJer659eckREorLxkNBQjs49s";
/// Claims in Go field order and no `iat`, as the vendor servers mint them.
const VENDOR_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBcHBJZCI6ImFwcDEiLCJVc2VySWQiOiJ1c2VyLTQyIiwiRGV2aWNlSWQiOiJkZXYtNyIsIlJvbGUiOiIiLCJleHAiOjE3NDE5NDQ0NzN9.HmkYnEuQa1wpNWBEx4COYbsC5pyy8740Nr2Dxeamnzg";
const HS512_TOKEN: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NDE5NDgwMTMsImlhdCI6MTc0MTk0NDQxMywiQXBwSWQiOiJhcHAxIiwiVXNlcklkIjoidXNlci00MiIsIkRldmljZUlkIjoiZGV2LTciLCJSb2xlIjoiIn0._6TcufmfUmXylj1RKFUtpboihyY0ZDGWlayS_ClbpoOC3nIpqqCwWQiWg8qQadB0QVcSMosrpp7_q55IdEt7uA";
const NONE_TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjE3NDE5NDgwMTMsImlhdCI6MTc0MTk0NDQxMywiQXBwSWQiOiJhcHAxIiwiVXNlcklkIjoidXNlci00MiIsIkRldmljZUlkIjoiZGV2LTciLCJSb2xlIjoiIn0.";

fn user_claims() -> Claims {
    Claims {
        exp: NOW + 3600,
        iat: Some(NOW),
        app_id: "app1".into(),
        user_id: "user-42".into(),
        device_id: "dev-7".into(),
        role: String::new(),
    }
}

#[test]
fn minted_tokens_match_pyjwt() {
    let key = secret(JWT_KEY);
    assert_eq!(jwt::mint(&key, &user_claims()), USER_TOKEN);
    let admin = Claims {
        user_id: "root".into(),
        role: ADMIN_ROLE.into(),
        ..user_claims()
    };
    assert_eq!(jwt::mint(&key, &admin), ADMIN_TOKEN);
    assert_eq!(jwt::verify(&key, ADMIN_TOKEN, NOW), Ok(admin));
}

#[test]
fn tokens_verify_bare_or_bearer() {
    let key = secret(JWT_KEY);
    for token in [
        USER_TOKEN.to_owned(),
        format!("Bearer {USER_TOKEN}"),
        format!("bearer {USER_TOKEN} "),
    ] {
        assert_eq!(jwt::verify(&key, &token, NOW), Ok(user_claims()), "{token}");
    }
    let vendor = jwt::verify(&key, VENDOR_TOKEN, NOW).unwrap();
    assert_eq!(
        (
            vendor.iat,
            vendor.exp,
            vendor.user_id.as_str(),
            vendor.app_id.as_str()
        ),
        (None, NOW + 60, "user-42", "app1")
    );
}

#[test]
fn expiry_is_exclusive_and_answers_499() {
    let key = secret(JWT_KEY);
    assert!(jwt::verify(&key, USER_TOKEN, NOW + 3599).is_ok());
    assert_eq!(
        jwt::verify(&key, USER_TOKEN, NOW + 3600),
        Err(AuthError::TokenExpired)
    );
    let error = jwt::verify(&key, EXPIRED_TOKEN, NOW).unwrap_err();
    assert_eq!(error, AuthError::TokenExpired);
    let api = ApiError::from(error);
    assert_eq!((api.status.as_u16(), api.code), (401, 499));
    assert_eq!(api.message, "token expired");
    // A forged token is reported as forged even when it has expired too.
    assert_eq!(
        jwt::verify(&secret("other key"), EXPIRED_TOKEN, NOW),
        Err(AuthError::BadTokenSignature)
    );
}

#[test]
fn bad_tokens_are_401_each_for_its_reason() {
    let key = secret(JWT_KEY);
    let (user_head, rest) = USER_TOKEN.split_once('.').unwrap();
    let user_sig = rest.rsplit_once('.').unwrap().1;
    let admin_body = ADMIN_TOKEN.split('.').nth(1).unwrap();
    let cases = [
        ("", AuthError::MissingAuthorization),
        ("Bearer ", AuthError::MissingAuthorization),
        (NONE_TOKEN, AuthError::UnsupportedAlgorithm),
        (HS512_TOKEN, AuthError::UnsupportedAlgorithm),
        ("abc", AuthError::MalformedToken),
        ("a.b", AuthError::MalformedToken),
        ("a.b.c.d", AuthError::MalformedToken),
        ("!!.b.c", AuthError::MalformedToken),
        // {"typ":"JWT"}: no alg at all.
        ("eyJ0eXAiOiJKV1QifQ.e30.AAAA", AuthError::MalformedToken),
    ];
    for (token, expected) in cases {
        let error = jwt::verify(&key, token, NOW).unwrap_err();
        assert_eq!(error, expected, "{token:?}");
        let api = ApiError::from(error);
        assert_eq!((api.status.as_u16(), api.code), (401, 401), "{token:?}");
    }
    // The user's signature on the admin's claims.
    let promoted = format!("{user_head}.{admin_body}.{user_sig}");
    assert_eq!(
        jwt::verify(&key, &promoted, NOW),
        Err(AuthError::BadTokenSignature)
    );
    assert_eq!(
        jwt::verify(&secret("liverelay-jwt-kez"), USER_TOKEN, NOW),
        Err(AuthError::BadTokenSignature)
    );
    // `none` is refused even when "signed" with our key.
    let none_signed = format!("{}{}", NONE_TOKEN, user_sig);
    assert_eq!(
        jwt::verify(&key, &none_signed, NOW),
        Err(AuthError::UnsupportedAlgorithm)
    );
}

#[test]
fn admin_needs_the_admin_role() {
    let key = secret(JWT_KEY);
    let admin = jwt::verify(&key, ADMIN_TOKEN, NOW).unwrap();
    assert_eq!(jwt::require_admin(&admin), Ok(()));
    let user = jwt::verify(&key, USER_TOKEN, NOW).unwrap();
    let api = ApiError::from(jwt::require_admin(&user).unwrap_err());
    assert_eq!((api.status.as_u16(), api.code), (403, 403));
    let almost = Claims {
        role: "Admin".into(),
        ..user
    };
    assert_eq!(jwt::require_admin(&almost), Err(AuthError::NotAdmin));
}
