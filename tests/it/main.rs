//! Integration tests: one binary. `support` has the gateway harness and mock upstreams that
//! speak each provider's wire format on 127.0.0.1.

mod support;

mod azure;
mod core_app;
mod core_process;
mod gemini_fixtures;
mod secrets_setup;
mod vertex;
