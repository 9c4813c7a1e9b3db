//! The dashboard's sign-in cookie. A browser cannot send the admin's bearer header when it loads a
//! page or opens an event stream, so the admin signs in once with the token and gets a cookie: its
//! expiry, signed with HMAC-SHA256 keyed by the admin token. The token itself never travels in a URL
//! or a cookie, and changing it signs every dashboard out.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

pub const COOKIE: &str = "flashgate_dashboard";
pub const LIFETIME: time::Duration = time::Duration::hours(12);

fn mac(admin_token: &str, expires: i64) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(admin_token.as_bytes()).ok()?;
    mac.update(b"flashgate dashboard session until ");
    mac.update(expires.to_string().as_bytes());
    Some(mac)
}

/// A cookie value good until `now + LIFETIME`.
pub fn issue(admin_token: &str, now: OffsetDateTime) -> Option<String> {
    let expires = now.saturating_add(LIFETIME).unix_timestamp();
    let signature = mac(admin_token, expires)?.finalize().into_bytes();
    Some(format!("{expires}.{}", hex::encode(signature)))
}

/// Whether `value` was issued with this admin token and has not expired.
pub fn verify(admin_token: &str, value: &str, now: OffsetDateTime) -> bool {
    let Some((expires, signature)) = value.split_once('.') else {
        return false;
    };
    let (Ok(expires), Ok(signature)) = (expires.parse::<i64>(), hex::decode(signature)) else {
        return false;
    };
    expires > now.unix_timestamp()
        && mac(admin_token, expires).is_some_and(|mac| mac.verify_slice(&signature).is_ok())
}

/// The session cookie's value among a request's `Cookie` headers.
pub fn from_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "an-admin-token-for-tests";

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn an_issued_cookie_verifies_until_it_expires() {
        let cookie = issue(TOKEN, now()).unwrap();
        assert!(verify(TOKEN, &cookie, now()));
        assert!(verify(
            TOKEN,
            &cookie,
            now() + LIFETIME - time::Duration::SECOND
        ));
        assert!(!verify(TOKEN, &cookie, now() + LIFETIME));
    }

    #[test]
    fn a_cookie_does_not_verify_under_another_admin_token() {
        let cookie = issue(TOKEN, now()).unwrap();
        assert!(!verify("another-admin-token-for-tests", &cookie, now()));
    }

    #[test]
    fn a_cookie_whose_expiry_was_pushed_back_does_not_verify() {
        let cookie = issue(TOKEN, now()).unwrap();
        let (expires, signature) = cookie.split_once('.').unwrap();
        let later = expires.parse::<i64>().unwrap() + 86_400;
        assert!(!verify(TOKEN, &format!("{later}.{signature}"), now()));
        assert!(!verify(TOKEN, "garbage", now()));
        assert!(!verify(TOKEN, &format!("{expires}.zz"), now()));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let headers = ["theme=dark; flashgate_dashboard=123.abc", "other=1"];
        assert_eq!(from_cookies(headers.into_iter()), Some("123.abc"));
        assert_eq!(from_cookies(["a=b"].into_iter()), None);
    }
}
