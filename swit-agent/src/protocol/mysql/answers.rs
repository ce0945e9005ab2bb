//! The answers' side of a MySQL session: what each response message
//! means for the command at the front of the queue (result sets, prepared
//! statements, OK, ERR), and the call it completes.
use super::*;

impl Mysql {
    /// A response message; `Err` when it cannot be what is expected.
    pub(super) fn on_response(
        &mut self,
        msg: &Msg,
        p: &[u8],
        out: &mut dyn FnMut(DbEvent),
    ) -> Result<(), &'static str> {
        match self.phase {
            Phase::Greeting => {
                let g = parse::parse_greeting(p).ok_or("invalid greeting")?;
                self.system = parse::system_for(g.server_version.as_bytes());
                self.server_caps = Some(g.capabilities);
                self.phase = Phase::Handshake;
                return Ok(());
            }
            Phase::Handshake => return Ok(()),
            Phase::Auth => {
                // AuthSwitchRequest (0xFE), AuthMoreData (0x01): skipped.
                match p.first() {
                    Some(0x00) => self.phase = Phase::Command,
                    Some(0xff) => self.phase = Phase::Closed,
                    _ => {}
                }
                return Ok(());
            }
            _ => {}
        }
        if let Some(seq) = self.trailing_eof.take() {
            if msg.seq == seq && parse::is_eof(p, msg.total) {
                self.deprecate_eof.get_or_insert(false);
                return Ok(());
            }
            self.deprecate_eof.get_or_insert(true);
        }
        let front = self.pending.front().ok_or("response without command")?;
        let kind = front.kind;
        if kind == Kind::Other {
            return Ok(());
        }
        if self.resp_first.is_none() {
            if msg.seq != 1 {
                return Err("unexpected sequence id");
            }
            self.resp_first = Some(msg.first);
        }
        self.advance(kind, msg, p, out)
    }

    /// One packet of the answer to the oldest pending command.
    fn advance(
        &mut self,
        kind: Kind,
        msg: &Msg,
        p: &[u8],
        out: &mut dyn FnMut(DbEvent),
    ) -> Result<(), &'static str> {
        let first = p.first().copied();
        if first == Some(0xff) {
            let err = parse::parse_err(p);
            self.complete(msg.last, Some(err), out);
            return Ok(());
        }
        match self.rs {
            Rs::Start => match (first, kind) {
                (None, _) => return Err("gap"),
                (Some(0x00), Kind::Prepare) => {
                    let ok = parse::parse_prepare_ok(p).ok_or("invalid prepare answer")?;
                    self.prepared(ok, msg, out);
                }
                (Some(0x00 | 0xfe), _) | (Some(_), Kind::Simple | Kind::Prepare | Kind::Other) => {
                    self.result_end(kind, p, msg, out)
                }
                (Some(0xfb), _) => {} // LOCAL INFILE: the file, then OK or ERR.
                (Some(_), Kind::Result) => match parse::column_count(p) {
                    Some((n, meta)) if n > 0 => {
                        if let Some(call) = self.front_call() {
                            call.returned_rows.get_or_insert(0);
                        }
                        self.rs = if meta {
                            Rs::Columns { left: n }
                        } else {
                            Rs::Meta
                        };
                    }
                    _ => return Err("invalid column count"),
                },
            },
            Rs::Columns { left } => {
                self.rs = match left - 1 {
                    0 => Rs::Meta,
                    left => Rs::Columns { left },
                };
            }
            Rs::Meta => {
                let eof = parse::is_eof(p, msg.total)
                    && match self.deprecate_eof {
                        Some(d) => !d,
                        None => msg.total < 7,
                    };
                if eof {
                    self.deprecate_eof = Some(false);
                    if parse::end_status(p) & status::CURSOR_EXISTS != 0 {
                        self.complete(msg.last, None, out);
                    } else {
                        self.rs = Rs::Rows;
                    }
                } else {
                    if first == Some(0xfe) && self.deprecate_eof.is_none() {
                        self.deprecate_eof = Some(true);
                    }
                    self.rs = Rs::Rows;
                    self.row_or_end(kind, p, msg, out);
                }
            }
            Rs::Rows => self.row_or_end(kind, p, msg, out),
            Rs::PrepDefs { left, cols } => match left - 1 {
                0 => self.prep_group_end(cols, msg, out),
                left => self.rs = Rs::PrepDefs { left, cols },
            },
            Rs::PrepEof { cols } => {
                if parse::is_eof(p, msg.total) {
                    self.deprecate_eof = Some(false);
                    match cols {
                        0 => self.complete(msg.last, None, out),
                        cols => {
                            self.rs = Rs::PrepDefs {
                                left: cols.into(),
                                cols: 0,
                            }
                        }
                    }
                } else {
                    // No EOF: this is the first column definition.
                    self.deprecate_eof = Some(true);
                    match cols {
                        0 | 1 => self.complete(msg.last, None, out),
                        cols => {
                            self.rs = Rs::PrepDefs {
                                left: u32::from(cols) - 1,
                                cols: 0,
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn row_or_end(&mut self, kind: Kind, p: &[u8], msg: &Msg, out: &mut dyn FnMut(DbEvent)) {
        // A row starting with 0xFE has a field of 2^24 bytes or more, so
        // it fills a whole packet; an ending OK or EOF never does.
        if p.first() == Some(&0xfe) && msg.total < u64::from(MAX_PACKET) {
            self.result_end(kind, p, msg, out);
        } else if let Some(rows) = self.front_call().and_then(|c| c.returned_rows.as_mut()) {
            *rows += 1;
        }
    }

    /// An OK or EOF ends one result: the answer, unless more results follow.
    fn result_end(&mut self, kind: Kind, p: &[u8], msg: &Msg, out: &mut dyn FnMut(DbEvent)) {
        let more = parse::end_status(p) & status::MORE_RESULTS_EXISTS != 0;
        if more && kind == Kind::Result {
            self.rs = Rs::Start;
        } else {
            self.complete(msg.last, None, out);
        }
    }

    fn prepared(&mut self, ok: parse::PrepareOk, msg: &Msg, out: &mut dyn FnMut(DbEvent)) {
        if let Some(call) = self.front_call() {
            let stmt = Stmt {
                query_text: call.query_text.clone(),
                operation: call.operation.clone(),
                collection: call.collection.clone(),
            };
            self.remember(ok.statement_id, stmt);
        }
        match (ok.num_params, ok.num_columns) {
            (0, 0) => self.complete(msg.last, None, out),
            (0, cols) => {
                self.rs = Rs::PrepDefs {
                    left: cols.into(),
                    cols: 0,
                }
            }
            (params, cols) => {
                self.rs = Rs::PrepDefs {
                    left: params.into(),
                    cols,
                }
            }
        }
    }

    /// The last definition of a prepare answer's group was read.
    fn prep_group_end(&mut self, cols: u16, msg: &Msg, out: &mut dyn FnMut(DbEvent)) {
        match (self.deprecate_eof, cols) {
            (Some(false), _) | (None, 1..) => self.rs = Rs::PrepEof { cols },
            (Some(true), 1..) => {
                self.rs = Rs::PrepDefs {
                    left: cols.into(),
                    cols: 0,
                }
            }
            (Some(true), 0) => self.complete(msg.last, None, out),
            (None, 0) => {
                self.complete(msg.last, None, out);
                self.trailing_eof = Some(msg.last_seq.wrapping_add(1));
            }
        }
    }

    fn front_call(&mut self) -> Option<&mut DbCall> {
        self.pending.front_mut().map(|p| &mut p.call)
    }

    /// The oldest pending command got its whole answer.
    fn complete(
        &mut self,
        last: Moment,
        err: Option<Option<parse::ErrPacket>>,
        out: &mut dyn FnMut(DbEvent),
    ) {
        self.rs = Rs::Start;
        let first = self.resp_first.take().unwrap_or(last);
        let Some(mut p) = self.pending.pop_front() else {
            return;
        };
        p.call.response = Timing { first, last };
        let failed = err.is_some();
        match err {
            Some(Some(e)) => {
                p.call.status_code = Some(e.code.to_string());
                let mut message = match e.sql_state {
                    Some(state) => format!("{state}: {}", e.message),
                    None => e.message,
                };
                if message.len() > MAX_ERROR_MESSAGE {
                    let mut cut = MAX_ERROR_MESSAGE;
                    while !message.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    message.truncate(cut);
                }
                p.call.error_message = Some(message);
            }
            Some(None) => p.call.status_code = Some("ERR".to_string()),
            None => {
                if let Some(ns) = p.new_namespace {
                    self.namespace = Some(ns);
                }
            }
        }
        let report = match p.report {
            Report::Always => true,
            Report::OnError => failed,
            Report::Never => false,
        };
        if report {
            out(DbEvent::Call(p.call));
        }
    }
}
