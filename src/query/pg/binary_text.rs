//! `encode(bytea, format)` and `decode(text, format)` as PostgreSQL has
//! them, for the formats `hex`, `base64` and `escape`. DataFusion's leave
//! out base64's padding (`YWI` for PostgreSQL's `YWI=`) and its line breaks
//! (after every 76 characters), accept what PostgreSQL refuses, and have no
//! `escape`. Also [`bytea_in`]: text cast to `bytea` read in PostgreSQL's
//! hex (`\x0a0b`) or escape (`a\000b`) form, where Arrow's cast takes the
//! text's own bytes; and [`byte_length`], `length(bytea)`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion::arrow::array::{Array, AsArray, BinaryBuilder, Int32Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::{arguments, columnar, no_such_function, unknown};
use crate::pgtype;
use crate::query::error::Error;

/// `encode` and `decode`.
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(Codec {
            decode: false,
            signature: Signature::user_defined(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Codec {
            decode: true,
            signature: Signature::user_defined(Volatility::Immutable),
        }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Hex,
    Base64,
    Escape,
}

fn format_of(name: &str) -> Result<Format, Error> {
    match name.to_ascii_lowercase().as_str() {
        "hex" => Ok(Format::Hex),
        "base64" => Ok(Format::Base64),
        "escape" => Ok(Format::Escape),
        _ => Err(Error::InvalidParameterValue {
            message: format!("unrecognized encoding: \"{name}\""),
        }),
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidParameterValue { message }
}

/// `bytes` in `format`, as PostgreSQL's `encode` writes them.
fn encode(bytes: &[u8], format: Format) -> String {
    match format {
        Format::Hex => hex::encode(bytes),
        Format::Base64 => {
            let flat = STANDARD.encode(bytes);
            let mut out = String::with_capacity(flat.len() + flat.len() / 76);
            for (i, c) in flat.chars().enumerate() {
                if i > 0 && i % 76 == 0 {
                    out.push('\n');
                }
                out.push(c);
            }
            out
        }
        Format::Escape => {
            let mut out = String::with_capacity(bytes.len());
            for &b in bytes {
                match b {
                    0 | 0x80..=0xff => out.push_str(&format!("\\{b:03o}")),
                    b'\\' => out.push_str("\\\\"),
                    _ => out.push(char::from(b)),
                }
            }
            out
        }
    }
}

/// `text` in `format` as bytes, as PostgreSQL's `decode` reads it.
fn decode(text: &str, format: Format) -> Result<Vec<u8>, Error> {
    let spaces = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    match format {
        Format::Hex => {
            let digits: Vec<u8> = text.bytes().filter(|c| !spaces(c)).collect();
            if let Some(bad) = digits.iter().find(|c| !c.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "invalid hexadecimal digit: \"{}\"",
                    char::from(*bad)
                )));
            }
            if !digits.len().is_multiple_of(2) {
                return Err(invalid(
                    "invalid hexadecimal data: odd number of digits".into(),
                ));
            }
            hex::decode(&digits).map_err(|e| invalid(format!("invalid hexadecimal data: {e}")))
        }
        Format::Base64 => {
            let symbols: Vec<u8> = text.bytes().filter(|c| !spaces(c)).collect();
            if let Some(bad) = symbols
                .iter()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')))
            {
                return Err(invalid(format!(
                    "invalid symbol \"{}\" found while decoding base64 sequence",
                    char::from(*bad)
                )));
            }
            if !symbols.len().is_multiple_of(4) {
                return Err(invalid("invalid base64 end sequence".into()));
            }
            STANDARD
                .decode(&symbols)
                .map_err(|_| invalid("invalid base64 end sequence".into()))
        }
        // `byteain`'s escape form, without its `\x` (hex) form.
        Format::Escape if !text.starts_with("\\x") => pgtype::bytea_in(text).map_err(Error::from),
        Format::Escape => Err(Error::InvalidTextRepresentation {
            message: "invalid input syntax for type bytea".into(),
        }),
    }
}

/// `text` read as PostgreSQL reads a `bytea` (`byteain`).
pub(crate) fn bytea_in(text: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(ByteaIn {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        })),
        vec![text],
    ))
}

