//! Which addresses outbound requests (webhook tools, MCP servers, LLM endpoints,
//! dynamic-variable webhooks) may reach. By default only public addresses: loopback, private,
//! link-local, shared, documentation, multicast and unspecified ranges are refused unless the
//! configuration allows private networks. Callers resolve the host and check every address
//! they would connect to.

use std::net::{IpAddr, Ipv4Addr};

/// Whether `ip` is outside the public internet (and so refused unless private networks are
/// allowed).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public_v4(v4);
            }
            let segments = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
                || (segments[0] == 0x0064 && segments[1] == 0xff9b) // NAT64 can reach private v4
        }
    }
}

fn is_non_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// Checks the addresses a host resolved to; `Err` names the first refused one.
pub fn check_addresses(addresses: &[IpAddr], allow_private_network: bool) -> Result<(), IpAddr> {
    if allow_private_network {
        return Ok(());
    }
    match addresses.iter().find(|ip| is_non_public(**ip)) {
        Some(ip) => Err(*ip),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn private_and_special_ranges_are_non_public() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_non_public(ip(text)), "{text}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_non_public(ip(text)), "{text}");
        }
        assert_eq!(
            check_addresses(&[ip("8.8.8.8"), ip("10.0.0.1")], false),
            Err(ip("10.0.0.1"))
        );
        assert_eq!(check_addresses(&[ip("10.0.0.1")], true), Ok(()));
        assert_eq!(check_addresses(&[ip("8.8.8.8")], false), Ok(()));
    }
}
