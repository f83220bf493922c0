//! Noticing that a wait went on too long (an upstream that sends nothing, a stream that owes
//! its client a keep-alive) without a timer per wait.
//!
//! A `tokio::time::timeout` around every read registers a timer in the runtime's wheel and
//! takes it out again when the read completes, which is almost always first: two wheel
//! operations per stream chunk, per layer. [`Silence`] keeps one timer for its whole life. A
//! wait starts when the thing waited for is first found not ready and costs a clock read; the
//! timer is left where it is until it goes off, and only then, if it went off early (it was
//! set for an earlier wait), moved to this wait's deadline. Between polls by the same task it
//! is not polled again: it wakes the task when it goes off.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// "Waited `period` for nothing": polled whenever what is waited for is not ready, told when
/// it was.
#[derive(Debug)]
pub struct Silence {
    period: Duration,
    /// When the current wait started; `None` between waits.
    since: Option<Instant>,
    /// Made on the first wait; its deadline is this wait's or an earlier one's.
    timer: Option<Pin<Box<Sleep>>>,
    /// The task the timer will wake (it was polled with this waker and has not gone off).
    armed: Option<Waker>,
}

impl Silence {
    pub fn new(period: Duration) -> Self {
        Silence { period, since: None, timer: None, armed: None }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// What was waited for came: the next wait starts from nothing.
    pub fn heard(&mut self) {
        self.since = None;
    }

    /// Call when what is waited for is not ready: starts a wait if none is running. `Ready`
    /// once this wait lasted the period (which ends it, so the next call starts another);
    /// otherwise `Pending`, with `cx` woken when the period is over.
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let due = since + self.period;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        let same_task = self.armed.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if same_task && !timer.is_elapsed() {
            return Poll::Pending;
        }
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                if !same_task {
                    self.armed = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            // Deadlines only move later (each wait starts after the one before), so one that
            // is not this wait's was an earlier wait's: set it for this one and wait on.
            if timer.deadline() >= due {
                self.since = None;
                return Poll::Ready(());
            }
            timer.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn poll_once(s: &mut Silence) -> Poll<()> {
        s.poll_elapsed(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn elapses_a_period_after_the_wait_started() {
        let mut s = Silence::new(Duration::from_secs(10));
        let start = Instant::now();
        poll_fn(|cx| s.poll_elapsed(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // Reporting it ended that wait; the next one is a full period again.
        poll_fn(|cx| s.poll_elapsed(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ended_by_what_came_does_not_count_towards_the_next() {
        let mut s = Silence::new(Duration::from_secs(10));
        let start = Instant::now();
        let waited = tokio::time::timeout(Duration::from_secs(6), poll_fn(|cx| s.poll_elapsed(cx)));
        assert!(waited.await.is_err());
        s.heard();
        poll_fn(|cx| s.poll_elapsed(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(16));
    }

    #[tokio::test(start_paused = true)]
    async fn time_between_waits_is_not_silence() {
        // A consumer that takes a long time before asking again (a slow client) is not an
        // upstream that says nothing.
        let mut s = Silence::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(poll_once(&mut s).is_pending());
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(9)).await;
            assert!(poll_once(&mut s).is_pending());
            s.heard();
            tokio::time::advance(Duration::from_secs(30)).await;
            assert!(poll_once(&mut s).is_pending());
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(poll_once(&mut s).is_ready());
    }

    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_that_polled_last_is_the_one_woken() {
        let (a, b) = (
            std::sync::Arc::new(Count(Default::default())),
            std::sync::Arc::new(Count(Default::default())),
        );
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut s = Silence::new(Duration::from_secs(10));
        assert!(s.poll_elapsed(&mut Context::from_waker(&wa)).is_pending());
        assert!(s.poll_elapsed(&mut Context::from_waker(&wb)).is_pending());
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(b.0.load(std::sync::atomic::Ordering::SeqCst), 1, "b polled last");
        assert!(s.poll_elapsed(&mut Context::from_waker(&wb)).is_ready());
        // A wait after an earlier wait's deadline passed unobserved still gets a full period.
        s.heard();
        assert!(s.poll_elapsed(&mut Context::from_waker(&wb)).is_pending());
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(s.poll_elapsed(&mut Context::from_waker(&wb)).is_pending());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(s.poll_elapsed(&mut Context::from_waker(&wb)).is_ready());
    }
}
