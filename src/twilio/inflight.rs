//! The cap on requests in flight, adaptive: Twilio limits concurrent requests per account and
//! answers 429 (20429) past the limit, a limit it does not publish. The cap starts at
//! `--max-in-flight`, halves on every 429 (multiplicative decrease) and grows back by one
//! after a streak of successes as long as the cap (additive increase), never above the
//! configured maximum — the AIMD rule TCP uses for the same problem.

use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    successes: usize,
}

#[derive(Debug)]
pub struct InFlight {
    max: usize,
    state: Mutex<State>,
    freed: Notify,
}

/// A slot; the request it guards is in flight until it is dropped.
pub struct Slot<'a> {
    owner: &'a InFlight,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.owner.lock().in_flight -= 1;
        self.owner.freed.notify_waiters();
    }
}

impl InFlight {
    pub fn new(max: usize) -> InFlight {
        let max = max.max(1);
        InFlight {
            max,
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                successes: 0,
            }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot under the current cap.
    pub async fn acquire(&self) -> Slot<'_> {
        loop {
            let freed = self.freed.notified();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Slot { owner: self };
                }
            }
            freed.await;
        }
    }

    /// A 429: halve the cap.
    pub fn throttled(&self) {
        let mut s = self.lock();
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
    }

    /// A request that went through: after `limit` of them in a row, one more slot.
    pub fn succeeded(&self) {
        let mut s = self.lock();
        s.successes += 1;
        if s.successes >= s.limit && s.limit < self.max {
            s.limit += 1;
            s.successes = 0;
            drop(s);
            self.freed.notify_waiters();
        }
    }

    /// The cap now.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_429_and_grows_back_one_at_a_time() {
        let f = InFlight::new(8);
        f.throttled();
        assert_eq!(f.limit(), 4);
        f.throttled();
        f.throttled();
        f.throttled();
        assert_eq!(f.limit(), 1);
        f.succeeded();
        assert_eq!(f.limit(), 2);
        for _ in 0..2 {
            f.succeeded();
        }
        assert_eq!(f.limit(), 3);
        for _ in 0..100 {
            f.succeeded();
        }
        assert_eq!(f.limit(), 8, "never above the configured maximum");
    }

    #[tokio::test]
    async fn never_more_in_flight_than_the_cap() {
        let f = std::sync::Arc::new(InFlight::new(2));
        let a = f.acquire().await;
        let _b = f.acquire().await;
        let waiter = {
            let f = f.clone();
            tokio::spawn(async move {
                let _c = f.acquire().await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        waiter.await.unwrap();
    }
}
