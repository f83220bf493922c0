//! The interpreter against proxy dictionaries as `scutil --proxy` prints them. The fixtures
//! were written from Apple's documented keys (SCSchemaDefinitions.h, `kSCPropNetProxies*`)
//! and `scutil`'s `<dictionary> { key : value }` format, not captured on a Mac.

use std::collections::BTreeMap;

use super::*;
use crate::egress::no_proxy::NoProxy;
use crate::egress::proxy::automatic_warning;

/// `scutil --proxy` output to the plain map (numbers, strings, arrays of strings).
fn scutil(text: &str) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    let mut list: Option<(String, Vec<String>)> = None;
    for line in text.lines().map(str::trim) {
        if line == "}" {
            if let Some((k, items)) = list.take() {
                map.insert(k, Value::List(items));
            }
            continue;
        }
        let Some((k, v)) = line.split_once(" : ") else { continue };
        if let Some((_, items)) = list.as_mut() {
            items.push(v.to_owned());
        } else if v == "<array> {" {
            list = Some((k.to_owned(), Vec::new()));
        } else if let Ok(n) = v.parse() {
            map.insert(k.to_owned(), Value::Int(n));
        } else {
            map.insert(k.to_owned(), Value::Str(v.to_owned()));
        }
    }
    map
}

/// A Mac with the default bypass list and an HTTP(S) proxy.
const CORPORATE: &str = "<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
    2 : 192.168.1.*
  }
  ExcludeSimpleHostnames : 1
  FTPPassive : 1
  HTTPEnable : 1
  HTTPPort : 8080
  HTTPProxy : proxy.corp.example
  HTTPSEnable : 1
  HTTPSPort : 8443
  HTTPSProxy : proxy.corp.example
  __SCOPED__ : <dictionary> {
    en0 : <dictionary> {
      HTTPEnable : 1
    }
  }
}";

#[test]
fn fixed_proxies_and_the_default_bypass_list() {
    let s = interpret(&scutil(CORPORATE)).expect("settings");
    assert_eq!(s.http.as_deref(), Some("proxy.corp.example:8080"));
    assert_eq!(s.https.as_deref(), Some("proxy.corp.example:8443"));
    assert_eq!(s.socks, None);
    assert_eq!(s.exceptions, ["*.local", "169.254/16", "192.168.1.*", "<local>"]);
    assert_eq!(s.automatic(), None);
    let np = NoProxy::parse(&s.exceptions.join(","));
    for (host, bypass) in [
        ("printer.local", true),
        ("169.254.1.1", true),
        ("192.168.1.20", true),
        ("intranet", true),
        ("api.openai.com", false),
        ("192.168.2.20", false),
    ] {
        assert_eq!(np.bypasses(host, 443), bypass, "{host}");
    }
}

#[test]
fn nothing_enabled_is_no_settings() {
    let text = "<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
  }
  FTPPassive : 1
  HTTPEnable : 0
  HTTPProxy : leftover.example
}";
    assert_eq!(interpret(&scutil(text)), None);
    assert_eq!(interpret(&BTreeMap::new()), None);
}

#[test]
fn a_proxy_without_a_host_or_with_a_bad_port() {
    let text = "<dictionary> {
  HTTPSEnable : 1
  SOCKSEnable : 1
  SOCKSPort : 99999
  SOCKSProxy : socks.example
}";
    let s = interpret(&scutil(text)).expect("settings");
    assert_eq!(s.https, None, "enabled without a host");
    assert_eq!(s.socks.as_deref(), Some("socks.example"), "port out of range dropped");
}

#[test]
fn pac_and_wpad_are_detected_and_explained() {
    let text = "<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
  }
  ProxyAutoConfigEnable : 1
  ProxyAutoConfigURLString : http://wpad.corp.example/proxy.pac
  ProxyAutoDiscoveryEnable : 1
}";
    let s = interpret(&scutil(text)).expect("settings");
    assert!(!s.has_fixed_proxy());
    assert_eq!(s.pac_url.as_deref(), Some("http://wpad.corp.example/proxy.pac"));
    assert!(s.auto_discovery);
    let w = automatic_warning(&s, &["AZURE_PROXY", "GEMINI_PROXY"]).expect("warning");
    assert!(
        w.starts_with("macOS uses a proxy auto-configuration (PAC) file (http://wpad.corp.example/proxy.pac) and automatic proxy discovery (WPAD), which ai-proxy does not evaluate: requests without another proxy setting go direct."),
        "{w}"
    );
    assert!(w.contains("AZURE_PROXY=http://host:port, GEMINI_PROXY=http://host:port"), "{w}");

    // Ticked without a URL, and off with a URL left behind.
    let s = interpret(&scutil("<dictionary> {\n  ProxyAutoConfigEnable : 1\n}")).expect("on");
    assert_eq!(s.pac_url.as_deref(), Some("no URL set"));
    let off = "<dictionary> {\n  ProxyAutoConfigEnable : 0\n  ProxyAutoConfigURLString : http://x/p.pac\n}";
    assert_eq!(interpret(&scutil(off)), None);
}

#[test]
fn pac_next_to_a_fixed_proxy_says_the_fixed_one_is_used() {
    let mut map = scutil(CORPORATE);
    map.insert("ProxyAutoConfigEnable".into(), Value::Int(1));
    map.insert("ProxyAutoConfigURLString".into(), Value::Str("http://u:pw@pac/p.pac".into()));
    let s = interpret(&map).expect("settings");
    let w = automatic_warning(&s, &[]).expect("warning");
    assert!(w.contains("the fixed proxies set next to it are used"), "{w}");
    assert!(w.contains("set HTTPS_PROXY=http://host:port"), "{w}");
    assert!(!w.contains("pw"), "the PAC URL's password is redacted: {w}");
}
