//! Puts committed events back in seq order before they reach the consoles.
//!
//! Events arrive here from requests of this process and, with the NATS bus, from other nodes,
//! in whatever order their publishers ran — but the log's seqs are gap-free and commit in
//! order, so the order to deliver is known: `next`, then `next + 1`, … An event ahead of
//! `next` waits; an event at or below it was delivered already (NATS and the local path both
//! bring this node's own events) and is dropped. When `next` does not come (its publisher
//! died between commit and publish, or a message was lost), the missing run is read from the
//! database: the log is the truth, the bus only makes it fast.

use super::Published;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct Sequencer {
    next: i64,
    waiting: BTreeMap<i64, Published>,
}

impl Sequencer {
    /// Everything up to `delivered` is delivered already (or predates this process).
    pub fn new(delivered: i64) -> Sequencer {
        Sequencer {
            next: delivered + 1,
            waiting: BTreeMap::new(),
        }
    }

    /// The seq delivered last.
    pub fn delivered(&self) -> i64 {
        self.next - 1
    }

    /// Takes one event; returns those now deliverable, in order.
    pub fn offer(&mut self, p: Published) -> Vec<Published> {
        if p.event.seq >= self.next {
            self.waiting.entry(p.event.seq).or_insert(p);
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
    fn a_gap_is_filled_from_the_log() {
        let mut s = Sequencer::new(0);
        s.offer(ev(4));
        // The log has 1..=4; the waiting 4 and the log's 4 are one event.
        assert_eq!(seqs(s.fill(vec![ev(1), ev(2), ev(3), ev(4)])), [1, 2, 3, 4]);
        assert_eq!(s.delivered(), 4);
        assert!(!s.has_gap());
    }
}
