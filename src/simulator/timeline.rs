//! One call's life, from `date_created` to its final status, stopped at the simulator's clock.
//!
//! A call is planned whole (queue, dial, ring, answer, talk, hang-up) and then shown as it
//! stands at `now`: a call whose events run past the clock is still queued, ringing or in
//! progress, with the fields Twilio leaves empty until then (no end, duration or price).
//! Nothing can therefore be seen before it happened, and recent calls look like a real
//! nightly run sees them. A completed call's price is posted some time after it ends
//! ("May not be immediately available", notes §1.6), so one that ended in the last
//! [`UNPRICED_S`] has none yet. The rule is a pure function of the times, so it draws
//! nothing from the stream and leaves every other field of every call as it was.

use super::numbers::weighted;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Calls younger than this at `now` are mostly still queued, ringing or in progress.
pub(super) const RECENT_S: i64 = 15 * 60;

/// `start_time` is never more than this after `date_created` (queue time plus dialling);
/// the listing relies on it to skip whole stretches of calls by `date_created`.
pub(super) const MAX_START_DELAY_S: i64 = 6;

/// A completed call that ended less than this before `now` has no price yet.
pub(super) const UNPRICED_S: i64 = 30 * 60;

/// Final statuses of outbound calls, weighted like a typical outbound-calling account.
const OUTBOUND_MIX: [(&str, u32); 5] = [
    ("completed", 62),
    ("no-answer", 12),
    ("busy", 8),
    ("failed", 9),
    ("canceled", 3),
];

/// Final statuses of inbound calls: callers who hang up while it rings show as canceled.
const INBOUND_MIX: [(&str, u32); 5] = [
    ("completed", 80),
    ("no-answer", 8),
    ("busy", 4),
    ("failed", 2),
    ("canceled", 6),
];

/// Price per started minute in 1/100000 USD (Twilio prices carry five decimals).
const OUTBOUND_RATE: i64 = 1300;
const INBOUND_RATE: i64 = 850;

/// The state of one call at `now`, and the fields that follow from it.
pub(super) struct Timeline {
    pub status: &'static str,
    pub queue_ms: u32,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub duration: Option<i64>,
    pub answered_by: Option<&'static str>,
    /// Cost in 1/100000 USD; `None` while the call is not final (no price yet).
    pub price: Option<i64>,
    pub updated: i64,
}

/// Plays one call's life forward from `created` and stops the film at `now`.
pub(super) fn timeline(rng: &mut ChaCha8Rng, created: i64, now: i64, outbound: bool) -> Timeline {
    let mix = if outbound { OUTBOUND_MIX } else { INBOUND_MIX };
    timeline_in(rng, created, now, outbound, &mix)
}

