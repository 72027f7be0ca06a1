//! Unit tests of each rule, then properties: encoded rows decode back whatever
//! the CopyData boundaries, and arbitrary bytes never panic nor depend on how
//! they are cut.

use proptest::prelude::*;

use super::*;

/// Rows with their line numbers, or the error.
type Decoded = Result<Vec<(u64, CopyRow)>, CopyError>;

fn text() -> CopyFormat {
    CopyFormat::Text(TextOptions::default())
}

fn csv() -> CopyFormat {
    CopyFormat::Csv(CsvOptions::default())
}

fn csv_with(options: CsvOptions) -> CopyFormat {
    CopyFormat::Csv(options)
}

/// Pushes `chunks` one by one, draining after each, then finishes and drains.
fn run(format: &CopyFormat, columns: usize, chunks: &[&[u8]]) -> Decoded {
    let limit = chunks.iter().map(|c| c.len()).sum::<usize>() + 2;
    let mut decoder = CopyDecoder::new(format.clone(), columns);
    let mut rows = Vec::new();
    let mut take = |decoder: &mut CopyDecoder| -> Result<(), CopyError> {
        while let Some(row) = decoder.next_row()? {
            rows.push((decoder.line(), row));
            assert!(
                rows.len() <= limit,
                "more rows than input bytes: no progress"
            );
        }
        Ok(())
    };
    for chunk in chunks {
        decoder.push(chunk);
        take(&mut decoder)?;
    }
    decoder.finish()?;
    take(&mut decoder)?;
    Ok(rows)
}

/// Like [`run`], reading the rows with `next_row_with`, and checking it calls
/// back once per column, in order, and never for a row it fails.
fn run_with(format: &CopyFormat, columns: usize, chunks: &[&[u8]]) -> Decoded {
    let limit = chunks.iter().map(|c| c.len()).sum::<usize>() + 2;
    let mut decoder = CopyDecoder::new(format.clone(), columns);
    let mut rows = Vec::new();
    let mut take = |decoder: &mut CopyDecoder| -> Result<(), CopyError> {
        loop {
            let mut row = Vec::new();
            let result = decoder.next_row_with(|column, value| {
                assert_eq!(column, row.len(), "columns out of order");
                row.push(value.map(<[u8]>::to_vec));
            });
            match result {
                Ok(true) => {
                    assert_eq!(row.len(), columns, "wrong number of fields");
                    rows.push((decoder.line(), row));
                    assert!(
                        rows.len() <= limit,
                        "more rows than input bytes: no progress"
                    );
                }
                Ok(false) => {
                    assert!(row.is_empty(), "fields without a row");
                    return Ok(());
                }
                Err(e) => {
                    assert!(row.is_empty(), "fields of a failed row");
                    return Err(e);
                }
            }
        }
    };
    for chunk in chunks {
        decoder.push(chunk);
        take(&mut decoder)?;
    }
    decoder.finish()?;
    take(&mut decoder)?;
    Ok(rows)
}

/// The next row, read with `next_row_with`.
fn next_row_with(decoder: &mut CopyDecoder) -> Result<Option<CopyRow>, CopyError> {
    let mut row = Vec::new();
    let decoded = decoder.next_row_with(|_, value| row.push(value.map(<[u8]>::to_vec)))?;
    Ok(decoded.then_some(row))
}

/// Decodes `input` whole, byte by byte and split in two at every position,
/// checks all agree, and returns the rows with their line numbers.
fn decode_lines(format: &CopyFormat, columns: usize, input: &[u8]) -> Decoded {
    let whole = run(format, columns, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(format, columns, &bytes), whole, "fed byte by byte");
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(run(format, columns, &[a, b]), whole, "split at {at}");
    }
    whole
}

/// Like [`decode_lines`], without the line numbers.
fn decode(format: &CopyFormat, columns: usize, input: &[u8]) -> Result<Vec<CopyRow>, CopyError> {
    decode_lines(format, columns, input).map(|rows| rows.into_iter().map(|(_, r)| r).collect())
}

/// A row from string fields.
fn row(fields: &[Option<&str>]) -> CopyRow {
    fields
        .iter()
        .map(|f| f.map(|s| s.as_bytes().to_vec()))
        .collect()
}

fn line_of(result: Result<Vec<CopyRow>, CopyError>) -> Option<u64> {
    result.err().and_then(|e| e.line())
}

// ---------------------------------------------------------------- text

#[test]
fn text_rows_fields_and_nulls() {
    let rows = decode(&text(), 3, b"1\tabc\t\\N\n2\t\t\\N\n").unwrap();
    assert_eq!(
        rows,
        vec![
            row(&[Some("1"), Some("abc"), None]),
            row(&[Some("2"), Some(""), None]),
        ]
    );
}

#[test]
fn text_custom_delimiter_and_null() {
    let format = CopyFormat::Text(TextOptions {
        delimiter: b'|',
        null: b"NULL".to_vec(),
    });
    // With another NULL string, `\N` is just an escaped N.
    let rows = decode(&format, 4, b"a|NULL|\\N|\n").unwrap();
    assert_eq!(rows, vec![row(&[Some("a"), None, Some("N"), Some("")])]);
}

#[test]
fn text_escapes() {
    let input =
        b"\\b\\f\\n\\r\\t\\v\\\\|\\0|\\12|\\101|\\1012|\\777|\\x41|\\x4|\\x4g|\\xg|\\q|a\\|b\n";
    let format = CopyFormat::Text(TextOptions {
        delimiter: b'|',
        ..TextOptions::default()
    });
    let rows = decode(&format, 12, input).unwrap();
    let expected: Vec<&[u8]> = vec![
        b"\x08\x0c\n\r\t\x0b\\",
        b"\0",
        b"\n",
        b"A",
        b"A2",
        b"\xff",
        b"A",
        b"\x04",
        b"\x04g",
        b"xg",
        b"q",
        b"a|b",
    ];
    let expected: CopyRow = expected.into_iter().map(|f| Some(f.to_vec())).collect();
    assert_eq!(rows, vec![expected]);
}

#[test]
fn text_hex_escape_can_swallow_an_upper_case_delimiter() {
    // As in PostgreSQL, `\x1` followed by the delimiter `A` reads `\x1A`.
    let format = CopyFormat::Text(TextOptions {
        delimiter: b'A',
        ..TextOptions::default()
    });
    assert_eq!(
        decode(&format, 1, b"\\x1A\n").unwrap(),
        vec![vec![Some(vec![0x1a])]]
    );
}

#[test]
fn text_null_is_matched_before_de_escaping() {
    let rows = decode(&text(), 2, b"\\\\N\t\\N\n").unwrap();
    assert_eq!(rows, vec![row(&[Some("\\N"), None])]);
    let format = CopyFormat::Text(TextOptions {
        delimiter: b'\t',
        null: b"n".to_vec(),
    });
    let rows = decode(&format, 2, b"\\n\tn\n").unwrap();
    assert_eq!(rows, vec![row(&[Some("\n"), None])]);
}

