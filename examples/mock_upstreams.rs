//! Test helper, not part of the product: serves every mock upstream of `tests/it/support`
//! (DashScope, Entra ID + Azure OpenAI, Google OAuth + Vertex AI, the Gemini API, Anthropic's
//! Messages API as Anthropic, Vertex AI and Azure AI Foundry serve it) on one 127.0.0.1 port,
//! so the Python SDK tests talk to the same wire-format mocks as the Rust tests. Prints
//! `listening on http://ADDR` and runs until killed.

#[path = "../tests/it/support/anthropic.rs"]
#[allow(dead_code)]
mod anthropic;
#[path = "../tests/it/support/azure.rs"]
#[allow(dead_code)]
mod azure;
#[path = "../tests/it/support/dashscope.rs"]
#[allow(dead_code)]
mod dashscope;
#[path = "../tests/it/support/google.rs"]
#[allow(dead_code)]
mod google;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let google_state = std::sync::Arc::new(google::MockState::default());
    let app = axum::Router::new()
        .merge(dashscope::router())
        .merge(azure::router())
        .merge(google::router_with(google_state.clone()))
        .merge(anthropic::router())
        .merge(anthropic::vertex_router(google_state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
