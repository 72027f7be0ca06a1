//! `format(fmt, args...)`, PostgreSQL's `sprintf`: `%s` (the value as
//! text, empty for NULL), `%I` (as [`quote_ident`] quotes it, NULL refused),
//! `%L` (as [`quote_literal`] quotes it, `NULL` unquoted for NULL) and `%%`,
//! each with an optional argument position (`%2$s`), a `-` flag (left
//! alignment) and a width, written out (`%10s`) or taken from an argument
//! (`%*s`, `%*2$s`; a negative width aligns left). Widths count characters.

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Time64MicrosecondType, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::at_time_zone::session_zone;
use super::columnar::columnar;
use super::quoting::{quote_ident, quote_literal};
use super::text_out::{print, prints_differently};
use crate::pgtype;
use crate::query::error::Error;

/// The function.
pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Format {
        signature: Signature::variadic_any(Volatility::Stable),
    })
}

/// One piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Spec(Spec),
}

/// How a conversion's width is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    None,
    Fixed(usize),
    /// `*`: the next argument.
    NextArg,
    /// `*n$`: argument `n` (from 1).
    Arg(usize),
}

/// A conversion: `%[n$][-][width]type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    /// The argument's position, from 1, if given.
    position: Option<usize>,
    left: bool,
    width: Width,
    /// `s`, `I` or `L`.
    conversion: char,
}

fn parameter_error(message: impl Into<String>) -> Error {
    Error::InvalidParameterValue {
        message: message.into(),
    }
}

fn unterminated() -> Error {
    Error::FormatSpecifier {
        message: "unterminated format() type specifier".into(),
    }
}

fn too_few() -> Error {
    parameter_error("too few arguments for format()")
}

fn argument_zero() -> Error {
    parameter_error("format specifies argument 0, but arguments are numbered from 1")
}

/// Reads digits at `chars[*at..]`, if any, leaving `*at` after them.
fn digits(chars: &[char], at: &mut usize) -> Result<Option<usize>, Error> {
    let start = *at;
    let mut n: i32 = 0;
    while let Some(d) = chars.get(*at).and_then(|c| c.to_digit(10)) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(d as i32))
            .ok_or_else(|| Error::NumericOutOfRange {
                message: "number is out of range".into(),
            })?;
        *at += 1;
    }
    Ok((*at > start).then_some(n as usize))
}

/// The character at `chars[at]`, or the unterminated-specifier error.
fn at(chars: &[char], at: usize) -> Result<char, Error> {
    chars.get(at).copied().ok_or_else(unterminated)
}

/// `fmt` split into text and conversions, up to the first malformed
/// specifier, and the error that one is (raised when rendering reaches it,
/// so that an earlier conversion's error comes first, as in PostgreSQL).
fn parse(fmt: &str) -> (Vec<Piece>, Option<Error>) {
    let mut pieces = Vec::new();
    let error = parse_into(fmt, &mut pieces).err();
    (pieces, error)
}

fn parse_into(fmt: &str, pieces: &mut Vec<Piece>) -> Result<(), Error> {
    let chars: Vec<char> = fmt.chars().collect();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            text.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        if at(&chars, i)? == '%' {
            text.push('%');
            i += 1;
            continue;
        }
        let mut spec = Spec {
            position: None,
            left: false,
            width: Width::None,
            conversion: 's',
        };
        let mut direct_width = false;
        if let Some(n) = digits(&chars, &mut i)? {
            if at(&chars, i)? == '$' {
                if n == 0 {
                    return Err(argument_zero());
                }
                spec.position = Some(n);
                i += 1;
                at(&chars, i)?;
            } else {
                spec.width = Width::Fixed(n);
                direct_width = true;
            }
        }
        if !direct_width {
            while at(&chars, i)? == '-' {
                spec.left = true;
                i += 1;
            }
            if at(&chars, i)? == '*' {
                i += 1;
                at(&chars, i)?;
                match digits(&chars, &mut i)? {
                    Some(n) => {
                        if at(&chars, i)? != '$' {
                            return Err(parameter_error(
                                "width argument position must be ended by \"$\"",
                            ));
                        }
                        if n == 0 {
                            return Err(argument_zero());
                        }
                        spec.width = Width::Arg(n);
                        i += 1;
                        at(&chars, i)?;
                    }
                    None => spec.width = Width::NextArg,
                }
            } else if let Some(n) = digits(&chars, &mut i)? {
                spec.width = Width::Fixed(n);
            }
        }
        let conversion = at(&chars, i)?;
        if !matches!(conversion, 's' | 'I' | 'L') {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            return Err(Error::FormatSpecifier {
                message: format!("unrecognized format() type specifier \"{conversion}\""),
            });
        }
        spec.conversion = conversion;
        i += 1;
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Spec(spec));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(())
}