/// [`timeline`] with the final statuses drawn from `mix` (a `<Dial>` leg has its own).
pub(super) fn timeline_in(
    rng: &mut ChaCha8Rng,
    created: i64,
    now: i64,
    outbound: bool,
    mix: &[(&'static str, u32)],
) -> Timeline {
    // Calls beyond the account's calls-per-second wait in a queue first (notes §1.7).
    let queue_ms: u32 = if !outbound || rng.random_bool(0.7) {
        0
    } else {
        rng.random_range(50..=2500)
    };
    let dial = if outbound {
        (i64::from(queue_ms.div_ceil(1000)) + rng.random_range(1..=3)).min(MAX_START_DELAY_S)
    } else {
        0
    };
    let start = created + dial;
    let mut t = Timeline {
        status: "queued",
        queue_ms,
        start: None,
        end: None,
        duration: None,
        answered_by: None,
        price: None,
        updated: created,
    };
    if now - created < RECENT_S && rng.random_bool(0.7) {
        recent(rng, &mut t, created, start, now);
        return t;
    }
    let weights: Vec<u32> = mix.iter().map(|(_, w)| *w).collect();
    let status = mix[weighted(rng, &weights)].0;
    // (dialled at, answered at, last event, shown end_time)
    let (dialled, answered, last, end_time) = match status {
        "completed" => {
            let answer = start + rng.random_range(3..=25);
            let talk = match rng.random_range(0..10) {
                0..=1 => rng.random_range(5..30),
                2..=7 => rng.random_range(30..300),
                _ => rng.random_range(300..1500),
            };
            (
                Some(start),
                Some(answer),
                answer + talk,
                Some(answer + talk),
            )
        }
        "no-answer" => (Some(start), None, start + rng.random_range(60..=65), None),
        "busy" => (Some(start), None, start + rng.random_range(1..=8), None),
        "failed" => (Some(start), None, start + rng.random_range(0..=4), None),
        _ if outbound && rng.random_bool(0.5) => {
            // Canceled through the API while still queued: it never started.
            (None, None, created + rng.random_range(0..dial), None)
        }
        _ => {
            let end = start + rng.random_range(2..=20);
            (Some(start), None, end, Some(end))
        }
    };
    if last > now {
        // The call is not over at `now`: show the state it is in then.
        match (dialled, answered) {
            (Some(s), Some(a)) if a <= now => {
                (t.status, t.start, t.updated) = ("in-progress", Some(s), a);
            }
            (Some(s), _) if s <= now => (t.status, t.start, t.updated) = ("ringing", Some(s), s),
            _ => {}
        }
        return t;
    }
    t.status = status;
    t.start = dialled;
    t.end = end_time;
    let billed = match status {
        "completed" => {
            let duration = last - start;
            t.duration = Some(duration);
            if outbound && rng.random_bool(0.35) {
                t.answered_by = Some(if rng.random_bool(0.7) {
                    "human"
                } else {
                    "machine_start"
                });
            }
            cost(duration, outbound)
        }
        _ => 0,
    };
    t.price = (status != "completed" || now - last >= UNPRICED_S).then_some(billed);
    // The price is posted a little after a completed call ends (notes §1.6).
    let settle = if status == "completed" {
        rng.random_range(1..=30)
    } else {
        rng.random_range(0..=2)
    };
    t.updated = (last + settle).min(now).max(last);
    t
}

/// The leg of a call that was answered at `answer` and hangs up at `hangup` (an agent's leg,
/// whose length the `<Dial>`ed customer decides), shown as it stands at `now`; `answer` is
/// before `now`, and `hangup` is `None` while the customer's leg still goes on.
pub(super) fn bridged(
    rng: &mut ChaCha8Rng,
    start: i64,
    (answer, hangup): (i64, Option<i64>),
    now: i64,
) -> Timeline {
    let mut t = Timeline {
        status: "in-progress",
        queue_ms: 0,
        start: Some(start),
        end: None,
        duration: None,
        answered_by: None,
        price: None,
        updated: answer,
    };
    let Some(hangup) = hangup.filter(|&h| h <= now) else {
        return t;
    };
    let duration = hangup - start;
    t.status = "completed";
    t.end = Some(hangup);
    t.duration = Some(duration);
    t.price = (now - hangup >= UNPRICED_S).then(|| cost(duration, true));
    t.updated = (hangup + rng.random_range(1..=30)).min(now);
    t
}

/// What a call of `duration` seconds costs, billed per started minute.
fn cost(duration: i64, outbound: bool) -> i64 {
    let rate = if outbound {
        OUTBOUND_RATE
    } else {
        INBOUND_RATE
    };
    (duration + 59) / 60 * rate
}

/// A call made in the last minutes before `now` that is still going on.
fn recent(rng: &mut ChaCha8Rng, t: &mut Timeline, created: i64, start: i64, now: i64) {
    if start > now || now - created < 10 {
        return;
    }
    let age = now - start;
    let ringing_share = if age <= 65 { 30 } else { 0 };
    match weighted(rng, &[15, ringing_share, 85 - ringing_share]) {
        0 => {}
        1 => (t.status, t.start, t.updated) = ("ringing", Some(start), start),
        _ => {
            let answer = start + rng.random_range(3..=25).min(age);
            (t.status, t.start, t.updated) = ("in-progress", Some(start), answer);
        }
    }
}
