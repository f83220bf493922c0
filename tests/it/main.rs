//! Integration tests: one binary. `support` has the gateway harness and mock upstreams that
//! speak each provider's wire format on 127.0.0.1.
//!
//! Most modules run on Linux and macOS alike. Per platform (each file carries its `cfg`):
//! `secret_service` and `service_cli` (systemd) are Linux-only, `keychain` and `launchd_cli`
//! are macOS-only; `secrets_setup` uses the platform's own store (keyutils or the Keychain),
//! `tray_process` runs the menu-bar app under Xvfb on Linux and in the login session on macOS.

mod support;

mod anthropic_messages;
mod azure;
mod claude;
mod client_fidelity;
mod compat;
mod core_app;
mod core_process;
mod dashboard;
mod doctor;
mod egress;
mod gemini_api;
mod gemini_fixtures;
mod hostile_upstream;
mod keychain;
mod launchd_cli;
mod logs;
mod packaging;
mod redirects;
mod routing;
mod secret_service;
mod secrets_setup;
mod security;
mod service_cli;
mod slow_clients;
mod tray_controller;
mod tray_process;
mod usage_log;
mod verbatim;
mod vertex;
