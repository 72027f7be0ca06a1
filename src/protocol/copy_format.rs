//! Decoding of `COPY ... FROM STDIN` data in PostgreSQL's three formats: text,
//! CSV and binary.
//!
//! CopyData messages cut the stream at arbitrary byte positions, so a
//! [`CopyDecoder`] buffers what it is given ([`CopyDecoder::push`]), hands out
//! each row once it is complete ([`CopyDecoder::next_row_with`], or
//! [`CopyDecoder::next_row`] as a [`CopyRow`]) and is told when the input has
//! ended, at CopyDone ([`CopyDecoder::finish`]). A row is one value per
//! column, `None` for NULL: text and CSV fields are de-escaped bytes, binary
//! fields the bytes as sent. Checking UTF-8 and parsing each column's type is
//! the caller's job.
//!
//! # Where the rules come from
//!
//! The formats are those of the PostgreSQL 15 documentation, "COPY", section
//! "File Formats". Where the documentation is vague, the decoder does what
//! PostgreSQL's own parser does (`src/backend/commands/copyfromparse.c`:
//! `CopyReadLineText`, `CopyReadAttributesText`, `CopyReadAttributesCSV`,
//! `NextCopyFrom`; `ReceiveCopyBinaryHeader`), with the same error messages
//! and the same line numbers. Rules that are easy to get wrong:
//!
//! - Text and CSV: the first line's ending (`\n`, `\r\n` or `\r`) fixes the
//!   style for the whole input; any other line ending later is an error
//!   ("literal newline found in data", "unquoted carriage return found in
//!   data", ...).
//! - Text: a backslash followed by a newline or carriage return is that
//!   character as data (it does not end the line). Escapes are `\b \f \n \r
//!   \t \v`, `\` + one to three octal digits, `\x` + one or two hex digits;
//!   any other escaped byte stands for itself. A field is NULL when its raw
//!   text, before de-escaping, equals the NULL string.
//! - Text: `\.` ends the data wherever it appears unescaped, not only alone on
//!   a line (the data before it on that line is still a row), and it must be
//!   followed by the input's line ending: `\.` as the last bytes of the input,
//!   with no newline, is "end-of-copy marker corrupt". Everything after it is
//!   ignored.
//! - CSV: a quote may open anywhere in a field (`a"b,c"d` is the one field
//!   `ab,cd`); inside quotes the escape character escapes only the quote and
//!   itself; when ESCAPE differs from QUOTE a doubled quote is not an escape.
//!   An unquoted field equal to the NULL string is NULL, a quoted one never.
//!   `\.` ends the data only alone and unquoted on a line. Line numbers count
//!   the physical lines inside quoted fields (PostgreSQL counts a quoted
//!   character equal to the line ending's last byte: `\n` for `\n` lines,
//!   `\r` otherwise, and `\r` while the style is not yet known).
//! - Binary: flag bit 16 (OIDs) and bits 17–31 are errors, bits 0–15 are
//!   ignored; the header extension is skipped; data after the trailer is an
//!   error. The trailer itself is optional: input that ends where a tuple
//!   would start, or one byte into its field count, ends the data like the
//!   trailer (`NextCopyFrom` takes a short read of the field count as the end
//!   of the input). Input that ends anywhere else in a tuple is an error.
//!
//! # Differences from PostgreSQL 15
//!
//! - PostgreSQL verifies the encoding of all text and CSV input before
//!   parsing it, so a raw NUL byte is "invalid byte sequence for encoding
//!   \"UTF8\": 0x00", and so is a de-escaped `\0` or `\x00`. This decoder
//!   passes such bytes through: the caller's UTF-8 check must also reject
//!   NUL to match.
//! - Options not modelled: HEADER for text (new in PostgreSQL 15), HEADER
//!   MATCH, FORCE_NOT_NULL and FORCE_NULL.
//! - Lines (text, CSV) and binary fields over 1 GiB are errors here; in
//!   PostgreSQL they fail to allocate.
//!
//! # Cost
//!
//! This is the bulk-load path. Searches go a word at a time (`find_any`);
//! the line reader resumes where it stopped, so a line cut into many pieces
//! is still scanned once; a binary tuple is checked complete before anything
//! is copied; consumed input is dropped in amortised O(1) per byte.
//! [`CopyDecoder::next_row_with`] allocates nothing per row once its buffers
//! have grown: a field that needs no de-escaping (most do not: any binary
//! field, a text field without a backslash, a CSV field unquoted or quoted
//! once around its whole value with no escape inside) is lent straight from
//! the input buffer, the others are de-escaped into one scratch buffer reused
//! from row to row. [`CopyDecoder::next_row`] copies each field into a
//! [`CopyRow`], one allocation per field.

use std::fmt;

use crate::query::RawField;

/// One decoded row: one entry per column, `None` for NULL.
#[cfg(test)]
pub(crate) type CopyRow = Vec<Option<Vec<u8>>>;

/// The largest binary field and the longest text or CSV line accepted: 1 GiB,
/// PostgreSQL's limit on a single allocation.
const MAX_SIZE: usize = 1 << 30;

/// The first 11 bytes of binary COPY data.
const BINARY_SIGNATURE: [u8; 11] = *b"PGCOPY\n\xff\r\n\0";

/// Bit 16 of the binary header's flags: the tuples carry OIDs.
const FLAG_OIDS: u32 = 1 << 16;

/// The format of COPY data, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyFormat {
    /// `FORMAT text`, PostgreSQL's default.
    Text(TextOptions),
    /// `FORMAT csv`.
    Csv(CsvOptions),
    /// `FORMAT binary`.
    Binary,
}

/// Options of the text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextOptions {
    /// `DELIMITER`: the byte between fields. Default: tab.
    pub(crate) delimiter: u8,
    /// `NULL`: the raw (still escaped) field text that stands for NULL.
    /// Default: `\N`.
    pub(crate) null: Vec<u8>,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            delimiter: b'\t',
            null: b"\\N".to_vec(),
        }
    }
}

/// Options of the CSV format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvOptions {
    /// `DELIMITER`: the byte between fields. Default: `,`.
    pub(crate) delimiter: u8,
    /// `NULL`: the unquoted field text that stands for NULL. Default: empty,
    /// so an empty unquoted field is NULL and `""` an empty string.
    pub(crate) null: Vec<u8>,
    /// `QUOTE`. Default: `"`.
    pub(crate) quote: u8,
    /// `ESCAPE`: inside quotes, escapes a following quote or escape byte.
    /// PostgreSQL defaults it to the quote: set it to `quote` when the
    /// statement gives QUOTE but no ESCAPE.
    pub(crate) escape: u8,
    /// `HEADER`: the first line is skipped.
    pub(crate) header: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            null: Vec::new(),
            quote: b'"',
            escape: b'"',
            header: false,
        }
    }
}

