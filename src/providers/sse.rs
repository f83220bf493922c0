//! Server-sent events decoding: bytes as they arrive in, complete events out. Pure, no IO.
//!
//! Linear in the input: each byte is scanned for the end of its line once, however the body
//! is cut into reads. Bounded: an event (its `data:` lines plus the line being read) larger
//! than the decoder's limit is an error, so an upstream that never ends a line cannot make
//! the gateway buffer without end.

use bytes::{Buf, BytesMut};

/// One SSE event: the `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// An event grew past the decoder's limit (in bytes); the stream cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stream event is larger than {limit} bytes")]
pub struct EventTooLarge {
    pub limit: usize,
}

/// Incremental decoder. Feed it chunks with [`SseDecoder::push`]; it hands out every event
/// completed by that chunk and keeps the rest for the next one.
#[derive(Debug)]
pub struct SseDecoder {
    buf: BytesMut,
    /// How much of `buf` is known to hold no `\n` (the next scan starts there).
    scanned: usize,
    event: Option<String>,
    data: Vec<String>,
    /// Bytes in `data` (the event read so far).
    data_bytes: usize,
    limit: usize,
    spent: bool,
}

impl SseDecoder {
    /// A decoder that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            buf: BytesMut::new(),
            scanned: 0,
            event: None,
            data: Vec::new(),
            data_bytes: 0,
            limit: max_event_bytes,
            spent: false,
        }
    }

    /// Decode `chunk`, appending each event it completes to `out`. An `Err` means the event
    /// being read grew past the limit: the events completed before it are in `out`, the
    /// buffered rest is dropped and every later call fails too.
    pub fn push(
        &mut self,
        chunk: &[u8],
        out: &mut impl Extend<SseEvent>,
    ) -> Result<(), EventTooLarge> {
        if self.spent {
            return Err(EventTooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(chunk);
        // Lines are read in place and their bytes dropped once at the end (the buffer is
        // taken out meanwhile, so that `line` can borrow the decoder).
        let mut buf = std::mem::take(&mut self.buf);
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(pos) = memchr::memchr(b'\n', &buf[from..]) {
            let end = from + pos;
            let line = &buf[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(ev) = self.line(line) {
                out.extend(Some(ev));
            }
            start = end + 1;
            from = start;
            // On an error the decoder is spent and `buf` is dropped.
            self.check(0)?;
        }
        bytes::Buf::advance(&mut buf, start);
        self.buf = buf;
        self.scanned = self.buf.len();
        // What is left is the start of a line.
        self.check(self.buf.len())
    }

    /// End of input: a final event without its blank line still counts.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.spent {
            return None;
        }
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.scanned = 0;
            if let Some(ev) = self.line(rest.chunk()) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    /// The event read so far (its data plus `partial`, the unfinished line) must fit the limit.
    fn check(&mut self, partial: usize) -> Result<(), EventTooLarge> {
        if self.data_bytes.saturating_add(partial) <= self.limit {
            return Ok(());
        }
        self.spent = true;
        self.buf = BytesMut::new();
        self.data = Vec::new();
        self.data_bytes = 0;
        self.event = None;
        Err(EventTooLarge { limit: self.limit })
    }

    /// One line without its end; a blank line completes the event.
    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                let value = text(value);
                self.data_bytes += value.len();
                self.data.push(value);
            }
            b"event" => self.event = Some(text(value)),
            _ => {} // id, retry: not needed
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        self.data_bytes = 0;
        if self.data.is_empty() {
            self.event = None;
            return None;
        }
        // Nearly every event has one data line: move it out rather than join a copy.
        let data = if self.data.len() == 1 {
            self.data.pop().unwrap_or_default()
        } else {
            let joined = self.data.join("\n");
            self.data.clear();
            joined
        };
        Some(SseEvent { event: self.event.take(), data })
    }
}

