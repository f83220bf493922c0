//! Integration tests: one binary. `support` has the gateway harness and mock upstreams that
//! speak each provider's wire format on 127.0.0.1.

mod support;

mod anthropic_messages;
mod azure;
mod client_fidelity;
mod core_app;
mod core_process;
mod doctor;
mod egress;
mod gemini_fixtures;
mod hostile_upstream;
mod logs;
mod packaging;
mod secret_service;
mod secrets_setup;
mod security;
mod service_cli;
mod slow_clients;
mod tray_controller;
mod tray_process;
mod vertex;