impl CopyFormat {
    /// Checks the options as PostgreSQL does before it reads any data, with its
    /// messages. The decoder itself copes with any options (it never panics),
    /// but options PostgreSQL rejects would decode ambiguously.
    pub(crate) fn validate(&self) -> Result<(), CopyError> {
        let (delimiter, null, csv) = match self {
            Self::Text(o) => (o.delimiter, &o.null, None),
            Self::Csv(o) => (o.delimiter, &o.null, Some(o)),
            Self::Binary => return Ok(()),
        };
        let single_byte = |b: u8| b != 0 && b.is_ascii();
        if !single_byte(delimiter) {
            return Err(CopyError::MultiByteOption {
                option: "delimiter",
            });
        }
        if delimiter == b'\n' || delimiter == b'\r' {
            return Err(CopyError::NewlineDelimiter);
        }
        if null.contains(&b'\n') || null.contains(&b'\r') {
            return Err(CopyError::NewlineInNull);
        }
        if csv.is_none() && b"\\.abcdefghijklmnopqrstuvwxyz0123456789".contains(&delimiter) {
            return Err(CopyError::UnsafeDelimiter {
                delimiter: char::from(delimiter),
            });
        }
        if let Some(o) = csv {
            if !single_byte(o.quote) {
                return Err(CopyError::MultiByteOption { option: "quote" });
            }
            if o.delimiter == o.quote {
                return Err(CopyError::DelimiterIsQuote);
            }
            if !single_byte(o.escape) {
                return Err(CopyError::MultiByteOption { option: "escape" });
            }
        }
        if null.contains(&delimiter) {
            return Err(CopyError::DelimiterInNull);
        }
        if csv.is_some_and(|o| null.contains(&o.quote)) {
            return Err(CopyError::QuoteInNull);
        }
        Ok(())
    }
}

/// An error in COPY options or data, with PostgreSQL's message.
///
/// `line` is PostgreSQL's line number for the error's context ("COPY t, line
/// 3"): the text or CSV line, or the binary tuple, being read when the error
/// was found. Binary header errors have none (PostgreSQL reports them before
/// reading any tuple). [`CopyError::hint`] gives PostgreSQL's hint where it
/// has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CopyError {
    /// DELIMITER, QUOTE or ESCAPE is not a single ASCII byte.
    #[error("COPY {option} must be a single one-byte character")]
    MultiByteOption {
        /// `delimiter`, `quote` or `escape`.
        option: &'static str,
    },
    /// DELIMITER is `\n` or `\r`.
    #[error("COPY delimiter cannot be newline or carriage return")]
    NewlineDelimiter,
    /// The NULL string contains `\n` or `\r`.
    #[error("COPY null representation cannot use newline or carriage return")]
    NewlineInNull,
    /// A text-format DELIMITER that backslash escapes could mistake: a
    /// backslash, `.`, a lower-case letter or a digit.
    #[error("COPY delimiter cannot be \"{delimiter}\"")]
    UnsafeDelimiter {
        /// The delimiter given.
        delimiter: char,
    },
    /// CSV DELIMITER equals QUOTE.
    #[error("COPY delimiter and quote must be different")]
    DelimiterIsQuote,
    /// The NULL string contains the delimiter.
    #[error("COPY delimiter must not appear in the NULL specification")]
    DelimiterInNull,
    /// The CSV NULL string contains the quote.
    #[error("CSV quote character must not appear in the NULL specification")]
    QuoteInNull,

    /// A text or CSV line has more fields than there are columns.
    #[error("extra data after last expected column")]
    ExtraData {
        /// Line number.
        line: u64,
    },
    /// A text or CSV line has fewer fields than there are columns.
    /// PostgreSQL names the column (`missing data for column "x"`); the
    /// message here gives its 1-based position.
    #[error("missing data for column {}", .column + 1)]
    MissingData {
        /// Line number.
        line: u64,
        /// 0-based index of the first column without data.
        column: usize,
    },
    /// A CSV quote is still open at the end of the input.
    #[error("unterminated CSV quoted field")]
    UnterminatedCsvQuote {
        /// Line number.
        line: u64,
    },
    /// Text format: a bare `\r` where the lines end otherwise.
    #[error("literal carriage return found in data")]
    LiteralCarriageReturn {
        /// Line number.
        line: u64,
    },
    /// Text format: a bare `\n` where the lines end otherwise.
    #[error("literal newline found in data")]
    LiteralNewline {
        /// Line number.
        line: u64,
    },
    /// CSV: an unquoted `\r` where the lines end otherwise.
    #[error("unquoted carriage return found in data")]
    UnquotedCarriageReturn {
        /// Line number.
        line: u64,
    },
    /// CSV: an unquoted `\n` where the lines end otherwise.
    #[error("unquoted newline found in data")]
    UnquotedNewline {
        /// Line number.
        line: u64,
    },
    /// `\.` not followed by a line ending.
    #[error("end-of-copy marker corrupt")]
    EndMarkerCorrupt {
        /// Line number.
        line: u64,
    },
    /// `\.` followed by a line ending other than the input's.
    #[error("end-of-copy marker does not match previous newline style")]
    EndMarkerNewlineStyle {
        /// Line number.
        line: u64,
    },
    /// A text or CSV line longer than 1 GiB.
    #[error("out of memory: COPY line longer than 1 GiB")]
    LineTooLong {
        /// Line number.
        line: u64,
    },

    /// Binary data that does not start with `PGCOPY\n\377\r\n\0`.
    #[error("COPY file signature not recognized")]
    BadSignature,
    /// Binary data that ends inside the flags field.
    #[error("invalid COPY file header (missing flags)")]
    MissingFlags,
    /// Binary header flag bit 16: the tuples carry OIDs, which PostgreSQL no
    /// longer supports.
    #[error("invalid COPY file header (WITH OIDS)")]
    WithOids,
    /// Binary header flags with one of bits 17–31 set.
    #[error("unrecognized critical flags in COPY file header")]
    CriticalFlags {
        /// The flags field.
        flags: u32,
    },
    /// Binary data that ends inside the header extension length, or gives a
    /// negative one.
    #[error("invalid COPY file header (missing length)")]
    MissingHeaderLength,
    /// Binary data that ends inside the header extension.
    #[error("invalid COPY file header (wrong length)")]
    WrongHeaderLength,
    /// A binary tuple whose field count is neither the number of columns nor
    /// -1 (the trailer).
    #[error("row field count is {count}, expected {expected}")]
    FieldCount {
        /// Tuple number.
        line: u64,
        /// The tuple's field count.
        count: i16,
        /// The number of columns.
        expected: usize,
    },
    /// A binary field length below -1 or above 1 GiB.
    #[error("invalid field size")]
    InvalidFieldSize {
        /// Tuple number.
        line: u64,
        /// The length given.
        size: i32,
    },
    /// Binary data that ends inside a tuple.
    #[error("unexpected EOF in COPY data")]
    UnexpectedEof {
        /// Tuple number.
        line: u64,
    },
    /// Binary data after the trailer.
    #[error("received copy data after EOF marker")]
    DataAfterTrailer {
        /// Tuple number of the trailer.
        line: u64,
    },
}

