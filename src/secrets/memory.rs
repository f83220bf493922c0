//! An in-memory secret store for tests and tools: same behaviour as the platform stores,
//! nothing persisted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::Secret;
use super::store::{SecretStore, StoreError, check_name};

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<String, Secret<String>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn poisoned(action: &'static str, name: &str) -> StoreError {
        StoreError::Failed {
            store: "memory",
            action,
            name: name.to_owned(),
            reason: "lock poisoned".into(),
        }
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<Secret<String>>, StoreError> {
        check_name(name)?;
        let items = self.items.lock().map_err(|_| Self::poisoned("read", name))?;
        Ok(items.get(name).cloned())
    }

    fn set(&self, name: &str, value: &Secret<String>) -> Result<(), StoreError> {
        check_name(name)?;
        if value.expose().is_empty() {
            return Err(StoreError::Empty(name.to_owned()));
        }
        let mut items = self.items.lock().map_err(|_| Self::poisoned("store", name))?;
        items.insert(name.to_owned(), value.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<bool, StoreError> {
        check_name(name)?;
        let mut items = self.items.lock().map_err(|_| Self::poisoned("delete", name))?;
        Ok(items.remove(name).is_some())
    }

    fn list(&self) -> Result<Option<Vec<String>>, StoreError> {
        let items = self.items.lock().map_err(|_| Self::poisoned("list", "its items"))?;
        Ok(Some(items.keys().cloned().collect()))
    }

    fn label(&self) -> &'static str {
        "memory"
    }
}
