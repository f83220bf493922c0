//! Secret values that cannot be printed: redacted `Debug`/`Display`, no `Serialize`.
//!
//! Everything sensitive the gateway holds (master key, upstream API keys, client secrets,
//! bearer tokens, proxy passwords) lives in a [`Secret`]. Reading the value needs an explicit
//! [`Secret::expose`], which makes every place a secret leaves the process easy to audit.
//!
//! The secret store (Keychain, Secret Service, keyutils, memory) is behind [`store::SecretStore`]; `dotenv`
//! finds secret-looking values in a `.env` and rewrites the file without them.

pub mod dotenv;
#[cfg(target_os = "macos")]
mod keychain;
#[cfg(target_os = "linux")]
mod linux;
pub mod memory;
pub mod names;
#[cfg(target_os = "linux")]
mod secret_service;
pub mod store;

use std::fmt;

pub use memory::MemoryStore;
pub use store::{SecretStore, StoreError, StoreLookup};

/// A value that must never reach a log line, an error message or a file in plain text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Call sites are where a secret leaves our hands (a header, a form field).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::from("sk-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(***))");
        assert_eq!(s.expose(), "sk-very-secret");
    }
}