#[test]
fn text_line_endings() {
    let expected = vec![row(&[Some("a")]), row(&[Some("b")])];
    assert_eq!(decode(&text(), 1, b"a\nb\n").unwrap(), expected);
    assert_eq!(decode(&text(), 1, b"a\r\nb\r\n").unwrap(), expected);
    assert_eq!(decode(&text(), 1, b"a\rb\r").unwrap(), expected);
    // The last line needs no line ending.
    assert_eq!(decode(&text(), 1, b"a\nb").unwrap(), expected);
    assert_eq!(decode(&text(), 1, b"a\r\nb").unwrap(), expected);
    // A `\r` that ends the input ends the first line.
    assert_eq!(decode(&text(), 1, b"a\r").unwrap(), vec![row(&[Some("a")])]);
}

#[test]
fn text_line_endings_must_all_be_alike() {
    let cr = decode(&text(), 1, b"a\nb\r\n").unwrap_err();
    assert_eq!(cr, CopyError::LiteralCarriageReturn { line: 2 });
    assert_eq!(cr.to_string(), "literal carriage return found in data");
    assert_eq!(cr.hint(), Some("Use \"\\r\" to represent carriage return."));
    let nl = decode(&text(), 1, b"a\r\nb\n").unwrap_err();
    assert_eq!(nl, CopyError::LiteralNewline { line: 2 });
    assert_eq!(nl.to_string(), "literal newline found in data");
    assert_eq!(nl.hint(), Some("Use \"\\n\" to represent newline."));
    assert_eq!(
        decode(&text(), 1, b"a\rb\n"),
        Err(CopyError::LiteralNewline { line: 2 })
    );
    assert_eq!(
        decode(&text(), 1, b"a\r\nb\rc\r\n"),
        Err(CopyError::LiteralCarriageReturn { line: 2 })
    );
    // Even a `\r` ending the input, once lines end in `\r\n`.
    assert_eq!(
        decode(&text(), 1, b"a\r\nb\r"),
        Err(CopyError::LiteralCarriageReturn { line: 2 })
    );
}

#[test]
fn text_backslash_before_a_line_ending_is_data() {
    let rows = decode_lines(&text(), 2, b"a\\\nb\tc\nd\\\re\tf\n").unwrap();
    assert_eq!(
        rows,
        vec![
            (1, row(&[Some("a\nb"), Some("c")])),
            (2, row(&[Some("d\re"), Some("f")])),
        ]
    );
}

#[test]
fn text_trailing_backslash_at_end_of_input_is_dropped() {
    assert_eq!(
        decode(&text(), 1, b"ab\\").unwrap(),
        vec![row(&[Some("ab")])]
    );
    // ... before the NULL comparison, too.
    assert_eq!(decode(&text(), 1, b"\\N\\").unwrap(), vec![row(&[None])]);
}

#[test]
fn text_end_of_data_marker() {
    assert_eq!(
        decode(&text(), 1, b"a\n\\.\nignored\t\t\n\\\xff").unwrap(),
        vec![row(&[Some("a")])]
    );
    assert_eq!(decode(&text(), 1, b"\\.\n").unwrap(), Vec::<CopyRow>::new());
    assert_eq!(
        decode(&text(), 1, b"a\r\n\\.\r\nb\r\n").unwrap(),
        vec![row(&[Some("a")])]
    );
    assert_eq!(
        decode(&text(), 1, b"a\r\\.\rb\r").unwrap(),
        vec![row(&[Some("a")])]
    );
    // An escaped backslash followed by a period is data.
    assert_eq!(
        decode(&text(), 1, b"\\\\.\n").unwrap(),
        vec![row(&[Some("\\.")])]
    );
}

#[test]
fn text_end_of_data_marker_ends_data_mid_line() {
    // PostgreSQL stops at an unescaped `\.` anywhere; the line so far is a row.
    let rows = decode(&text(), 2, b"a\tb\\.\nc\td\n").unwrap();
    assert_eq!(rows, vec![row(&[Some("a"), Some("b")])]);
}

#[test]
fn text_end_of_data_marker_errors() {
    let corrupt = decode(&text(), 1, b"a\n\\.").unwrap_err();
    assert_eq!(corrupt, CopyError::EndMarkerCorrupt { line: 2 });
    assert_eq!(corrupt.to_string(), "end-of-copy marker corrupt");
    assert_eq!(
        decode(&text(), 1, b"a\n\\.x\n"),
        Err(CopyError::EndMarkerCorrupt { line: 2 })
    );
    let style = decode(&text(), 1, b"a\n\\.\r\n").unwrap_err();
    assert_eq!(style, CopyError::EndMarkerNewlineStyle { line: 2 });
    assert_eq!(
        style.to_string(),
        "end-of-copy marker does not match previous newline style"
    );
    assert_eq!(
        decode(&text(), 1, b"a\r\n\\.\n"),
        Err(CopyError::EndMarkerNewlineStyle { line: 2 })
    );
    assert_eq!(
        decode(&text(), 1, b"a\r\n\\.x"),
        Err(CopyError::EndMarkerCorrupt { line: 2 })
    );
    assert_eq!(
        decode(&text(), 1, b"a\r\\.\n"),
        Err(CopyError::EndMarkerNewlineStyle { line: 2 })
    );
}

#[test]
fn input_after_the_end_of_data_marker_is_ignored() {
    let mut decoder = CopyDecoder::new(text(), 1);
    decoder.push(b"a\n\\.\n");
    assert_eq!(decoder.next_row().unwrap(), Some(row(&[Some("a")])));
    assert_eq!(decoder.next_row().unwrap(), None);
    decoder.push(b"b\nc\n\"\r\n");
    assert_eq!(decoder.next_row().unwrap(), None);
    decoder.finish().unwrap();
    assert_eq!(decoder.next_row().unwrap(), None);
    assert_eq!(decoder.line(), 1);
}

#[test]
fn text_wrong_field_counts() {
    let extra = decode(&text(), 2, b"a\tb\na\tb\tc\n").unwrap_err();
    assert_eq!(extra, CopyError::ExtraData { line: 2 });
    assert_eq!(extra.to_string(), "extra data after last expected column");
    let missing = decode(&text(), 3, b"a\tb\n").unwrap_err();
    assert_eq!(missing, CopyError::MissingData { line: 1, column: 2 });
    assert_eq!(missing.to_string(), "missing data for column 3");
    // An empty line is one empty field.
    assert_eq!(
        decode(&text(), 1, b"\n\n").unwrap(),
        vec![row(&[Some("")]), row(&[Some("")])]
    );
    assert_eq!(
        decode(&text(), 2, b"\n"),
        Err(CopyError::MissingData { line: 1, column: 1 })
    );
}

