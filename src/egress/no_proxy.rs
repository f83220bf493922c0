//! `NO_PROXY` matching: which target hosts bypass the proxy. Pure, no IO.
//!
//! Entries are comma (or whitespace) separated: `*` (every host), a host name (matches it and
//! its subdomains; a leading `.` means the same), an IP address, a CIDR block
//! (`10.0.0.0/8`, `fd00::/8`), each optionally with `:port` to bypass only that port.
//! Matching is case-insensitive and ignores a trailing dot. `localhost` does not cover
//! `127.0.0.1` (as in curl): list both, as the seed's `NO_PROXY=localhost,127.0.0.1` does.
//!
//! The forms of the macOS bypass list ("Bypass proxy settings for these hosts & domains")
//! are understood too: CIDR shorthand with fewer than four octets (`169.254/16` is
//! `169.254.0.0/16`), wildcards anywhere (`192.168.1.*`, `*.local`, `10.*`; `*` matches any
//! run of characters), and `<local>`, every host name without a dot (what the
//! "Exclude simple hostnames" box means).

use std::fmt;
use std::net::IpAddr;

/// One parsed `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Entry {
    All,
    Domain {
        name: String,
        port: Option<u16>,
    },
    Ip {
        ip: IpAddr,
        port: Option<u16>,
    },
    Cidr {
        net: IpAddr,
        prefix: u8,
    },
    /// A pattern with `*` wildcards, matched against the whole host.
    Glob {
        pattern: String,
        port: Option<u16>,
    },
    /// `<local>`: host names without a dot (not IP addresses).
    Simple,
}

/// A list of hosts that go direct. Keeps the entries as written, for `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NoProxy {
    entries: Vec<(String, Entry)>,
}

impl NoProxy {
    /// Parse a `NO_PROXY` value. Entries that cannot be understood are kept as host names
    /// (they then simply never match an IP).
    pub fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        np.extend(list);
        np
    }

    /// Add the entries of another list (e.g. a deployment's `no_proxy`).
    pub fn extend(&mut self, list: &str) {
        for raw in list.split([',', ' ', '\t', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
            if self.entries.iter().any(|(r, _)| r == raw) {
                continue;
            }
            self.entries.push((raw.to_owned(), parse_entry(raw)));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry that makes `host:port` bypass the proxy, as written, if any.
    pub fn matching(&self, host: &str, port: u16) -> Option<&str> {
        let host = normalize_host(host);
        let ip: Option<IpAddr> = host.parse().ok();
        self.entries
            .iter()
            .find(|(_, e)| entry_matches(e, &host, ip, port))
            .map(|(raw, _)| raw.as_str())
    }

    /// Whether `host:port` bypasses the proxy.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        self.matching(host, port).is_some()
    }
}

impl fmt::Display for NoProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<&str> = self.entries.iter().map(|(r, _)| r.as_str()).collect();
        f.write_str(&list.join(","))
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

fn parse_entry(raw: &str) -> Entry {
    if raw == "*" {
        return Entry::All;
    }
    if raw.eq_ignore_ascii_case("<local>") {
        return Entry::Simple;
    }
    if let Some((addr, prefix)) = raw.split_once('/')
        && let (Some(net), Ok(prefix)) = (cidr_address(addr), prefix.parse::<u8>())
    {
        let max = if net.is_ipv4() { 32 } else { 128 };
        return Entry::Cidr { net, prefix: prefix.min(max) };
    }
    // A bare IPv6 address contains colons: try it whole before splitting off a port.
    if let Ok(ip) = raw.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Entry::Ip { ip, port: None };
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => match p.parse::<u16>() {
            Ok(p) => (h, Some(p)),
            Err(_) => (raw, None),
        },
        _ => (raw, None),
    };
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Entry::Ip { ip, port };
    }
    // `*.example.com` is the domain and its subdomains; any other `*` is a wildcard.
    let domain_wildcard = host.strip_prefix("*.").is_some_and(|rest| !rest.contains('*'));
    if host.contains('*') && !domain_wildcard {
        return Entry::Glob { pattern: normalize_host(host), port };
    }
    let name = normalize_host(host.trim_start_matches("*.").trim_start_matches('.'));
    Entry::Domain { name, port }
}

