//! Ending a stream early when the shutdown grace period is over: the SSE relay puts a
//! [`Cutoff`] on its response and checks it with [`Cutoff::poll_fired`] before each upstream
//! read; the connection serving that response fires it (`server::conn`), and the relay then
//! ends the stream with its dialect's error event (and the request log line records the
//! error).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::providers::ProviderError;

/// What a stream cut by the shutdown tells its client.
pub const SHUTDOWN_MESSAGE: &str = "ai-proxy is shutting down and the grace period for open streams is over: this answer is incomplete. Send the request again.";

/// A switch shared by a streamed response and the connection serving it.
#[derive(Clone, Default)]
pub struct Cutoff(Arc<Inner>);

#[derive(Default)]
struct Inner {
    fired: AtomicBool,
    /// The relay that polled last: registering its waker costs less than a future made and
    /// dropped for every chunk.
    relay: AtomicWaker,
}

impl Cutoff {
    /// End the stream at its next step (idempotent).
    pub fn fire(&self) {
        self.0.fired.store(true, Ordering::Release);
        self.0.relay.wake();
    }

    pub fn is_fired(&self) -> bool {
        self.0.fired.load(Ordering::Acquire)
    }

    /// Once [`fire`](Self::fire) was called, the error that ends the stream (the caller then
    /// drops its upstream); otherwise `Pending`, with `cx` woken by the fire. For one stream
    /// at a time (the last waker registered is the one woken).
    pub fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<ProviderError> {
        // Registered before the flag is read, so a fire in between is not missed.
        self.0.relay.register(cx.waker());
        if self.is_fired() {
            Poll::Ready(ProviderError::Unavailable(SHUTDOWN_MESSAGE.to_owned()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fire_wakes_the_stream_that_polled_with_the_shutdown_error() {
        let cutoff = Cutoff::default();
        let waiter = {
            let cutoff = cutoff.clone();
            tokio::spawn(std::future::poll_fn(move |cx| cutoff.poll_fired(cx)))
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        cutoff.fire();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("join");
        assert!(
            matches!(got, ProviderError::Unavailable(ref m) if m == SHUTDOWN_MESSAGE),
            "{got:?}"
        );
    }

    #[test]
    fn pending_until_fired_then_fired_for_good() {
        let cutoff = Cutoff::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(cutoff.poll_fired(&mut cx).is_pending());
        assert!(cutoff.poll_fired(&mut cx).is_pending());
        cutoff.fire();
        cutoff.fire();
        assert!(cutoff.is_fired());
        assert!(matches!(cutoff.poll_fired(&mut cx), Poll::Ready(ProviderError::Unavailable(_))));
        assert!(matches!(cutoff.poll_fired(&mut cx), Poll::Ready(ProviderError::Unavailable(_))));
    }
}
