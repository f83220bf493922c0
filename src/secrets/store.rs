//! The secret store facade: one small trait, the platform store chosen at run time, and the
//! adapter that lets `config::Env` fall back to it for `os.environ/NAME`.
//!
//! Items live under one service name (`ai-proxy`, or `$AI_PROXY_SECRET_SERVICE`) with the
//! variable name as the account. The platform code (`keychain.rs`, `linux.rs`) is a thin
//! wrapper over keyring-core; every decision is made here, where it is tested.

use std::sync::Arc;

use super::Secret;
use crate::config::Env;
use crate::config::env::SecretLookup;

/// The service name items are stored under.
pub const SERVICE: &str = "ai-proxy";

/// What a store can do. Implementations never log values.
pub trait SecretStore: Send + Sync {
    /// The value stored for `name`, `None` if there is none.
    fn get(&self, name: &str) -> Result<Option<Secret<String>>, StoreError>;
    /// Create or replace the value for `name`.
    fn set(&self, name: &str, value: &Secret<String>) -> Result<(), StoreError>;
    /// Remove `name`; `false` if there was nothing to remove.
    fn delete(&self, name: &str) -> Result<bool, StoreError>;
    /// Short name for logs and `secrets list`: "keychain", "keyutils", "memory".
    fn label(&self) -> &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the {store} secret store is not available: {reason}")]
    Unavailable { store: &'static str, reason: String },
    #[error("{store}: cannot {action} {name}: {reason}")]
    Failed {
        store: &'static str,
        action: &'static str,
        name: String,
        reason: String,
    },
    #[error("{0} is not a valid variable name (use letters, digits and _, not starting with a digit)")]
    BadName(String),
    #[error("an empty value cannot be stored for {0}")]
    Empty(String),
}

/// Which store `open` picks: `$AI_PROXY_SECRET_STORE` (`keychain`, `keyutils`, `none`), else
/// the platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Keychain,
    Keyutils,
    None,
}

impl StoreKind {
    pub fn from_env(env: &Env) -> Result<StoreKind, StoreError> {
        match env.get("AI_PROXY_SECRET_STORE").as_deref().map(str::trim) {
            None | Some("") => Ok(StoreKind::platform_default()),
            Some("keychain") => Ok(StoreKind::Keychain),
            Some("keyutils") => Ok(StoreKind::Keyutils),
            Some("none") => Ok(StoreKind::None),
            Some(other) => Err(StoreError::Unavailable {
                store: "configured",
                reason: format!("AI_PROXY_SECRET_STORE={other} is not one of keychain, keyutils, none"),
            }),
        }
    }

    pub fn platform_default() -> StoreKind {
        if cfg!(target_os = "macos") {
            StoreKind::Keychain
        } else if cfg!(target_os = "linux") {
            StoreKind::Keyutils
        } else {
            StoreKind::None
        }
    }
}

/// The service name: `$AI_PROXY_SECRET_SERVICE` (separate profiles), else [`SERVICE`].
pub fn service_name(env: &Env) -> String {
    env.get("AI_PROXY_SECRET_SERVICE")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| SERVICE.to_owned())
}

/// Open the store the environment asks for. `Ok(None)` when disabled (`none`).
pub fn open(env: &Env) -> Result<Option<Arc<dyn SecretStore>>, StoreError> {
    let service = service_name(env);
    match StoreKind::from_env(env)? {
        StoreKind::None => Ok(None),
        StoreKind::Keychain => open_keychain(&service).map(Some),
        StoreKind::Keyutils => open_keyutils(&service).map(Some),
    }
}

#[cfg(target_os = "macos")]
fn open_keychain(service: &str) -> Result<Arc<dyn SecretStore>, StoreError> {
    Ok(Arc::new(super::keychain::KeychainStore::open(service)?))
}

#[cfg(not(target_os = "macos"))]
fn open_keychain(_service: &str) -> Result<Arc<dyn SecretStore>, StoreError> {
    Err(StoreError::Unavailable {
        store: "keychain",
        reason: "the macOS Keychain exists only on macOS".into(),
    })
}

#[cfg(target_os = "linux")]
fn open_keyutils(service: &str) -> Result<Arc<dyn SecretStore>, StoreError> {
    Ok(Arc::new(super::linux::KeyutilsStore::open(service)?))
}

#[cfg(not(target_os = "linux"))]
fn open_keyutils(_service: &str) -> Result<Arc<dyn SecretStore>, StoreError> {
    Err(StoreError::Unavailable {
        store: "keyutils",
        reason: "kernel keyutils exist only on Linux".into(),
    })
}

/// A variable name as `.env` and `os.environ/` use them.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(StoreError::BadName(name.to_owned())) }
}

/// Lets `config::Env` ask the store; read failures count as "not set" (and are logged by name).
pub struct StoreLookup(pub Arc<dyn SecretStore>);

impl SecretLookup for StoreLookup {
    fn lookup(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Ok(v) => v.map(|s| s.expose().clone()),
            Err(StoreError::BadName(_)) => None,
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }

    fn label(&self) -> &'static str {
        self.0.label()
    }
}

