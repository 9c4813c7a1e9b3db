//! Where webhooks may go. Unless `webhooks.allow_private_targets` is set, an endpoint must be HTTPS and
//! no request may reach a loopback, private, link-local or otherwise internal address, so that the
//! feature cannot be used to probe the shop's own network: literal addresses are checked here, when
//! an endpoint is registered and again before each delivery (the resolver is never asked about a
//! literal, and an endpoint saved while internal targets were allowed may be sent from a service
//! where they are not), names by the resolver the dispatcher's client uses, at each connection (a
//! name that later resolves inward is refused then).

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("the URL must be https://")]
    NotHttps,
    /// What `NotHttps` says where private targets, and so plain http, are allowed.
    #[error("the URL must be http:// or https://")]
    NotHttpOrHttps,
    #[error("the URL must name a host and carry no credentials")]
    NoHost,
    #[error("{0} is not a public address")]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Parses an endpoint's URL and checks its scheme and, for a literal address, the address.
pub fn parse(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    if let Some(why) = outside_uri(raw) {
        return Err(TargetError::NotAUrl(why));
    }
    let url = Url::parse(raw).map_err(|e| TargetError::NotAUrl(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ if allow_private => return Err(TargetError::NotHttpOrHttps),
        _ => return Err(TargetError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::NoHost);
    }
    if let Some(ip) = literal(&url)?
        && !allow_private
        && is_internal(ip)
    {
        return Err(TargetError::Private(ip.to_string()));
    }
    Ok(url)
}

/// Why `raw` is not made of what RFC 3986 lets a URI hold (letters, digits, its delimiters, `%` and
/// two hex digits), if it is not. The `url` crate forgives more, a space, a backslash, a letter
/// beyond ASCII, and writes them as something the admin did not send.
fn outside_uri(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    raw.char_indices().find_map(|(i, c)| match c {
        '%' if bytes
            .get(i + 1..i + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) =>
        {
            None
        }
        '%' => Some("`%` must be followed by two hex digits".to_owned()),
        _ if c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c) => None,
        _ => Some(format!("{c:?} cannot appear in a URL (RFC 3986)")),
    })
}

/// The URL's host when it is an address rather than a name.
fn literal(url: &Url) -> Result<Option<IpAddr>, TargetError> {
    let host = url.host_str().ok_or(TargetError::NoHost)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(bare.parse().ok())
}

/// Checks a URL now, resolving its name: what the admin API does before it registers an endpoint.
pub async fn check(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = parse(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    if let (None, Some(name)) = (literal(&url)?, url.host_str()) {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| TargetError::Unresolved(name.to_owned()))?
            .collect();
        if let Some(inward) = addrs.iter().find(|a| is_internal(a.ip())) {
            return Err(TargetError::Private(inward.ip().to_string()));
        }
        if addrs.is_empty() {
            return Err(TargetError::Unresolved(name.to_owned()));
        }
    }
    Ok(url)
}

/// Loopback, private (RFC 1918, unique local), link-local, shared (CGNAT), unspecified, broadcast,
/// multicast, documentation, benchmarking and IETF protocol ranges, and IPv4 inside IPv6 (mapped,
/// compatible, NAT64, 6to4; IPv4-translated, Teredo and discard-only altogether): a tunnel or translator would
/// carry a request to the IPv4 address inside.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let v4_at = |i: usize| Ipv4Addr::from((u32::from(s[i]) << 16) | u32::from(s[i + 1]));
            // ::ffff:0:0/96, IPv4-translated (SIIT, RFC 2765): a translator's own, never a public
            // destination (`to_ipv4` below does not see the IPv4 address inside).
            if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
                return true;
            }
            // ::a.b.c.d and ::ffff:a.b.c.d
            if let Some(v4) = v6.to_ipv4() {
                return internal_v4(v4);
            }
            // 64:ff9b::/96, the well-known NAT64 prefix
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return internal_v4(v4_at(6));
            }
            // 2002::/16, 6to4
            if s[0] == 0x2002 {
                return internal_v4(v4_at(1));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // 2001::/32 Teredo; 64:ff9b:1::/48 local-use NAT64; 100::/64 discard-only
                || (s[0] == 0x2001 && s[1] == 0)
                || s[..3] == [0x64, 0xff9b, 1]
                || s[..4] == [0x100, 0, 0, 0]
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

/// The dispatcher's resolver: the system's answer without the internal addresses, and an error when
/// nothing else is left.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !is_internal(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(TargetError::Private(host)) as _);
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        for inward in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            // IPv4-translated (::ffff:0:0/96), whatever address it carries.
            "https://[::ffff:0:7f00:1]/",
            "https://[::ffff:0:a00:1]/",
            "https://[::ffff:0:5db8:d70e]/",
            // IPv4 inside IPv6 that a translator or tunnel would carry there.
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::]/",
            "https://[2002:c0a8:101::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://192.0.0.1/",
        ] {
            assert!(
                matches!(parse(inward, false), Err(TargetError::Private(_))),
                "{inward}"
            );
            assert!(parse(inward, true).is_ok(), "{inward} when allowed");
        }
        assert!(parse("https://93.184.215.14/hook", false).is_ok());
        // The same translators and tunnels towards a public IPv4 address, and public IPv6.
        assert!(parse("https://[64:ff9b::5db8:d70e]/", false).is_ok());
        assert!(parse("https://[2002:5db8:d70e::1]/", false).is_ok());
        assert!(parse("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", false).is_ok());
        assert!(parse("https://shop.example/hook", false).is_ok());
    }

    #[test]
    fn only_https_unless_private_targets_are_allowed() {
        assert_eq!(
            parse("http://shop.example/hook", false),
            Err(TargetError::NotHttps)
        );
        assert!(parse("http://127.0.0.1:9/hook", true).is_ok());
        assert_eq!(
            parse("ftp://shop.example/", true),
            Err(TargetError::NotHttpOrHttps)
        );
        assert_eq!(
            parse("ftp://shop.example/", false),
            Err(TargetError::NotHttps)
        );
        assert!(matches!(
            parse("not a url", true),
            Err(TargetError::NotAUrl(_))
        ));
        assert_eq!(
            parse("https://user:pw@shop.example/", false),
            Err(TargetError::NoHost)
        );
    }

    #[test]
    fn what_is_not_a_uri_is_refused_rather_than_rewritten() {
        for raw in [
            " http://127.0.0.1:9/lead",
            "http://127.0.0.1:9/lead ",
            "http://127.0.0.1:9/x y",
            "http://127.0.0.1:9/tab\there",
            "http:\\\\127.0.0.1:9\\back",
            "http://127.0.0.1:9/\u{fc}",
            "http://127.0.0.1:9/\u{7f}",
            "http://127.0.0.1:9/{id}",
            "http://127.0.0.1:9/100%",
            "http://127.0.0.1:9/%zz",
        ] {
            assert!(
                matches!(parse(raw, true), Err(TargetError::NotAUrl(_))),
                "{raw:?}"
            );
        }
        for raw in [
            "http://127.0.0.1:9/a-b_c.d~e/%C3%BC?q=1&r=[2]#f",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/hook",
        ] {
            assert!(parse(raw, true).is_ok(), "{raw:?}");
        }
    }
}