#[test]
fn zero_columns_take_empty_lines_only() {
    assert_eq!(decode(&text(), 0, b"\n\n").unwrap(), vec![vec![], vec![]]);
    assert_eq!(
        decode(&text(), 0, b"\na\n"),
        Err(CopyError::ExtraData { line: 2 })
    );
    assert_eq!(decode(&csv(), 0, b"\n").unwrap(), vec![vec![]]);
    assert_eq!(
        decode(&csv(), 0, b","),
        Err(CopyError::ExtraData { line: 1 })
    );
}

#[test]
fn empty_input_has_no_rows() {
    assert_eq!(decode(&text(), 1, b"").unwrap(), Vec::<CopyRow>::new());
    assert_eq!(decode(&csv(), 1, b"").unwrap(), Vec::<CopyRow>::new());
}

#[test]
fn text_line_numbers() {
    let rows = decode_lines(&text(), 1, b"a\nb\nc").unwrap();
    let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [1, 2, 3]);
    assert_eq!(line_of(decode(&text(), 1, b"a\nb\nc\td\n")), Some(3));
}

// ----------------------------------------------------------------- CSV

#[test]
fn csv_fields_and_nulls() {
    // Unquoted empty is NULL, quoted empty an empty string.
    let rows = decode(&csv(), 3, b"1,abc,\n2,\"\",x\n").unwrap();
    assert_eq!(
        rows,
        vec![
            row(&[Some("1"), Some("abc"), None]),
            row(&[Some("2"), Some(""), Some("x")])
        ]
    );
    // Quoted text equal to the NULL string is not NULL.
    let format = csv_with(CsvOptions {
        null: b"NULL".to_vec(),
        ..CsvOptions::default()
    });
    let rows = decode(&format, 3, b"NULL,\"NULL\",\n").unwrap();
    assert_eq!(rows, vec![row(&[None, Some("NULL"), Some("")])]);
}

#[test]
fn csv_quoted_fields() {
    let input = b"\"a,b\",\"say \"\"hi\"\"\",\"one\ntwo\"\nx,y,z\n";
    let rows = decode_lines(&csv(), 3, input).unwrap();
    assert_eq!(
        rows,
        vec![
            (1, row(&[Some("a,b"), Some("say \"hi\""), Some("one\ntwo")])),
            // PostgreSQL does not count the quoted newline of the first line.
            (2, row(&[Some("x"), Some("y"), Some("z")])),
        ]
    );
    // All characters are significant, including spaces around quotes.
    assert_eq!(
        decode(&csv(), 2, b" \"a\" ,b\n").unwrap(),
        vec![row(&[Some(" a "), Some("b")])]
    );
}

#[test]
fn csv_quotes_open_anywhere_in_a_field() {
    let rows = decode(&csv(), 2, b"a\"b,c\"d,e\n\"ab\"cd,\"\"\"\"\n").unwrap();
    assert_eq!(
        rows,
        vec![
            row(&[Some("ab,cd"), Some("e")]),
            row(&[Some("abcd"), Some("\"")])
        ]
    );
}

#[test]
fn csv_escape_distinct_from_quote() {
    let format = csv_with(CsvOptions {
        escape: b'\\',
        ..CsvOptions::default()
    });
    let input = b"\"a\\\"b\",\"c\\\\d\",\"e\\f\",\"g\"\"h\",i\\j\n";
    let rows = decode(&format, 5, input).unwrap();
    assert_eq!(
        rows,
        vec![row(&[
            Some("a\"b"),
            Some("c\\d"),
            Some("e\\f"),
            Some("gh"),
            Some("i\\j")
        ])]
    );
    // An escaped quote does not close the quotes, so the line goes on.
    assert_eq!(
        decode(&format, 1, b"\"a\\\"\nb\"\n").unwrap(),
        vec![row(&[Some("a\"\nb")])]
    );
}

#[test]
fn csv_other_quote_and_delimiter() {
    let format = csv_with(CsvOptions {
        delimiter: b';',
        quote: b'\'',
        escape: b'\'',
        ..CsvOptions::default()
    });
    let rows = decode(&format, 3, b"'a;b';'it''s';\"\n").unwrap();
    assert_eq!(rows, vec![row(&[Some("a;b"), Some("it's"), Some("\"")])]);
}

#[test]
fn csv_header_is_skipped() {
    let rows = decode_lines(
        &csv_with(CsvOptions {
            header: true,
            ..CsvOptions::default()
        }),
        2,
        b"x,y\n1,2\n",
    )
    .unwrap();
    assert_eq!(rows, vec![(2, row(&[Some("1"), Some("2")]))]);
    // The header is a CSV line like any other: quotes may hide newlines.
    let format = csv_with(CsvOptions {
        header: true,
        ..CsvOptions::default()
    });
    let rows = decode_lines(&format, 2, b"x,y\n\"a\nb\",c\n1,2\n");
    // Header on line 1; with `\n` lines known, the quoted newline counts.
    let rows2 = decode_lines(&format, 2, b"\"x\ny\",z\n1,2\n").unwrap();
    assert_eq!(
        rows.unwrap(),
        vec![
            (3, row(&[Some("a\nb"), Some("c")])),
            (4, row(&[Some("1"), Some("2")]))
        ]
    );
    // The first line's quoted newline is not counted: the style is not known yet.
    assert_eq!(rows2, vec![(2, row(&[Some("1"), Some("2")]))]);
    assert_eq!(
        decode(&format, 2, b"only a header").unwrap(),
        Vec::<CopyRow>::new()
    );
}

#[test]
fn csv_line_numbers_count_physical_lines() {
    let rows = decode_lines(&csv(), 1, b"a\n\"b\nc\nd\"\ne\n").unwrap();
    let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [1, 4, 5]);
    // With `\r\n` lines PostgreSQL counts the quoted `\r`s, even on the first.
    let rows = decode_lines(&csv(), 1, b"\"a\r\nb\"\r\nc\r\n").unwrap();
    let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [2, 3]);
    assert_eq!(line_of(decode(&csv(), 2, b"a,b\n\"c\nd\",e,f\n")), Some(3));
}

#[test]
fn csv_end_of_data_marker() {
    assert_eq!(
        decode(&csv(), 1, b"a\n\\.\nb\n").unwrap(),
        vec![row(&[Some("a")])]
    );
    assert_eq!(
        decode(&csv(), 1, b"a\r\n\\.\r\nb\r\n").unwrap(),
        vec![row(&[Some("a")])]
    );
    // Quoted, with more on the line, or not first, `\.` is data.
    assert_eq!(
        decode(&csv(), 1, b"\"\\.\"\n").unwrap(),
        vec![row(&[Some("\\.")])]
    );
    assert_eq!(
        decode(&csv(), 1, b"\\.x\n").unwrap(),
        vec![row(&[Some("\\.x")])]
    );
    assert_eq!(
        decode(&csv(), 2, b"a,\\.\n").unwrap(),
        vec![row(&[Some("a"), Some("\\.")])]
    );
    // So is `\.` ending the input without a line ending (text: an error).
    assert_eq!(
        decode(&csv(), 1, b"a\n\\.").unwrap(),
        vec![row(&[Some("a")]), row(&[Some("\\.")])]
    );
    // A line ending of another style is still an error...
    assert_eq!(
        decode(&csv(), 1, b"a\n\\.\r\n"),
        Err(CopyError::EndMarkerNewlineStyle { line: 2 })
    );
    // ... or makes `\.` data, followed by a stray line ending.
    assert_eq!(
        decode(&csv(), 1, b"a\r\n\\.\n"),
        Err(CopyError::UnquotedNewline { line: 2 })
    );
}