/// Map a keyring-core result for one item into ours (shared by the platform stores).
pub(super) fn keyring_failed(store: &'static str, action: &'static str, name: &str, e: keyring_core::Error) -> StoreError {
    match e {
        keyring_core::Error::NoStorageAccess(inner) => StoreError::Unavailable {
            store,
            reason: with_hint(store, inner.to_string()),
        },
        keyring_core::Error::PlatformFailure(inner) if store == "keyutils" && inner.to_string().contains("AccessDenied") => {
            StoreError::Unavailable {
                store,
                reason: with_hint(store, inner.to_string()),
            }
        }
        other => StoreError::Failed {
            store,
            action,
            name: name.to_owned(),
            reason: other.to_string(),
        },
    }
}

fn with_hint(store: &str, reason: String) -> String {
    if store == "keyutils" {
        format!("{reason} (no usable session keyring: on a headless Linux machine run the command inside `keyctl session -`, from the Debian package keyutils)")
    } else {
        reason
    }
}

/// get/set/delete over any keyring-core store, under one service.
pub(super) struct KeyringBacked {
    pub store: Arc<keyring_core::CredentialStore>,
    pub service: String,
    pub label: &'static str,
}

impl KeyringBacked {
    fn entry(&self, action: &'static str, name: &str) -> Result<keyring_core::Entry, StoreError> {
        check_name(name)?;
        keyring_core::Entry::new_in_store(&self.store, &self.service, name)
            .map_err(|e| keyring_failed(self.label, action, name, e))
    }
}

impl SecretStore for KeyringBacked {
    fn get(&self, name: &str) -> Result<Option<Secret<String>>, StoreError> {
        match self.entry("read", name)?.get_password() {
            Ok(v) => Ok(Some(Secret::new(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_failed(self.label, "read", name, e)),
        }
    }

    fn set(&self, name: &str, value: &Secret<String>) -> Result<(), StoreError> {
        if value.expose().is_empty() {
            return Err(StoreError::Empty(name.to_owned()));
        }
        self.entry("store", name)?
            .set_password(value.expose())
            .map_err(|e| keyring_failed(self.label, "store", name, e))
    }

    fn delete(&self, name: &str) -> Result<bool, StoreError> {
        match self.entry("delete", name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_failed(self.label, "delete", name, e)),
        }
    }

    fn label(&self) -> &'static str {
        self.label
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{self, Origin, Source};
    use crate::secrets::MemoryStore;

    #[test]
    fn the_store_is_the_last_source_for_os_environ_references() {
        let store = Arc::new(MemoryStore::new());
        for (k, v) in [("DASHSCOPE_API_KEY", "sk-from-store"), ("LITELLM_MASTER_KEY", "sk-master-store"), ("SHADOWED", "store")] {
            store.set(k, &Secret::from(v)).expect("set");
        }
        let mut env = Env::from_vars([("SHADOWED", "process")]);
        env.set_config_vars(HashMap::from([("CONFIG_ONLY".to_owned(), "cfg".to_owned())]));
        env.set_store(Arc::new(StoreLookup(store.clone())));
        assert_eq!(env.lookup("SHADOWED"), Some(("process".into(), Origin::Process)));
        assert_eq!(env.lookup("CONFIG_ONLY"), Some(("cfg".into(), Origin::ConfigFile)));
        assert_eq!(env.lookup("DASHSCOPE_API_KEY"), Some(("sk-from-store".into(), Origin::Store("memory"))));
        assert_eq!(env.get("not a name"), None, "bad names are simply not found");

        let yaml = "model_list:\n  - model_name: q\n    litellm_params:\n      model: dashscope/qwen-max\n      api_key: os.environ/DASHSCOPE_API_KEY\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n";
        let c = config::load(yaml, Source::Embedded, env).expect("loads");
        assert_eq!(c.deployments[0].api_key.as_ref().map(|k| k.expose().as_str()), Some("sk-from-store"));
        assert!(c.deployments[0].is_available());
        assert_eq!(c.master_key_origin, Some(Origin::Store("memory")));
    }

    #[test]
    fn memory_store_behaves_like_the_platform_stores() {
        let s = MemoryStore::new();
        assert_eq!(s.get("A").expect("get"), None);
        s.set("A", &Secret::from("1")).expect("set");
        s.set("A", &Secret::from("2")).expect("replace");
        assert_eq!(s.get("A").expect("get").map(|v| v.expose().clone()), Some("2".into()));
        assert!(matches!(s.set("B", &Secret::from("")), Err(StoreError::Empty(_))));
        assert!(matches!(s.set("1B", &Secret::from("x")), Err(StoreError::BadName(_))));
        assert!(s.delete("A").expect("delete"));
        assert!(!s.delete("A").expect("delete again"));
        assert_eq!(s.names(), Vec::<String>::new());
    }

    #[test]
    fn store_choice_from_the_environment() {
        let kind = |v: &str| StoreKind::from_env(&Env::from_vars([("AI_PROXY_SECRET_STORE", v)]));
        assert_eq!(kind("none").expect("ok"), StoreKind::None);
        assert_eq!(kind("keyutils").expect("ok"), StoreKind::Keyutils);
        assert_eq!(kind("").expect("ok"), StoreKind::platform_default());
        let e = kind("vault").expect_err("unknown");
        assert!(e.to_string().contains("AI_PROXY_SECRET_STORE=vault is not one of keychain, keyutils, none"), "{e}");
        assert!(open(&Env::from_vars([("AI_PROXY_SECRET_STORE", "none")])).expect("ok").is_none());
        assert_eq!(service_name(&Env::default()), "ai-proxy");
        assert_eq!(service_name(&Env::from_vars([("AI_PROXY_SECRET_SERVICE", "work")])), "work");
    }
}
