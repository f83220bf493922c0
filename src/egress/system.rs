//! The macOS system proxy settings (System Settings > Network > Details > Proxies), read
//! once at start-up. The macOS side only copies the SystemConfiguration proxy dictionary
//! (`SCDynamicStoreCopyProxies`, the same data `scutil --proxy` prints) into plain
//! [`Value`]s; [`interpret`] decides what they mean and is tested on every platform.
//! Elsewhere there are no system settings to read.
//!
//! Understood: the HTTP, HTTPS and SOCKS proxies, the bypass list (`ExceptionsList`, every
//! form macOS writes: see `no_proxy.rs`), "Exclude simple hostnames" (`<local>`). Detected
//! but not evaluated: a PAC file (`ProxyAutoConfigEnable` + `ProxyAutoConfigURLString`) and
//! WPAD (`ProxyAutoDiscoveryEnable`): a PAC file is JavaScript; start-up and `doctor` say so
//! and name the per-provider variables to set instead.

use std::collections::BTreeMap;

use super::proxy::SystemProxy;

/// A value of the proxy dictionary, as far as the proxy keys use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(String),
    List(Vec<String>),
}

/// The keys read from the dictionary (the values of the `kSCPropNetProxies*` constants).
pub const KEYS: &[&str] = &[
    "HTTPEnable",
    "HTTPProxy",
    "HTTPPort",
    "HTTPSEnable",
    "HTTPSProxy",
    "HTTPSPort",
    "SOCKSEnable",
    "SOCKSProxy",
    "SOCKSPort",
    "ExceptionsList",
    "ExcludeSimpleHostnames",
    "ProxyAutoConfigEnable",
    "ProxyAutoConfigURLString",
    "ProxyAutoDiscoveryEnable",
];

/// The system proxy settings, if this platform has them and any proxy (fixed or
/// automatic) is enabled.
pub fn read() -> Option<SystemProxy> {
    interpret(&imp::read()?)
}

/// What the proxy dictionary means: `None` when no proxy of any kind is enabled.
pub fn interpret(map: &BTreeMap<String, Value>) -> Option<SystemProxy> {
    let on = |k: &str| matches!(map.get(k), Some(Value::Int(1)));
    let text = |k: &str| match map.get(k) {
        Some(Value::Str(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    };
    let entry = |prefix: &str| -> Option<String> {
        if !on(&format!("{prefix}Enable")) {
            return None;
        }
        let host = text(&format!("{prefix}Proxy"))?;
        Some(match map.get(&format!("{prefix}Port")) {
            Some(Value::Int(p)) if (1..=65535).contains(p) => format!("{host}:{p}"),
            _ => host,
        })
    };
    let mut exceptions: Vec<String> = match map.get("ExceptionsList") {
        Some(Value::List(items)) => {
            items.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
        }
        _ => Vec::new(),
    };
    if on("ExcludeSimpleHostnames") && !exceptions.iter().any(|e| e == "<local>") {
        exceptions.push("<local>".to_owned());
    }
    let settings = SystemProxy {
        http: entry("HTTP"),
        https: entry("HTTPS"),
        socks: entry("SOCKS"),
        exceptions,
        // Ticked without a URL still counts as configured.
        pac_url: on("ProxyAutoConfigEnable")
            .then(|| text("ProxyAutoConfigURLString").unwrap_or_else(|| "no URL set".into())),
        auto_discovery: on("ProxyAutoDiscoveryEnable"),
    };
    (settings.has_fixed_proxy() || settings.automatic().is_some()).then_some(settings)
}

#[cfg(target_os = "macos")]
mod imp {
    use std::collections::BTreeMap;

    use system_configuration::core_foundation::array::CFArray;
    use system_configuration::core_foundation::base::{CFType, TCFType};
    use system_configuration::core_foundation::number::CFNumber;
    use system_configuration::core_foundation::string::CFString;
    use system_configuration::dynamic_store::SCDynamicStoreBuilder;

    use super::{KEYS, Value};

    /// The proxy dictionary's keys in [`KEYS`], as plain values.
    pub fn read() -> Option<BTreeMap<String, Value>> {
        let store = SCDynamicStoreBuilder::new("ai-proxy").build()?;
        let dict = store.get_proxies()?;
        let mut map = BTreeMap::new();
        for &name in KEYS {
            let key = CFString::new(name);
            let Some(v) = dict.find(&key) else { continue };
            let value = if let Some(n) = v.downcast::<CFNumber>() {
                n.to_i64().map(Value::Int)
            } else if let Some(s) = v.downcast::<CFString>() {
                Some(Value::Str(s.to_string()))
            } else {
                v.downcast::<CFArray>().map(|arr| {
                    Value::List(
                        arr.iter()
                            .filter_map(|item| {
                                // SAFETY: the item is a CFTypeRef owned by the array;
                                // wrap_under_get_rule retains it.
                                let t = unsafe { CFType::wrap_under_get_rule(*item) };
                                t.downcast::<CFString>().map(|s| s.to_string())
                            })
                            .collect(),
                    )
                })
            };
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        }
        Some(map)
    }
}

#[cfg(not(target_os = "macos"))]
mod imp {
    use std::collections::BTreeMap;

    use super::Value;

    pub fn read() -> Option<BTreeMap<String, Value>> {
        None
    }
}

#[cfg(test)]
mod tests;