#[test]
fn csv_unterminated_quote() {
    let mut decoder = CopyDecoder::new(csv(), 2);
    decoder.push(b"a,b\nc,\"d\n");
    assert_eq!(
        decoder.next_row().unwrap(),
        Some(row(&[Some("a"), Some("b")]))
    );
    assert_eq!(decoder.next_row().unwrap(), None);
    let error = decoder.finish().unwrap_err();
    assert_eq!(error, CopyError::UnterminatedCsvQuote { line: 3 });
    assert_eq!(error.to_string(), "unterminated CSV quoted field");
    // On the first line the quoted newline is not counted.
    assert_eq!(line_of(decode(&csv(), 1, b"\"a\nb")), Some(1));
    // It wins over the wrong field count, as in PostgreSQL.
    assert_eq!(
        decode(&csv(), 1, b"a,b,\"c\n"),
        Err(CopyError::UnterminatedCsvQuote { line: 1 })
    );
}

#[test]
fn csv_line_endings_must_all_be_alike() {
    let cr = decode(&csv(), 1, b"a\nb\rc\n").unwrap_err();
    assert_eq!(cr, CopyError::UnquotedCarriageReturn { line: 2 });
    assert_eq!(cr.to_string(), "unquoted carriage return found in data");
    assert_eq!(
        cr.hint(),
        Some("Use quoted CSV field to represent carriage return.")
    );
    let nl = decode(&csv(), 1, b"a\r\nb\n").unwrap_err();
    assert_eq!(nl, CopyError::UnquotedNewline { line: 2 });
    assert_eq!(
        nl.hint(),
        Some("Use quoted CSV field to represent newline.")
    );
    // Quoted, any line ending is data.
    assert_eq!(
        decode(&csv(), 1, b"\"a\rb\"\n\"c\r\nd\"\n").unwrap(),
        vec![row(&[Some("a\rb")]), row(&[Some("c\r\nd")])]
    );
}

#[test]
fn csv_wrong_field_counts() {
    assert_eq!(
        decode(&csv(), 2, b"a,b,c\n"),
        Err(CopyError::ExtraData { line: 1 })
    );
    assert_eq!(
        decode(&csv(), 2, b"a,b\n\"c\nd\"\n"),
        Err(CopyError::MissingData { line: 3, column: 1 })
    );
}

// -------------------------------------------------------------- binary

/// Binary COPY data: header with `flags` and `extension`, then `rows`.
fn binary(rows: &[CopyRow], flags: u32, extension: &[u8], trailer: bool) -> Vec<u8> {
    let mut out = BINARY_SIGNATURE.to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&(extension.len() as i32).to_be_bytes());
    out.extend_from_slice(extension);
    for row in rows {
        out.extend_from_slice(&(row.len() as i16).to_be_bytes());
        for field in row {
            match field {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(value) => {
                    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
                    out.extend_from_slice(value);
                }
            }
        }
    }
    if trailer {
        out.extend_from_slice(&(-1i16).to_be_bytes());
    }
    out
}

fn header() -> Vec<u8> {
    binary(&[], 0, b"", false)
}

#[test]
fn binary_rows() {
    let rows = vec![
        row(&[Some("\x00\x00\x00\x01"), None, Some("")]),
        row(&[Some("x"), Some("\u{7f}\n\r"), None]),
    ];
    let input = binary(&rows, 0, b"", true);
    let decoded = decode_lines(&CopyFormat::Binary, 3, &input).unwrap();
    assert_eq!(decoded, vec![(1, rows[0].clone()), (2, rows[1].clone())]);
}

#[test]
fn binary_header_extension_and_low_flags_are_skipped() {
    let rows = vec![row(&[Some("a")])];
    let input = binary(&rows, 0x0000_ffff, b"extension bytes", true);
    assert_eq!(decode(&CopyFormat::Binary, 1, &input).unwrap(), rows);
}

#[test]
fn binary_bad_signature() {
    // Known as soon as a byte differs.
    let mut decoder = CopyDecoder::new(CopyFormat::Binary, 1);
    decoder.push(b"PGCOPY\nX");
    let error = decoder.next_row().unwrap_err();
    assert_eq!(error, CopyError::BadSignature);
    assert_eq!(error.to_string(), "COPY file signature not recognized");
    assert_eq!(error.line(), None);
    // Text sent as binary.
    assert_eq!(
        decode(&CopyFormat::Binary, 1, b"1\t2\n"),
        Err(CopyError::BadSignature)
    );
    assert_eq!(
        decode(&CopyFormat::Binary, 1, b""),
        Err(CopyError::BadSignature)
    );
    assert_eq!(
        decode(&CopyFormat::Binary, 1, b"PGCOPY\n"),
        Err(CopyError::BadSignature)
    );
}

#[test]
fn binary_header_errors() {
    let with_oids = decode(&CopyFormat::Binary, 1, &binary(&[], 1 << 16, b"", true)).unwrap_err();
    assert_eq!(with_oids, CopyError::WithOids);
    assert_eq!(
        with_oids.to_string(),
        "invalid COPY file header (WITH OIDS)"
    );
    assert_eq!(
        decode(&CopyFormat::Binary, 1, &binary(&[], 1 << 17, b"", true)),
        Err(CopyError::CriticalFlags { flags: 1 << 17 })
    );
    let sig = &BINARY_SIGNATURE[..];
    assert_eq!(
        decode(&CopyFormat::Binary, 1, &[sig, &[0, 0]].concat()),
        Err(CopyError::MissingFlags)
    );
    assert_eq!(
        decode(&CopyFormat::Binary, 1, &[sig, &[0; 4], &[0, 0, 0]].concat()),
        Err(CopyError::MissingHeaderLength)
    );
    assert_eq!(
        decode(
            &CopyFormat::Binary,
            1,
            &[sig, &[0; 4], &(-1i32).to_be_bytes()].concat()
        ),
        Err(CopyError::MissingHeaderLength)
    );
    assert_eq!(
        decode(
            &CopyFormat::Binary,
            1,
            &[sig, &[0; 4], &5i32.to_be_bytes(), b"abc"].concat()
        ),
        Err(CopyError::WrongHeaderLength)
    );
}