impl CopyError {
    /// The line (text, CSV) or tuple (binary) number for the error's context,
    /// if it has one.
    pub(crate) fn line(&self) -> Option<u64> {
        match self {
            Self::MultiByteOption { .. }
            | Self::NewlineDelimiter
            | Self::NewlineInNull
            | Self::UnsafeDelimiter { .. }
            | Self::DelimiterIsQuote
            | Self::DelimiterInNull
            | Self::QuoteInNull
            | Self::BadSignature
            | Self::MissingFlags
            | Self::WithOids
            | Self::CriticalFlags { .. }
            | Self::MissingHeaderLength
            | Self::WrongHeaderLength => None,
            Self::ExtraData { line }
            | Self::MissingData { line, .. }
            | Self::UnterminatedCsvQuote { line }
            | Self::LiteralCarriageReturn { line }
            | Self::LiteralNewline { line }
            | Self::UnquotedCarriageReturn { line }
            | Self::UnquotedNewline { line }
            | Self::EndMarkerCorrupt { line }
            | Self::EndMarkerNewlineStyle { line }
            | Self::LineTooLong { line }
            | Self::FieldCount { line, .. }
            | Self::InvalidFieldSize { line, .. }
            | Self::UnexpectedEof { line }
            | Self::DataAfterTrailer { line } => Some(*line),
        }
    }

    /// PostgreSQL's hint for the error, if it gives one.
    pub(crate) fn hint(&self) -> Option<&'static str> {
        match self {
            Self::LiteralCarriageReturn { .. } => Some("Use \"\\r\" to represent carriage return."),
            Self::LiteralNewline { .. } => Some("Use \"\\n\" to represent newline."),
            Self::UnquotedCarriageReturn { .. } => {
                Some("Use quoted CSV field to represent carriage return.")
            }
            Self::UnquotedNewline { .. } => Some("Use quoted CSV field to represent newline."),
            _ => None,
        }
    }
}

/// A streaming decoder of COPY FROM data.
///
/// Feed it with [`push`](Self::push) and drain it with
/// [`next_row_with`](Self::next_row_with) until `false` (or
/// [`next_row`](Self::next_row) until `None`) after each push; at CopyDone
/// call [`finish`](Self::finish) and drain once more:
///
/// ```text
/// on CopyData(bytes): decoder.push(bytes); while decoder.next_row_with(|column, value| ...)? {}
/// on CopyDone:        decoder.finish()?;   while decoder.next_row_with(|column, value| ...)? {}
/// ```
///
/// Once an error has been returned the decoder returns it again from every
/// later call. Consumed input is dropped from the buffer as it goes, so
/// memory stays bounded by the longest row (plus what was pushed but not yet
/// drained).
pub(crate) struct CopyDecoder {
    syntax: Syntax,
    columns: usize,
    /// Buffered input; `buf[pos..]` is not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    /// `finish` was called: no more input will come.
    eof: bool,
    status: Status,
    /// PostgreSQL's `cur_lineno`: lines (text, CSV) or tuples (binary) begun.
    cur_line: u64,
    /// Line or tuple number of the row last returned.
    line: u64,
    /// Text and CSV: where the line being read stands.
    reader: LineReader,
    /// CSV with HEADER: the first line is still to be skipped.
    header_pending: bool,
    /// Binary: how far the header has been read.
    binary: BinaryState,
    /// Where the fields of the row last decoded are (reused).
    row: RowSpans,
    /// The line number of a row read ahead by `finish`, whose fields are in
    /// `row`.
    pending: Option<u64>,
    /// Longest line accepted (text, CSV); a field for tests to lower.
    max_line: usize,
}

impl fmt::Debug for CopyDecoder {
    /// Sizes rather than the buffered bytes, which may be megabytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyDecoder")
            .field("syntax", &self.syntax)
            .field("columns", &self.columns)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("eof", &self.eof)
            .field("status", &self.status)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Syntax {
    Text(TextOptions),
    Csv(Box<CsvSyntax>),
    Binary,
}

#[derive(Debug)]
enum Status {
    Running,
    /// The end-of-data marker or the binary trailer was read, or the binary
    /// input ended where a tuple would start.
    Ended,
    Failed(CopyError),
}

/// CSV options, prepared for scanning.
#[derive(Debug)]
struct CsvSyntax {
    delimiter: u8,
    null: Vec<u8>,
    quote: u8,
    escape: u8,
    /// The escape as the line reader sees it: none when it equals the quote
    /// (then the quote alone toggles the quoted state).
    line_escape: Option<u8>,
    /// Bytes the line reader must stop at: `\n`, `\r`, quote and escape.
    special: [u8; 4],
}

impl CsvSyntax {
    fn new(o: CsvOptions) -> Self {
        let line_escape = (o.escape != o.quote).then_some(o.escape);
        Self {
            delimiter: o.delimiter,
            null: o.null,
            quote: o.quote,
            escape: o.escape,
            line_escape,
            special: [b'\n', b'\r', o.quote, o.escape],
        }
    }
}

/// A row lent by [`CopyDecoder::next_row_raw`].
#[derive(Debug)]
pub(crate) struct RawRow<'a> {
    /// Its line (text, CSV) or tuple (binary) number.
    pub(crate) line_no: u64,
    /// Its input bytes.
    pub(crate) line: &'a [u8],
    /// Its values that had to be de-escaped.
    pub(crate) extra: &'a [u8],
}

/// Where a decoded field's value is.
#[derive(Debug, Clone, Copy)]
enum Span {
    Null,
    /// `buf[start..end]`: the value is the input's bytes as they stand.
    Input(usize, usize),
    /// `scratch[start..end]`: the value had to be de-escaped.
    Scratch(usize, usize),
}

