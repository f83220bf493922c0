//! The secret store facade: one small trait, the platform store chosen at run time (with the
//! Linux fallback from the Secret Service to keyutils), and the adapter that lets
//! `config::Env` fall back to it for `os.environ/NAME`.
//!
//! Items live under one service name (`ai-proxy`, or `$AI_PROXY_SECRET_SERVICE`) with the
//! variable name as the account. The platform code (`keychain.rs`, `secret_service.rs`,
//! `linux.rs`) is a thin wrapper over its crate; every decision is made here, where it is tested.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

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
    /// The names stored under the service, when the store can list them in one go; `None`
    /// when it cannot (every name is then asked for on its own).
    fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
        Ok(None)
    }
    /// Short name for logs and `secrets list`: "keychain", "secret-service", "keyutils", "memory".
    fn label(&self) -> &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the {store} secret store is not available: {reason}")]
    Unavailable { store: &'static str, reason: String },
    #[error("{store}: cannot {action} {name}: {reason}")]
    Failed { store: &'static str, action: &'static str, name: String, reason: String },
    #[error(
        "{0} is not a valid variable name (use letters, digits and _, not starting with a digit)"
    )]
    BadName(String),
    #[error("an empty value cannot be stored for {0}")]
    Empty(String),
}

/// A store `$AI_PROXY_SECRET_STORE` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Keychain,
    SecretService,
    Keyutils,
    None,
}

impl StoreKind {
    /// The store the environment names, or `None` for the platform's own choice
    /// ([`platform_order`]).
    pub fn from_env(env: &Env) -> Result<Option<StoreKind>, StoreError> {
        match env.get("AI_PROXY_SECRET_STORE").as_deref().map(str::trim) {
            None | Some("") | Some("auto") => Ok(None),
            Some("keychain") => Ok(Some(StoreKind::Keychain)),
            Some("secret-service") => Ok(Some(StoreKind::SecretService)),
            Some("keyutils") => Ok(Some(StoreKind::Keyutils)),
            Some("none") => Ok(Some(StoreKind::None)),
            Some(other) => Err(StoreError::Unavailable {
                store: "configured",
                reason: format!(
                    "AI_PROXY_SECRET_STORE={other} is not one of auto, keychain, secret-service, keyutils, none"
                ),
            }),
        }
    }
}

/// The stores tried in turn when none is named: the login Keychain on macOS; on Linux the
/// Secret Service (the desktop keyring, which survives reboots) when a session bus can be
/// reached, then kernel keyutils (headless machines, CI).
pub fn platform_order(session_bus: bool) -> Vec<StoreKind> {
    if cfg!(target_os = "macos") {
        vec![StoreKind::Keychain]
    } else if cfg!(target_os = "linux") {
        linux_order(session_bus)
    } else {
        Vec::new()
    }
}

fn linux_order(session_bus: bool) -> Vec<StoreKind> {
    if session_bus {
        vec![StoreKind::SecretService, StoreKind::Keyutils]
    } else {
        vec![StoreKind::Keyutils]
    }
}

/// Whether a D-Bus session bus can be reached without starting one: an address in the
/// environment, or the per-user socket systemd provides. (libdbus would otherwise try to
/// autolaunch a bus through X11, which a headless start-up must not do.)
pub fn session_bus_reachable(
    bus_address: Option<&str>,
    runtime_dir: Option<&std::path::Path>,
) -> bool {
    bus_address.is_some_and(|a| !a.trim().is_empty())
        || runtime_dir.is_some_and(|d| d.join("bus").exists())
}

/// The service name: `$AI_PROXY_SECRET_SERVICE` (separate profiles), else [`SERVICE`].
pub fn service_name(env: &Env) -> String {
    env.get("AI_PROXY_SECRET_SERVICE")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| SERVICE.to_owned())
}

/// The store a process uses, and why earlier stores in the platform order were passed over.
pub struct Opened {
    pub store: Option<Arc<dyn SecretStore>>,
    /// "the secret-service secret store is not available: …" for each store skipped.
    pub passed_over: Vec<String>,
}

/// Open the store the environment asks for. `Ok(None)` when disabled (`none`).
pub fn open(env: &Env) -> Result<Option<Arc<dyn SecretStore>>, StoreError> {
    open_explained(env).map(|o| o.store)
}