#[test]
fn binary_huge_header_extension_is_skipped_without_buffering() {
    let mut decoder = CopyDecoder::new(CopyFormat::Binary, 1);
    decoder.push(&[&BINARY_SIGNATURE[..], &[0; 4], &i32::MAX.to_be_bytes()].concat());
    for _ in 0..100 {
        decoder.push(&[7; 1000]);
        assert_eq!(decoder.next_row().unwrap(), None);
    }
    assert!(
        decoder.buf.capacity() < 10_000,
        "{}",
        decoder.buf.capacity()
    );
    assert_eq!(decoder.finish(), Err(CopyError::WrongHeaderLength));
}

#[test]
fn binary_wrong_field_count() {
    let input = binary(
        &[row(&[Some("a"), Some("b")]), row(&[None, None, None])],
        0,
        b"",
        true,
    );
    let error = decode(&CopyFormat::Binary, 2, &input).unwrap_err();
    assert_eq!(
        error,
        CopyError::FieldCount {
            line: 2,
            count: 3,
            expected: 2
        }
    );
    assert_eq!(error.to_string(), "row field count is 3, expected 2");
    let input = [header(), (-2i16).to_be_bytes().to_vec()].concat();
    assert_eq!(
        decode(&CopyFormat::Binary, 2, &input),
        Err(CopyError::FieldCount {
            line: 1,
            count: -2,
            expected: 2
        })
    );
}

#[test]
fn binary_invalid_field_sizes_fail_before_allocating() {
    for size in [-2, i32::MIN, (1 << 30) + 1, i32::MAX] {
        let mut decoder = CopyDecoder::new(CopyFormat::Binary, 1);
        decoder.push(
            &[
                header(),
                1i16.to_be_bytes().to_vec(),
                size.to_be_bytes().to_vec(),
            ]
            .concat(),
        );
        let error = decoder.next_row().unwrap_err();
        assert_eq!(error, CopyError::InvalidFieldSize { line: 1, size });
        assert_eq!(error.to_string(), "invalid field size");
    }
    // 1 GiB itself is accepted: the decoder waits for it, allocating nothing.
    let mut decoder = CopyDecoder::new(CopyFormat::Binary, 1);
    decoder.push(
        &[
            header(),
            1i16.to_be_bytes().to_vec(),
            (1i32 << 30).to_be_bytes().to_vec(),
        ]
        .concat(),
    );
    assert_eq!(decoder.next_row().unwrap(), None);
    assert_eq!(decoder.finish(), Err(CopyError::UnexpectedEof { line: 1 }));
}

#[test]
fn binary_truncated_data() {
    let full = binary(&[row(&[Some("abc")]), row(&[Some("def")])], 0, b"", true);
    // Everything cut inside the second tuple, past its field count's first
    // byte (a cut before that ends the data).
    let second = header().len() + 2 + 4 + 3;
    for cut in second + 2..full.len() - 2 {
        let error = decode(&CopyFormat::Binary, 1, &full[..cut]).unwrap_err();
        assert_eq!(error, CopyError::UnexpectedEof { line: 2 }, "cut at {cut}");
        assert_eq!(error.to_string(), "unexpected EOF in COPY data");
    }
    // The same inside the first tuple.
    for cut in header().len() + 2..second {
        let error = decode(&CopyFormat::Binary, 1, &full[..cut]).unwrap_err();
        assert_eq!(error, CopyError::UnexpectedEof { line: 1 }, "cut at {cut}");
    }
}

#[test]
fn binary_trailer_is_optional() {
    let rows = vec![row(&[Some("abc")]), row(&[None])];
    let full = binary(&rows, 0, b"", true);
    // Cut exactly before the trailer, or inside it: as PostgreSQL, the end.
    let no_trailer = &full[..full.len() - 2];
    assert_eq!(no_trailer, binary(&rows, 0, b"", false));
    assert_eq!(
        decode_lines(&CopyFormat::Binary, 1, no_trailer),
        Ok(numbered(&rows, 1))
    );
    assert_eq!(
        decode_lines(&CopyFormat::Binary, 1, &full[..full.len() - 1]),
        Ok(numbered(&rows, 1))
    );
    // Any one byte where a field count would start.
    for stray in [0x00, 0x01, 0x7f, 0xff] {
        let input = [no_trailer, &[stray]].concat();
        assert_eq!(
            decode(&CopyFormat::Binary, 1, &input),
            Ok(rows.clone()),
            "{stray:#x}"
        );
    }
    // The header alone, with or without a stray byte, is no rows.
    assert_eq!(decode(&CopyFormat::Binary, 1, &header()), Ok(vec![]));
    assert_eq!(
        decode(&CopyFormat::Binary, 1, &[header(), vec![0]].concat()),
        Ok(vec![])
    );
    assert_eq!(decode(&CopyFormat::Binary, 0, &header()), Ok(vec![]));
    // The decoder waits for the rest of a field count until the input ends.
    let mut decoder = CopyDecoder::new(CopyFormat::Binary, 1);
    decoder.push(&[no_trailer, &[0]].concat());
    assert_eq!(decoder.next_row().unwrap(), Some(rows[0].clone()));
    assert_eq!(decoder.next_row().unwrap(), Some(rows[1].clone()));
    assert_eq!(decoder.next_row().unwrap(), None);
    decoder.push(&[1]);
    assert_eq!(decoder.next_row().unwrap(), None);
    decoder.push(&[0, 0, 0, 1, b'x']);
    assert_eq!(decoder.next_row().unwrap(), Some(row(&[Some("x")])));
    assert_eq!(decoder.line(), 3);
    decoder.finish().unwrap();
    assert_eq!(decoder.next_row().unwrap(), None);
    // Input after the end is ignored, as after any finish.
    decoder.push(b"more");
    assert_eq!(decoder.next_row().unwrap(), None);
}

#[test]
fn binary_data_after_trailer() {
    let mut input = binary(&[row(&[Some("a")])], 0, b"", true);
    input.push(0);
    let error = decode(&CopyFormat::Binary, 1, &input).unwrap_err();
    assert_eq!(error, CopyError::DataAfterTrailer { line: 2 });
    assert_eq!(error.to_string(), "received copy data after EOF marker");
    // Also when it comes after the trailer was read.
    let mut decoder = CopyDecoder::new(CopyFormat::Binary, 1);
    decoder.push(&input[..input.len() - 1]);
    assert_eq!(decoder.next_row().unwrap(), Some(row(&[Some("a")])));
    assert_eq!(decoder.next_row().unwrap(), None);
    decoder.push(b"x");
    assert_eq!(
        decoder.next_row(),
        Err(CopyError::DataAfterTrailer { line: 2 })
    );
}

#[test]
fn binary_zero_columns() {
    let input = binary(&[vec![], vec![]], 0, b"", true);
    assert_eq!(
        decode(&CopyFormat::Binary, 0, &input).unwrap(),
        vec![vec![], vec![]]
    );
}

// ------------------------------------------------------- next_row_with