/// The fields of the row last decoded, as [`Span`]s: reused from row to row,
/// so that once they have grown decoding a row allocates nothing.
#[derive(Debug, Default)]
struct RowSpans {
    spans: Vec<Span>,
    /// The values of the [`Span::Scratch`] fields, one after the other.
    scratch: Vec<u8>,
    /// `buf[range.0..range.1]` holds the row's input: every
    /// [`Span::Input`] lies inside it.
    range: (usize, usize),
}

impl RowSpans {
    fn clear(&mut self) {
        self.spans.clear();
        self.scratch.clear();
        self.range = (0, 0);
    }
}

/// How far the binary header has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryState {
    Signature,
    Flags,
    ExtensionLength,
    Extension { remaining: u32 },
    Tuples,
}

impl CopyDecoder {
    /// A decoder for data in `format` for a table (or column list) of
    /// `columns` columns. Call [`CopyFormat::validate`] first to reject the
    /// options PostgreSQL rejects.
    pub(crate) fn new(format: CopyFormat, columns: usize) -> Self {
        let (syntax, header_pending) = match format {
            CopyFormat::Text(o) => (Syntax::Text(o), false),
            CopyFormat::Csv(o) => {
                let header = o.header;
                (Syntax::Csv(Box::new(CsvSyntax::new(o))), header)
            }
            CopyFormat::Binary => (Syntax::Binary, false),
        };
        Self {
            syntax,
            columns,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            status: Status::Running,
            cur_line: 0,
            line: 0,
            reader: LineReader::new(),
            header_pending,
            binary: BinaryState::Signature,
            row: RowSpans::default(),
            pending: None,
            max_line: MAX_SIZE,
        }
    }

