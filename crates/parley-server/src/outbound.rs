//! Outbound HTTP to URLs that users configure (dynamic-variable webhooks, external LLM
//! endpoints, webhook tools, MCP servers): the address policy of [`parley_core::network`]
//! enforced where the connection is made.
//!
//! - Host names resolve through [`GuardedResolver`], which refuses the whole lookup when any
//!   address is loopback, private, link-local or otherwise non-public (unless private networks
//!   are allowed). Checking the addresses actually connected to — not a separate lookup
//!   beforehand — closes the DNS-rebinding gap.
//! - IP literals never reach a resolver, so [`Outbound::check_url`] checks them before a
//!   request is built, and the redirect policy checks every redirect target the same way.
//! - Only `http` and `https` URLs are accepted.

use parley_core::network;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why an outbound URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// Not an absolute `http(s)` URL.
    #[error("{0:?} is not an http(s) URL")]
    BadUrl(String),
    /// The host is, or resolves to, a non-public address.
    #[error("{0} is not a public address; outbound requests to private networks are disabled")]
    PrivateAddress(String),
}

/// Resolves host names with the system resolver and refuses non-public answers.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private_network: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_network;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
            if let Err(ip) = network::check_addresses(&ips, allow) {
                return Err(
                    Box::new(OutboundError::PrivateAddress(format!("{host} ({ip})")))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// Builds guarded HTTP clients and checks URLs.
#[derive(Debug, Clone)]
pub struct Outbound {
    allow_private_network: bool,
    client: reqwest::Client,
}

/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;

impl Outbound {
    /// A policy; `allow_private_network` lifts the address restriction (tests, private
    /// deployments).
    pub fn new(allow_private_network: bool) -> Self {
        let client = Self::builder_for(allow_private_network)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Outbound {
            allow_private_network,
            client,
        }
    }

    /// Whether private networks are allowed.
    pub fn allows_private_network(&self) -> bool {
        self.allow_private_network
    }

    /// A shared client with the guard (per-request timeouts are the caller's).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A client builder with the guard installed, for callers that need their own timeouts.
    pub fn builder(&self) -> reqwest::ClientBuilder {
        Self::builder_for(self.allow_private_network)
    }

    fn builder_for(allow_private_network: bool) -> reqwest::ClientBuilder {
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_literal(attempt.url(), allow_private_network) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private_network,
            }))
            .redirect(redirect)
            .user_agent(concat!("Parley/", env!("CARGO_PKG_VERSION")))
    }

    /// Parses `url` and refuses it when it is not `http(s)` or its host is a non-public IP
    /// literal. Host names are checked when they resolve.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, OutboundError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| OutboundError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(OutboundError::BadUrl(url.to_owned()));
        }
        check_literal(&parsed, self.allow_private_network)?;
        Ok(parsed)
    }
}

fn check_literal(url: &reqwest::Url, allow_private_network: bool) -> Result<(), OutboundError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(domain)) => {
            // `localhost` and friends resolve to loopback; say so without a lookup.
            if !allow_private_network
                && (domain.eq_ignore_ascii_case("localhost")
                    || domain.to_ascii_lowercase().ends_with(".localhost"))
            {
                return Err(OutboundError::PrivateAddress(domain.to_owned()));
            }
            return Ok(());
        }
        None => return Err(OutboundError::BadUrl(url.to_string())),
    };
    network::check_addresses(&[ip], allow_private_network)
        .map_err(|ip| OutboundError::PrivateAddress(ip.to_string()))
}

/// Whether a reqwest error was caused by the address guard.
pub fn is_refused(error: &reqwest::Error) -> bool {
    // The connector may re-box the resolver's error, hiding its type: match the text too.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<OutboundError>().is_some()
            || e.to_string().contains(PRIVATE_NETWORKS_DISABLED)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The end of every [`OutboundError::PrivateAddress`] message.
const PRIVATE_NETWORKS_DISABLED: &str = "outbound requests to private networks are disabled";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_schemes() {
        let strict = Outbound::new(false);
        assert!(strict.check_url("https://example.com/hook").is_ok());
        assert!(strict.check_url("http://8.8.8.8/x").is_ok());
        for refused in [
            "http://127.0.0.1:8080/",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:9/",
            "http://api.localhost/",
        ] {
            assert!(
                matches!(
                    strict.check_url(refused),
                    Err(OutboundError::PrivateAddress(_))
                ),
                "{refused}"
            );
        }
        for bad in ["ftp://example.com/", "not a url", "file:///etc/passwd"] {
            assert!(
                matches!(strict.check_url(bad), Err(OutboundError::BadUrl(_))),
                "{bad}"
            );
        }
        let open = Outbound::new(true);
        assert!(open.check_url("http://127.0.0.1:8080/").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_loopback() {
        use std::str::FromStr;
        let strict = GuardedResolver {
            allow_private_network: false,
        };
        let name = Name::from_str("localhost").unwrap();
        let error = match strict.resolve(name).await {
            Ok(_) => panic!("localhost resolved through the guard"),
            Err(error) => error,
        };
        assert!(
            error.to_string().contains("not a public address"),
            "{error}"
        );
        let open = GuardedResolver {
            allow_private_network: true,
        };
        let addresses: Vec<SocketAddr> = open
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addresses.iter().all(|a| a.ip().is_loopback()));
    }
}
