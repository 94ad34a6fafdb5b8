//! Reading a CSV file's bytes as text: its encoding, its separator, and where a quote
//! was left open.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::read_error;
use crate::error::{Error, Result};

/// Opens the file as a stream of UTF-8 bytes, whatever its encoding.
pub(super) fn open_as_utf8(path: &Path) -> Result<Box<dyn Read>> {
    let open = || File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e));
    let mut start = [0u8; 3];
    let start_len = read_up_to(&mut open()?, &mut start).map_err(|e| read_error(path, e))?;
    let (encoding, bom_len) = match Encoding::for_bom(&start[..start_len]) {
        Some((encoding, bom_len)) => (encoding, bom_len),
        None if is_valid_utf8(open()?).map_err(|e| read_error(path, e))? => (UTF_8, 0),
        None => (WINDOWS_1252, 0),
    };
    let mut file = open()?;
    let mut bom = [0u8; 3];
    read_up_to(&mut (&mut file).take(bom_len as u64), &mut bom).map_err(|e| read_error(path, e))?;
    if encoding == UTF_8 {
        // Invalid bytes after a UTF-8 byte-order mark surface as a line-numbered error.
        Ok(Box::new(file))
    } else {
        Ok(Box::new(DecodingReader::new(file, encoding)))
    }
}

pub(super) fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether the whole stream is valid UTF-8, read in chunks (a character may straddle two).
pub(super) fn is_valid_utf8(mut reader: impl Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carried = 0usize;
    loop {
        let n = match reader.read(&mut buf[carried..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(carried == 0);
        }
        let filled = carried + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carried = 0,
            // An incomplete character at the end: keep its bytes for the next read.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carried = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Decodes a non-UTF-8 stream (Windows-1252, UTF-16) into UTF-8 as it is read.
pub(super) struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    input_start: usize,
    input_end: usize,
    input_done: bool,
    output: Vec<u8>,
    output_start: usize,
    output_end: usize,
    finished: bool,
}

impl<R: Read> DecodingReader<R> {
    pub(super) fn new(inner: R, encoding: &'static Encoding) -> Self {
        DecodingReader {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; 32 * 1024],
            input_start: 0,
            input_end: 0,
            input_done: false,
            // Room for the worst case of three UTF-8 bytes per input byte.
            output: vec![0; 3 * 32 * 1024 + 16],
            output_start: 0,
            output_end: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.output_start < self.output_end {
                let n = buf.len().min(self.output_end - self.output_start);
                buf[..n].copy_from_slice(&self.output[self.output_start..self.output_start + n]);
                self.output_start += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.input_start == self.input_end && !self.input_done {
                let n = loop {
                    match self.inner.read(&mut self.input) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                self.input_start = 0;
                self.input_end = n;
                self.input_done = n == 0;
            }
            let last = self.input_done;
            let (result, read, written, _) =
                self.decoder.decode_to_utf8(&self.input[self.input_start..self.input_end], &mut self.output, last);
            self.input_start += read;
            self.output_start = 0;
            self.output_end = written;
            if last && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
    }
}

/// The first line, including its line break, read without consuming more.
pub(super) fn read_header_line(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    // A header line is short; the limit keeps a file without line breaks in check.
    reader.take(1024 * 1024).read_until(b'\n', &mut line)?;
    Ok(line)
}

/// The separator the header line uses most outside quotes; ties go to `;`, the
/// separator of Danish Excel.
pub(super) fn detect_separator(header_line: &[u8]) -> u8 {
    let mut counts = [(b';', 0usize), (b'\t', 0), (b',', 0)];
    let mut in_quotes = false;
    for &b in header_line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(entry) = counts.iter_mut().find(|(sep, _)| *sep == b) {
            entry.1 += 1;
        }
    }
    let mut best = counts[0];
    for entry in counts {
        if entry.1 > best.1 {
            best = entry;
        }
    }
    if best.1 == 0 { b',' } else { best.0 }
}

/// Follows the quoting of the stream the CSV reader consumes, the way the reader does,
/// because the reader silently ends a quoted field at the end of the file: a quote that
/// is never closed would otherwise swallow the rest of the file without an error.
pub(super) struct QuoteTracker<R> {
    inner: R,
    separator: u8,
    state: QuoteState,
    line: u64,
    opened_on_line: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of a doubled quote.
    QuoteInQuoted,
}

impl<R: Read> QuoteTracker<R> {
    pub(super) fn new(inner: R, separator: u8) -> Self {
        QuoteTracker { inner, separator, state: QuoteState::FieldStart, line: 1, opened_on_line: 1 }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let ends_field = b == self.separator || b == b'\n' || b == b'\r';
            self.state = match self.state {
                QuoteState::FieldStart if b == b'"' => {
                    self.opened_on_line = self.line;
                    QuoteState::Quoted
                }
                QuoteState::FieldStart | QuoteState::Unquoted | QuoteState::QuoteInQuoted if ends_field => {
                    QuoteState::FieldStart
                }
                QuoteState::QuoteInQuoted if b == b'"' => QuoteState::Quoted,
                QuoteState::FieldStart | QuoteState::Unquoted | QuoteState::QuoteInQuoted => QuoteState::Unquoted,
                QuoteState::Quoted if b == b'"' => QuoteState::QuoteInQuoted,
                QuoteState::Quoted => QuoteState::Quoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
    }

    /// After the whole stream was read: the line of a quote that was never closed.
    pub(super) fn unterminated_quote_line(&self) -> Option<u64> {
        (self.state == QuoteState::Quoted).then_some(self.opened_on_line)
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators() {
        assert_eq!(detect_separator(b"a;b;c\r\n"), b';');
        assert_eq!(detect_separator(b"a,b,c\n"), b',');
        assert_eq!(detect_separator(b"a\tb\n"), b'\t');
        assert_eq!(detect_separator(b"\"a,x\";b\n"), b';');
        assert_eq!(detect_separator(b"a\n"), b',');
    }

    #[test]
    fn utf8_detection_across_chunks() {
        let text = "æøå".repeat(40_000);
        assert!(is_valid_utf8(text.as_bytes()).unwrap());
        let mut latin = text.into_bytes();
        latin.push(0xE6);
        assert!(!is_valid_utf8(latin.as_slice()).unwrap());
    }

    #[test]
    fn windows_1252_decoding() {
        let mut decoded = String::new();
        DecodingReader::new(&b"S\xf8ren \xc6blegaard \x80"[..], WINDOWS_1252).read_to_string(&mut decoded).unwrap();
        assert_eq!(decoded, "Søren Æblegaard €");
    }

    #[test]
    fn quote_tracking() {
        let mut closed = QuoteTracker::new(&b""[..], b',');
        closed.observe(b"a,\"b\"\"c\nd\",e\n\"f\"");
        assert_eq!(closed.unterminated_quote_line(), None);
        let mut open = QuoteTracker::new(&b""[..], b',');
        open.observe(b"a,b\n1,\"x\n2,y\n");
        assert_eq!(open.unterminated_quote_line(), Some(2));
    }
}
