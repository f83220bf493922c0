//! The Linux desktop secret store: the freedesktop Secret Service (GNOME Keyring, KWallet,
//! KeePassXC) over the D-Bus session bus, through dbus-secret-service.
//!
//! Items carry the attributes `service` and `username` (the keyring crates' convention, so
//! `secret-tool lookup service ai-proxy username NAME` finds them) and are created in the
//! default collection. Values cross the bus encrypted (DH session), as text/plain. A locked
//! keyring makes the service show its unlock prompt; we wait for it at most
//! [`PROMPT_SECONDS`], so a start-up never hangs on a prompt nobody sees. Kept thin: which
//! store to use, and the fallback to keyutils, is decided in `store.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use dbus_secret_service::{EncryptionType, Error as SsError, Item, SecretService};

use super::Secret;
use super::store::{SecretStore, StoreError, check_name};

const LABEL: &str = "secret-service";

/// How long an unlock prompt may stay open before the operation is given up.
pub const PROMPT_SECONDS: u64 = 60;

pub struct SecretServiceStore {
    ss: Mutex<SecretService>,
    service: String,
    /// Set once an unlock prompt was dismissed or timed out: later reads of locked items fail
    /// at once instead of showing one prompt per variable.
    unlock_refused: AtomicBool,
}

impl SecretServiceStore {
    /// Connect to the session bus and open an encrypted session with the Secret Service.
    /// A service that has no default collection cannot store items: it counts as unavailable.
    pub fn open(service: &str) -> Result<Self, StoreError> {
        let ss = SecretService::connect_with_max_prompt_timeout(EncryptionType::Dh, PROMPT_SECONDS)
            .map_err(|e| StoreError::Unavailable { store: LABEL, reason: describe(&e) })?;
        match ss.get_default_collection() {
            Ok(_) => {}
            Err(SsError::NoResult) => {
                return Err(StoreError::Unavailable {
                    store: LABEL,
                    reason: "it has no default keyring to keep items in (create one, e.g. \"Login\" in Seahorse / \
                             Passwords and Keys, or choose AI_PROXY_SECRET_STORE=keyutils)"
                        .into(),
                });
            }
            Err(e) => {
                return Err(StoreError::Unavailable { store: LABEL, reason: describe(&e) });
            }
        }
        Ok(SecretServiceStore {
            ss: Mutex::new(ss),
            service: service.to_owned(),
            unlock_refused: AtomicBool::new(false),
        })
    }

    fn session(&self) -> MutexGuard<'_, SecretService> {
        self.ss.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, action: &'static str, name: &str, e: &SsError) -> StoreError {
        StoreError::Failed { store: LABEL, action, name: name.to_owned(), reason: describe(e) }
    }

    /// Unlock `item` if it is locked: the service shows its prompt, we wait a bounded time.
    /// After one refused prompt, no more are shown by this store.
    fn unlocked(&self, item: &Item<'_>, name: &str) -> Result<(), SsError> {
        if !item.is_locked()? {
            return Ok(());
        }
        if self.unlock_refused.load(Ordering::Relaxed) {
            return Err(SsError::Prompt);
        }
        tracing::info!(
            "the keyring holding {name} is locked: answer the unlock prompt (waiting up to {PROMPT_SECONDS} s)"
        );
        item.unlock().inspect_err(|e| {
            if matches!(e, SsError::Prompt) {
                self.unlock_refused.store(true, Ordering::Relaxed);
            }
        })
    }
}

