//! Cutting a body into lines. A newline ends a line unless it is escaped or
//! inside a string field value; where a string starts is decided as
//! InfluxDB's own scanner decides it (a quote after the first space, once a
//! field's `=` has been seen), so both cut a body the same way.

/// The lines of a body, each with the number (from 1) of the physical line
/// it starts on. Leading blanks and comment lines (`#`) are skipped, and so
/// are lines left empty.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    /// The physical line `pos` is on.
    line: usize,
}

impl<'a> Lines<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            line: 1,
        }
    }

    /// The next logical line, as written, with the line number it starts on.
    fn next_raw(&mut self) -> Option<(usize, &'a [u8])> {
        if self.pos > self.input.len() {
            return None;
        }
        let start = self.pos;
        let first_line = self.line;
        let rest = &self.input[start..];
        let mut quoted = false;
        let mut in_fields = false;
        let mut equals = 0usize;
        let mut commas = 0usize;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, &byte) in rest.iter().enumerate() {
            if escaped {
                escaped = false;
                if byte == b'\n' {
                    self.line += 1;
                }
                continue;
            }
            match byte {
                b'\\' => escaped = true,
                b' ' => in_fields = true,
                b'=' if in_fields && !quoted => equals += 1,
                b',' if in_fields && !quoted => commas += 1,
                b'"' if in_fields && equals > commas => quoted = !quoted,
                b'\n' if !quoted => {
                    end = i;
                    break;
                }
                b'\n' => self.line += 1,
                _ => {}
            }
        }
        // One past the newline; past the end when the input ran out.
        self.pos = start + end + 1;
        self.line += 1;
        Some((first_line, &rest[..end]))
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (number, raw) = self.next_raw()?;
            let (skipped, line) = trim_leading(raw);
            if !line.is_empty() {
                return Some((number + skipped, line));
            }
        }
    }
}

/// `line` without its leading blanks and comment lines, and how many
/// newlines that skipped (a comment may run into the next line when the
/// scanner took one of its quotes for a string's).
fn trim_leading(mut line: &[u8]) -> (usize, &[u8]) {
    let mut newlines = 0;
    loop {
        let blank = line
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n'))
            .unwrap_or(line.len());
        newlines += line[..blank].iter().filter(|&&b| b == b'\n').count();
        line = &line[blank..];
        if line.first() == Some(&b'#') {
            let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
            line = &line[end..];
        } else {
            return (newlines, line);
        }
    }
}

/// How many bytes at the start of `input` are whole lines: everything up
/// to the last newline that ends a line (one inside a string value, or
/// escaped, does not). What follows is a line still arriving.
pub fn complete_len(input: &[u8]) -> usize {
    let mut lines = Lines::new(input);
    let mut complete = 0;
    while lines.next_raw().is_some() {
        if lines.pos > input.len() {
            break;
        }
        complete = lines.pos;
    }
    complete
}