#[test]
fn next_row_with_field_spanning_two_pushes() {
    // Text: a plain field (lent from the input) and an escaped one
    // (de-escaped), each cut in two, the second just after its backslash;
    // then a row that the next push moves to the front of the buffer.
    let mut decoder = CopyDecoder::new(text(), 4);
    decoder.push(b"1\tab");
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.push(b"cd\tx\\");
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.push(b"ty\t\\N\n2\tz");
    assert_eq!(
        next_row_with(&mut decoder),
        Ok(Some(row(&[Some("1"), Some("abcd"), Some("x\ty"), None])))
    );
    assert_eq!(decoder.line(), 1);
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.push(b"z\t\\N\tend\n");
    assert_eq!(
        next_row_with(&mut decoder),
        Ok(Some(row(&[Some("2"), Some("zz"), None, Some("end")])))
    );
    assert_eq!(decoder.line(), 2);
    decoder.finish().unwrap();
    assert_eq!(next_row_with(&mut decoder), Ok(None));

    // CSV: quoted fields cut inside, one between the quotes of a doubled
    // quote; the last row completes only at `finish`.
    let mut decoder = CopyDecoder::new(csv(), 3);
    decoder.push(b"\"a,");
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.push(b"b\",\"c\"");
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.push(b"\"d\",e\nf,\"g");
    assert_eq!(
        next_row_with(&mut decoder),
        Ok(Some(row(&[Some("a,b"), Some("c\"d"), Some("e")])))
    );
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.push(b"h\",");
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.finish().unwrap();
    assert_eq!(
        next_row_with(&mut decoder),
        Ok(Some(row(&[Some("f"), Some("gh"), None])))
    );
    assert_eq!(next_row_with(&mut decoder), Ok(None));

    // Binary: a field cut inside its length, then inside its bytes.
    let input = binary(&[row(&[Some("hello"), None])], 0, b"", true);
    let field = header().len() + 2;
    let mut decoder = CopyDecoder::new(CopyFormat::Binary, 2);
    for piece in [&input[..field + 2], &input[field + 2..field + 7]] {
        decoder.push(piece);
        assert_eq!(next_row_with(&mut decoder), Ok(None));
    }
    decoder.push(&input[field + 7..]);
    assert_eq!(
        next_row_with(&mut decoder),
        Ok(Some(row(&[Some("hello"), None])))
    );
    assert_eq!(next_row_with(&mut decoder), Ok(None));
    decoder.finish().unwrap();
    assert_eq!(next_row_with(&mut decoder), Ok(None));
}

#[test]
fn next_row_with_lends_plain_fields_from_the_input() {
    // For each field: whether it points into the input buffer.
    let lent = |format: CopyFormat, columns: usize, input: &[u8]| {
        let mut decoder = CopyDecoder::new(format, columns);
        decoder.push(input);
        let mut at = Vec::new();
        assert_eq!(
            decoder.next_row_with(|_, value| at.push(value.map(|v| v.as_ptr_range()))),
            Ok(true)
        );
        let buf = decoder.buf.as_ptr_range();
        at.iter()
            .map(|f| f.as_ref().map(|f| buf.start <= f.start && f.end <= buf.end))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lent(text(), 4, b"abc\tx\\ty\t\\N\tend\n"),
        [Some(true), Some(false), None, Some(true)]
    );
    assert_eq!(
        lent(csv(), 5, b"\"a,b\",c,\"d\"\"e\",,x\"y\"\n"),
        [Some(true), Some(true), Some(false), None, Some(false)]
    );
    let input = binary(&[row(&[Some("abc"), None, Some("d")])], 0, b"", true);
    assert_eq!(
        lent(CopyFormat::Binary, 3, &input),
        [Some(true), None, Some(true)]
    );
}

// ------------------------------------------------------------- general

#[test]
fn errors_are_final() {
    let mut decoder = CopyDecoder::new(text(), 1);
    decoder.push(b"a\tb\nc\n");
    let error = decoder.next_row().unwrap_err();
    decoder.push(b"d\n");
    assert_eq!(decoder.next_row(), Err(error.clone()));
    assert_eq!(decoder.finish(), Err(error.clone()));
    assert_eq!(decoder.next_row(), Err(error));
}

#[test]
fn finish_reports_the_last_row_error_and_keeps_its_row() {
    let mut decoder = CopyDecoder::new(text(), 2);
    decoder.push(b"a\tb\nc");
    assert_eq!(
        decoder.next_row().unwrap(),
        Some(row(&[Some("a"), Some("b")]))
    );
    assert_eq!(decoder.next_row().unwrap(), None);
    assert_eq!(
        decoder.finish(),
        Err(CopyError::MissingData { line: 2, column: 1 })
    );

    let mut decoder = CopyDecoder::new(text(), 1);
    decoder.push(b"a\nb");
    decoder.finish().unwrap();
    assert_eq!(decoder.next_row().unwrap(), Some(row(&[Some("a")])));
    assert_eq!(decoder.line(), 1);
    assert_eq!(decoder.next_row().unwrap(), Some(row(&[Some("b")])));
    assert_eq!(decoder.line(), 2);
    assert_eq!(decoder.next_row().unwrap(), None);
    // Input after finish is ignored.
    decoder.push(b"c\n");
    assert_eq!(decoder.next_row().unwrap(), None);
}

#[test]
fn lines_longer_than_the_limit_fail() {
    for format in [text(), csv()] {
        let mut decoder = CopyDecoder::new(format, 1);
        decoder.max_line = 8;
        decoder.push(b"12345678\n1234");
        assert_eq!(decoder.next_row().unwrap(), Some(row(&[Some("12345678")])));
        assert_eq!(decoder.next_row().unwrap(), None);
        decoder.push(b"56789");
        let error = decoder.next_row().unwrap_err();
        assert_eq!(error, CopyError::LineTooLong { line: 2 });
    }
}

#[test]
fn consumed_input_is_dropped() {
    let mut decoder = CopyDecoder::new(text(), 2);
    let input = b"12345\tabc\n".repeat(100_000);
    let mut rows = 0;
    for chunk in input.chunks(7) {
        decoder.push(chunk);
        while decoder.next_row().unwrap().is_some() {
            rows += 1;
        }
        assert!(decoder.buf.len() < 64, "{}", decoder.buf.len());
    }
    decoder.finish().unwrap();
    assert_eq!(decoder.next_row().unwrap(), None);
    assert_eq!(rows, 100_000);
    assert_eq!(decoder.line(), 100_000);
}

#[test]
fn long_lines_in_small_pieces_are_scanned_once() {
    // A 4 MB quoted CSV field in 1-byte pushes would take minutes if each
    // push rescanned the line.
    let mut input = b"\"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 4 << 20));
    input.extend_from_slice(b"\"\n");
    let mut decoder = CopyDecoder::new(csv(), 1);
    for chunk in input.chunks(16) {
        decoder.push(chunk);
        if let Some(r) = decoder.next_row().unwrap() {
            assert_eq!(r[0].as_ref().map(Vec::len), Some(4 << 20));
        }
    }
    assert_eq!(decoder.line(), 1);
}

