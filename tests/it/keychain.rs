//! The macOS Keychain store for real (macOS only), through the library's secrets API: opening
//! it by name, set / get / replace / delete and the name and value checks, `os.environ/`
//! references resolved from it, and items other tools made (`security`) read by ai-proxy and
//! the reverse. Items go to the default keychain under a service name of each test's own and
//! are deleted at the end; CI makes a temporary keychain the default
//! (.github/workflows/macos.yml). The same store through the binary (`secrets`, `setup`, the
//! gateway) is in `secrets_setup`.

#![cfg(target_os = "macos")]

use std::process::Command;
use std::sync::Arc;

use ai_proxy::config::{self, Env, Origin, Source};
use ai_proxy::secrets::store::{self, StoreError};
use ai_proxy::secrets::{Secret, SecretStore, StoreLookup};

/// A service name no other test or person uses.
fn unique_service(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("ai-proxy-test-{test}-{}-{nanos}", std::process::id())
}

/// The Keychain store under `service`, chosen by name as `AI_PROXY_SECRET_STORE=keychain`
/// does, with the names it must delete when the test ends (even a failing one).
struct Keychain {
    store: Arc<dyn SecretStore>,
    service: String,
    names: Vec<&'static str>,
}

impl Keychain {
    fn open(test: &str, names: &[&'static str]) -> Keychain {
        let service = unique_service(test);
        let env = Env::from_vars([
            ("AI_PROXY_SECRET_STORE", "keychain"),
            ("AI_PROXY_SECRET_SERVICE", service.as_str()),
        ]);
        let store = store::open(&env)
            .unwrap_or_else(|e| panic!("the Keychain store does not open: {e}"))
            .expect("a store, not `none`");
        // Fail here, with the reason, when no default keychain can be used at all.
        if let Err(e) = store.get("AI_PROXY_PROBE") {
            panic!(
                "the default keychain is not usable, so this test cannot run: {e}\n\
                 Create and unlock a keychain and make it the default, as .github/workflows/macos.yml does"
            );
        }
        Keychain { store, service, names: names.to_vec() }
    }
}

impl Drop for Keychain {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.store.delete(name);
        }
    }
}

fn value(store: &dyn SecretStore, name: &str) -> Option<String> {
    store.get(name).expect("read").map(|s| s.expose().clone())
}

#[test]
fn the_keychain_store_sets_replaces_reads_and_deletes() {
    let kc = Keychain::open("crud", &["AI_PROXY_KC_A", "AI_PROXY_KC_B"]);
    let store = kc.store.as_ref();
    assert_eq!(store.label(), "keychain");
    assert_eq!(value(store, "AI_PROXY_KC_A"), None, "nothing there yet");

    store.set("AI_PROXY_KC_A", &Secret::from("first")).expect("set");
    assert_eq!(value(store, "AI_PROXY_KC_A").as_deref(), Some("first"));
    store.set("AI_PROXY_KC_A", &Secret::from("second")).expect("replace");
    assert_eq!(value(store, "AI_PROXY_KC_A").as_deref(), Some("second"));
    let odd = "sk-密钥 with spaces, quotes \" ' and a = sign";
    store.set("AI_PROXY_KC_B", &Secret::from(odd)).expect("set");
    assert_eq!(value(store, "AI_PROXY_KC_B").as_deref(), Some(odd), "any UTF-8 value round-trips");

    assert!(matches!(store.set("AI_PROXY_KC_A", &Secret::from("")), Err(StoreError::Empty(_))));
    assert!(matches!(store.set("1BAD", &Secret::from("x")), Err(StoreError::BadName(_))));
    assert_eq!(value(store, "AI_PROXY_KC_A").as_deref(), Some("second"), "refusals change nothing");

    assert!(store.delete("AI_PROXY_KC_A").expect("delete"));
    assert!(!store.delete("AI_PROXY_KC_A").expect("delete again"), "nothing left to delete");
    assert_eq!(value(store, "AI_PROXY_KC_A"), None);
    assert_eq!(value(store, "AI_PROXY_KC_B").as_deref(), Some(odd), "other items are kept");
}

#[test]
fn os_environ_references_resolve_from_the_keychain() {
    let kc = Keychain::open("resolve", &["DASHSCOPE_API_KEY", "LITELLM_MASTER_KEY"]);
    kc.store.set("DASHSCOPE_API_KEY", &Secret::from("sk-dashscope-from-keychain")).expect("set");
    kc.store.set("LITELLM_MASTER_KEY", &Secret::from("sk-master-from-keychain")).expect("set");

    let mut env = Env::default();
    env.set_store(Arc::new(StoreLookup::new(kc.store.clone())));
    let yaml = "model_list:\n  - model_name: q\n    litellm_params:\n      model: dashscope/qwen-max\n      api_key: os.environ/DASHSCOPE_API_KEY\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n";
    let c = config::load(yaml, Source::Embedded, env).expect("loads");
    assert_eq!(
        c.deployments[0].api_key.as_ref().map(|k| k.expose().as_str()),
        Some("sk-dashscope-from-keychain")
    );
    assert!(c.deployments[0].is_available());
    assert_eq!(c.master_key.as_ref().map(|k| k.expose().as_str()), Some("sk-master-from-keychain"));
    assert_eq!(c.master_key_origin, Some(Origin::Store("keychain")));
}

/// `security` (macOS's own Keychain tool) with `args`; its output, or a panic naming it.
fn security(args: &[&str]) -> std::process::Output {
    let out = Command::new("/usr/bin/security").args(args).output().expect("run security");
    assert!(
        out.status.success(),
        "security {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn other_tools_see_our_items_and_we_see_theirs() {
    let kc = Keychain::open("interop", &["AI_PROXY_KC_OURS", "AI_PROXY_KC_THEIRS"]);
    kc.store.set("AI_PROXY_KC_OURS", &Secret::from("ours-value")).expect("set");
    // A generic password with service = our service and account = the variable name. Only
    // its attributes are read: reading the value would be another program asking for it.
    let found = security(&["find-generic-password", "-s", &kc.service, "-a", "AI_PROXY_KC_OURS"]);
    let attributes = String::from_utf8_lossy(&found.stdout);
    assert!(attributes.contains("\"genp\""), "a generic password: {attributes}");
    assert!(!attributes.contains("ours-value"), "attributes only: {attributes}");

    // An item stored by hand (`-A`: any program may read it without a prompt) is found.
    security(&[
        "add-generic-password",
        "-s",
        &kc.service,
        "-a",
        "AI_PROXY_KC_THEIRS",
        "-w",
        "theirs-value",
        "-A",
    ]);
    assert_eq!(value(kc.store.as_ref(), "AI_PROXY_KC_THEIRS").as_deref(), Some("theirs-value"));
}