/// A field's value as text; invalid UTF-8 replaced (checked first: valid text, the rule, is
/// then copied as it is).
fn text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIB: usize = 1 << 20;

    /// Decode `input` fed in the given pieces; the end of input included.
    fn decode(pieces: &[&[u8]], limit: usize) -> Result<Vec<SseEvent>, EventTooLarge> {
        let mut d = SseDecoder::new(limit);
        let mut events = Vec::new();
        for p in pieces {
            d.push(p, &mut events)?;
        }
        events.extend(d.finish());
        Ok(events)
    }

    #[test]
    fn events_split_anywhere_are_reassembled() {
        let input = b"event: message_start\ndata: {\"a\":1}\n\n: ping\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        for split in 0..input.len() {
            let events = decode(&[&input[..split], &input[split..]], MIB).expect("decodes");
            assert_eq!(
                events,
                vec![
                    SseEvent { event: Some("message_start".into()), data: "{\"a\":1}".into() },
                    SseEvent { event: None, data: "x\ny".into() },
                    SseEvent { event: None, data: "[DONE]".into() },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn text_split_inside_a_character_is_whole_and_invalid_bytes_are_replaced() {
        let input = "data: {\"t\":\"Parí\"}\nevent: ok\n\n".as_bytes();
        for split in 0..input.len() {
            let events = decode(&[&input[..split], &input[split..]], MIB).expect("decodes");
            let want = SseEvent { event: Some("ok".into()), data: "{\"t\":\"Parí\"}".into() };
            assert_eq!(events, vec![want], "split at {split}");
        }
        let events = decode(&[b"data: a\xffb\xc3\n\xfe: x\ndata:c\n\n"], MIB).expect("decodes");
        assert_eq!(events, vec![SseEvent { event: None, data: "a\u{fffd}b\u{fffd}\nc".into() }]);
    }

    #[test]
    fn unterminated_last_event_is_flushed() {
        let mut d = SseDecoder::new(MIB);
        let mut events = Vec::new();
        d.push(b"data: tail", &mut events).expect("push");
        assert!(events.is_empty());
        assert_eq!(d.finish(), Some(SseEvent { event: None, data: "tail".into() }));
    }

    #[test]
    fn a_line_that_never_ends_stops_at_the_limit() {
        let mut d = SseDecoder::new(1000);
        let mut events = Vec::new();
        d.push(b"data: ok\n\n", &mut events).expect("a small event passes");
        let mut fed = 0;
        let err = loop {
            match d.push(&[b'x'; 64], &mut events) {
                Ok(()) => fed += 64,
                Err(e) => break e,
            }
            assert!(fed <= 1000, "stopped by the limit");
        };
        assert_eq!(err, EventTooLarge { limit: 1000 });
        assert_eq!(events, vec![SseEvent { event: None, data: "ok".into() }]);
        assert!(d.push(b"\n\n", &mut events).is_err(), "spent after the error");
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn many_short_data_lines_count_towards_one_event() {
        let line = b"data: 0123456789\n";
        let mut d = SseDecoder::new(100);
        let mut events = Vec::new();
        let pushes: Vec<bool> = (0..20).map(|_| d.push(line, &mut events).is_ok()).collect();
        assert!(pushes[..10].iter().all(|ok| *ok), "ten lines of ten bytes fit: {pushes:?}");
        assert!(pushes[10..].iter().all(|ok| !ok), "the eleventh does not: {pushes:?}");
        assert!(events.is_empty());
    }

    #[test]
    fn events_at_the_limit_pass_and_the_limit_is_per_event() {
        let event = format!("data: {}\n\n", "y".repeat(100));
        let body = event.repeat(50);
        let events = decode(&[body.as_bytes()], 100).expect("each event fits");
        assert_eq!(events.len(), 50);
        assert!(decode(&[body.as_bytes()], 99).is_err());
    }

    #[test]
    fn completed_events_before_the_overflow_in_the_same_read_are_kept() {
        let body = format!("data: a\n\ndata: b\n\ndata: {}", "z".repeat(500));
        let mut d = SseDecoder::new(100);
        let mut events = Vec::new();
        assert!(d.push(body.as_bytes(), &mut events).is_err());
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn a_long_line_in_small_reads_costs_one_scan() {
        // 8 MiB in 1 KiB reads: linear decoding does ~8 MiB of scanning; the old rescan-per-read
        // decoder would have scanned ~32 GiB here. Counted, not timed.
        let mut d = SseDecoder::new(16 * MIB);
        let mut events = Vec::new();
        d.push(b"data: ", &mut events).expect("push");
        let piece = [b'a'; 1024];
        for _ in 0..8 * 1024 {
            d.push(&piece, &mut events).expect("push");
            assert_eq!(d.scanned, d.buf.len(), "the scan resumes where it stopped");
        }
        d.push(b"\n\n", &mut events).expect("push");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), 8 * MIB);
    }

    fn transcript() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-z{}\":, ]{0,20}".prop_map(|s| format!("data: {s}")),
            "[a-z_]{1,12}".prop_map(|s| format!("event: {s}")),
            Just(": keep-alive".to_owned()),
            Just("id: 7".to_owned()),
            Just(String::new()),
        ];
        let end = prop_oneof![Just("\n"), Just("\r\n")];
        proptest::collection::vec((line, end), 0..24).prop_map(|lines| {
            lines.into_iter().flat_map(|(l, e)| format!("{l}{e}").into_bytes()).collect()
        })
    }

    proptest! {
        /// However a body is cut into reads, the events are those of the body read whole.
        #[test]
        fn any_cut_gives_the_same_events(body in transcript(), cuts in proptest::collection::vec(0usize..400, 0..12)) {
            let whole = decode(&[&body], MIB).expect("whole");
            let mut at: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
            at.push(0);
            at.push(body.len());
            at.sort_unstable();
            let pieces: Vec<&[u8]> = at.windows(2).map(|w| &body[w[0]..w[1]]).collect();
            prop_assert_eq!(decode(&pieces, MIB).expect("cut"), whole);
        }
    }
}
