//! Frames of both directions into per-stream requests and responses.
//!
//! A stream becomes a request when the client's HEADERS for it are seen,
//! and is reported when it ends: END_STREAM from the server (after its
//! trailers, for gRPC), RST_STREAM from either side, or a GOAWAY that says
//! the server never processed it. The client's END_STREAM only marks its
//! side as done: a server may answer before reading the whole request, and
//! a bidirectional stream ends when the server says so.
use std::collections::{HashMap, VecDeque};

use super::{
    H2Request, H2Response, Http2Event, MAX_HEADERS, MAX_STREAMS, REFUSED_STREAM, Reset,
    grpc::MessageCounter, hpack::HeaderField,
};
use crate::{
    protocol::{Moment, Side, Timing},
    redact::{REDACTED, is_secret_name},
};

/// A decoded header block and what could not be decoded of it.
#[derive(Debug, Default)]
pub struct Block {
    pub fields: Vec<HeaderField>,
    pub unknown: usize,
}

#[derive(Debug)]
struct Stream {
    request: H2Request,
    response: Option<H2Response>,
    req_msgs: MessageCounter,
    resp_msgs: MessageCounter,
    /// Order of arrival, to drop the oldest when too many are open.
    seq: u64,
}

/// Stream ids remembered as closed: enough for the frames a peer still
/// has in flight when a stream ends (RFC 9113 §5.1).
const RECENTLY_CLOSED: usize = 32;

#[derive(Debug, Default)]
pub struct Streams {
    map: HashMap<u32, Stream>,
    /// Streams reported lately (as an exchange, or as an orphan response),
    /// oldest first: frames that still come on them are no new orphan.
    closed: VecDeque<u32>,
    next_seq: u64,
    /// SETTINGS_MAX_FRAME_SIZE each side may send, once the other side's
    /// SETTINGS said (request side first).
    pub max_frame: [Option<u32>; 2],
    /// [`Http2Event::HiddenHeaders`] was reported.
    hidden_reported: bool,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Regular fields as kept: lowercase names (HTTP/2 requires them), values
/// of sensitive fields, and of fields the sender marked never-indexed,
/// redacted.
fn regular(fields: &[HeaderField]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|f| !f.name.starts_with(b":"))
        .take(MAX_HEADERS)
        .map(|f| {
            let name = text(&f.name).to_ascii_lowercase();
            let value = if f.never_indexed || is_secret_name(&name) {
                REDACTED.to_string()
            } else {
                text(&f.value)
            };
            (name, value)
        })
        .collect()
}

fn pseudo(fields: &[HeaderField], name: &[u8]) -> Option<String> {
    fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| text(&f.value))
}

impl Streams {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The request an h2c upgrade carried over from HTTP/1.1 (stream 1);
    /// it was reported started by the HTTP/1 session.
    pub fn upgraded(&mut self, request: H2Request) {
        self.next_seq += 1;
        self.map.insert(
            request.stream,
            Stream {
                request,
                response: None,
                req_msgs: MessageCounter::default(),
                resp_msgs: MessageCounter::default(),
                seq: self.next_seq,
            },
        );
    }

    /// A complete header block on `stream`.
    pub fn headers(
        &mut self,
        side: Side,
        stream: u32,
        block: Block,
        end_stream: bool,
        timing: Timing,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        match side {
            Side::Request => self.request_headers(stream, block, end_stream, timing, emit),
            Side::Response => self.response_headers(stream, block, end_stream, timing, emit),
        }
    }

    fn request_headers(
        &mut self,
        id: u32,
        block: Block,
        end_stream: bool,
        timing: Timing,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        self.hidden(&block, emit);
        if let Some(s) = self.map.get_mut(&id) {
            // Request trailers: nothing in them that a span uses.
            s.request.ended |= end_stream;
            s.request.timing.last = timing.last;
            return;
        }
        if self.map.len() >= MAX_STREAMS {
            self.drop_oldest();
            emit(Http2Event::StreamsDropped { count: 1 });
        }
        let f = &block.fields;
        let request = H2Request {
            stream: id,
            http1_id: None,
            method: pseudo(f, b":method"),
            scheme: pseudo(f, b":scheme"),
            authority: pseudo(f, b":authority"),
            path: pseudo(f, b":path"),
            headers: regular(f),
            unknown_fields: block.unknown,
            body_size: 0,
            messages: Some(0),
            framed: false,
            ended: end_stream,
            timing,
        };
        emit(Http2Event::RequestStarted(request.clone()));
        self.next_seq += 1;
        self.map.insert(
            id,
            Stream {
                request,
                response: None,
                req_msgs: MessageCounter::default(),
                resp_msgs: MessageCounter::default(),
                seq: self.next_seq,
            },
        );
    }

    fn response_headers(
        &mut self,
        id: u32,
        block: Block,
        end_stream: bool,
        timing: Timing,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        self.hidden(&block, emit);
        let Some(s) = self.map.get_mut(&id) else {
            // Pushed streams (even ids) have no request of their own. On a
            // stream already reported, these are the server's frames that
            // crossed the client's RST_STREAM, or an orphan's trailers.
            if id % 2 == 1 && !self.closed.contains(&id) {
                emit(Http2Event::OrphanResponse { stream: id });
                self.remember_closed(id);
            }
            return;
        };
        match &mut s.response {
            None => {
                let status = pseudo(&block.fields, b":status").and_then(|v| v.parse::<u16>().ok());
                // 1xx are interim: the final response follows.
                if status.is_some_and(|c| (100..200).contains(&c)) && !end_stream {
                    return;
                }
                s.response = Some(H2Response {
                    status,
                    headers: regular(&block.fields),
                    unknown_fields: block.unknown,
                    headers_only: end_stream,
                    timing,
                    ..H2Response::default()
                });
            }
            Some(r) => {
                r.trailers = regular(&block.fields);
                r.trailers_seen = true;
                r.unknown_fields += block.unknown;
                r.timing.last = timing.last;
            }
        }
        if end_stream {
            self.finish(id, emit);
        }
    }