    /// Buffers more input. Input after the end-of-data marker (text, CSV) is
    /// ignored, as is anything pushed after [`finish`](Self::finish) or an
    /// error; input after the binary trailer is an error.
    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.eof || data.is_empty() {
            return;
        }
        match self.status {
            Status::Running => {}
            Status::Ended => {
                if matches!(self.syntax, Syntax::Binary) {
                    self.fail(CopyError::DataAfterTrailer {
                        line: self.cur_line,
                    });
                }
                return;
            }
            Status::Failed(_) => return,
        }
        // Drop the consumed prefix once it is at least as long as what is
        // kept: each byte is then moved at most once on average.
        if self.pos > 0 && self.pos >= self.buf.len() - self.pos {
            self.buf.drain(..self.pos);
            self.reader.scan = self.reader.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    #[cfg(test)]
    /// The next complete row, if one is buffered: one entry per column, `None`
    /// for NULL. Text and CSV fields come back de-escaped, binary fields as
    /// sent (the caller decodes each type's binary format).
    ///
    /// Before [`finish`](Self::finish), `Ok(None)` means "push more"; after
    /// it, the end of the data.
    ///
    /// This copies each field; [`next_row_with`](Self::next_row_with) lends
    /// them instead.
    pub(crate) fn next_row(&mut self) -> Result<Option<CopyRow>, CopyError> {
        let columns = self.columns;
        let mut row = Vec::new();
        let decoded = self.next_row_with(|_, value| {
            if row.capacity() == 0 {
                row.reserve_exact(columns);
            }
            row.push(value.map(<[u8]>::to_vec));
        })?;
        Ok(decoded.then_some(row))
    }

    #[cfg(test)]
    /// Decodes the next complete row, if one is buffered, handing each field
    /// to `field(column_index, value)` in order (`None` = NULL), through
    /// [`next_row_raw`](Self::next_row_raw). The slices borrow the decoder's
    /// buffers (de-escaped text/CSV, raw binary bytes) and are valid only
    /// during the call. Returns `Ok(true)` if a row was decoded, `Ok(false)`
    /// if more input is needed (or the data has ended). Errors exactly as
    /// [`next_row`](Self::next_row) does.
    ///
    /// `field` is called once for each column, in order, and only once the
    /// whole row has decoded without error: on `Err` it has not been called
    /// for that row.
    pub(crate) fn next_row_with(
        &mut self,
        mut field: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<bool, CopyError> {
        let mut fields = Vec::new();
        let Some(RawRow { line, extra, .. }) = self.next_row_raw(&mut fields)? else {
            return Ok(false);
        };
        for (column, raw) in fields.iter().enumerate() {
            field(
                column,
                match *raw {
                    RawField::Null => None,
                    RawField::Line(start, end) => Some(&line[start..end]),
                    RawField::Extra(start, end) => Some(&extra[start..end]),
                },
            );
        }
        Ok(true)
    }

    /// Decodes the next complete row, if one is buffered, and lends it whole:
    /// its line number, its input bytes (`line`) and the values that had to
    /// be de-escaped (`extra`), with `fields` (cleared first) saying where
    /// each field's value lies in them. `Ok(None)` means more input is
    /// needed (or the data has ended). In steady state this allocates and
    /// copies nothing.
    pub(crate) fn next_row_raw(
        &mut self,
        fields: &mut Vec<RawField>,
    ) -> Result<Option<RawRow<'_>>, CopyError> {
        let line = match self.pending.take() {
            Some(line) => line,
            None => match self.advance()? {
                Some(line) => line,
                None => return Ok(None),
            },
        };
        self.line = line;
        let RowSpans {
            spans,
            scratch,
            range: (start, end),
        } = &self.row;
        fields.clear();
        fields.extend(spans.iter().map(|span| match *span {
            Span::Null => RawField::Null,
            Span::Input(from, to) => RawField::Line(from - start, to - start),
            Span::Scratch(from, to) => RawField::Extra(from, to),
        }));
        Ok(Some(RawRow {
            line_no: line,
            line: &self.buf[*start..*end],
            extra: scratch,
        }))
    }

    /// The input has ended (CopyDone). A last text or CSV line without a line
    /// ending is still a row, and binary data may end without its trailer
    /// where a tuple would start; a truncated binary tuple or a CSV quote left
    /// open is an error.
    ///
    /// Errors in the data still buffered are reported here when they are in
    /// the next row (after the usual drain, the last, incomplete one), and
    /// otherwise by the [`next_row`](Self::next_row) calls that follow, which
    /// drain the remaining rows until `None`.
    pub(crate) fn finish(&mut self) -> Result<(), CopyError> {
        self.eof = true;
        if self.pending.is_none() {
            self.pending = self.advance()?;
        }
        Ok(())
    }

    /// The 1-based line (text, CSV) or tuple (binary) number of the row last
    /// returned, 0 before the first, for error contexts such as PostgreSQL's
    /// "COPY t, line 3". CSV counts physical lines, header included, so a row
    /// spanning lines 4 and 5 is line 5; text counts lines as rows (an escaped
    /// newline does not start a new one). [`next_row_raw`](Self::next_row_raw)
    /// returns it with the row.
    #[cfg(test)]
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Decodes the next row, if complete, into `row`, and returns its line
    /// number; records an error as final.
    fn advance(&mut self) -> Result<Option<u64>, CopyError> {
        match &self.status {
            Status::Running => {}
            Status::Ended => {
                // `decode_line` keeps the buffer for the last row's fields.
                self.release();
                return Ok(None);
            }
            Status::Failed(e) => return Err(e.clone()),
        }
        self.row.clear();
        let result = match self.syntax {
            Syntax::Binary => self.decode_binary(),
            Syntax::Text(_) | Syntax::Csv(_) => self.decode_line(),
        };
        if let Err(e) = &result {
            self.fail(e.clone());
        }
        result
    }

    fn fail(&mut self, error: CopyError) {
        self.status = Status::Failed(error);
        self.release();
    }

    /// Frees the buffers once nothing more will be read from them.
    fn release(&mut self) {
        self.buf = Vec::new();
        self.pos = 0;
        self.reader.scan = 0;
        self.row = RowSpans::default();
    }

    /// Text and CSV: reads lines until one is a row.
    fn decode_line(&mut self) -> Result<Option<u64>, CopyError> {
        loop {
            let start = self.pos;
            let end = match &self.syntax {
                Syntax::Text(_) => {
                    self.reader
                        .read_text(&self.buf, start, self.eof, &mut self.cur_line)?
                }
                Syntax::Csv(csv) => {
                    self.reader
                        .read_csv(&self.buf, start, self.eof, &mut self.cur_line, csv)?
                }
                Syntax::Binary => return Ok(None),
            };
            let Some(end) = end else {
                if self.buf.len() - start > self.max_line {
                    return Err(CopyError::LineTooLong {
                        line: self.cur_line,
                    });
                }
                return Ok(None);
            };
            if end.end - start > self.max_line {
                return Err(CopyError::LineTooLong {
                    line: self.cur_line,
                });
            }
            let line = self.cur_line;
            let is_row = if self.header_pending {
                self.header_pending = false;
                false
            } else if end.end_of_data && end.end == start {
                false
            } else {
                let content = &self.buf[start..end.end];
                let row = &mut self.row;
                row.range = (start, end.end);
                match &self.syntax {
                    Syntax::Text(o) => split_text(content, start, o, self.columns, line, row)?,
                    Syntax::Csv(csv) => split_csv(content, start, csv, self.columns, line, row)?,
                    Syntax::Binary => return Ok(None),
                }
                true
            };
            if end.end_of_data {
                self.status = Status::Ended;
                // With a row, the buffer is released by the next call, once
                // the row's fields have been read from it.
                if !is_row {
                    self.release();
                }
            } else {
                self.pos = end.next;
            }
            if is_row {
                return Ok(Some(line));
            }
            if end.end_of_data {
                return Ok(None);
            }
        }
    }

    /// Binary: reads the header, then one tuple.
    fn decode_binary(&mut self) -> Result<Option<u64>, CopyError> {
        loop {
            let avail = &self.buf[self.pos..];
            match self.binary {
                BinaryState::Signature => {
                    let n = avail.len().min(BINARY_SIGNATURE.len());
                    if avail[..n] != BINARY_SIGNATURE[..n]
                        || (n < BINARY_SIGNATURE.len() && self.eof)
                    {
                        return Err(CopyError::BadSignature);
                    }
                    if n < BINARY_SIGNATURE.len() {
                        return Ok(None);
                    }
                    self.pos += n;
                    self.binary = BinaryState::Flags;
                }
                BinaryState::Flags => {
                    let Some(flags) = read_i32(avail) else {
                        return self.wait_or(CopyError::MissingFlags);
                    };
                    let flags = flags as u32;
                    if flags & FLAG_OIDS != 0 {
                        return Err(CopyError::WithOids);
                    }
                    if flags >> 16 != 0 {
                        return Err(CopyError::CriticalFlags { flags });
                    }
                    self.pos += 4;
                    self.binary = BinaryState::ExtensionLength;
                }
                BinaryState::ExtensionLength => {
                    let Some(length) = read_i32(avail) else {
                        return self.wait_or(CopyError::MissingHeaderLength);
                    };
                    let Ok(remaining) = u32::try_from(length) else {
                        return Err(CopyError::MissingHeaderLength);
                    };
                    self.pos += 4;
                    self.binary = BinaryState::Extension { remaining };
                }
                BinaryState::Extension { remaining } => {
                    // Skipped as it arrives: it is never buffered whole.
                    let skip = avail.len().min(remaining as usize);
                    self.pos += skip;
                    let remaining = remaining - skip as u32;
                    self.binary = BinaryState::Extension { remaining };
                    if remaining > 0 {
                        return self.wait_or(CopyError::WrongHeaderLength);
                    }
                    self.binary = BinaryState::Tuples;
                }
                BinaryState::Tuples => return self.decode_tuple(),
            }
        }
    }

    /// `Ok(None)` (wait for more input) unless the input has ended.
    fn wait_or<T>(&self, error: CopyError) -> Result<Option<T>, CopyError> {
        if self.eof { Err(error) } else { Ok(None) }
    }

    /// Binary: one tuple, or the trailer.
    fn decode_tuple(&mut self) -> Result<Option<u64>, CopyError> {
        let tuple = self.cur_line + 1;
        let data = &self.buf[self.pos..];
        let truncated = CopyError::UnexpectedEof { line: tuple };
        let Some(count) = read_i16(data) else {
            // Like PostgreSQL (`CopyGetInt16` failing in `NextCopyFrom`), the
            // end of the input before a whole field count, even one byte into
            // it, is the end of the data: the trailer is optional.
            if self.eof {
                self.status = Status::Ended;
                self.release();
            }
            return Ok(None);
        };
        if count == -1 {
            self.cur_line = tuple;
            if data.len() > 2 {
                return Err(CopyError::DataAfterTrailer { line: tuple });
            }
            self.status = Status::Ended;
            self.release();
            return Ok(None);
        }
        if usize::try_from(count).ok() != Some(self.columns) {
            return Err(CopyError::FieldCount {
                line: tuple,
                count,
                expected: self.columns,
            });
        }
        // Note where each field is, without copying anything; a tuple not
        // yet whole (it may arrive in many pieces) is noted again in full
        // next time.
        let mut at = 2;
        for _ in 0..count {
            let Some(size) = read_i32(&data[at..]) else {
                return self.wait_or(truncated);
            };
            at += 4;
            if size == -1 {
                self.row.spans.push(Span::Null);
                continue;
            }
            let length = match usize::try_from(size) {
                Ok(length) if length <= MAX_SIZE => length,
                _ => return Err(CopyError::InvalidFieldSize { line: tuple, size }),
            };
            if data.len() - at < length {
                return self.wait_or(truncated);
            }
            let start = self.pos + at;
            self.row.spans.push(Span::Input(start, start + length));
            at += length;
        }
        self.row.range = (self.pos, self.pos + at);
        self.pos += at;
        self.cur_line = tuple;
        Ok(Some(tuple))
    }
}

/// The first two bytes as a big-endian i16, if there are two.
fn read_i16(data: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(data.get(..2)?.try_into().ok()?))
}

