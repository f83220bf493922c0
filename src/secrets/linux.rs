//! The Linux fallback secret store: kernel keyutils through linux-keyutils-keyring-store,
//! used where no Secret Service runs (headless machines, CI).
//!
//! Keys live in the session keyring, linked to the user's persistent keyring when the kernel
//! allows it; they do not survive a reboot. Headless sessions without a session keyring fail
//! with EACCES; run inside `keyctl session -` (Debian package `keyutils`).

use std::sync::Arc;

use super::store::{KeyringBacked, StoreError};

pub struct KeyutilsStore;

impl KeyutilsStore {
    /// The store under `service`; fails when no session keyring is reachable.
    pub fn open(service: &str) -> Result<KeyringBacked, StoreError> {
        let store = linux_keyutils_keyring_store::Store::new()
            .map_err(|e| StoreError::Unavailable { store: "keyutils", reason: e.to_string() })?;
        let store: Arc<keyring_core::CredentialStore> = store;
        Ok(KeyringBacked { store, service: service.to_owned(), label: "keyutils" })
    }
}