    /// Reports the connection's first block with fields it could not
    /// decode.
    fn hidden(&mut self, block: &Block, emit: &mut dyn FnMut(Http2Event)) {
        if block.unknown > 0 && !self.hidden_reported {
            self.hidden_reported = true;
            emit(Http2Event::HiddenHeaders);
        }
    }

    /// DATA payload bytes of `stream`.
    pub fn data(&mut self, side: Side, id: u32, bytes: &[u8], at: Moment) {
        let Some(s) = self.map.get_mut(&id) else {
            return;
        };
        match side {
            Side::Request => {
                s.request.body_size += bytes.len() as u64;
                s.req_msgs.feed(bytes);
                s.request.timing.last = at;
            }
            Side::Response => {
                if let Some(r) = &mut s.response {
                    r.body_size += bytes.len() as u64;
                    r.timing.last = at;
                }
                s.resp_msgs.feed(bytes);
            }
        }
    }

    /// DATA payload bytes of `stream` that were not captured.
    pub fn data_gap(&mut self, side: Side, id: u32, len: u64, at: Moment) {
        let Some(s) = self.map.get_mut(&id) else {
            return;
        };
        match side {
            Side::Request => {
                s.request.body_size += len;
                s.req_msgs.gap(len);
                s.request.timing.last = at;
            }
            Side::Response => {
                if let Some(r) = &mut s.response {
                    r.body_size += len;
                    r.timing.last = at;
                }
                s.resp_msgs.gap(len);
            }
        }
    }

    /// A DATA frame with END_STREAM ended.
    pub fn end_stream(
        &mut self,
        side: Side,
        id: u32,
        at: Moment,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let Some(s) = self.map.get_mut(&id) else {
            return;
        };
        match side {
            Side::Request => {
                s.request.ended = true;
                s.request.timing.last = at;
            }
            Side::Response => {
                // DATA without HEADERS first is a protocol error; report
                // the stream anyway, with no status.
                let r = s.response.get_or_insert_with(|| H2Response {
                    timing: Timing {
                        first: at,
                        last: at,
                    },
                    ..H2Response::default()
                });
                r.timing.last = at;
                self.finish(id, emit);
            }
        }
    }

    /// RST_STREAM from `side`.
    pub fn reset(
        &mut self,
        side: Side,
        id: u32,
        code: u32,
        at: Moment,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        if self.cut(id, Reset { by: side, code }, at) {
            self.finish(id, emit);
        }
    }

    /// GOAWAY from `side`: streams the server will never process (ids above
    /// `last`) are refused. A client's GOAWAY concerns server-initiated
    /// streams, which are not tracked.
    pub fn goaway(&mut self, side: Side, last: u32, at: Moment, emit: &mut dyn FnMut(Http2Event)) {
        if side != Side::Response {
            return;
        }
        let mut refused: Vec<u32> = self.map.keys().copied().filter(|&id| id > last).collect();
        refused.sort_unstable();
        for id in refused {
            let r = Reset {
                by: side,
                code: REFUSED_STREAM,
            };
            if self.cut(id, r, at) {
                self.finish(id, emit);
            }
        }
    }

    /// Marks a stream reset; false if it is not tracked.
    fn cut(&mut self, id: u32, reset: Reset, at: Moment) -> bool {
        let Some(s) = self.map.get_mut(&id) else {
            return false;
        };
        let r = s.response.get_or_insert_with(|| H2Response {
            timing: Timing {
                first: at,
                last: at,
            },
            ..H2Response::default()
        });
        r.reset = Some(reset);
        r.timing.last = at;
        true
    }

    fn remember_closed(&mut self, id: u32) {
        if self.closed.len() == RECENTLY_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back(id);
    }

    fn finish(&mut self, id: u32, emit: &mut dyn FnMut(Http2Event)) {
        let Some(s) = self.map.remove(&id) else {
            return;
        };
        self.remember_closed(id);
        let mut request = s.request;
        let mut response = s.response.unwrap_or_default();
        request.messages = s.req_msgs.count();
        response.messages = s.resp_msgs.count();
        request.framed = s.req_msgs.framed();
        response.framed = s.resp_msgs.framed();
        emit(Http2Event::Exchange { request, response });
    }

    fn drop_oldest(&mut self) {
        if let Some((&id, _)) = self.map.iter().min_by_key(|(_, s)| s.seq) {
            self.map.remove(&id);
        }
    }

    /// The connection closed: streams still open end there, cut short
    /// (a client that gave up, a server that failed mid-answer), in the
    /// order they opened.
    pub fn close(&mut self, at: Moment, emit: &mut dyn FnMut(Http2Event)) {
        let mut open: Vec<(u64, u32)> = self.map.iter().map(|(&id, s)| (s.seq, id)).collect();
        open.sort_unstable();
        for (_, id) in open {
            if let Some(s) = self.map.get_mut(&id) {
                let r = s.response.get_or_insert_with(|| H2Response {
                    timing: Timing {
                        first: at,
                        last: at,
                    },
                    ..H2Response::default()
                });
                r.cut_by_close = true;
                r.timing.last = at;
            }
            self.finish(id, emit);
        }
    }
}