impl SecretStore for SecretServiceStore {
    fn get(&self, name: &str) -> Result<Option<Secret<String>>, StoreError> {
        check_name(name)?;
        let ss = self.session();
        let found = ss
            .search_items(attributes(&self.service, name))
            .map_err(|e| self.failed("read", name, &e))?;
        // Prefer an item that needs no prompt.
        let Some(item) = found.unlocked.first().or(found.locked.first()) else {
            return Ok(None);
        };
        self.unlocked(item, name).map_err(|e| self.failed("read", name, &e))?;
        let bytes = item.get_secret().map_err(|e| self.failed("read", name, &e))?;
        match String::from_utf8(bytes) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            Ok(_) => Ok(None),
            Err(_) => Err(StoreError::Failed {
                store: LABEL,
                action: "read",
                name: name.to_owned(),
                reason:
                    "the stored value is not UTF-8 text; store it again with `ai-proxy secrets set`"
                        .into(),
            }),
        }
    }

    fn set(&self, name: &str, value: &Secret<String>) -> Result<(), StoreError> {
        check_name(name)?;
        if value.expose().is_empty() {
            return Err(StoreError::Empty(name.to_owned()));
        }
        let ss = self.session();
        let attrs = attributes(&self.service, name);
        let found = ss.search_items(attrs.clone()).map_err(|e| self.failed("store", name, &e))?;
        // Replace the value in place when the item exists (whatever collection holds it) ...
        if let Some(item) = found.unlocked.first().or(found.locked.first()) {
            self.unlocked(item, name).map_err(|e| self.failed("store", name, &e))?;
            return item
                .set_secret(value.expose().as_bytes(), "text/plain")
                .map_err(|e| self.failed("store", name, &e));
        }
        // ... else create it in the default collection.
        let collection = ss.get_default_collection().map_err(|e| self.failed("store", name, &e))?;
        if collection.is_locked().map_err(|e| self.failed("store", name, &e))? {
            tracing::info!(
                "the default keyring is locked: answer the unlock prompt (waiting up to {PROMPT_SECONDS} s)"
            );
            collection.unlock().map_err(|e| self.failed("store", name, &e))?;
        }
        collection
            .create_item(
                &format!("{name} ({})", self.service),
                attrs,
                value.expose().as_bytes(),
                true,
                "text/plain",
            )
            .map(drop)
            .map_err(|e| self.failed("store", name, &e))
    }

    fn delete(&self, name: &str) -> Result<bool, StoreError> {
        check_name(name)?;
        let ss = self.session();
        let found = ss
            .search_items(attributes(&self.service, name))
            .map_err(|e| self.failed("delete", name, &e))?;
        let mut any = false;
        // Every match goes: a copy left in another collection would still answer `get`.
        for item in found.unlocked.iter().chain(found.locked.iter()) {
            self.unlocked(item, name).map_err(|e| self.failed("delete", name, &e))?;
            item.delete().map_err(|e| self.failed("delete", name, &e))?;
            any = true;
        }
        Ok(any)
    }

    /// One search for the service's items, then their `username` attributes. Locked items
    /// may not show their attributes, so with any locked item there is no listing (each name
    /// is then asked for, and the unlock failure reported by name).
    fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
        let ss = self.session();
        let failed = |e: SsError| StoreError::Failed {
            store: LABEL,
            action: "list",
            name: format!("the items of {}", self.service),
            reason: describe(&e),
        };
        let found =
            ss.search_items(HashMap::from([("service", self.service.as_str())])).map_err(failed)?;
        if !found.locked.is_empty() {
            return Ok(None);
        }
        let mut names = Vec::with_capacity(found.unlocked.len());
        for item in &found.unlocked {
            if let Some(name) = item.get_attributes().map_err(failed)?.remove("username") {
                names.push(name);
            }
        }
        Ok(Some(names))
    }

    fn label(&self) -> &'static str {
        LABEL
    }
}

/// The search and creation attributes of `name` under `service`.
fn attributes<'a>(service: &'a str, name: &'a str) -> HashMap<&'a str, &'a str> {
    HashMap::from([("service", service), ("username", name)])
}

/// A sentence for users: D-Bus error names turned into what happened.
fn describe(e: &SsError) -> String {
    match e {
        SsError::Dbus(d) => match d.name() {
            Some("org.freedesktop.DBus.Error.ServiceUnknown") | Some("org.freedesktop.DBus.Error.NameHasNoOwner") => {
                "no Secret Service runs on the session bus (start gnome-keyring-daemon, KWallet or KeePassXC's \
                 Secret Service integration)"
                    .into()
            }
            Some("org.freedesktop.DBus.Error.NoReply") | Some("org.freedesktop.DBus.Error.Timeout") => {
                "the Secret Service did not answer in time".into()
            }
            Some("org.freedesktop.DBus.Error.NotSupported") => "the Secret Service does not support encrypted sessions".into(),
            _ => format!("D-Bus: {}", d.message().unwrap_or("unknown error")),
        },
        SsError::Prompt => format!(
            "the keyring is locked and its unlock prompt was dismissed or not answered within {PROMPT_SECONDS} s \
             (unlock it, e.g. in Seahorse / Passwords and Keys, and retry)"
        ),
        SsError::Locked => "the keyring is locked (unlock it, e.g. in Seahorse / Passwords and Keys, and retry)".into(),
        SsError::Unavailable => "no D-Bus session bus or Secret Service provider found".into(),
        other => other.to_string(),
    }
}