/// The network of a CIDR entry: a full address, or macOS's shorthand with fewer than four
/// IPv4 octets (`169.254` in `169.254/16`), the missing ones zero.
fn cidr_address(addr: &str) -> Option<IpAddr> {
    let addr = addr.trim_matches(['[', ']']);
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Some(ip);
    }
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() > 3 || octets.iter().any(|o| o.is_empty() || o.len() > 3) {
        return None;
    }
    let mut full = [0u8; 4];
    for (slot, o) in full.iter_mut().zip(&octets) {
        *slot = o.parse().ok()?;
    }
    Some(IpAddr::from(full))
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (greedy
/// with backtracking to the last `*`: O(len(text) × len(pattern)) at worst).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn entry_matches(entry: &Entry, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
    let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
    match entry {
        Entry::All => true,
        Entry::Simple => ip.is_none() && !host.is_empty() && !host.contains('.'),
        Entry::Glob { pattern, port: p } => port_ok(p) && glob_matches(pattern, host),
        Entry::Ip { ip: want, port: p } => ip == Some(*want) && port_ok(p),
        Entry::Cidr { net, prefix } => ip.is_some_and(|ip| in_cidr(ip, *net, *prefix)),
        Entry::Domain { name, port: p } => {
            if name.is_empty() || !port_ok(p) {
                return false;
            }
            host == name
                || (host.len() > name.len()
                    && host.ends_with(name.as_str())
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.')
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            (u32::from(a) & mask) == (u32::from(b) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            (u128::from(a) & mask) == (u128::from(b) & mask)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_cases() {
        // (NO_PROXY, host, port, bypasses)
        let cases: &[(&str, &str, u16, bool)] = &[
            ("localhost,127.0.0.1,0.0.0.0", "127.0.0.1", 8080, true),
            ("localhost,127.0.0.1,0.0.0.0", "localhost", 80, true),
            ("localhost,127.0.0.1,0.0.0.0", "LOCALHOST.", 80, true),
            ("localhost", "127.0.0.1", 80, false),
            ("localhost,127.0.0.1", "127.0.0.2", 80, false),
            ("localhost,127.0.0.1", "myhost.openai.azure.com", 443, false),
            ("", "example.com", 443, false),
            ("*", "anything.example", 443, true),
            ("*", "10.1.2.3", 443, true),
            ("example.com", "example.com", 443, true),
            ("example.com", "api.example.com", 443, true),
            ("example.com", "notexample.com", 443, false),
            (".example.com", "example.com", 443, true),
            (".example.com", "a.b.example.com", 443, true),
            ("*.example.com", "a.example.com", 443, true),
            (".aliyuncs.com", "dashscope.aliyuncs.com", 443, true),
            (".aliyuncs.com", "dashscope.aliyuncs.com.evil.net", 443, false),
            ("openai.azure.com", "my.openai.azure.com", 443, true),
            ("10.0.0.0/8", "10.200.3.4", 443, true),
            ("10.0.0.0/8", "11.0.0.1", 443, false),
            ("10.0.0.0/8", "ten.example", 443, false),
            ("192.168.1.0/24", "192.168.1.255", 80, true),
            ("192.168.1.0/24", "192.168.2.1", 80, false),
            ("127.0.0.0/8", "127.0.0.1", 80, true),
            ("0.0.0.0/0", "8.8.8.8", 80, true),
            ("::1", "::1", 80, true),
            ("::1", "[::1]", 80, true),
            ("[::1]", "::1", 80, true),
            ("fd00::/8", "fd12::1", 443, true),
            ("fd00::/8", "fe80::1", 443, false),
            ("fd00::/8", "10.0.0.1", 443, false),
            ("example.com:8443", "example.com", 8443, true),
            ("example.com:8443", "example.com", 443, false),
            ("127.0.0.1:9000", "127.0.0.1", 9000, true),
            ("127.0.0.1:9000", "127.0.0.1", 9001, false),
            (" example.com , other.org ", "other.org", 443, true),
            ("EXAMPLE.com", "api.Example.COM", 443, true),
            // The macOS bypass list's forms.
            ("169.254/16", "169.254.10.20", 80, true),
            ("169.254/16", "169.253.10.20", 80, false),
            ("10/8", "10.9.8.7", 443, true),
            ("192.168/16", "192.168.0.1", 443, true),
            ("192.168/16", "192.169.0.1", 443, false),
            ("192.168.1.*", "192.168.1.77", 443, true),
            ("192.168.1.*", "192.168.10.77", 443, false),
            ("192.168.1.*", "192.168.1.77.example.com", 443, true),
            ("10.*", "10.1.2.3", 443, true),
            ("10.*", "110.1.2.3", 443, false),
            ("*.local", "printer.local", 443, true),
            ("*.local", "printer.local.example", 443, false),
            ("*.internal.*", "git.internal.corp", 443, true),
            ("*.internal.*", "internal.corp", 443, false),
            ("api*.example.com", "api-eu.example.com", 443, true),
            ("api*.example.com", "www.example.com", 443, false),
            ("192.168.1.*:8080", "192.168.1.2", 8080, true),
            ("192.168.1.*:8080", "192.168.1.2", 443, false),
            ("<local>", "intranet", 443, true),
            ("<local>", "Intranet.", 443, true),
            ("<local>", "intranet.corp", 443, false),
            ("<local>", "::1", 443, false),
            ("<local>", "api.openai.com", 443, false),
            // Not an address: kept as a name, which matches nothing here.
            ("1.2.3.4.5/8", "1.2.3.4", 443, false),
            ("300.1/16", "44.1.0.1", 443, false),
        ];
        for (list, host, port, want) in cases {
            let np = NoProxy::parse(list);
            assert_eq!(
                np.bypasses(host, *port),
                *want,
                "NO_PROXY={list:?} host={host} port={port}"
            );
        }
    }

    #[test]
    fn the_matching_entry_is_reported_as_written() {
        let np = NoProxy::parse("localhost, .corp.example ,10.0.0.0/8");
        assert_eq!(np.matching("git.corp.example", 443), Some(".corp.example"));
        assert_eq!(np.matching("10.1.1.1", 443), Some("10.0.0.0/8"));
        assert_eq!(np.matching("example.org", 443), None);
        assert_eq!(np.to_string(), "localhost,.corp.example,10.0.0.0/8");
    }

    #[test]
    fn wildcards_are_bounded_and_exact() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
        assert!(glob_matches("**a", "a"));
        assert!(!glob_matches("", "a"));
        // Many stars against a long non-matching text still ends (and says no).
        let long = "a".repeat(2000);
        assert!(!glob_matches("*a*a*a*a*a*b", &long));
    }

    #[test]
    fn lists_merge_without_duplicates() {
        let mut np = NoProxy::parse("localhost,127.0.0.1");
        np.extend("127.0.0.1,.internal");
        assert_eq!(np.to_string(), "localhost,127.0.0.1,.internal");
        assert!(np.bypasses("svc.internal", 80));
    }
}