/// [`open`], also saying which stores of the platform order were unavailable. A store named
/// in `AI_PROXY_SECRET_STORE` is the only one tried; with the platform order, the last
/// store's error is returned when none can be opened.
pub fn open_explained(env: &Env) -> Result<Opened, StoreError> {
    let service = service_name(env);
    let order = match StoreKind::from_env(env)? {
        Some(kind) => vec![kind],
        None => {
            let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
            let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from);
            platform_order(session_bus_reachable(bus.as_deref(), runtime.as_deref()))
        }
    };
    let mut unavailable: Vec<StoreError> = Vec::new();
    for kind in order {
        match open_kind(kind, &service) {
            Ok(store) => {
                let passed_over = unavailable.iter().map(ToString::to_string).collect();
                return Ok(Opened { store, passed_over });
            }
            Err(e @ StoreError::Unavailable { .. }) => unavailable.push(e),
            Err(e) => return Err(e),
        }
    }
    Err(unavailable.pop().unwrap_or_else(|| StoreError::Unavailable {
        store: "platform",
        reason: "this platform has no secret store (set AI_PROXY_SECRET_STORE=none to use the environment and .env only)".into(),
    }))
}

fn open_kind(kind: StoreKind, service: &str) -> Result<Option<Arc<dyn SecretStore>>, StoreError> {
    match kind {
        StoreKind::None => Ok(None),
        StoreKind::Keychain => open_keychain(service).map(Some),
        StoreKind::SecretService => open_secret_service(service).map(Some),
        StoreKind::Keyutils => open_keyutils(service).map(Some),
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
fn open_secret_service(service: &str) -> Result<Arc<dyn SecretStore>, StoreError> {
    Ok(Arc::new(super::secret_service::SecretServiceStore::open(service)?))
}

#[cfg(not(target_os = "linux"))]
fn open_secret_service(_service: &str) -> Result<Arc<dyn SecretStore>, StoreError> {
    Err(StoreError::Unavailable {
        store: "secret-service",
        reason: "the Secret Service client is built only on Linux".into(),
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

/// Lets `config::Env` ask the store. A config refers to many variables the store does not
/// hold (proxies, optional settings) and resolution asks for some more than once, while a
/// desktop store answers over D-Bus: so the store's own listing (when it has one) answers
/// "not there" without a question, and every answer is kept for this lookup's lifetime (one
/// start-up; a reload opens a new one). A read failure counts as "not set", is logged by name,
/// and is kept so the "not set" message can say why.
pub struct StoreLookup {
    store: Arc<dyn SecretStore>,
    /// What `list` said, asked once on first use; `None` inside when the store cannot list.
    listed: OnceLock<Option<HashSet<String>>>,
    answers: Mutex<HashMap<String, Answer>>,
}

/// What the store said for one name: the value or nothing, or why it could not say.
type Answer = Result<Option<Secret<String>>, String>;

impl StoreLookup {
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        StoreLookup { store, listed: OnceLock::new(), answers: Mutex::default() }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Answer>> {
        self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn listed(&self) -> Option<&HashSet<String>> {
        self.listed
            .get_or_init(|| match self.store.list() {
                Ok(names) => names.map(|n| n.into_iter().collect()),
                Err(e) => {
                    tracing::debug!("{e}; asking for each variable instead");
                    None
                }
            })
            .as_ref()
    }

    fn ask(&self, name: &str) -> Answer {
        if self.listed().is_some_and(|names| !names.contains(name)) {
            return Ok(None);
        }
        match self.store.get(name) {
            Ok(v) => Ok(v),
            Err(StoreError::BadName(_)) => Ok(None),
            Err(e) => {
                tracing::warn!("{e}");
                Err(e.to_string())
            }
        }
    }
}

impl SecretLookup for StoreLookup {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(known) = self.answers().get(name) {
            return known.as_ref().ok().cloned().flatten().map(|s| s.expose().clone());
        }
        let answer = self.ask(name);
        let value = answer.as_ref().ok().cloned().flatten().map(|s| s.expose().clone());
        self.answers().insert(name.to_owned(), answer);
        value
    }

    fn label(&self) -> &'static str {
        self.store.label()
    }

    fn failure(&self, name: &str) -> Option<String> {
        self.answers().get(name).and_then(|a| a.as_ref().err().cloned())
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.listed().map(|n| n.iter().cloned().collect()).unwrap_or_default();
        names.sort();
        names
    }
}

/// Map a keyring-core result for one item into ours (shared by the platform stores).
pub(super) fn keyring_failed(
    store: &'static str,
    action: &'static str,
    name: &str,
    e: keyring_core::Error,
) -> StoreError {
    match e {
        keyring_core::Error::NoStorageAccess(inner) => {
            StoreError::Unavailable { store, reason: with_hint(store, inner.to_string()) }
        }
        keyring_core::Error::PlatformFailure(inner)
            if store == "keyutils" && inner.to_string().contains("AccessDenied") =>
        {
            StoreError::Unavailable { store, reason: with_hint(store, inner.to_string()) }
        }
        other => {
            StoreError::Failed { store, action, name: name.to_owned(), reason: other.to_string() }
        }
    }
}

fn with_hint(store: &str, reason: String) -> String {
    if store == "keyutils" {
        format!(
            "{reason} (no usable session keyring: on a headless Linux machine run the command inside `keyctl session -`, from the Debian package keyutils)"
        )
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

    /// A search filtered on the service (the Keychain: generic passwords whose service is
    /// ours, in the login keychain). Stores without search (keyutils) answer `None`.
    fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
        let spec = HashMap::from([("service", self.service.as_str())]);
        match keyring_core::Entry::search_in_store(&self.store, &spec) {
            Ok(entries) => Ok(Some(names_in_service(
                entries.iter().filter_map(keyring_core::Entry::get_specifiers),
                &self.service,
            ))),
            Err(keyring_core::Error::NotSupportedByStore(_)) => Ok(None),
            Err(e) => Err(keyring_failed(self.label, "list", "the stored names", e)),
        }
    }

    fn label(&self) -> &'static str {
        self.label
    }
}

/// The account names of the (service, account) pairs a search found that belong to
/// `service` and are variable names, sorted, without duplicates (a search is by service
/// already; the filter keeps a store that matches loosely from listing others' items).
pub(super) fn names_in_service(
    pairs: impl Iterator<Item = (String, String)>,
    service: &str,
) -> Vec<String> {
    let mut names: Vec<String> = pairs
        .filter(|(s, account)| s == service && check_name(account).is_ok())
        .map(|(_, account)| account)
        .collect();
    names.sort();
    names.dedup();
    names
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
        for (k, v) in [
            ("DASHSCOPE_API_KEY", "sk-from-store"),
            ("LITELLM_MASTER_KEY", "sk-master-store"),
            ("SHADOWED", "store"),
        ] {
            store.set(k, &Secret::from(v)).expect("set");
        }
        let mut env = Env::from_vars([("SHADOWED", "process")]);
        env.set_config_vars(HashMap::from([("CONFIG_ONLY".to_owned(), "cfg".to_owned())]));
        env.set_store(Arc::new(StoreLookup::new(store.clone())));
        assert_eq!(env.lookup("SHADOWED"), Some(("process".into(), Origin::Process)));
        assert_eq!(env.lookup("CONFIG_ONLY"), Some(("cfg".into(), Origin::ConfigFile)));
        assert_eq!(
            env.lookup("DASHSCOPE_API_KEY"),
            Some(("sk-from-store".into(), Origin::Store("memory")))
        );
        assert_eq!(env.get("not a name"), None, "bad names are simply not found");

        let yaml = "model_list:\n  - model_name: q\n    litellm_params:\n      model: dashscope/qwen-max\n      api_key: os.environ/DASHSCOPE_API_KEY\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n";
        let c = config::load(yaml, Source::Embedded, env).expect("loads");
        assert_eq!(
            c.deployments[0].api_key.as_ref().map(|k| k.expose().as_str()),
            Some("sk-from-store")
        );
        assert!(c.deployments[0].is_available());
        assert_eq!(c.master_key_origin, Some(Origin::Store("memory")));
    }

    #[test]
    fn a_search_lists_only_our_services_variable_names() {
        let pairs = [
            ("ai-proxy", "ZHIPU_API_KEY"),
            ("ai-proxy", "AZURE_API_KEY"),
            ("ai-proxy", "AZURE_API_KEY"),
            ("ai-proxy-dev", "OTHER_KEY"),
            ("ai-proxy", "not a name"),
            ("Safari", "me@example.com"),
        ]
        .map(|(s, a)| (s.to_owned(), a.to_owned()));
        assert_eq!(
            names_in_service(pairs.into_iter(), "ai-proxy"),
            ["AZURE_API_KEY", "ZHIPU_API_KEY"]
        );
    }

    /// A store that counts its reads, lists or not, and fails for one name.
    struct Counting {
        inner: MemoryStore,
        can_list: bool,
        gets: std::sync::atomic::AtomicUsize,
    }

    impl SecretStore for Counting {
        fn get(&self, name: &str) -> Result<Option<Secret<String>>, StoreError> {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if name == "LOCKED" {
                return Err(StoreError::Failed {
                    store: "memory",
                    action: "read",
                    name: name.into(),
                    reason: "the keyring is locked".into(),
                });
            }
            self.inner.get(name)
        }
        fn set(&self, name: &str, value: &Secret<String>) -> Result<(), StoreError> {
            self.inner.set(name, value)
        }
        fn delete(&self, name: &str) -> Result<bool, StoreError> {
            self.inner.delete(name)
        }
        fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
            if self.can_list { self.inner.list() } else { Ok(None) }
        }
        fn label(&self) -> &'static str {
            "memory"
        }
    }

    fn counting(can_list: bool) -> Arc<Counting> {
        let inner = MemoryStore::new();
        inner.set("DASHSCOPE_API_KEY", &Secret::from("sk-ds")).expect("set");
        inner.set("LOCKED", &Secret::from("x")).expect("set");
        Arc::new(Counting { inner, can_list, gets: Default::default() })
    }

    #[test]
    fn lookups_ask_the_store_once_per_name_and_never_for_names_it_does_not_list() {
        for can_list in [true, false] {
            let store = counting(can_list);
            let lookup = StoreLookup::new(store.clone());
            let gets = || store.gets.load(std::sync::atomic::Ordering::Relaxed);
            for _ in 0..3 {
                assert_eq!(lookup.lookup("DASHSCOPE_API_KEY").as_deref(), Some("sk-ds"));
                assert_eq!(lookup.lookup("QWEN_PROXY"), None);
                assert_eq!(lookup.lookup("LOCKED"), None);
            }
            // Listed stores are not asked for QWEN_PROXY at all; a failure is not retried
            // (a locked keyring would prompt again).
            assert_eq!(gets(), if can_list { 2 } else { 3 }, "can_list={can_list}");
            assert_eq!(
                lookup.failure("LOCKED").as_deref(),
                Some("memory: cannot read LOCKED: the keyring is locked")
            );
            assert_eq!(lookup.failure("QWEN_PROXY"), None);
            assert_eq!(lookup.failure("DASHSCOPE_API_KEY"), None);
            let listed: Vec<String> =
                if can_list { vec!["DASHSCOPE_API_KEY".into(), "LOCKED".into()] } else { vec![] };
            assert_eq!(SecretLookup::names(&lookup), listed);
        }
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
        assert_eq!(s.list().expect("list"), Some(Vec::<String>::new()));
    }

    #[test]
    fn store_choice_from_the_environment() {
        let kind = |v: &str| StoreKind::from_env(&Env::from_vars([("AI_PROXY_SECRET_STORE", v)]));
        assert_eq!(kind("none").expect("ok"), Some(StoreKind::None));
        assert_eq!(kind("keyutils").expect("ok"), Some(StoreKind::Keyutils));
        assert_eq!(kind(" secret-service ").expect("ok"), Some(StoreKind::SecretService));
        assert_eq!(kind("keychain").expect("ok"), Some(StoreKind::Keychain));
        assert_eq!(kind("").expect("ok"), None);
        assert_eq!(kind("auto").expect("ok"), None);
        assert_eq!(StoreKind::from_env(&Env::default()).expect("ok"), None);
        let e = kind("vault").expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "the configured secret store is not available: AI_PROXY_SECRET_STORE=vault is not one of auto, keychain, secret-service, keyutils, none"
        );
        assert!(open(&Env::from_vars([("AI_PROXY_SECRET_STORE", "none")])).expect("ok").is_none());
        assert_eq!(service_name(&Env::default()), "ai-proxy");
        assert_eq!(service_name(&Env::from_vars([("AI_PROXY_SECRET_SERVICE", "work")])), "work");
    }

    #[test]
    fn linux_prefers_the_secret_service_only_when_a_session_bus_is_there() {
        assert_eq!(linux_order(true), vec![StoreKind::SecretService, StoreKind::Keyutils]);
        assert_eq!(linux_order(false), vec![StoreKind::Keyutils]);
        if cfg!(target_os = "linux") {
            assert_eq!(platform_order(true), linux_order(true));
        }

        let dir = tempfile::tempdir().expect("tempdir");
        assert!(session_bus_reachable(Some("unix:path=/run/user/1000/bus"), None));
        assert!(!session_bus_reachable(Some("  "), None), "an empty address is no bus");
        assert!(!session_bus_reachable(None, None));
        assert!(!session_bus_reachable(None, Some(dir.path())), "no bus socket in XDG_RUNTIME_DIR");
        std::fs::write(dir.path().join("bus"), "").expect("bus");
        assert!(session_bus_reachable(None, Some(dir.path())), "systemd's per-user bus socket");
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn a_named_store_that_cannot_open_is_an_error_not_a_fallback() {
        let e = open(&Env::from_vars([("AI_PROXY_SECRET_STORE", "keychain")]))
            .err()
            .expect("no Keychain here");
        assert_eq!(
            e.to_string(),
            "the keychain secret store is not available: the macOS Keychain exists only on macOS"
        );
    }
}
