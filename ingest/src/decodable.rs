//! Which frames of a session a decoder can use: those from a keyframe on, until the stream
//! is damaged (RTP packets lost, a packet the depacketizer rejected, a frame the packager
//! rejected), then again from the next keyframe on.
//!
//! Damage is not an outage: the session goes on, the frames between the damage and the
//! next keyframe are dropped (a P-frame that refers to a lost one shows garbage, and a
//! browser's decoder may fail on it outright), and each one is counted with the reason.

use crate::session::VideoFrame;

/// Why frames were dropped; the `reason` label of
/// `gridwatch_camera_frames_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// RTP packets were lost (UDP loss or reordering, or a camera dropping packets).
    PacketLoss,
    /// The depacketizer rejected a packet and discarded its frame (a camera's malformed
    /// packets, or loss it could not see as such).
    Depacketization,
    /// The frame's NAL units were malformed and could not be packaged.
    Malformed,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::PacketLoss,
        DropReason::Depacketization,
        DropReason::Malformed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::PacketLoss => "packet_loss",
            DropReason::Depacketization => "depacketization",
            DropReason::Malformed => "malformed",
        }
    }
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Dropped while waiting for the session's first keyframe: expected, not counted.
    BeforeFirstKeyframe,
    /// Dropped since damage, waiting for a keyframe: counted with the reason.
    Damaged(DropReason),
}

/// The state of one session's frames; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodableFrames {
    waiting: Option<Option<DropReason>>,
}

impl Default for DecodableFrames {
    /// A new session waits for its first keyframe.
    fn default() -> Self {
        Self {
            waiting: Some(None),
        }
    }
}

impl DecodableFrames {
    /// Decides on the next frame of the session.
    pub(crate) fn frame(&mut self, frame: &VideoFrame) -> Verdict {
        if frame.is_keyframe {
            // Whole from its first slice on (see `fmp4::picture`), even if packets were
            // lost before it: decoding starts over here.
            self.waiting = None;
            return Verdict::Pass;
        }
        if frame.loss > 0 {
            self.damage(DropReason::PacketLoss);
        }
        match self.waiting {
            None => Verdict::Pass,
            Some(None) => Verdict::BeforeFirstKeyframe,
            Some(Some(reason)) => Verdict::Damaged(reason),
        }
    }

    /// The stream was damaged: frames are dropped until the next keyframe. A wait for the
    /// first keyframe stays one (nothing decodable was lost).
    pub(crate) fn damage(&mut self, reason: DropReason) {
        match self.waiting {
            Some(None) => {}
            Some(Some(_)) | None => self.waiting = Some(Some(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(is_keyframe: bool, loss: u16) -> VideoFrame {
        VideoFrame {
            data: vec![0, 0, 0, 1, 0x41],
            timestamp: 0,
            is_keyframe,
            has_b_slices: false,
            new_params: None,
            loss,
            received: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn frames_before_the_first_keyframe_are_dropped_uncounted() {
        let mut d = DecodableFrames::default();
        assert_eq!(d.frame(&frame(false, 0)), Verdict::BeforeFirstKeyframe);
        assert_eq!(d.frame(&frame(false, 3)), Verdict::BeforeFirstKeyframe);
        d.damage(DropReason::Depacketization);
        assert_eq!(d.frame(&frame(false, 0)), Verdict::BeforeFirstKeyframe);
        assert_eq!(d.frame(&frame(true, 0)), Verdict::Pass);
        assert_eq!(d.frame(&frame(false, 0)), Verdict::Pass);
    }

    #[test]
    fn loss_drops_frames_until_the_next_keyframe() {
        let mut d = DecodableFrames::default();
        d.frame(&frame(true, 0));
        assert_eq!(
            d.frame(&frame(false, 2)),
            Verdict::Damaged(DropReason::PacketLoss)
        );
        assert_eq!(
            d.frame(&frame(false, 0)),
            Verdict::Damaged(DropReason::PacketLoss)
        );
        // A keyframe right after loss is whole (it starts with its first slice).
        assert_eq!(d.frame(&frame(true, 1)), Verdict::Pass);
        assert_eq!(d.frame(&frame(false, 0)), Verdict::Pass);
    }

    #[test]
    fn depacketization_and_malformed_frames_are_damage_too() {
        let mut d = DecodableFrames::default();
        d.frame(&frame(true, 0));
        d.damage(DropReason::Depacketization);
        assert_eq!(
            d.frame(&frame(false, 0)),
            Verdict::Damaged(DropReason::Depacketization)
        );
        d.damage(DropReason::Malformed);
        assert_eq!(
            d.frame(&frame(false, 0)),
            Verdict::Damaged(DropReason::Malformed)
        );
        assert_eq!(d.frame(&frame(true, 0)), Verdict::Pass);
    }
}
