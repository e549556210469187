//! What the server has yet to write to a WebSocket connection: the app's
//! frames, as they came (a frame may come as its header, then its payload
//! by reference), and the server's own control frames (a Pong, the Close
//! of the closing handshake), which must never land inside an app frame.
//!
//! The outbox knows where each app frame ends by reading the header at its
//! start (the app side encodes whole headers into one piece), and lets a
//! control frame out only between two app frames.

use super::frame::FrameHeader;
use std::collections::VecDeque;

pub struct Outbox<T> {
    pieces: VecDeque<T>,
    /// How much of the front piece is written.
    front_written: usize,
    /// Bytes left of the app frame being written (0: between frames).
    frame_left: u64,
    /// Control frames waiting for a frame boundary, and how much of the
    /// first is written.
    control: VecDeque<Vec<u8>>,
    control_written: usize,
    bytes: usize,
}

impl<T: AsRef<[u8]>> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            pieces: VecDeque::new(),
            front_written: 0,
            frame_left: 0,
            control: VecDeque::new(),
            control_written: 0,
            bytes: 0,
        }
    }
}

impl<T: AsRef<[u8]>> Outbox<T> {
    /// The next piece of the app's frames (a whole header first, then the
    /// rest of the frame in as many pieces as it takes).
    pub fn push(&mut self, piece: T) {
        self.bytes += piece.as_ref().len();
        self.pieces.push_back(piece);
    }

    /// A control frame of the server's own, whole.
    pub fn push_control(&mut self, frame: Vec<u8>) {
        self.bytes += frame.len();
        self.control.push_back(frame);
    }

    /// A Pong: it replaces one that waits unwritten (RFC 6455 §5.5.3: an
    /// endpoint may answer only the latest Ping), so that a client that
    /// pings without reading cannot make the queue grow.
    pub fn push_pong(&mut self, frame: Vec<u8>) {
        let unwritten = self.control.len() > 1 || self.control_written == 0;
        if unwritten && self.control.back().is_some_and(|f| is_pong(f)) {
            let old = self.control.pop_back().expect("a pong");
            self.bytes -= old.len();
        }
        self.push_control(frame);
    }

    /// Whether app frames (or the rest of one) wait: if not, more may be
    /// taken from the app, even while control frames wait.
    pub fn has_app_pieces(&self) -> bool {
        self.pieces.iter().any(|p| !p.as_ref().is_empty())
    }

    /// Bytes not written yet.
    pub fn len(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Drop the app's frames that have not begun to go out (the client
    /// closed, or broke the protocol: after the Close that answers it,
    /// nothing more may be sent). The frame being written is kept whole.
    pub fn cut_after_frame(&mut self) {
        let mut keep = self.frame_left;
        let mut kept = 0;
        for (i, piece) in self.pieces.iter().enumerate() {
            if keep == 0 {
                break;
            }
            let available =
                (piece.as_ref().len() - if i == 0 { self.front_written } else { 0 }) as u64;
            keep = keep.saturating_sub(available);
            kept = i + 1;
        }
        for piece in self.pieces.drain(kept..) {
            self.bytes -= piece.as_ref().len();
        }
    }

    /// What to write now: a control frame (or the rest of one) between app
    /// frames, else the rest of the front piece.
    pub fn next(&mut self) -> Option<&[u8]> {
        while self.pieces.front().is_some_and(|p| p.as_ref().is_empty()) {
            self.pieces.pop_front();
        }
        if self.control_written > 0 || (self.frame_left == 0 && !self.control.is_empty()) {
            return self.control.front().map(|f| &f[self.control_written..]);
        }
        let front = self.pieces.front()?.as_ref();
        if self.frame_left == 0 {
            // A new app frame starts here; its header is whole.
            let (header, header_len) = FrameHeader::parse(front)
                .ok()
                .flatten()
                .expect("the app side writes whole frame headers");
            self.frame_left = header_len as u64 + header.payload_len;
        }
        Some(&front[self.front_written..])
    }

    /// `n` bytes of what `next` gave were written.
    pub fn advance(&mut self, n: usize) {
        self.bytes -= n;
        if self.control_written > 0 || (self.frame_left == 0 && !self.control.is_empty()) {
            self.control_written += n;
            if self
                .control
                .front()
                .is_some_and(|f| self.control_written == f.len())
            {
                self.control.pop_front();
                self.control_written = 0;
            }
            return;
        }
        self.front_written += n;
        self.frame_left -= n as u64;
        if self
            .pieces
            .front()
            .is_some_and(|p| self.front_written == p.as_ref().len())
        {
            self.pieces.pop_front();
            self.front_written = 0;
        }
    }
}

fn is_pong(frame: &[u8]) -> bool {
    // FIN and the Pong opcode: the server's frames are never fragmented.
    frame.first() == Some(&0x8A)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::{encode_frame, OpCode};

    fn frame(op: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, op, payload).unwrap();
        out
    }