/// The first four bytes as a big-endian i32, if there are four.
fn read_i32(data: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

/// The position of the first byte of `hay` equal to one of `needles`.
///
/// A word-at-a-time scan (std has no multi-byte `memchr`): for each needle,
/// `(x - 0x01..) & !x & 0x80..` flags the bytes of `x = word ^ needle` that
/// are zero. Its lowest flag is exact (false flags only appear above a true
/// one), so the lowest flag of the union is the first match.
#[inline]
fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, tail) = hay.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let mut found = 0;
        for needle in needles {
            let x = word ^ (LOW * u64::from(needle));
            found |= x.wrapping_sub(LOW) & !x & HIGH;
        }
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let at = tail.iter().position(|b| needles.contains(b))?;
    Some(words.len() * 8 + at)
}

/// The line ending style, fixed by the first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    Unknown,
    Nl,
    Cr,
    CrNl,
}

/// Where a complete line ends.
#[derive(Debug, Clone, Copy)]
struct LineEnd {
    /// End of the line's content (its line ending or `\.` excluded).
    end: usize,
    /// Start of the next line.
    next: usize,
    /// The line ended with the end-of-data marker, or there was no line: the
    /// input ended.
    end_of_data: bool,
}

/// What `\.` turned out to be.
enum Marker {
    /// The end-of-data marker.
    End(LineEnd),
    /// CSV: data after all.
    NotEnd,
    /// More input is needed to tell.
    NeedData,
}

/// PostgreSQL's `CopyReadLineText`, made resumable: finds where a line ends,
/// keeping its state between calls so that no byte is scanned twice.
#[derive(Debug)]
struct LineReader {
    eol: Eol,
    /// The current line has been begun (and counted).
    started: bool,
    /// Where to resume scanning the current line.
    scan: usize,
    /// CSV: inside quotes.
    in_quote: bool,
    /// CSV: the last byte was an escape inside quotes.
    last_was_esc: bool,
}

impl LineReader {
    fn new() -> Self {
        Self {
            eol: Eol::Unknown,
            started: false,
            scan: 0,
            in_quote: false,
            last_was_esc: false,
        }
    }

    fn begin(&mut self, start: usize, line: &mut u64) {
        if !self.started {
            self.started = true;
            self.scan = start;
            *line += 1;
        }
    }

    fn complete(&mut self, end: usize, next: usize, end_of_data: bool) -> LineEnd {
        self.started = false;
        self.in_quote = false;
        self.last_was_esc = false;
        self.scan = next;
        LineEnd {
            end,
            next,
            end_of_data,
        }
    }

    /// The input ended: the rest is the last line, or there is none.
    fn complete_at_eof(&mut self, start: usize, len: usize) -> LineEnd {
        self.complete(len, len, start == len)
    }

    /// Text format: the end of the line starting at `start`, if buffered.
    fn read_text(
        &mut self,
        buf: &[u8],
        start: usize,
        eof: bool,
        line: &mut u64,
    ) -> Result<Option<LineEnd>, CopyError> {
        self.begin(start, line);
        let mut i = self.scan;
        loop {
            let found = find_any(&buf[i..], [b'\n', b'\r', b'\\']);
            let Some(offset) = found else {
                self.scan = buf.len();
                return Ok(eof.then(|| self.complete_at_eof(start, buf.len())));
            };
            let at = i + offset;
            match buf[at] {
                b'\n' => return self.newline(at, *line, false).map(Some),
                b'\r' => {
                    let end = self.carriage_return(buf, at, eof, *line, false)?;
                    if end.is_none() {
                        self.scan = at;
                    }
                    return Ok(end);
                }
                _ => match buf.get(at + 1) {
                    // A backslash just before the end of the input is data.
                    None if eof => return Ok(Some(self.complete_at_eof(start, buf.len()))),
                    None => {
                        self.scan = at;
                        return Ok(None);
                    }
                    Some(b'.') => match self.end_marker(buf, at, eof, *line, false)? {
                        Marker::End(end) => return Ok(Some(end)),
                        Marker::NeedData => {
                            self.scan = at;
                            return Ok(None);
                        }
                        Marker::NotEnd => i = at + 2,
                    },
                    // Whatever follows a backslash is data, even a newline.
                    Some(_) => i = at + 2,
                },
            }
        }
    }

    /// CSV: the end of the line starting at `start`, if buffered.
    fn read_csv(
        &mut self,
        buf: &[u8],
        start: usize,
        eof: bool,
        line: &mut u64,
        csv: &CsvSyntax,
    ) -> Result<Option<LineEnd>, CopyError> {
        self.begin(start, line);
        let mut i = self.scan;
        // `\.` ends the data only as the first thing on a line.
        if i == start && buf.get(i) == Some(&b'\\') {
            match buf.get(i + 1) {
                None if eof => return Ok(Some(self.complete_at_eof(start, buf.len()))),
                None => return Ok(None),
                Some(b'.') => match self.end_marker(buf, i, eof, *line, true)? {
                    Marker::End(end) => return Ok(Some(end)),
                    Marker::NeedData => return Ok(None),
                    Marker::NotEnd => {}
                },
                Some(_) => {}
            }
        }
        loop {
            let Some(offset) = find_any(&buf[i..], csv.special) else {
                if i < buf.len() {
                    self.last_was_esc = false;
                }
                self.scan = buf.len();
                return Ok(eof.then(|| self.complete_at_eof(start, buf.len())));
            };
            let at = i + offset;
            let c = buf[at];
            // Look ahead past a `\r` before changing any state.
            if c == b'\r' && at + 1 == buf.len() && !eof {
                self.scan = at;
                return Ok(None);
            }
            if offset > 0 {
                self.last_was_esc = false;
            }
            if self.in_quote && Some(c) == csv.line_escape {
                self.last_was_esc = !self.last_was_esc;
            }
            if c == csv.quote && !self.last_was_esc {
                self.in_quote = !self.in_quote;
            }
            if Some(c) != csv.line_escape {
                self.last_was_esc = false;
            }
            if self.in_quote {
                // PostgreSQL's count of physical lines inside quotes.
                let counted = if self.eol == Eol::Nl { b'\n' } else { b'\r' };
                if c == counted {
                    *line += 1;
                }
            } else if c == b'\r' {
                let end = self.carriage_return(buf, at, eof, *line, true)?;
                if end.is_none() {
                    self.scan = at;
                }
                return Ok(end);
            } else if c == b'\n' {
                return self.newline(at, *line, true).map(Some);
            }
            i = at + 1;
        }
    }

