//! The macOS system proxy settings (System Settings > Network > Details > Proxies), read
//! once at start-up into plain data; the decisions about them live in `proxy.rs`, tested
//! on every platform. Elsewhere there are no system settings to read.
//!
//! Not read: PAC files / automatic proxy configuration (a PAC URL needs a JavaScript
//! engine); set the proxy variable for the provider instead.

use super::proxy::SystemProxy;

/// The system proxy settings, if this platform has them and any proxy is enabled.
pub fn read() -> Option<SystemProxy> {
    imp::read()
}

#[cfg(target_os = "macos")]
mod imp {
    use system_configuration::core_foundation::array::CFArray;
    use system_configuration::core_foundation::base::{CFType, TCFType};
    use system_configuration::core_foundation::dictionary::CFDictionary;
    use system_configuration::core_foundation::number::CFNumber;
    use system_configuration::core_foundation::string::{CFString, CFStringRef};
    use system_configuration::dynamic_store::SCDynamicStoreBuilder;
    use system_configuration::sys::schema_definitions::{
        kSCPropNetProxiesExceptionsList, kSCPropNetProxiesHTTPEnable, kSCPropNetProxiesHTTPPort,
        kSCPropNetProxiesHTTPProxy, kSCPropNetProxiesHTTPSEnable, kSCPropNetProxiesHTTPSPort,
        kSCPropNetProxiesHTTPSProxy, kSCPropNetProxiesSOCKSEnable, kSCPropNetProxiesSOCKSPort,
        kSCPropNetProxiesSOCKSProxy,
    };

    use super::SystemProxy;

    pub fn read() -> Option<SystemProxy> {
        let store = SCDynamicStoreBuilder::new("ai-proxy").build()?;
        let map = store.get_proxies()?;
        // SAFETY: reading immutable CFString constants exported by SystemConfiguration.
        let (settings, exceptions_key) = unsafe {
            (
                SystemProxy {
                    http: entry(
                        &map,
                        kSCPropNetProxiesHTTPEnable,
                        kSCPropNetProxiesHTTPProxy,
                        kSCPropNetProxiesHTTPPort,
                    ),
                    https: entry(
                        &map,
                        kSCPropNetProxiesHTTPSEnable,
                        kSCPropNetProxiesHTTPSProxy,
                        kSCPropNetProxiesHTTPSPort,
                    ),
                    socks: entry(
                        &map,
                        kSCPropNetProxiesSOCKSEnable,
                        kSCPropNetProxiesSOCKSProxy,
                        kSCPropNetProxiesSOCKSPort,
                    ),
                    exceptions: Vec::new(),
                },
                kSCPropNetProxiesExceptionsList,
            )
        };
        if settings.http.is_none() && settings.https.is_none() && settings.socks.is_none() {
            return None;
        }
        let exceptions = map
            .find(exceptions_key)
            .and_then(|v| v.downcast::<CFArray>())
            .map(|arr| {
                arr.iter()
                    .filter_map(|item| {
                        // SAFETY: the item is a CFTypeRef owned by the array; wrap_under_get_rule retains it.
                        let t = unsafe { CFType::wrap_under_get_rule(*item) };
                        t.downcast::<CFString>().map(|s| s.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(SystemProxy { exceptions, ..settings })
    }

    fn entry(
        map: &CFDictionary<CFString, CFType>,
        enabled: CFStringRef,
        host: CFStringRef,
        port: CFStringRef,
    ) -> Option<String> {
        let on = map
            .find(enabled)
            .and_then(|v| v.downcast::<CFNumber>())
            .and_then(|n| n.to_i32())
            .unwrap_or(0)
            == 1;
        if !on {
            return None;
        }
        let host = map.find(host).and_then(|v| v.downcast::<CFString>()).map(|s| s.to_string())?;
        let port = map.find(port).and_then(|v| v.downcast::<CFNumber>()).and_then(|n| n.to_i32());
        Some(match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        })
    }
}

#[cfg(not(target_os = "macos"))]
mod imp {
    use super::SystemProxy;

    pub fn read() -> Option<SystemProxy> {
        None
    }
}