/// `length(bytes)`: how many bytes, an `integer`.
pub(crate) fn byte_length(bytes: Expr) -> Expr {
    ScalarUDF::new_from_impl(ByteLength {
        signature: Signature::exact(vec![DataType::Binary], Volatility::Immutable),
    })
    .call(vec![bytes])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteLength {
    signature: Signature,
}

impl ScalarUDFImpl for ByteLength {
    fn name(&self) -> &str {
        "length"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let Some(bytes) = arrays.first().and_then(|a| a.as_binary_opt::<i32>()) else {
            return exec_err!("length takes bytea");
        };
        let lengths: Int32Array = (bytes.iter())
            .map(|b| b.map(|b| i32::try_from(b.len())).transpose())
            .collect::<Result<_, _>>()
            .map_err(|_| Error::NumericOutOfRange {
                message: "integer out of range".into(),
            })?;
        columnar(Arc::new(lengths), scalar)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteaIn {
    signature: Signature,
}

impl ScalarUDFImpl for ByteaIn {
    fn name(&self) -> &str {
        "epochdb_bytea_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let [texts] = arrays.as_slice() else {
            return exec_err!("epochdb_bytea_in takes one argument");
        };
        let texts = texts.as_string::<i32>();
        let mut out = BinaryBuilder::with_capacity(texts.len(), texts.len() * 8);
        for text in texts.iter() {
            match text {
                Some(text) => out.append_value(pgtype::bytea_in(text).map_err(Error::from)?),
                None => out.append_null(),
            }
        }
        columnar(Arc::new(out.finish()), scalar)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Codec {
    decode: bool,
    signature: Signature,
}

impl ScalarUDFImpl for Codec {
    fn name(&self) -> &str {
        if self.decode { "decode" } else { "encode" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let data = match arg_types.first() {
            Some(t) if self.decode && unknown(t) => DataType::Utf8,
            Some(
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null,
            ) if !self.decode => DataType::Binary,
            // A string literal is read as the bytea PostgreSQL would read.
            Some(t) if !self.decode && unknown(t) => DataType::Binary,
            _ => return Err(no_such_function(self.name(), arg_types)),
        };
        match arg_types.get(1) {
            Some(t) if arg_types.len() == 2 && unknown(t) => Ok(vec![data, DataType::Utf8]),
            _ => Err(no_such_function(self.name(), arg_types)),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.decode {
            DataType::Binary
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let [data, formats] = arrays.as_slice() else {
            return exec_err!("{} takes two arguments", self.name());
        };
        let formats = formats.as_string::<i32>();
        if self.decode {
            let texts = data.as_string::<i32>();
            let mut out = BinaryBuilder::with_capacity(texts.len(), texts.len() * 8);
            for row in 0..texts.len() {
                if texts.is_null(row) || formats.is_null(row) {
                    out.append_null();
                    continue;
                }
                let format = format_of(formats.value(row))?;
                out.append_value(decode(texts.value(row), format)?);
            }
            return columnar(Arc::new(out.finish()), scalar);
        }
        let bytes = data.as_binary::<i32>();
        let mut out = StringBuilder::with_capacity(bytes.len(), bytes.len() * 8);
        for row in 0..bytes.len() {
            if bytes.is_null(row) || formats.is_null(row) {
                out.append_null();
                continue;
            }
            let format = format_of(formats.value(row))?;
            out.append_value(encode(bytes.value(row), format));
        }
        columnar(Arc::new(out.finish()), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_postgres_text() {
        assert_eq!(encode(b"ab", Format::Base64), "YWI=");
        assert_eq!(encode(b"ab", Format::Hex), "6162");
        assert_eq!(encode(b"a\0b\\\xff", Format::Escape), "a\\000b\\\\\\377");
        let long = encode(&[b'x'; 60], Format::Base64);
        assert_eq!(long.lines().map(str::len).collect::<Vec<_>>(), vec![76, 4]);
    }

    #[test]
    fn decoding_reads_what_encoding_writes() {
        for bytes in [&b""[..], b"ab", b"a\0b\\\xff", &[7u8; 100]] {
            for format in [Format::Hex, Format::Base64, Format::Escape] {
                assert_eq!(decode(&encode(bytes, format), format).unwrap(), bytes);
            }
        }
        assert!(decode("YWI", Format::Base64).is_err());
        assert!(decode("YW*=", Format::Base64).is_err());
        assert!(decode("abc", Format::Hex).is_err());
        assert!(decode("a\\9", Format::Escape).is_err());
        assert_eq!(decode("YW\nI=", Format::Base64).unwrap(), b"ab");
    }
}