    /// A line-ending `\n` at `at`.
    fn newline(&mut self, at: usize, line: u64, csv: bool) -> Result<LineEnd, CopyError> {
        if matches!(self.eol, Eol::Cr | Eol::CrNl) {
            return Err(if csv {
                CopyError::UnquotedNewline { line }
            } else {
                CopyError::LiteralNewline { line }
            });
        }
        self.eol = Eol::Nl;
        Ok(self.complete(at, at + 1, false))
    }

    /// A line-ending `\r` at `at`: alone, or the start of `\r\n`.
    fn carriage_return(
        &mut self,
        buf: &[u8],
        at: usize,
        eof: bool,
        line: u64,
        csv: bool,
    ) -> Result<Option<LineEnd>, CopyError> {
        let error = || {
            if csv {
                CopyError::UnquotedCarriageReturn { line }
            } else {
                CopyError::LiteralCarriageReturn { line }
            }
        };
        match self.eol {
            Eol::Nl => Err(error()),
            Eol::Cr => Ok(Some(self.complete(at, at + 1, false))),
            Eol::Unknown | Eol::CrNl => match buf.get(at + 1) {
                None if !eof => Ok(None),
                Some(b'\n') => {
                    self.eol = Eol::CrNl;
                    Ok(Some(self.complete(at, at + 2, false)))
                }
                // A `\r` not followed by `\n`, possibly at the end of the input.
                _ if self.eol == Eol::CrNl => Err(error()),
                _ => {
                    self.eol = Eol::Cr;
                    Ok(Some(self.complete(at, at + 1, false)))
                }
            },
        }
    }

    /// `\.` at `at`: the end-of-data marker if a line ending of the input's
    /// style follows. Text format reports anything else as an error, CSV
    /// takes it as data (save for a line ending of another style).
    fn end_marker(
        &mut self,
        buf: &[u8],
        at: usize,
        eof: bool,
        line: u64,
        csv: bool,
    ) -> Result<Marker, CopyError> {
        // Past the end of the input, PostgreSQL reads a NUL.
        let byte = |p: usize| match buf.get(p) {
            Some(&b) => Some(b),
            None if eof => Some(0),
            None => None,
        };
        let corrupt = |error: CopyError| if csv { Ok(Marker::NotEnd) } else { Err(error) };
        let mut p = at + 2;
        if self.eol == Eol::CrNl {
            let Some(c) = byte(p) else {
                return Ok(Marker::NeedData);
            };
            p += 1;
            if c == b'\n' {
                return corrupt(CopyError::EndMarkerNewlineStyle { line });
            }
            if c != b'\r' {
                return corrupt(CopyError::EndMarkerCorrupt { line });
            }
        }
        let Some(c) = byte(p) else {
            return Ok(Marker::NeedData);
        };
        if c != b'\r' && c != b'\n' {
            return corrupt(CopyError::EndMarkerCorrupt { line });
        }
        let expected = if self.eol == Eol::Cr { b'\r' } else { b'\n' };
        if self.eol != Eol::Unknown && c != expected {
            return Err(CopyError::EndMarkerNewlineStyle { line });
        }
        Ok(Marker::End(self.complete(at, buf.len(), true)))
    }
}

/// Text format: splits a line into fields and de-escapes them
/// (`CopyReadAttributesText`), then checks the count. `line` starts at
/// `base` in the input buffer.
fn split_text(
    line: &[u8],
    base: usize,
    options: &TextOptions,
    columns: usize,
    line_no: u64,
    row: &mut RowSpans,
) -> Result<(), CopyError> {
    let delimiter = options.delimiter;
    if columns == 0 {
        return empty_row(line, line_no);
    }
    let mut start = 0;
    loop {
        // The field's raw end, and whether a delimiter follows it.
        let mut escaped = false;
        let mut i = start;
        let (end, more) = loop {
            match find_any(&line[i..], [delimiter, b'\\']) {
                None => break (line.len(), false),
                Some(offset) => {
                    let at = i + offset;
                    if line[at] == delimiter {
                        break (at, true);
                    }
                    // A backslash ending the line is dropped.
                    if at + 1 == line.len() {
                        break (at, false);
                    }
                    escaped = true;
                    i = at + 1 + escape_len(&line[at + 1..]);
                }
            }
        };
        if row.spans.len() == columns {
            return Err(CopyError::ExtraData { line: line_no });
        }
        let raw = &line[start..end];
        let span = if raw == options.null.as_slice() {
            Span::Null
        } else if escaped {
            let from = row.scratch.len();
            unescape(raw, &mut row.scratch);
            Span::Scratch(from, row.scratch.len())
        } else {
            Span::Input(base + start, base + end)
        };
        row.spans.push(span);
        if !more {
            break;
        }
        start = end + 1;
    }
    if row.spans.len() < columns {
        return Err(CopyError::MissingData {
            line: line_no,
            column: row.spans.len(),
        });
    }
    Ok(())
}

/// Zero columns: the line must be empty.
fn empty_row(line: &[u8], line_no: u64) -> Result<(), CopyError> {
    if line.is_empty() {
        Ok(())
    } else {
        Err(CopyError::ExtraData { line: line_no })
    }
}

/// The length of the escape sequence after a backslash, `seq` being what
/// follows the backslash (not empty).
fn escape_len(seq: &[u8]) -> usize {
    let is_octal = |b: &&u8| (b'0'..=b'7').contains(*b);
    match seq.first() {
        Some(b'0'..=b'7') => 1 + seq[1..].iter().take(2).take_while(is_octal).count(),
        Some(b'x') => {
            1 + seq[1..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_hexdigit())
                .count()
        }
        _ => 1,
    }
}

