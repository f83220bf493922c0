//! The macOS secret store: the user's login Keychain through apple-native-keyring-store
//! (generic password items, service = `ai-proxy`, account = variable name). Kept thin: the
//! Linux CI only type-checks it (scripts/check-macos), so every decision lives in `store.rs`.

use std::sync::Arc;

use super::store::{KeyringBacked, StoreError};

pub struct KeychainStore;

impl KeychainStore {
    pub fn open(service: &str) -> Result<KeyringBacked, StoreError> {
        let store = apple_native_keyring_store::keychain::Store::new()
            .map_err(|e| StoreError::Unavailable { store: "keychain", reason: e.to_string() })?;
        let store: Arc<keyring_core::CredentialStore> = store;
        Ok(KeyringBacked { store, service: service.to_owned(), label: "keychain" })
    }
}