    /// Write everything, `step` bytes at most at a time.
    fn drain(outbox: &mut Outbox<Vec<u8>>, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(next) = outbox.next() {
            let n = next.len().min(step);
            out.extend_from_slice(&next[..n]);
            outbox.advance(n);
        }
        assert!(outbox.is_empty());
        out
    }

    #[test]
    fn a_control_frame_waits_for_the_end_of_the_app_frame() {
        for step in [1, 3, 7, 1000] {
            let mut outbox = Outbox::default();
            let text = frame(OpCode::Text, &[b'a'; 300]);
            let (header, payload) = text.split_at(4);
            // The header alone, then the payload in two pieces.
            outbox.push(header.to_vec());
            outbox.push(payload[..100].to_vec());
            // A ping arrives while the frame is partly written.
            let first = outbox.next().unwrap().len().min(2);
            outbox.advance(first);
            let pong = frame(OpCode::Pong, b"!");
            outbox.push_control(pong.clone());
            outbox.push(payload[100..].to_vec());
            let binary = frame(OpCode::Binary, b"xyz");
            outbox.push(binary.clone());
            assert_eq!(outbox.len(), text.len() - first + pong.len() + binary.len());
            let mut want = text[first..].to_vec();
            want.extend(&pong);
            want.extend(&binary);
            assert_eq!(drain(&mut outbox, step), want, "step {step}");
        }
    }

    #[test]
    fn a_cut_keeps_the_frame_being_written_whole() {
        let mut outbox = Outbox::default();
        let text = frame(OpCode::Text, &[b'a'; 200]);
        outbox.push(text[..4].to_vec());
        outbox.push(text[4..].to_vec());
        outbox.push(frame(OpCode::Text, b"never sent"));
        let n = outbox.next().unwrap().len();
        outbox.advance(n); // the header is out
        outbox.cut_after_frame();
        let close = frame(OpCode::Close, b"\x03\xe8");
        outbox.push_control(close.clone());
        let mut want = text[4..].to_vec();
        want.extend(&close);
        assert_eq!(drain(&mut outbox, 50), want);
        // Between frames, nothing of the app's is kept.
        outbox.push(frame(OpCode::Text, b"dropped"));
        outbox.cut_after_frame();
        assert!(outbox.is_empty());
    }

    #[test]
    fn one_pong_waits_at_most_and_it_answers_the_latest_ping() {
        let mut outbox: Outbox<Vec<u8>> = Outbox::default();
        // An app frame is being written: Pongs wait for its end.
        let text = frame(OpCode::Text, &[b'a'; 100]);
        outbox.push(text.clone());
        let n = outbox.next().unwrap().len().min(10);
        outbox.advance(n);
        for i in 0..1000u32 {
            outbox.push_pong(frame(OpCode::Pong, &i.to_be_bytes()));
        }
        let last = frame(OpCode::Pong, &999u32.to_be_bytes());
        assert_eq!(outbox.len(), text.len() - 10 + last.len());
        // A Pong partly written stays whole; a newer one waits behind it.
        let n = outbox.next().unwrap().len();
        outbox.advance(n);
        outbox.next();
        outbox.advance(1);
        let newer = frame(OpCode::Pong, b"new");
        outbox.push_pong(newer.clone());
        let mut want = last[1..].to_vec();
        want.extend(&newer);
        assert_eq!(drain(&mut outbox, 3), want);
        // A Close is never replaced.
        let close = frame(OpCode::Close, b"\x03\xe8");
        outbox.push_control(close.clone());
        outbox.push_pong(frame(OpCode::Pong, b""));
        assert_eq!(outbox.len(), close.len() + 2);
    }

    #[test]
    fn app_pieces_are_told_apart_from_control_frames() {
        let mut outbox: Outbox<Vec<u8>> = Outbox::default();
        let text = frame(OpCode::Text, &[b'a'; 300]);
        // Only the header came: once it is written, the frame's rest is
        // still to take from the app, although a control frame waits.
        outbox.push(text[..4].to_vec());
        let n = outbox.next().unwrap().len();
        outbox.advance(n);
        outbox.push_pong(frame(OpCode::Pong, b""));
        assert!(!outbox.is_empty());
        assert!(!outbox.has_app_pieces());
        assert!(
            outbox.next().is_none(),
            "the Pong waits for the frame's end"
        );
        outbox.push(text[4..].to_vec());
        assert!(outbox.has_app_pieces());
        let mut want = text[4..].to_vec();
        want.extend(frame(OpCode::Pong, b""));
        assert_eq!(drain(&mut outbox, 1000), want);
    }

    #[test]
    fn between_frames_a_control_frame_goes_first() {
        let mut outbox = Outbox::default();
        outbox.push(frame(OpCode::Text, b"hello"));
        let close = frame(OpCode::Close, b"\x03\xe8");
        outbox.push_control(close.clone());
        let mut want = close.clone();
        want.extend(frame(OpCode::Text, b"hello"));
        assert_eq!(drain(&mut outbox, 2), want);
    }
}
