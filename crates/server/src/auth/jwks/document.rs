//! What a JWKS answer says: its keys that flashgate can use, each with the only algorithm it may
//! verify, and how long the answer may be kept.

use crate::auth::settings::JWKS_MAX_AGE_CEILING;
use crate::auth::tokens::{Expected, Verifier};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap};
use std::time::Duration;

/// Keys are read one by one, so one key of a kind flashgate does not know spoils none of the others.
#[derive(serde::Deserialize)]
pub(super) struct Document {
    pub(super) keys: Vec<serde_json::Value>,
}

/// The kid of a JWK and its verifier, or why it is skipped: no kid, a `use` other than `sig`, a
/// type other than RSA, EC P-256 or OKP Ed25519, or an `alg` other than that type's.
pub(super) fn usable(
    value: serde_json::Value,
    expected: &Expected,
) -> Result<(String, Verifier), String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let kid = jwk.common.key_id.clone().ok_or("no kid")?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|used| *used != PublicKeyUse::Signature)
    {
        return Err(format!("kid `{kid}` is not for signatures"));
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => {
            return Err(format!(
                "kid `{kid}` is of a type flashgate does not verify"
            ));
        }
    };
    if let Some(declared) = jwk.common.key_algorithm
        && declared != KeyAlgorithm::from(alg)
    {
        return Err(format!("kid `{kid}` is for {declared}, not {alg:?}"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("kid `{kid}`: {e}"))?;
    Ok((kid, Verifier::new(key, alg, expected)))
}

/// How long an answer is kept: its `Cache-Control: max-age` less its `Age` (`no-cache` and `no-store`
/// count as 0), else `default`; never less than `floor` nor more than a day.
pub(super) fn lifetime(headers: &HeaderMap, default: Duration, floor: Duration) -> Duration {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim().to_ascii_lowercase();
            match name.as_str() {
                "no-cache" | "no-store" => max_age = Some(0),
                "max-age" if max_age != Some(0) => {
                    max_age = argument.trim().trim_matches('"').parse::<u64>().ok();
                }
                _ => {}
            }
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    max_age
        .map(|seconds| Duration::from_secs(seconds.saturating_sub(age)))
        .unwrap_or(default)
        .clamp(floor, JWKS_MAX_AGE_CEILING.max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const DEFAULT: Duration = Duration::from_secs(300);
    const FLOOR: Duration = Duration::from_secs(5);

    fn kept(pairs: &[(&'static str, &'static str)]) -> Duration {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        lifetime(&headers, DEFAULT, FLOOR)
    }

    #[test]
    fn an_answer_is_kept_as_long_as_its_max_age_says() {
        assert_eq!(
            kept(&[("cache-control", "public, max-age=60")]),
            Duration::from_secs(60)
        );
        assert_eq!(
            kept(&[("cache-control", "max-age=\"90\"")]),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn an_answer_that_says_nothing_is_kept_the_default() {
        assert_eq!(kept(&[]), DEFAULT);
        assert_eq!(kept(&[("cache-control", "public")]), DEFAULT);
        assert_eq!(kept(&[("cache-control", "max-age=soon")]), DEFAULT);
    }

    #[test]
    fn silly_lifetimes_are_bounded() {
        assert_eq!(kept(&[("cache-control", "max-age=0")]), FLOOR);
        assert_eq!(kept(&[("cache-control", "no-store, max-age=600")]), FLOOR);
        assert_eq!(
            kept(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "no-cache")
            ]),
            FLOOR
        );
        assert_eq!(
            kept(&[("cache-control", "max-age=99999999999")]),
            JWKS_MAX_AGE_CEILING
        );
    }

    #[test]
    fn the_time_an_answer_spent_in_caches_is_taken_off() {
        assert_eq!(
            kept(&[("cache-control", "max-age=600"), ("age", "100")]),
            Duration::from_secs(500)
        );
    }

    fn skipped(value: serde_json::Value) -> String {
        match usable(value, &Expected::default()) {
            Ok((kid, _)) => panic!("kid `{kid}` was kept"),
            Err(why) => why,
        }
    }

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn keys_flashgate_cannot_use_safely_are_skipped() {
        let ed = |extra: serde_json::Value| {
            let mut key =
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ed"});
            if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
                key.extend(extra.clone());
            }
            key
        };
        assert!(usable(ed(serde_json::json!({})), &Expected::default()).is_ok());
        assert!(
            usable(
                ed(serde_json::json!({"use": "sig", "alg": "EdDSA"})),
                &Expected::default()
            )
            .is_ok()
        );
        assert!(skipped(ed(serde_json::json!({"use": "enc"}))).contains("not for signatures"));
        assert!(skipped(ed(serde_json::json!({"alg": "RS256"}))).contains("RS256"));
        let mut no_kid = ed(serde_json::json!({}));
        no_kid.as_object_mut().map(|key| key.remove("kid"));
        assert_eq!(skipped(no_kid), "no kid");
        let secret = serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"});
        assert!(skipped(secret).contains("type"));
    }
}
