//! Ending a stream early when the shutdown grace period is over: the SSE relay puts a
//! [`Cutoff`] on its response and reads upstream chunks through [`Cutoff::next`]; the
//! connection serving that response fires it (`server::conn`), and the relay then ends the
//! stream with its dialect's error event (and the request log line records the error).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use futures_util::{Stream, StreamExt};
use tokio::sync::Notify;

use crate::providers::ProviderError;

/// What a stream cut by the shutdown tells its client.
pub const SHUTDOWN_MESSAGE: &str = "ai-proxy is shutting down and the grace period for open streams is over: this answer is incomplete. Send the request again.";

/// A switch shared by a streamed response and the connection serving it.
#[derive(Clone, Default)]
pub struct Cutoff(Arc<Inner>);

#[derive(Default)]
struct Inner {
    fired: AtomicBool,
    /// Wakes the futures of [`Cutoff::fired`] and [`Cutoff::next`].
    notify: Notify,
    /// Wakes the one stream that polls [`Cutoff::poll_fired`] (the chat relay): registering a
    /// waker is cheaper than a `Notified` future made and dropped for every chunk.
    relay: AtomicWaker,
}

impl Cutoff {
    /// End the stream at its next step (idempotent).
    pub fn fire(&self) {
        self.0.fired.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
        self.0.relay.wake();
    }

    pub fn is_fired(&self) -> bool {
        self.0.fired.load(Ordering::Acquire)
    }

    /// `Ready` once [`fire`](Self::fire) was called; otherwise `cx` is woken by the fire. For
    /// one stream at a time (the last waker registered is the one woken).
    pub fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Registered before the flag is read, so a fire in between is not missed.
        self.0.relay.register(cx.waker());
        if self.is_fired() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Resolves once [`fire`](Self::fire) was called.
    pub async fn fired(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a fire in between is not missed.
            notified.as_mut().enable();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }

    /// The next item of `stream`, or, once fired, an error saying the gateway is shutting
    /// down (the upstream stream is then dropped by the caller as it ends).
    pub async fn next<S, T>(&self, stream: &mut S) -> Option<Result<T, ProviderError>>
    where
        S: Stream<Item = Result<T, ProviderError>> + Unpin,
    {
        tokio::select! {
            biased;
            () = self.fired() => Some(Err(ProviderError::Unavailable(SHUTDOWN_MESSAGE.to_owned()))),
            item = stream.next() => item,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fired_cutoff_ends_a_pending_stream_with_the_shutdown_error() {
        let cutoff = Cutoff::default();
        let mut pending = futures_util::stream::pending::<Result<u8, ProviderError>>();
        let waiter = {
            let cutoff = cutoff.clone();
            tokio::spawn(async move { cutoff.next(&mut pending).await })
        };
        tokio::task::yield_now().await;
        cutoff.fire();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("join");
        assert!(
            matches!(got, Some(Err(ProviderError::Unavailable(ref m))) if m == SHUTDOWN_MESSAGE),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn items_pass_until_fired() {
        let cutoff = Cutoff::default();
        let mut items = futures_util::stream::iter([Ok::<u8, ProviderError>(1)]);
        assert!(matches!(cutoff.next(&mut items).await, Some(Ok(1))));
        assert!(cutoff.next(&mut items).await.is_none());
        cutoff.fire();
        cutoff.fire();
        assert!(matches!(cutoff.next(&mut items).await, Some(Err(_))));
    }

    #[tokio::test]
    async fn a_fire_wakes_the_stream_that_polled() {
        let cutoff = Cutoff::default();
        let waiter = {
            let cutoff = cutoff.clone();
            tokio::spawn(std::future::poll_fn(move |cx| cutoff.poll_fired(cx)))
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        cutoff.fire();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("join");
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(cutoff.poll_fired(&mut cx).is_ready());
    }
}
