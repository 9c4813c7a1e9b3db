//! Where webhooks may go. Unless `webhooks.allow_private_targets` is set, an endpoint must be HTTPS and
//! no request may reach a loopback, private, link-local or otherwise internal address, so that the
//! feature cannot be used to probe the shop's own network: literal addresses are checked here, names
//! by the resolver the dispatcher's client uses, at each connection (a name that later resolves
//! inward is refused then).

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("the URL must be https://")]
    NotHttps,
    #[error("the URL must name a host and carry no credentials")]
    NoHost,
    #[error("{0} is not a public address")]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Parses an endpoint's URL and checks its scheme and, for a literal address, the address.
pub fn parse(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = Url::parse(raw).map_err(|e| TargetError::NotAUrl(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
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
/// multicast, documentation and benchmarking ranges, and IPv4 inside IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
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
        ] {
            assert!(
                matches!(parse(inward, false), Err(TargetError::Private(_))),
                "{inward}"
            );
            assert!(parse(inward, true).is_ok(), "{inward} when allowed");
        }
        assert!(parse("https://93.184.215.14/hook", false).is_ok());
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
            Err(TargetError::NotHttps)
        );
        assert_eq!(
            parse("https://user:pw@shop.example/", false),
            Err(TargetError::NoHost)
        );
    }
}
