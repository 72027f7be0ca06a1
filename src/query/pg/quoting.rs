//! PostgreSQL's `quote_ident` and `quote_literal`, which applications use
//! to build SQL text. `quote_ident` quotes what PostgreSQL would misread
//! bare: anything but lowercase letters, digits and underscores, and every
//! keyword that is not unreserved (`time`, `user`, `order`, ...).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::columnar;

/// PostgreSQL 15's keywords that are not unreserved (`pg_get_keywords()`
/// with a `catcode` other than `U`): a bare identifier cannot be one.
const NOT_UNRESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// `ident` as PostgreSQL's `quote_ident` returns it.
pub(crate) fn quote_ident(ident: &str) -> String {
    let plain = ident
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && ident
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain && NOT_UNRESERVED.binary_search(&ident).is_err() {
        return ident.to_owned();
    }
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `text` as PostgreSQL's `quote_literal` returns it: in single quotes,
/// doubled, and as an `E''` string with doubled backslashes if it has any.
pub(crate) fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// The two functions, over text.
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(Quote::new(Quoting::Ident)),
        ScalarUDF::new_from_impl(Quote::new(Quoting::Literal)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Quoting {
    Ident,
    Literal,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Quote {
    quoting: Quoting,
    signature: Signature,
}

impl Quote {
    fn new(quoting: Quoting) -> Self {
        Self {
            quoting,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    fn quote(&self, text: &str) -> String {
        match self.quoting {
            Quoting::Ident => quote_ident(text),
            Quoting::Literal => quote_literal(text),
        }
    }
}

impl ScalarUDFImpl for Quote {
    fn name(&self) -> &str {
        match self.quoting {
            Quoting::Ident => "quote_ident",
            Quoting::Literal => "quote_literal",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let texts = cast(&value.to_array(1)?, &DataType::Utf8)?;
        let quoted: StringArray = (texts.as_string::<i32>().iter())
            .map(|text| text.map(|t| self.quote(t)))
            .collect();
        let array: ArrayRef = Arc::new(quoted);
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_sorted_for_the_search() {
        assert!(NOT_UNRESERVED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn identifiers_are_quoted_as_postgres_quotes_them() {
        assert_eq!(quote_ident("abc"), "abc");
        assert_eq!(quote_ident("_x1"), "_x1");
        assert_eq!(quote_ident("name"), "name");
        assert_eq!(quote_ident("time"), "\"time\"");
        assert_eq!(quote_ident("Abc"), "\"Abc\"");
        assert_eq!(quote_ident("1a"), "\"1a\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}
