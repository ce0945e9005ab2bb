//! The packet reader of one direction: headers, payloads of explicit
//! length (continued while 0xFFFFFF long), a bounded prefix of each
//! message kept, gaps inside payloads skipped.
use super::parse::{self, HEADER_LEN, MAX_PACKET};
use crate::protocol::Moment;

/// Packet reader of one direction.
#[derive(Debug)]
pub(super) struct Reader {
    pub(super) state: RState,
    pub(super) keep: usize,
    pub(super) hdr: [u8; HEADER_LEN],
    pub(super) hdr_len: usize,
    /// Payload length of the packet being read.
    pub(super) pkt_len: u32,
    /// A message has begun (at least one header byte).
    pub(super) started: bool,
    /// The previous packet was full: the next one continues the message.
    pub(super) more: bool,
    /// The first [`Reader::keep`] payload bytes, up to the first gap.
    pub(super) buf: Vec<u8>,
    pub(super) total: u64,
    pub(super) seq: u8,
    pub(super) last_seq: u8,
    pub(super) holes: bool,
    pub(super) first: Moment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RState {
    Header,
    Payload { left: u32 },
}

/// A complete message (its payload is passed alongside).
#[derive(Debug, Clone, Copy)]
pub(super) struct Msg {
    /// Sequence id of its first packet.
    pub(super) seq: u8,
    /// Sequence id of its last packet.
    pub(super) last_seq: u8,
    pub(super) total: u64,
    pub(super) first: Moment,
    pub(super) last: Moment,
}

impl Reader {
    pub(super) fn new(keep: usize) -> Self {
        Reader {
            state: RState::Header,
            keep,
            hdr: [0; HEADER_LEN],
            hdr_len: 0,
            pkt_len: 0,
            started: false,
            more: false,
            buf: Vec::new(),
            total: 0,
            seq: 0,
            last_seq: 0,
            holes: false,
            first: Moment::default(),
        }
    }

    /// Forgets the message being read: the next byte starts a header.
    pub(super) fn reset(&mut self) {
        self.state = RState::Header;
        self.hdr_len = 0;
        self.started = false;
        self.more = false;
        self.buf.clear();
    }

    /// Reads header or payload bytes (at least one); true when a message
    /// completed.
    pub(super) fn step(&mut self, rest: &[u8], at: Moment) -> (usize, bool) {
        match self.state {
            RState::Header => {
                if !self.started {
                    self.started = true;
                    self.first = at;
                    self.buf.clear();
                    self.total = 0;
                    self.holes = false;
                }
                let take = (HEADER_LEN - self.hdr_len).min(rest.len());
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&rest[..take]);
                self.hdr_len += take;
                if self.hdr_len < HEADER_LEN {
                    return (take, false);
                }
                self.hdr_len = 0;
                let h = parse::parse_header(&self.hdr).unwrap_or(parse::Header { len: 0, seq: 0 });
                if !self.more {
                    self.seq = h.seq;
                }
                self.last_seq = h.seq;
                self.pkt_len = h.len;
                if h.len == 0 {
                    return (take, self.end_packet());
                }
                self.state = RState::Payload { left: h.len };
                (take, false)
            }
            RState::Payload { left } => {
                let n = rest.len().min(left as usize);
                if !self.holes {
                    let room = self.keep.saturating_sub(self.buf.len()).min(n);
                    self.buf.extend_from_slice(&rest[..room]);
                }
                self.total += n as u64;
                let left = left - n as u32;
                self.state = RState::Payload { left };
                if left > 0 {
                    return (n, false);
                }
                (n, self.end_packet())
            }
        }
    }

    /// The current packet's payload is read; true if it ended the message.
    pub(super) fn end_packet(&mut self) -> bool {
        self.state = RState::Header;
        self.more = self.pkt_len == MAX_PACKET;
        if self.more {
            return false;
        }
        self.started = false;
        true
    }

    pub(super) fn msg(&self, at: Moment) -> Msg {
        Msg {
            seq: self.seq,
            last_seq: self.last_seq,
            total: self.total,
            first: self.first,
            last: at,
        }
    }
}