/// The byte an escape sequence (without its backslash) stands for.
fn escape_value(seq: &[u8]) -> u8 {
    match seq {
        [b'0'..=b'7', ..] => fold_digits(seq, 8),
        [b'x', hex @ ..] if !hex.is_empty() => fold_digits(hex, 16),
        [b'b', ..] => 0x08,
        [b'f', ..] => 0x0c,
        [b'n', ..] => b'\n',
        [b'r', ..] => b'\r',
        [b't', ..] => b'\t',
        [b'v', ..] => 0x0b,
        [other, ..] => *other,
        [] => b'\\',
    }
}

/// The value of up to three digits in `radix`, modulo 256 (`\777` is 0xff).
fn fold_digits(digits: &[u8], radix: u32) -> u8 {
    let value = digits.iter().fold(0u32, |value, &d| {
        value * radix + char::from(d).to_digit(radix).unwrap_or(0)
    });
    (value & 0xff) as u8
}

/// De-escapes a text field's raw bytes onto the end of `out`.
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(offset) = find_any(&raw[i..], [b'\\']) {
        out.extend_from_slice(&raw[i..i + offset]);
        let seq = &raw[i + offset + 1..];
        if seq.is_empty() {
            return;
        }
        let len = escape_len(seq);
        out.push(escape_value(&seq[..len]));
        i += offset + 1 + len;
    }
    out.extend_from_slice(&raw[i..]);
}

/// CSV: splits a line into fields and removes their quoting
/// (`CopyReadAttributesCSV`), then checks the count. `line` starts at `base`
/// in the input buffer.
fn split_csv(
    line: &[u8],
    base: usize,
    csv: &CsvSyntax,
    columns: usize,
    line_no: u64,
    row: &mut RowSpans,
) -> Result<(), CopyError> {
    if columns == 0 {
        return empty_row(line, line_no);
    }
    let (delimiter, quote) = (csv.delimiter, csv.quote);
    let mut fields = 0;
    let mut start = 0;
    loop {
        let found = find_any(&line[start..], [delimiter, quote]);
        let (span, next) = match found.map(|offset| start + offset) {
            Some(at) if line[at] == delimiter => {
                (csv_plain(line, base, start, at, csv), Some(at + 1))
            }
            None => (csv_plain(line, base, start, line.len(), csv), None),
            Some(at) => csv_quoted(line, base, start, at, csv, line_no, &mut row.scratch)?,
        };
        // Unlike text, keep going past the last column: an unterminated
        // quote later on the line is the error PostgreSQL reports. Only the
        // fields there are columns for are kept.
        fields += 1;
        if fields <= columns {
            row.spans.push(span);
        }
        match next {
            Some(next) => start = next,
            None => break,
        }
    }
    if fields > columns {
        return Err(CopyError::ExtraData { line: line_no });
    }
    if fields < columns {
        return Err(CopyError::MissingData {
            line: line_no,
            column: fields,
        });
    }
    Ok(())
}

/// A CSV field's value, assembled from pieces of its line: a range of the
/// line as long as the pieces are contiguous (an unquoted field, or one
/// quoted around its whole value with no escape inside), copied to the
/// scratch buffer from the first gap on.
#[derive(Debug, Clone, Copy)]
enum CsvValue {
    /// `line[start..end]`.
    Line(usize, usize),
    /// `scratch[start..]`.
    Scratch(usize),
}

impl CsvValue {
    /// Appends `line[from..to]` to the value.
    fn extend(&mut self, line: &[u8], from: usize, to: usize, scratch: &mut Vec<u8>) {
        match self {
            _ if from == to => {}
            Self::Line(start, end) if start == end => (*start, *end) = (from, to),
            Self::Line(_, end) if *end == from => *end = to,
            Self::Line(start, end) => {
                let at = scratch.len();
                scratch.extend_from_slice(&line[*start..*end]);
                scratch.extend_from_slice(&line[from..to]);
                *self = Self::Scratch(at);
            }
            Self::Scratch(_) => scratch.extend_from_slice(&line[from..to]),
        }
    }

    /// Where the complete value is, for a line starting at `base` in the
    /// input buffer.
    fn span(self, base: usize, scratch: &[u8]) -> Span {
        match self {
            Self::Line(start, end) => Span::Input(base + start, base + end),
            Self::Scratch(start) => Span::Scratch(start, scratch.len()),
        }
    }
}

/// An unquoted CSV field, `line[start..end]`: NULL if it equals the NULL
/// string.
fn csv_plain(line: &[u8], base: usize, start: usize, end: usize, csv: &CsvSyntax) -> Span {
    if line[start..end] == *csv.null {
        Span::Null
    } else {
        Span::Input(base + start, base + end)
    }
}

/// A CSV field from `start` with a quote at `quote_at`: where its value is,
/// and where the next field starts if a delimiter follows.
fn csv_quoted(
    line: &[u8],
    base: usize,
    start: usize,
    quote_at: usize,
    csv: &CsvSyntax,
    line_no: u64,
    scratch: &mut Vec<u8>,
) -> Result<(Span, Option<usize>), CopyError> {
    let (delimiter, quote, escape) = (csv.delimiter, csv.quote, csv.escape);
    // Quoted, even empty, it is never NULL.
    let mut value = CsvValue::Line(start, quote_at);
    let mut i = quote_at + 1;
    loop {
        // Inside quotes.
        let Some(offset) = find_any(&line[i..], [quote, escape]) else {
            return Err(CopyError::UnterminatedCsvQuote { line: line_no });
        };
        let at = i + offset;
        value.extend(line, i, at, scratch);
        let c = line[at];
        i = at + 1;
        if c == escape && line.get(i).is_some_and(|&n| n == escape || n == quote) {
            value.extend(line, i, i + 1, scratch);
            i += 1;
            continue;
        }
        if c != quote {
            value.extend(line, at, at + 1, scratch);
            continue;
        }
        // Outside quotes again, until a delimiter, the line's end or a quote.
        match find_any(&line[i..], [delimiter, quote]) {
            None => {
                value.extend(line, i, line.len(), scratch);
                return Ok((value.span(base, scratch), None));
            }
            Some(offset) => {
                let at = i + offset;
                value.extend(line, i, at, scratch);
                if line[at] == delimiter {
                    return Ok((value.span(base, scratch), Some(at + 1)));
                }
                i = at + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
