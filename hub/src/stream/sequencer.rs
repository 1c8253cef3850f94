//! Puts committed events back in seq order before they reach the consoles.
//!
//! Events arrive here from requests of this process and, with the NATS bus, from other nodes,
//! in whatever order their publishers ran — but the log's seqs are gap-free and commit in
//! order, so the order to deliver is known: `next`, then `next + 1`, … An event ahead of
//! `next` waits; an event at or below it was delivered already (NATS and the local path both
//! bring this node's own events) and is dropped. When `next` does not come (its publisher
//! died between commit and publish, or a message was lost), the missing run is read from the
//! database: the log is the truth, the bus only makes it fast.
//!
//! The events waiting are bounded ([`MAX_WAITING`]): while the log cannot be read they would
//! otherwise pile up for as long as the outage lasts. When full, an event that cannot be
//! delivered yet is dropped and counted (`gridwatch_queue_full_total{queue="sequencer_waiting"}`);
//! it is in the log, and comes from there with the run before it.

use super::Published;
use std::collections::BTreeMap;

/// Most events waiting for a missing seq.
pub const MAX_WAITING: usize = 10_000;

#[derive(Debug)]
pub struct Sequencer {
    next: i64,
    waiting: BTreeMap<i64, Published>,
    max_waiting: usize,
    /// Events dropped because `waiting` was full, not yet reported ([`Self::take_dropped`]).
    dropped: u64,
}

impl Sequencer {
    /// Everything up to `delivered` is delivered already (or predates this process).
    pub fn new(delivered: i64) -> Sequencer {
        Sequencer::bounded(delivered, MAX_WAITING)
    }

    /// [`Self::new`] with at most `max_waiting` events kept waiting.
    pub fn bounded(delivered: i64, max_waiting: usize) -> Sequencer {
        Sequencer {
            next: delivered + 1,
            waiting: BTreeMap::new(),
            max_waiting,
            dropped: 0,
        }
    }

    /// How many events were dropped because too many were waiting, since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// How many events wait for a missing seq.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The seq delivered last.
    pub fn delivered(&self) -> i64 {
        self.next - 1
    }

    /// Takes one event; returns those now deliverable, in order. When [`MAX_WAITING`] events
    /// wait already, one that is not the next is dropped (counted): the log has it.
    pub fn offer(&mut self, p: Published) -> Vec<Published> {
        let seq = p.event.seq;
        if seq >= self.next {
            let room = self.waiting.len() < self.max_waiting;
            if seq == self.next || room || self.waiting.contains_key(&seq) {
                self.waiting.entry(seq).or_insert(p);
            } else {
                self.dropped += 1;
            }
        }
        self.drain()
    }

    /// Whether something waits for a missing seq (then it should be read from the log).
    pub fn has_gap(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Takes events read from the log after [`Self::delivered`], in order; returns those now
    /// deliverable. A run that does not start at `next` is ignored (it is not what was asked).
    pub fn fill(&mut self, from_log: Vec<Published>) -> Vec<Published> {
        for p in from_log {
            if p.event.seq >= self.next {
                self.waiting.entry(p.event.seq).or_insert(p);
            }
        }
        self.drain()
    }

    fn drain(&mut self) -> Vec<Published> {
        let mut out = vec![];
        while let Some(p) = self.waiting.remove(&self.next) {
            self.next += 1;
            out.push(p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwatch_core::event::Event;
    use gridwatch_core::event::EventType;

    fn ev(seq: i64) -> Published {
        Published::new(
            Event {
                seq,
                kind: EventType::PostOnline,
                at: chrono::Utc::now(),
                incident_id: None,
                actor: "system".into(),
                origin: "test".into(),
                data: serde_json::json!({}),
            },
            None,
        )
    }

    fn seqs(v: Vec<Published>) -> Vec<i64> {
        v.into_iter().map(|p| p.event.seq).collect()
    }

    #[test]
    fn in_order_passes_straight_through() {
        let mut s = Sequencer::new(10);
        assert_eq!(seqs(s.offer(ev(11))), [11]);
        assert_eq!(seqs(s.offer(ev(12))), [12]);
        assert!(!s.has_gap());
        assert_eq!(s.delivered(), 12);
    }

    #[test]
    fn out_of_order_waits_for_the_missing_one() {
        let mut s = Sequencer::new(0);
        assert!(s.offer(ev(3)).is_empty());
        assert!(s.offer(ev(2)).is_empty());
        assert!(s.has_gap());
        assert_eq!(seqs(s.offer(ev(1))), [1, 2, 3]);
        assert!(!s.has_gap());
    }

    #[test]
    fn duplicates_and_old_events_are_dropped() {
        let mut s = Sequencer::new(5);
        assert!(s.offer(ev(5)).is_empty());
        assert_eq!(seqs(s.offer(ev(6))), [6]);
        assert!(s.offer(ev(6)).is_empty());
        assert!(s.offer(ev(8)).is_empty());
        assert!(s.offer(ev(8)).is_empty());
        assert_eq!(seqs(s.offer(ev(7))), [7, 8]);
    }

    #[test]
    fn waiting_is_bounded_and_what_is_dropped_comes_from_the_log() {
        let mut s = Sequencer::bounded(0, 3);
        // Seq 1 is missing (its publisher died; the log cannot be read yet).
        for seq in 2..=4 {
            assert!(s.offer(ev(seq)).is_empty());
        }
        for seq in 5..=9 {
            assert!(s.offer(ev(seq)).is_empty());
        }
        assert_eq!(s.waiting(), 3, "no more than the bound waits");
        assert_eq!(s.take_dropped(), 5);
        assert_eq!(s.take_dropped(), 0, "reported once");
        // The next one is always taken, full or not: it delivers the run behind it.
        assert_eq!(seqs(s.offer(ev(1))), [1, 2, 3, 4]);
        // The log brings the dropped ones.
        assert!(!s.has_gap());
        assert_eq!(seqs(s.fill((5..=9).map(ev).collect())), [5, 6, 7, 8, 9]);
        assert_eq!(s.delivered(), 9);
    }

    #[test]
    fn a_gap_is_filled_from_the_log() {
        let mut s = Sequencer::new(0);
        s.offer(ev(4));
        // The log has 1..=4; the waiting 4 and the log's 4 are one event.
        assert_eq!(seqs(s.fill(vec![ev(1), ev(2), ev(3), ev(4)])), [1, 2, 3, 4]);
        assert_eq!(s.delivered(), 4);
        assert!(!s.has_gap());
    }
}