/// `value` padded with spaces to `width` characters, on the right if
/// `left`.
fn pad(out: &mut String, value: &str, width: usize, left: bool) {
    let fill = width.saturating_sub(value.chars().count());
    if !left {
        out.extend(std::iter::repeat_n(' ', fill));
    }
    out.push_str(value);
    if left {
        out.extend(std::iter::repeat_n(' ', fill));
    }
}

/// `fmt` rendered with `args` (the arguments after the format, as text,
/// `None` for NULL), or PostgreSQL's error.
fn render(fmt: &str, args: &[Option<&str>]) -> Result<String, Error> {
    let (pieces, error) = parse(fmt);
    let out = render_pieces(&pieces, args)?;
    match error {
        Some(error) => Err(error),
        None => Ok(out),
    }
}

fn render_pieces(pieces: &[Piece], args: &[Option<&str>]) -> Result<String, Error> {
    let mut out = String::new();
    // The next argument, counted from 1.
    let mut next = 1;
    let get =
        |n: usize| -> Result<Option<&str>, Error> { args.get(n - 1).copied().ok_or_else(too_few) };
    for piece in pieces {
        let spec = match piece {
            Piece::Text(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Spec(spec) => spec,
        };
        let (mut width, mut left) = (0, spec.left);
        let width_arg = match spec.width {
            Width::None => None,
            Width::Fixed(w) => {
                width = w;
                None
            }
            Width::NextArg => Some(next),
            Width::Arg(n) => Some(n),
        };
        if let Some(n) = width_arg {
            next = n;
            if let Some(text) = get(n)? {
                let w: i32 = text
                    .trim()
                    .parse()
                    .map_err(|_| Error::InvalidTextRepresentation {
                        message: format!("invalid input syntax for type integer: \"{text}\""),
                    })?;
                if w == i32::MIN {
                    return Err(Error::NumericOutOfRange {
                        message: "number is out of range".into(),
                    });
                }
                if w < 0 {
                    left = true;
                }
                width = w.unsigned_abs() as usize;
            }
            next += 1;
        }
        if let Some(n) = spec.position {
            next = n;
        }
        let value = get(next)?;
        next += 1;
        let text = match (spec.conversion, value) {
            ('I', None) => {
                return Err(Error::NullValueNotAllowed {
                    message: "null values cannot be formatted as an SQL identifier".into(),
                });
            }
            ('I', Some(v)) => quote_ident(v),
            ('L', None) => "NULL".to_owned(),
            ('L', Some(v)) => quote_literal(v),
            (_, v) => v.unwrap_or_default().to_owned(),
        };
        pad(&mut out, &text, width, left);
    }
    Ok(out)
}

/// Every value of `array` as PostgreSQL's output function prints it.
fn as_text(array: &ArrayRef, zone: Option<&Tz>) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Boolean => {
            let mut out = StringBuilder::with_capacity(array.len(), array.len());
            for v in array.as_boolean() {
                out.append_option(v.map(|b| if b { "t" } else { "f" }));
            }
            Ok(Arc::new(out.finish()))
        }
        DataType::Date32 | DataType::Date64 => {
            let days = cast(array, &DataType::Date32)?;
            let mut out = StringBuilder::with_capacity(array.len(), array.len() * 10);
            for v in days.as_primitive::<Date32Type>() {
                out.append_option(v.map(pgtype::date_out));
            }
            Ok(Arc::new(out.finish()))
        }
        DataType::Time64(_) | DataType::Time32(_) => {
            let micros = cast(array, &DataType::Time64(TimeUnit::Microsecond))?;
            let mut out = StringBuilder::with_capacity(array.len(), array.len() * 8);
            for v in micros.as_primitive::<Time64MicrosecondType>() {
                out.append_option(v.map(pgtype::time_out));
            }
            Ok(Arc::new(out.finish()))
        }
        t if prints_differently(t) => print(array, zone),
        t if t.is_nested()
            || matches!(
                t,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            ) =>
        {
            Err(Error::Unsupported {
                what: format!("format() of a value of type {}", pgtype::arrow_type_name(t)),
            }
            .into())
        }
        _ => cast(array, &DataType::Utf8).map_err(Into::into),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = Some(session_zone(&args)?);
        if args.args.is_empty() {
            return exec_err!("format takes a format string");
        }
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let mut texts = Vec::with_capacity(args.args.len());
        for arg in &args.args {
            texts.push(as_text(&arg.to_array(rows)?, zone.as_ref())?);
        }
        let texts: Vec<_> = texts.iter().map(|t| t.as_string::<i32>()).collect();
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        let mut values = Vec::with_capacity(texts.len());
        for row in 0..rows {
            if texts[0].is_null(row) {
                out.append_null();
                continue;
            }
            let fmt = texts[0].value(row);
            values.clear();
            values.extend(
                texts[1..]
                    .iter()
                    .map(|t| (!t.is_null(row)).then(|| t.value(row))),
            );
            out.append_value(render(fmt, &values)?);
        }
        let array: ArrayRef = Arc::new(out.finish());
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt(f: &str, args: &[Option<&str>]) -> Result<String, String> {
        render(f, args).map_err(|e| e.to_string())
    }

    #[test]
    fn formats_as_postgres_does() {
        assert_eq!(
            fmt("%s|%I|%L", &[Some("a"), Some("B c"), None]).unwrap(),
            "a|\"B c\"|NULL"
        );
        assert_eq!(fmt("%s%%", &[None]).unwrap(), "%");
        assert_eq!(
            fmt("%2$s %1$s %s", &[Some("a"), Some("b")]).unwrap(),
            "b a b"
        );
        assert_eq!(
            fmt("[%-5s][%5s]", &[Some("ab"), Some("cd")]).unwrap(),
            "[ab   ][   cd]"
        );
        assert_eq!(fmt("[%*s]", &[Some("-4"), Some("x")]).unwrap(), "[x   ]");
        assert_eq!(fmt("[%1$*2$s]", &[Some("x"), Some("3")]).unwrap(), "[  x]");
        assert_eq!(fmt("[%-*s]", &[Some("3"), Some("x")]).unwrap(), "[x  ]");
        assert_eq!(fmt("%L", &[Some("it's")]).unwrap(), "'it''s'");
    }

    #[test]
    fn malformed_formats_fail_as_in_postgres() {
        assert_eq!(
            fmt("%s %s", &[Some("a")]).unwrap_err(),
            "too few arguments for format()"
        );
        assert_eq!(
            fmt("%x", &[]).unwrap_err(),
            "unrecognized format() type specifier \"x\""
        );
        assert_eq!(
            fmt("%s %x", &[]).unwrap_err(),
            "too few arguments for format()"
        );
        assert_eq!(
            fmt("abc%", &[]).unwrap_err(),
            "unterminated format() type specifier"
        );
        assert_eq!(
            fmt("%0$s", &[Some("a")]).unwrap_err(),
            "format specifies argument 0, but arguments are numbered from 1"
        );
        assert_eq!(
            fmt("%I", &[None]).unwrap_err(),
            "null values cannot be formatted as an SQL identifier"
        );
    }

    proptest! {
        #[test]
        fn any_format_parses_or_fails_cleanly(f in ".{0,20}") {
            let _ = parse(&f);
        }

        #[test]
        fn text_without_percent_is_kept(f in "[^%]{0,20}") {
            prop_assert_eq!(fmt(&f, &[]).unwrap(), f);
        }
    }
}
