//! Calls to an agent, and the `<Dial>` child legs that reach the customer.
//!
//! Some applications ring an agent first (a Client identity or a desk phone) and connect the
//! customer with `<Dial>`. Twilio then lists two calls: the parent `outbound-api` call to the
//! agent, and an `outbound-dial` child whose `parent_call_sid` is the parent's SID, whose `to`
//! is the customer and whose `from` is the caller ID (notes §1.2, `ParentCallSid`). The ledger
//! holds the parent's SID (from the create-call response) and the customer's number, so
//! callrecon must follow the child leg to learn what happened to the customer (design.md,
//! "Which truth wins"). The agent usually answers, so the parent is `completed` whatever the
//! customer did.
//!
//! These calls come from their own ChaCha stream (stream 3 of the seed) and are added beside
//! the calls `data` generates, which therefore stay exactly as they were.

use super::SimConfig;
use super::data::{Placed, build_call, sample_instant};
use super::numbers::{CALLER_IDS, sid, weighted};
use super::timeline::{bridged, timeline_in};
use crate::twilio::model::{Call, is_final};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// One agent call for every 24 direct outbound calls: about 4% of outbound-api calls.
const DIRECT_PER_AGENT_CALL: usize = 24;

/// Who the application rings first: Client identities and desk phones. The desk phones are
/// in area code 415, which the destination pool does not use, so no customer shares a number
/// with an agent and a heuristic match can never mistake one for the other.
const AGENTS: [&str; 8] = [
    "client:agent1",
    "client:agent2",
    "client:agent3",
    "client:agent4",
    "client:agent5",
    "+14155550101",
    "+14155550102",
    "+14155550103",
];

/// What becomes of the customer's leg (no `canceled`: the agent is already on the line).
const CUSTOMER_MIX: [(&str, u32); 4] = [
    ("completed", 60),
    ("no-answer", 18),
    ("busy", 12),
    ("failed", 10),
];

/// Latest a child leg is created after its parent: dialling the agent takes up to 3 s, the
/// agent answers within 10 s, and the `<Dial>` starts 1 s later.
const CHILD_AFTER_S: i64 = 14;

/// The agent calls of a dataset: parents and children with their `date_created` in seconds,
/// and the parents as the ledger generator needs them.
pub(super) struct AgentCalls {
    pub calls: Vec<(i64, Call)>,
    pub placed: Vec<Placed>,
}

/// Generates one agent call per [`DIRECT_PER_AGENT_CALL`] of the `direct` outbound calls,
/// with SIDs not in `sids` (which they are added to); `callers` are the caller IDs and their
/// `PN…` SIDs, `pool` the customers' numbers.
pub(super) fn generate(
    cfg: &SimConfig,
    direct: usize,
    callers: &[(String, String)],
    pool: &[String],
    sids: &mut HashSet<String>,
) -> AgentCalls {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(3);
    let (span_start, span_end) = cfg.generated_span();
    // Parents start early enough for their child to exist before the span (and the clock)
    // ends: every agent call in the data has its child leg.
    let (from, to) = (span_start.timestamp(), span_end.timestamp() - CHILD_AFTER_S);
    let now = cfg.now.timestamp();
    let count = if to > from && !pool.is_empty() {
        direct / DIRECT_PER_AGENT_CALL
    } else {
        0
    };
    let mut out = AgentCalls {
        calls: Vec::with_capacity(2 * count),
        placed: Vec::with_capacity(count),
    };
    for _ in 0..count {
        let created = sample_instant(&mut rng, from, to);
        let (caller, pn) = &callers[weighted(&mut rng, &CALLER_IDS.map(|(_, w)| w))];
        let agent = AGENTS[rng.random_range(0..AGENTS.len())];
        let customer = rng.random_range(0..pool.len());
        let parent_sid = unique_sid(&mut rng, sids);
        let child_sid = unique_sid(&mut rng, sids);
        let start = created + rng.random_range(1..=3);
        let answer = start + rng.random_range(3..=10);
        let child_created = answer + 1;
        let leg = timeline_in(&mut rng, child_created, now, true, &CUSTOMER_MIX);
        // The agent hangs up a moment after the customer's leg ends (a goodbye, or a note
        // when the customer did not pick up); while that leg goes on, so does the parent.
        let hangup = match (is_final(leg.status), leg.end) {
            (false, _) => None,
            (true, Some(end)) => Some(end + rng.random_range(1..=3)),
            (true, None) => Some(leg.updated + rng.random_range(2..=8)),
        };
        let parent = bridged(&mut rng, start, (answer, hangup), now);
        let mut child = build_call(
            &cfg.account_sid,
            child_sid,
            child_created,
            true,
            (pool[customer].clone(), caller.clone()),
            pn,
            &leg,
        );
        child.direction = Some("outbound-dial".to_owned());
        child.parent_call_sid = Some(parent_sid.clone());
        out.placed.push(Placed {
            sid: parent_sid.clone(),
            to: pool[customer].clone(),
            from: caller.clone(),
            created,
            status: parent.status,
            customer,
        });
        let parent = build_call(
            &cfg.account_sid,
            parent_sid,
            created,
            true,
            (agent.to_owned(), caller.clone()),
            pn,
            &parent,
        );
        out.calls.push((created, parent));
        out.calls.push((child_created, child));
    }
    out
}

fn unique_sid(rng: &mut ChaCha8Rng, sids: &mut HashSet<String>) -> String {
    loop {
        let candidate = sid(rng, "CA");
        if sids.insert(candidate.clone()) {
            return candidate;
        }
    }
}