#[test]
fn options_are_validated_as_postgresql_does() {
    let text_with = |delimiter: u8, null: &[u8]| {
        CopyFormat::Text(TextOptions {
            delimiter,
            null: null.to_vec(),
        })
        .validate()
        .map_err(|e| e.to_string())
    };
    assert_eq!(text_with(b'\t', b"\\N"), Ok(()));
    assert_eq!(text_with(b'|', b""), Ok(()));
    assert_eq!(
        text_with(0xe9, b""),
        Err("COPY delimiter must be a single one-byte character".into())
    );
    assert_eq!(
        text_with(b'\n', b""),
        Err("COPY delimiter cannot be newline or carriage return".into())
    );
    assert_eq!(
        text_with(b'\t', b"a\rb"),
        Err("COPY null representation cannot use newline or carriage return".into())
    );
    assert_eq!(
        text_with(b'\\', b""),
        Err("COPY delimiter cannot be \"\\\"".into())
    );
    assert_eq!(
        text_with(b'a', b""),
        Err("COPY delimiter cannot be \"a\"".into())
    );
    assert_eq!(
        text_with(b'7', b""),
        Err("COPY delimiter cannot be \"7\"".into())
    );
    assert_eq!(
        text_with(b',', b"a,b"),
        Err("COPY delimiter must not appear in the NULL specification".into())
    );
    let csv_with = |o: CsvOptions| CopyFormat::Csv(o).validate().map_err(|e| e.to_string());
    assert_eq!(csv_with(CsvOptions::default()), Ok(()));
    // CSV may use a letter as the delimiter.
    assert_eq!(
        csv_with(CsvOptions {
            delimiter: b'a',
            ..CsvOptions::default()
        }),
        Ok(())
    );
    assert_eq!(
        csv_with(CsvOptions {
            quote: b',',
            ..CsvOptions::default()
        }),
        Err("COPY delimiter and quote must be different".into())
    );
    assert_eq!(
        csv_with(CsvOptions {
            quote: 0,
            ..CsvOptions::default()
        }),
        Err("COPY quote must be a single one-byte character".into())
    );
    assert_eq!(
        csv_with(CsvOptions {
            escape: 0x80,
            ..CsvOptions::default()
        }),
        Err("COPY escape must be a single one-byte character".into())
    );
    assert_eq!(
        csv_with(CsvOptions {
            null: b"\"\"".to_vec(),
            ..CsvOptions::default()
        }),
        Err("CSV quote character must not appear in the NULL specification".into())
    );
    assert_eq!(CopyFormat::Binary.validate(), Ok(()));
}

// ---------------------------------------------------------- properties

/// Bytes that matter to some format, and now and then any byte.
fn data_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => prop::sample::select(b"ab,;|\t\"'\\.N\n\r 07xF\0\xff".to_vec()),
        1 => any::<u8>(),
    ]
}

fn field() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.8, prop::collection::vec(data_byte(), 0..8))
}

/// Rows of one random width (1 to 5 columns).
fn rows() -> impl Strategy<Value = (usize, Vec<CopyRow>)> {
    (1..6usize).prop_flat_map(|columns| {
        let row = prop::collection::vec(field(), columns);
        (Just(columns), prop::collection::vec(row, 0..8))
    })
}

/// Where to cut the input: up to 6 positions.
fn cuts() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 0..6)
}

/// `input` cut at the given positions.
fn cut<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// The line endings to try.
const EOLS: [&[u8]; 3] = [b"\n", b"\r\n", b"\r"];

/// How the test encoder writes special bytes in text format.
#[derive(Debug, Clone, Copy)]
enum Escaping {
    /// `\n`, `\r`, `\\` and backslash + delimiter, like PostgreSQL's COPY TO.
    Minimal,
    /// `\xHH`.
    Hex,
    /// `\OOO`.
    Octal,
}

fn encode_text(rows: &[CopyRow], delimiter: u8, eol: &[u8], escaping: Escaping) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        for (i, field) in row.iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            let Some(value) = field else {
                out.extend_from_slice(b"\\N");
                continue;
            };
            for &b in value {
                let special = b == b'\\' || b == b'\n' || b == b'\r' || b == delimiter;
                match (special, escaping, b) {
                    (false, _, _) => out.push(b),
                    (true, Escaping::Minimal, b'\n') => out.extend_from_slice(b"\\n"),
                    (true, Escaping::Minimal, b'\r') => out.extend_from_slice(b"\\r"),
                    (true, Escaping::Minimal, _) => out.extend_from_slice(&[b'\\', b]),
                    (true, Escaping::Hex, _) => {
                        out.extend_from_slice(format!("\\x{b:02x}").as_bytes())
                    }
                    (true, Escaping::Octal, _) => {
                        out.extend_from_slice(format!("\\{b:03o}").as_bytes())
                    }
                }
            }
        }
        out.extend_from_slice(eol);
    }
    out
}

fn encode_csv(rows: &[CopyRow], o: &CsvOptions, eol: &[u8], quote_all: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        for (i, field) in row.iter().enumerate() {
            if i > 0 {
                out.push(o.delimiter);
            }
            let Some(value) = field else {
                out.extend_from_slice(&o.null);
                continue;
            };
            // PostgreSQL's CopyAttributeOutCSV quotes these.
            let quote = quote_all
                || *value == o.null
                || (row.len() == 1 && value == b"\\.")
                || value
                    .iter()
                    .any(|&b| [o.delimiter, o.quote, b'\n', b'\r'].contains(&b));
            if !quote {
                out.extend_from_slice(value);
                continue;
            }
            out.push(o.quote);
            for &b in value {
                if b == o.quote || b == o.escape {
                    out.push(o.escape);
                }
                out.push(b);
            }
            out.push(o.quote);
        }
        out.extend_from_slice(eol);
    }
    out
}

fn csv_options() -> impl Strategy<Value = CsvOptions> {
    (
        prop::sample::select(b",;\t|".to_vec()),
        prop::sample::select(vec![b"".to_vec(), b"NULL".to_vec(), b"\\N".to_vec()]),
        prop::sample::select(b"\"'".to_vec()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(delimiter, null, quote, backslash_escape, header)| CsvOptions {
                delimiter,
                null,
                quote,
                escape: if backslash_escape { b'\\' } else { quote },
                header,
            },
        )
}

/// The rows expected back, with their line numbers.
fn numbered(rows: &[CopyRow], first_line: u64) -> Vec<(u64, CopyRow)> {
    (first_line..).zip(rows.iter().cloned()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_round_trips(
        (columns, rows) in rows(),
        delimiter in prop::sample::select(b"\t,|".to_vec()),
        eol in prop::sample::select(EOLS.to_vec()),
        escaping in prop::sample::select(vec![Escaping::Minimal, Escaping::Hex, Escaping::Octal]),
        end_marker in any::<bool>(),
        cuts in cuts(),
    ) {
        let mut input = encode_text(&rows, delimiter, eol, escaping);
        if end_marker {
            input.extend_from_slice(b"\\.");
            input.extend_from_slice(eol);
            input.extend_from_slice(b"ignored \\. \r\n\"");
        }
        let format = CopyFormat::Text(TextOptions { delimiter, ..TextOptions::default() });
        prop_assert_eq!(format.validate(), Ok(()));
        prop_assert_eq!(run(&format, columns, &cut(&input, &cuts)), Ok(numbered(&rows, 1)));
    }

    #[test]
    fn csv_round_trips(
        (columns, rows) in rows(),
        options in csv_options(),
        eol in prop::sample::select(EOLS.to_vec()),
        quote_all in any::<bool>(),
        end_marker in any::<bool>(),
        cuts in cuts(),
    ) {
        let mut input = Vec::new();
        if options.header {
            let names: Vec<CopyRow> =
                vec![(0..columns).map(|i| Some(format!("c{i}").into_bytes())).collect()];
            input = encode_csv(&names, &options, eol, quote_all);
        }
        input.extend(encode_csv(&rows, &options, eol, quote_all));
        if end_marker {
            input.extend_from_slice(b"\\.");
            input.extend_from_slice(eol);
            input.extend_from_slice(b"ignored,\"");
        }
        let format = CopyFormat::Csv(options.clone());
        prop_assert_eq!(format.validate(), Ok(()));
        let decoded = run(&format, columns, &cut(&input, &cuts))?;
        let decoded_rows: Vec<CopyRow> = decoded.iter().map(|(_, r)| r.clone()).collect();
        prop_assert_eq!(decoded_rows, rows);
        // Line numbers only grow.
        prop_assert!(decoded.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn binary_round_trips(
        (columns, rows) in rows(),
        flags in 0..=0xffffu32,
        extension in prop::collection::vec(any::<u8>(), 0..20),
        // The trailer, nothing, or one stray byte: PostgreSQL takes all three
        // as the end.
        ending in prop_oneof![
            Just(vec![0xff, 0xff]),
            Just(vec![]),
            any::<u8>().prop_map(|b| vec![b]),
        ],
        cuts in cuts(),
    ) {
        let mut input = binary(&rows, flags, &extension, false);
        input.extend(ending);
        prop_assert_eq!(
            run(&CopyFormat::Binary, columns, &cut(&input, &cuts)),
            Ok(numbered(&rows, 1))
        );
    }

    #[test]
    fn next_row_with_agrees_with_next_row(
        (columns, rows) in rows(),
        format in prop_oneof![
            prop::sample::select(b"\t,|".to_vec())
                .prop_map(|delimiter| CopyFormat::Text(TextOptions { delimiter, ..TextOptions::default() })),
            csv_options().prop_map(CopyFormat::Csv),
            Just(CopyFormat::Binary),
        ],
        // Rows encoded, or any bytes (binary: plausible tokens).
        encoded in any::<bool>(),
        eol in prop::sample::select(EOLS.to_vec()),
        escaping in prop::sample::select(vec![Escaping::Minimal, Escaping::Hex, Escaping::Octal]),
        quote_all in any::<bool>(),
        bytes in prop::collection::vec(data_byte(), 0..64),
        tokens in prop::collection::vec(binary_token(), 0..12),
        cuts in cuts(),
    ) {
        let input = match (&format, encoded) {
            (CopyFormat::Text(o), true) => encode_text(&rows, o.delimiter, eol, escaping),
            (CopyFormat::Csv(o), true) => encode_csv(&rows, o, eol, quote_all),
            (CopyFormat::Binary, true) => binary(&rows, 0, b"", true),
            (CopyFormat::Binary, false) => [header(), tokens.concat()].concat(),
            (_, false) => bytes,
        };
        // Any bytes: 0 to 4 columns.
        let columns = if encoded { columns } else { columns - 1 };
        let chunks = cut(&input, &cuts);
        let with = run_with(&format, columns, &chunks);
        prop_assert_eq!(&with, &run(&format, columns, &chunks));
        prop_assert_eq!(&with, &run(&format, columns, &[&input]));
    }

    #[test]
    fn any_bytes_decode_alike_however_cut_text(
        input in prop::collection::vec(data_byte(), 0..64),
        columns in 0..4usize,
        delimiter in prop::sample::select(b"\t,|".to_vec()),
        cuts in cuts(),
    ) {
        let format = CopyFormat::Text(TextOptions { delimiter, ..TextOptions::default() });
        prop_assert_eq!(run(&format, columns, &cut(&input, &cuts)), run(&format, columns, &[&input]));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run(&format, columns, &bytes), run(&format, columns, &[&input]));
    }

    #[test]
    fn any_bytes_decode_alike_however_cut_csv(
        input in prop::collection::vec(data_byte(), 0..64),
        columns in 0..4usize,
        options in csv_options(),
        cuts in cuts(),
    ) {
        let format = CopyFormat::Csv(options);
        prop_assert_eq!(run(&format, columns, &cut(&input, &cuts)), run(&format, columns, &[&input]));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run(&format, columns, &bytes), run(&format, columns, &[&input]));
    }

    #[test]
    fn any_bytes_decode_alike_however_cut_binary(
        valid_header in any::<bool>(),
        tokens in prop::collection::vec(binary_token(), 0..12),
        columns in 0..3usize,
        cuts in cuts(),
    ) {
        let mut input = if valid_header { header() } else { Vec::new() };
        for token in tokens {
            input.extend(token);
        }
        let format = CopyFormat::Binary;
        prop_assert_eq!(run(&format, columns, &cut(&input, &cuts)), run(&format, columns, &[&input]));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run(&format, columns, &bytes), run(&format, columns, &[&input]));
    }
}

/// Pieces of plausible binary COPY data: counts, sizes, bytes.
fn binary_token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-2..4i16).prop_map(|n| n.to_be_bytes().to_vec()),
        prop::sample::select(vec![-2i32, -1, 0, 1, 3, 1 << 30, (1 << 30) + 1, i32::MAX])
            .prop_map(|n| n.to_be_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..5),
    ]
}

proptest! {
    #[test]
    fn find_any_is_the_first_match(
        hay in prop::collection::vec(data_byte(), 0..40),
        needles in prop::collection::vec(data_byte(), 3),
    ) {
        let naive = |n: &[u8]| hay.iter().position(|b| n.contains(b));
        prop_assert_eq!(find_any(&hay, [needles[0]]), naive(&needles[..1]));
        prop_assert_eq!(find_any(&hay, [needles[0], needles[1]]), naive(&needles[..2]));
        prop_assert_eq!(find_any(&hay, [needles[0], needles[1], needles[2]]), naive(&needles));
    }
}

#[test]
fn debug_shows_sizes_not_data() {
    let mut decoder = CopyDecoder::new(text(), 1);
    decoder.push(b"secret");
    let debug = format!("{decoder:?}");
    assert!(debug.contains("buffered: 6"), "{debug}");
    assert!(!debug.contains("115"), "{debug}");
}
