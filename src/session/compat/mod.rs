//! SQL text from clients, parsed PostgreSQL's way, with the catalog-query
//! rewrites of datafusion-pg-catalog (and ours, `catalog_rewrite`) applied only
//! where they belong.
//!
//! The pg-catalog rewrites (and its table of canned replacements for known
//! client queries) make psql's and drivers' catalog queries plannable, but some
//! change the meaning of ordinary queries (a correlated scalar subquery becomes
//! NULL). So they are applied only to statements that read the catalogs.
//! Before pg-catalog parses a catalog query, `'name'::regproc` literals become
//! names (see `regproc_literals_as_names`). In every statement, `LIKE ...
//! ESCAPE` is translated and `(record).field` becomes a struct field access.

use std::ops::{ControlFlow, Range};
use std::sync::LazyLock;

use crate::query::{PostgresDialect, overriding_marker};
use datafusion::sql::sqlparser::ast::{
    AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Statement, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::session::error::{Error, Result};

mod catalog_rewrite;
mod create_as;
mod depth;
mod sequence_options;
mod subscribe;
mod symmetric;

pub use depth::STATEMENT_STACK_BYTES;
pub(super) use subscribe::timeout_of as fetch_timeout;

static CATALOG_PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Markers of a query that reads the system catalogs.
const CATALOG_MARKERS: &[&str] = &[
    "pg_",
    "information_schema",
    "regclass",
    "regtype",
    "regproc",
    "regnamespace",
    "current_schema",
];

fn reads_catalogs(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    CATALOG_MARKERS.iter().any(|m| lower.contains(m))
}

/// Parses `sql` into statements. Empty and comment-only text yields none.
/// `search_path` gives the schemas of the session's search path, in order,
/// for the client queries that read it.
pub(super) fn parse(sql: &str, search_path: impl Fn() -> Vec<String>) -> Result<Vec<Statement>> {
    let respelled = respell_statements(sql);
    let sql = respelled.as_deref().unwrap_or(sql);
    let overriding = respell_overriding(sql);
    let (sql, overrides) = match &overriding {
        Some((text, marks)) => (text.as_str(), marks.as_slice()),
        None => (sql, &[][..]),
    };
    let create_as_forms = respell_create_as(sql);
    let (sql, create_as_taken) = match &create_as_forms {
        Some((text, taken)) => (text.as_str(), taken.as_slice()),
        None => (sql, &[][..]),
    };
    let subscribe_forms = respell_subscribe(sql)?;
    let (sql, fetch_timeouts) = match &subscribe_forms {
        Some((text, timeouts)) => (text.as_str(), timeouts.as_slice()),
        None => (sql, &[][..]),
    };
    let cursor_forms = respell_cursor_commands(sql);
    let (sql, moves) = match &cursor_forms {
        Some((text, moves)) => (text.as_str(), moves.as_slice()),
        None => (sql, &[][..]),
    };
    let symmetric = symmetric::blank(sql);
    let sql = symmetric.as_ref().map_or(sql, |(text, _)| text.as_str());
    let symmetric_ends = symmetric
        .as_ref()
        .map_or(&[][..], |(_, ends)| ends.as_slice());
    let plain = depth::parse(sql).map_err(|e| match e {
        ParserError::RecursionLimitExceeded => Error::StackDepthExceeded,
        other => Error::Parse(other),
    });
    // The symmetric BETWEENs are found in the plain parse, so a text only
    // the catalog parser reads is refused with the plain parse's error.
    let (plain, symmetric_marks) = match plain {
        Ok(parsed) if !symmetric_ends.is_empty() => {
            let marks = symmetric::marks(sql, symmetric_ends, &parsed)?;
            (Ok(parsed), Some(marks))
        }
        Err(error) if !symmetric_ends.is_empty() => return Err(error),
        other => (other, None),
    };
    let mut statements = if !reads_catalogs(sql) || nesting(sql) > CATALOG_PARSER_MAX_NESTING {
        plain?
    } else {
        let resolved = resolve_search_path_subquery(sql, search_path);
        let text = resolved.as_deref().unwrap_or(sql);
        let without_toast = drop_toast_options(text);
        let text = without_toast.as_deref().unwrap_or(text);
        let named = regproc_literals_as_names(text);
        let text = named.as_deref().unwrap_or(text);
        let shielded = catalog_rewrite::shield_default_subqueries(text);
        match CATALOG_PARSER.parse(shielded.as_deref().unwrap_or(text)) {
            Ok(mut statements) => {
                statements.iter_mut().for_each(catalog_rewrite::rewrite);
                statements
            }
            // Report the error of the plain parse: it points at the client's text.
            Err(_) => plain?,
        }
    };
    for statement in &mut statements {
        depth::make_shallow(statement).map_err(|e| match e {
            depth::TooComplex::Deep => Error::StackDepthExceeded,
            depth::TooComplex::Large => Error::StatementTooComplex,
        })?;
    }
    for &at in moves {
        if let Some(Statement::Fetch { into, .. }) = statements.get_mut(at) {
            *into = Some(ObjectName::from(vec![MOVE_MARKER.clone()]));
        }
    }
    for (at, timeout) in fetch_timeouts {
        if let Some(statement) = statements.get_mut(*at) {
            subscribe::apply_timeout(statement, timeout);
        }
    }
    for &(at, system) in overrides {
        if let Some(Statement::Insert(insert)) = statements.get_mut(at) {
            insert.after_columns = vec![overriding_marker(system)];
        }
    }
    for taken in create_as_taken {
        if let Some(statement) = statements.get_mut(taken.at) {
            create_as::apply(taken, statement);
        }
    }
    if let Some(marks) = &symmetric_marks {
        symmetric::apply(marks, &mut statements)?;
    }
    for statement in &mut statements {
        rewrite_like_escape(statement);
        rewrite_field_selection(statement);
        rewrite_user_functions(statement);
    }
    Ok(statements)
}

/// The deepest parentheses may nest in a text the catalog parser reads.
/// It parses with sqlparser's own PostgreSQL dialect, which reads each
/// function argument twice per level of calls (see
/// [`PostgresDialect`]), so a deeply nested text is read as plain SQL
/// instead: the catalog queries clients send nest a few levels.
const CATALOG_PARSER_MAX_NESTING: usize = 12;

/// How deep parentheses nest in `sql`; unbounded if it does not tokenize.
fn nesting(sql: &str) -> usize {
    let Ok(tokens) = Tokenizer::new(&PostgresDialect::default(), sql).tokenize() else {
        return usize::MAX;
    };
    let (mut depth, mut deepest) = (0_usize, 0);
    for token in tokens {
        match token {
            Token::LParen => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The subquery Grafana's query builder uses for "the schemas on the search
/// path" (its table and column lists). DataFusion cannot plan it (`s[i]` over
/// a cross join with a scalar array, and it sits in an IN inside ORDER BY), and
/// pg-catalog's canned replacement is an empty list.
const GRAFANA_SEARCH_PATH_SUBQUERY: &str = r#"SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
FROM generate_series(
    array_lower(string_to_array(current_setting('search_path'),','),1),
    array_upper(string_to_array(current_setting('search_path'),','),1)
) as i,
string_to_array(current_setting('search_path'),',') s"#;

static GRAFANA_SEARCH_PATH_TOKENS: LazyLock<Vec<Token>> = LazyLock::new(|| {
    spanned_tokens(GRAFANA_SEARCH_PATH_SUBQUERY)
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.token)
        .collect()
});

/// A significant token of a client's text and the bytes it spans.
struct Spanned {
    token: Token,
    bytes: Range<usize>,
}

/// The tokens of `sql` other than whitespace and comments, with their byte
/// ranges, so that a rewrite can splice the client's own text around them.
fn spanned_tokens(sql: &str) -> Option<Vec<Spanned>> {
    let tokens = Tokenizer::new(&PostgresDialect::default(), sql)
        .tokenize_with_location()
        .ok()?;
    // The tokenizer's locations are 1-based lines and columns in characters;
    // tokens come in order, so one forward walk converts them.
    let mut chars = sql.char_indices().peekable();
    let (mut line, mut column) = (1, 1);
    let mut offset = |at: Location| -> usize {
        while (line, column) < (at.line, at.column) {
            match chars.next() {
                Some((_, '\n')) => (line, column) = (line + 1, 1),
                Some(_) => column += 1,
                None => return sql.len(),
            }
        }
        chars.peek().map_or(sql.len(), |&(i, _)| i)
    };
    let mut out = Vec::with_capacity(tokens.len());
    for TokenWithSpan { token, span } in tokens {
        let start = offset(span.start);
        let end = offset(span.end);
        if !matches!(token, Token::Whitespace(_) | Token::EOF) {
            out.push(Spanned {
                token,
                bytes: start..end,
            });
        }
    }
    Some(out)
}

/// `sql` with each byte range in `edits` (in order, not overlapping) replaced.
fn splice(sql: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut next = 0;
    for (bytes, replacement) in edits {
        out.push_str(&sql[next..bytes.start]);
        out.push_str(replacement);
        next = bytes.end;
    }
    out.push_str(&sql[next..]);
    out
}

/// Tokens equal up to the case of keywords and unquoted names.
fn same_token(a: &Token, b: &Token) -> bool {
    match (a, b) {
        (Token::Word(a), Token::Word(b)) => {
            a.quote_style == b.quote_style
                && if a.quote_style.is_none() {
                    a.value.eq_ignore_ascii_case(&b.value)
                } else {
                    a.value == b.value
                }
        }
        _ => a == b,
    }
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// `sql` with PostgreSQL's statements that the parser reads otherwise or
/// not at all respelled: `CREATE USER`, `ALTER USER` and `DROP USER` with
/// `ROLE`, as PostgreSQL defines them (the parser reads `USER` the way other
/// databases mean it), `CREATE USER` also with the `LOGIN` it implies
/// unless it says `NOLOGIN`; `RESET TIME ZONE` as `RESET timezone`; and
/// `ALTER TABLE ... RESET (option, ...)` as `SET (option = NULL, ...)`.
/// `None` when there is no such statement.
fn respell_statements(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if ![
        "user", "zone", "reset", "sequence", "identity", "nextval", "currval", "setval",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return None;
    }
    let tokens = spanned_tokens(sql)?;
    let mut edits = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        let end = tokens[start..]
            .iter()
            .position(|t| t.token == Token::SemiColon)
            .map_or(tokens.len(), |i| start + i);
        let statement = &tokens[start..end];
        if let [verb, user, ..] = statement
            && ["CREATE", "ALTER", "DROP"]
                .iter()
                .any(|v| is_word(&verb.token, v))
            && is_word(&user.token, "USER")
        {
            edits.push((user.bytes.clone(), "ROLE".to_owned()));
            let says_login = statement
                .iter()
                .any(|t| is_word(&t.token, "LOGIN") || is_word(&t.token, "NOLOGIN"));
            if is_word(&verb.token, "CREATE")
                && !says_login
                && let Some(last) = statement.last()
            {
                edits.push((last.bytes.end..last.bytes.end, " LOGIN".to_owned()));
            }
        }
        if let [alter, table, ..] = statement
            && is_word(&alter.token, "ALTER")
            && is_word(&table.token, "TABLE")
            && let Some(at) = (statement.windows(2))
                .position(|w| is_word(&w[0].token, "RESET") && w[1].token == Token::LParen)
        {
            // `RESET (a, b)` as `SET (a = NULL, b = NULL)`.
            edits.push((statement[at].bytes.clone(), "SET".to_owned()));
            for pair in statement[at + 2..].windows(2) {
                if matches!(pair[0].token, Token::Word(_))
                    && matches!(pair[1].token, Token::Comma | Token::RParen)
                {
                    let end = pair[0].bytes.end;
                    edits.push((end..end, " = NULL".to_owned()));
                }
                if pair[1].token == Token::RParen {
                    break;
                }
            }
        }
        let located: Vec<sequence_options::Located<'_>> = (statement.iter())
            .map(|t| (&t.token, t.bytes.clone()))
            .collect();
        edits.extend(sequence_options::edits(sql, &located));
        if let [reset, time, zone] = statement
            && is_word(&reset.token, "RESET")
            && is_word(&time.token, "TIME")
            && is_word(&zone.token, "ZONE")
        {
            edits.push((time.bytes.start..zone.bytes.end, "timezone".to_owned()));
        }
        start = end + 1;
    }
    (!edits.is_empty()).then(|| splice(sql, &edits))
}

/// What marks a `FETCH` that was written `MOVE`: the parser has no `MOVE`,
/// and PostgreSQL's SQL has no `FETCH ... INTO`, so the target slot is free.
/// The quote character cannot come from a client's text.
static MOVE_MARKER: LazyLock<Ident> = LazyLock::new(|| Ident {
    value: "move".to_owned(),
    quote_style: Some('\u{1}'),
    span: Span::empty(),
});

/// Whether a parsed `FETCH` was written `MOVE`.
pub(super) fn is_move(into: Option<&ObjectName>) -> bool {
    into.is_some_and(|name| name.0.len() == 1 && name.0[0].as_ident() == Some(&*MOVE_MARKER))
}

/// `sql` with `MOVE` spelled `FETCH`, and `FROM` added where PostgreSQL lets
/// it be left out (`FETCH 2 c`), which the parser needs. Returns the new text
/// and the positions of the statements that were `MOVE`; `None` when there
/// is nothing to respell.
fn respell_cursor_commands(sql: &str) -> Option<(String, Vec<usize>)> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("move") && !lower.contains("fetch") {
        return None;
    }
    let tokens = spanned_tokens(sql)?;
    let mut edits = Vec::new();
    let mut moves = Vec::new();
    let mut index = 0;
    for statement in tokens.split(|t| t.token == Token::SemiColon) {
        let Some((verb, rest)) = statement.split_first() else {
            continue;
        };
        let is_move = is_word(&verb.token, "MOVE");
        if is_move || is_word(&verb.token, "FETCH") {
            if is_move {
                edits.push((verb.bytes.clone(), "FETCH".to_owned()));
                moves.push(index);
            }
            let from_at = rest
                .iter()
                .position(|t| is_word(&t.token, "FROM") || is_word(&t.token, "IN"));
            // Where the cursor's name (or FROM) starts: the direction ends there.
            let name_at = from_at.unwrap_or(rest.len().saturating_sub(1));
            if let Some(first) = rest.first() {
                if name_at == 0 {
                    edits.push((first.bytes.start..first.bytes.start, "NEXT ".to_owned()));
                } else if name_at == 1
                    && (is_word(&first.token, "FORWARD") || is_word(&first.token, "BACKWARD"))
                {
                    edits.push((first.bytes.end..first.bytes.end, " 1".to_owned()));
                }
            }
            if from_at.is_none()
                && let Some(name) = rest.last()
            {
                edits.push((name.bytes.start..name.bytes.start, "FROM ".to_owned()));
            }
        }
        index += 1;
    }
    (!edits.is_empty()).then(|| (splice(sql, &edits), moves))
}

/// `sql` without the `OVERRIDING SYSTEM VALUE` and `OVERRIDING USER VALUE`
/// of its `INSERT`s, which the parser does not read, and the positions of
/// those statements with which one they said (`true`: `SYSTEM`); `None`
/// when there is none.
fn respell_overriding(sql: &str) -> Option<(String, Vec<(usize, bool)>)> {
    if !sql.to_ascii_lowercase().contains("overriding") {
        return None;
    }
    let tokens = spanned_tokens(sql)?;
    let mut edits = Vec::new();
    let mut marks = Vec::new();
    let mut index = 0;
    for statement in tokens.split(|t| t.token == Token::SemiColon) {
        let Some(verb) = statement.first() else {
            continue;
        };
        if is_word(&verb.token, "INSERT")
            && let Some(at) = statement.windows(3).position(|w| {
                is_word(&w[0].token, "OVERRIDING")
                    && (is_word(&w[1].token, "SYSTEM") || is_word(&w[1].token, "USER"))
                    && is_word(&w[2].token, "VALUE")
            })
        {
            edits.push((
                statement[at].bytes.start..statement[at + 2].bytes.end,
                String::new(),
            ));
            marks.push((index, is_word(&statement[at + 1].token, "SYSTEM")));
        }
        index += 1;
    }
    (!edits.is_empty()).then(|| (splice(sql, &edits), marks))
}

/// Each `FETCH` timeout taken out of the text: its statement's index, and
/// its text.
type FetchTimeouts = Vec<(usize, String)>;

/// `sql` with its subscriptions respelled and the timeouts of its
/// `FETCH`es taken out (see `subscribe`), with each timeout's statement.
fn respell_subscribe(sql: &str) -> Result<Option<(String, FetchTimeouts)>> {
    if !subscribe::may_respell(sql) {
        return Ok(None);
    }
    let Some(tokens) = spanned_tokens(sql) else {
        return Ok(None);
    };
    let mut edits = Vec::new();
    let mut timeouts = Vec::new();
    let statements = tokens.split(|t| t.token == Token::SemiColon);
    for (index, statement) in statements.filter(|s| !s.is_empty()).enumerate() {
        let located: Vec<(&Token, Range<usize>)> = (statement.iter())
            .map(|t| (&t.token, t.bytes.clone()))
            .collect();
        let (cuts, timeout) = subscribe::edits(&located)?;
        edits.extend(cuts);
        if let Some(timeout) = timeout {
            timeouts.push((index, timeout));
        }
    }
    Ok((!edits.is_empty()).then(|| (splice(sql, &edits), timeouts)))
}

/// `sql` without what the parser does not read of `CREATE TABLE ... AS`
/// (see `create_as`), and what was taken out of each statement.
fn respell_create_as(sql: &str) -> Option<(String, Vec<create_as::Taken>)> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("create") || !lower.contains("table") {
        return None;
    }
    let tokens = spanned_tokens(sql)?;
    let mut edits = Vec::new();
    let mut taken = Vec::new();
    let mut index = 0;
    for statement in tokens.split(|t| t.token == Token::SemiColon) {
        if statement.is_empty() {
            continue;
        }
        let located: Vec<(&Token, Range<usize>)> = (statement.iter())
            .map(|t| (&t.token, t.bytes.clone()))
            .collect();
        if let Some((cuts, found)) = create_as::edits(&located, index) {
            edits.extend(cuts.into_iter().map(|cut| (cut, String::new())));
            taken.push(found);
        }
        index += 1;
    }
    (!edits.is_empty()).then(|| (splice(sql, &edits), taken))
}

/// `sql` with Grafana's search-path subquery replaced by the literal list of
/// the session's search-path schemas, which is what it computes; `None` when
/// the query has no such subquery.
fn resolve_search_path_subquery(
    sql: &str,
    search_path: impl Fn() -> Vec<String>,
) -> Option<String> {
    if !sql
        .to_ascii_lowercase()
        .contains("current_setting('search_path')")
    {
        return None;
    }
    replace_token_runs(sql, &GRAFANA_SEARCH_PATH_TOKENS, || {
        let schemas = search_path();
        if schemas.is_empty() {
            return "NULL".to_owned();
        }
        let literals: Vec<String> = schemas
            .iter()
            .map(|s| Value::SingleQuotedString(s.clone()).to_string())
            .collect();
        literals.join(", ")
    })
}

/// The options of a table's TOAST table, which psql's `\d+` reads with a
/// correlated `unnest` DataFusion cannot plan. EpochDB has no TOAST tables,
/// so there are none.
const PSQL_TOAST_OPTIONS: &str =
    "array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x)";

static PSQL_TOAST_OPTIONS_TOKENS: LazyLock<Vec<Token>> = LazyLock::new(|| {
    spanned_tokens(PSQL_TOAST_OPTIONS)
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.token)
        .collect()
});

/// `sql` with psql's TOAST options subquery replaced by an empty list.
fn drop_toast_options(sql: &str) -> Option<String> {
    if !sql.contains("tc.reloptions") {
        return None;
    }
    replace_token_runs(sql, &PSQL_TOAST_OPTIONS_TOKENS, || {
        "CAST(NULL AS text[])".to_owned()
    })
}

/// `sql` with every run of tokens equal to `pattern` replaced by the text
/// `replacement` makes; `None` when there is no such run.
fn replace_token_runs(
    sql: &str,
    pattern: &[Token],
    replacement: impl Fn() -> String,
) -> Option<String> {
    if pattern.is_empty() {
        return None;
    }
    let tokens = spanned_tokens(sql)?;
    let mut edits = Vec::new();
    let mut k = 0;
    while k + pattern.len() <= tokens.len() {
        let found = &tokens[k..k + pattern.len()];
        if !found
            .iter()
            .zip(pattern)
            .all(|(t, p)| same_token(&t.token, p))
        {
            k += 1;
            continue;
        }
        edits.push((
            found[0].bytes.start..found[pattern.len() - 1].bytes.end,
            replacement(),
        ));
        k += pattern.len();
    }
    (!edits.is_empty()).then(|| splice(sql, &edits))
}

/// `sql` with each `'name'::regproc` literal replaced by its function name.
/// pg-catalog holds `regproc` columns (`pg_type.typinput`, ...) as the names
/// PostgreSQL prints for them, and would otherwise turn the literal into a
/// `pg_proc` oid, which compares with no name (pgJDBC's type cache compares
/// `typinput` with `'pg_catalog.array_in'::regproc`). `None` when there is
/// no such literal.
fn regproc_literals_as_names(sql: &str) -> Option<String> {
    if !sql.to_ascii_lowercase().contains("regproc") {
        return None;
    }
    let tokens = spanned_tokens(sql)?;
    let mut edits = Vec::new();
    for (k, literal) in tokens.iter().enumerate() {
        let Token::SingleQuotedString(name) = &literal.token else {
            continue;
        };
        let rest = &tokens[k + 1..];
        let cast_len = match rest {
            [colons, ty, ..]
                if colons.token == Token::DoubleColon && is_word(&ty.token, "regproc") =>
            {
                2
            }
            [colons, schema, dot, ty, ..]
                if colons.token == Token::DoubleColon
                    && is_word(&schema.token, "pg_catalog")
                    && dot.token == Token::Period
                    && is_word(&ty.token, "regproc") =>
            {
                4
            }
            _ => continue,
        };
        let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
        edits.push((
            literal.bytes.start..rest[cast_len - 1].bytes.end,
            Value::SingleQuotedString(name.to_owned()).to_string(),
        ));
    }
    (!edits.is_empty()).then(|| splice(sql, &edits))
}

/// `x LIKE p ESCAPE 'c'`: DataFusion knows only the backslash as LIKE's escape
/// character, so a pattern with another one is translated by `like_escape`, as
/// PostgreSQL's own function of that name does.
fn rewrite_like_escape(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
            && let Some(escape) = escape_char
            && escape.value != Value::SingleQuotedString("\\".to_owned())
        {
            let translated = Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new("like_escape")]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(pattern.as_ref().clone())),
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(escape.clone()))),
                    ],
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
            **pattern = translated;
            *escape_char = None;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `(record).field`: PostgreSQL's field selection, which DataFusion plans only
/// with the field's name as a string (`record['field']` is the same). An
/// unquoted name folds to lower case, as PostgreSQL folds it. Names after a
/// plain column reference (`t.a[1]` parses as `t` with `.a` and `[1]`) stay
/// names until a subscript or a parenthesis ends them.
fn rewrite_field_selection(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::CompoundFieldAccess { root, access_chain } = expr {
            let mut selects_fields =
                !matches!(**root, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
            for access in access_chain {
                match access {
                    AccessExpr::Subscript(_) => selects_fields = true,
                    AccessExpr::Dot(Expr::Identifier(ident)) if selects_fields => {
                        let name = if ident.quote_style.is_some() {
                            ident.value.clone()
                        } else {
                            ident.value.to_lowercase()
                        };
                        *access =
                            AccessExpr::Dot(Expr::Value(Value::SingleQuotedString(name).into()));
                    }
                    AccessExpr::Dot(_) => {}
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// PostgreSQL's functions called without parentheses that name the session's
/// role; the session registers them (see `Session::new`).
pub(super) const USER_FUNCTIONS: &[&str] =
    &["current_user", "session_user", "current_role", "user"];

/// `current_user`, `session_user`, `current_role` and `user` as calls of the
/// session's functions of those names: the parser reads the bare keywords as
/// column names. The quoted function name keeps the column's name.
fn rewrite_user_functions(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Identifier(ident) = expr
            && ident.quote_style.is_none()
        {
            let name = ident.value.to_ascii_lowercase();
            if USER_FUNCTIONS.contains(&name.as_str())
                && let Ok(call) = Parser::new(&PostgresDialect::default())
                    .try_with_sql(&format!("\"{name}\"()"))
                    .and_then(|mut parser| parser.parse_expr())
            {
                *expr = call;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_default(sql: &str) -> Result<Vec<Statement>> {
        parse(sql, || vec!["alice".to_owned(), "public".to_owned()])
    }

    #[test]
    fn withs_nested_too_deep_are_refused() {
        let nested = |levels: usize| {
            let mut query = "SELECT 1 AS x".to_owned();
            for i in 0..levels {
                query = format!("WITH w{i} AS ({query}) SELECT x FROM w{i}");
            }
            query
        };
        assert!(parse_default(&nested(depth::MAX_WITH_NESTING)).is_ok());
        assert!(matches!(
            parse_default(&nested(depth::MAX_WITH_NESTING + 1)),
            Err(Error::StackDepthExceeded)
        ));
        // Many WITHs side by side are not nested.
        let side_by_side = (0..40)
            .map(|i| format!("(WITH w AS (SELECT {i} AS x) SELECT x FROM w)"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        assert!(parse_default(&side_by_side).is_ok());
    }

    #[test]
    fn deeply_nested_catalog_queries_are_read_as_plain_sql() {
        assert_eq!(nesting("SELECT f(g(1), (2)) FROM pg_class"), 2);
        // The catalog parser would read this 2^200 times over.
        let n = 200;
        let sql = format!("SELECT {}1{} AS pg_x", "abs(".repeat(n), ")".repeat(n));
        let parsed = std::thread::Builder::new()
            .stack_size(STATEMENT_STACK_BYTES)
            .spawn(move || parse_default(&sql).map(|s| s.len()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(parsed.unwrap(), 1);
    }

    #[test]
    fn create_table_as_column_lists_and_data_clauses_are_taken_out() {
        let (text, taken) = respell_create_as(
            "CREATE TABLE a (x, \"Y\") AS SELECT 1, 2; SELECT 1; \
             create table s.b as select * from t with no data; \
             CREATE TABLE c AS SELECT 1 WITH DATA; CREATE TABLE d (x int)",
        )
        .unwrap();
        assert_eq!(
            text,
            "CREATE TABLE a  AS SELECT 1, 2; SELECT 1; \
             create table s.b as select * from t ; CREATE TABLE c AS SELECT 1 ; \
             CREATE TABLE d (x int)"
        );
        let names: Vec<&str> = taken[0].columns.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(names, vec!["x", "Y"]);
        assert_eq!(taken[0].columns[1].quote_style, Some('"'));
        assert_eq!((taken[1].at, taken[1].no_data), (2, true));
        assert_eq!((taken[2].at, taken[2].no_data), (3, false));
        assert_eq!(taken.len(), 3);
        assert_eq!(respell_create_as("CREATE TABLE t (a int, b text)"), None);
        let parsed = parse_default("CREATE TABLE t (a) AS SELECT 1 WITH NO DATA").unwrap();
        let Statement::CreateTable(create) = &parsed[0] else {
            panic!("{parsed:?}");
        };
        let names: Vec<&Ident> = create.columns.iter().map(|c| &c.name).collect();
        assert_eq!(
            names,
            vec![&Ident::new("a"), &crate::query::no_data_marker()]
        );
    }

    #[test]
    fn overriding_clauses_are_taken_out_and_marked() {
        let (text, marks) = respell_overriding(
            "SELECT 1; insert into t overriding system value values (1); \
             INSERT INTO t (a) OVERRIDING USER VALUE SELECT 2",
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT 1; insert into t  values (1); INSERT INTO t (a)  SELECT 2"
        );
        assert_eq!(marks, vec![(1, true), (2, false)]);
        assert_eq!(respell_overriding("SELECT 'overriding'"), None);
        let parsed = parse_default("INSERT INTO t OVERRIDING SYSTEM VALUE VALUES (1)").unwrap();
        let Statement::Insert(insert) = &parsed[0] else {
            panic!("{parsed:?}");
        };
        assert_eq!(insert.after_columns, vec![overriding_marker(true)]);
    }

    #[test]
    fn sequence_options_take_the_parsers_order() {
        assert_eq!(
            respell_statements(
                "create sequence s start 5 increment 3 no cycle minvalue -2; \
                 create table t (id int generated always as identity (start with 100 increment by 10))"
            )
            .as_deref(),
            Some(
                "create sequence s increment 3 minvalue -2 start 5 no cycle; \
                 create table t (id int generated always as identity (increment by 10 start with 100))"
            )
        );
        assert_eq!(
            respell_statements("create sequence s increment 2 start 1"),
            None
        );
        assert_eq!(
            respell_statements("select nextval('s'::regclass), setval('a.b' :: REGCLASS, 3)")
                .as_deref(),
            Some("select nextval('s'), setval('a.b' , 3)")
        );
    }

    #[test]
    fn user_statements_are_role_statements() {
        assert_eq!(
            respell_statements("create user alice with password 'x'; DROP USER bob").as_deref(),
            Some("create ROLE alice with password 'x' LOGIN; DROP ROLE bob")
        );
        assert_eq!(
            respell_statements("CREATE USER c NOLOGIN;ALTER USER c PASSWORD 'user'").as_deref(),
            Some("CREATE ROLE c NOLOGIN;ALTER ROLE c PASSWORD 'user'")
        );
        assert_eq!(respell_statements("SELECT user, current_user"), None);
        assert_eq!(
            respell_statements("reset  time zone;").as_deref(),
            Some("reset  timezone;")
        );
        assert_eq!(
            respell_statements("alter table t reset (retention, \"x\" ); RESET ALL").as_deref(),
            Some("alter table t SET (retention = NULL, \"x\" = NULL ); RESET ALL")
        );
        let parsed = parse_default("CREATE USER alice PASSWORD 'secret'").unwrap();
        assert!(
            matches!(&parsed[..], [Statement::CreateRole(role)] if role.login == Some(true)),
            "{parsed:?}"
        );
    }

    #[test]
    fn grafana_search_path_subquery_becomes_the_session_schemas() {
        let sql = "SELECT table_name FROM information_schema.tables WHERE \
                   quote_ident(table_schema) IN (select CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END\n\
                   FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1),\n\
                   array_upper(string_to_array(current_setting('search_path'),','),1)) as i,\n\
                   string_to_array(current_setting('search_path'),',') s) ORDER BY 1";
        let resolved =
            resolve_search_path_subquery(sql, || vec!["alice".to_owned(), "public".to_owned()])
                .unwrap();
        assert_eq!(
            resolved,
            "SELECT table_name FROM information_schema.tables WHERE \
             quote_ident(table_schema) IN ('alice', 'public') ORDER BY 1"
        );
        assert_eq!(
            resolve_search_path_subquery("SELECT current_setting('search_path')", Vec::new),
            None
        );
    }

    #[test]
    fn rewrites_keep_the_rest_of_the_text_byte_for_byte() {
        let sql = "SELECT 'it''s', E'\\n',  \"Ünï\" -- ä\n FROM t WHERE x IN (SELECT\n    CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END\nFROM generate_series(\n    array_lower(string_to_array(current_setting('search_path'),','),1),\n    array_upper(string_to_array(current_setting('search_path'),','),1)\n) as i,\nstring_to_array(current_setting('search_path'),',') s)";
        assert_eq!(
            resolve_search_path_subquery(sql, || vec!["o'hara".to_owned()]).unwrap(),
            "SELECT 'it''s', E'\\n',  \"Ünï\" -- ä\n FROM t WHERE x IN ('o''hara')"
        );
    }

    #[test]
    fn regproc_literals_become_names() {
        assert_eq!(
            regproc_literals_as_names(
                "SELECT typinput='pg_catalog.array_in'::regproc, 'ä' , 'int4in' :: PG_CATALOG.REGPROC FROM pg_type"
            )
            .unwrap(),
            "SELECT typinput='array_in', 'ä' , 'int4in' FROM pg_type"
        );
        assert_eq!(
            regproc_literals_as_names("SELECT typinput::regproc FROM pg_type"),
            None
        );
        let parsed = parse_default(
            "SELECT typinput = 'pg_catalog.array_in'::regproc FROM pg_catalog.pg_type",
        )
        .unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT typinput = 'array_in' FROM pg_catalog.pg_type"
        );
    }

    #[test]
    fn field_selection_names_the_field_as_a_string() {
        let parsed =
            parse_default("SELECT (r.keys).X, (f(1)).\"N\", r.a[1].b, r.a[2] FROM r").unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT (r.keys).'x', (f(1)).'N', r.a[1].'b', r.a[2] FROM r"
        );
    }

    #[test]
    fn empty_and_comment_only_text_has_no_statements() {
        assert!(parse_default("").unwrap().is_empty());
        assert!(parse_default("-- ping").unwrap().is_empty());
        assert!(parse_default(" ; ").unwrap().is_empty());
    }

    #[test]
    fn ordinary_queries_are_not_rewritten() {
        let sql = "SELECT (SELECT max(v) FROM t WHERE t.h = o.h) FROM o";
        let parsed = parse_default(sql).unwrap();
        assert_eq!(parsed[0].to_string(), sql);
    }

    #[test]
    fn like_with_another_escape_character_is_translated() {
        let parsed = parse_default("SELECT 1 WHERE 'a' NOT LIKE $1 || '%' ESCAPE '/'").unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT 1 WHERE 'a' NOT LIKE like_escape($1 || '%', '/')"
        );
        let backslash = r"SELECT 1 WHERE 'a' LIKE 'x\_' ESCAPE '\'";
        assert_eq!(parse_default(backslash).unwrap()[0].to_string(), backslash);
    }

    #[test]
    fn cursor_commands_get_the_words_the_parser_needs() {
        let respelled = respell_cursor_commands;
        assert_eq!(
            respelled("fetch c; ; MOVE forward 3 IN c; FETCH BACKWARD c"),
            Some((
                "fetch NEXT FROM c; ; FETCH forward 3 IN c; FETCH BACKWARD 1 FROM c".to_owned(),
                vec![1]
            ))
        );
        assert_eq!(respelled("FETCH 2 FROM c"), None);
        assert_eq!(respelled("SELECT 'move'"), None);
        let statements = parse_default("SELECT 1; MOVE 2 c; FETCH 2 c").unwrap();
        let moves: Vec<bool> = statements
            .iter()
            .map(|s| matches!(s, Statement::Fetch { into, .. } if is_move(into.as_ref())))
            .collect();
        assert_eq!(moves, [false, true, false]);
    }

    #[test]
    fn several_statements_parse_in_order() {
        let parsed = parse_default("SELECT 1; SELECT 2").unwrap();
        assert_eq!(parsed.len(), 2);
    }

    fn respelled(sql: &str) -> String {
        respell_subscribe(sql)
            .unwrap()
            .map_or_else(|| sql.to_owned(), |(text, _)| text)
    }

    #[test]
    fn spells_subscriptions_as_marked_queries() {
        assert_eq!(
            respelled("SUBSCRIBE (SELECT * FROM t WHERE a > 1)"),
            "SELECT * FROM (SELECT * FROM t WHERE a > 1) AS __epochdb_subscribe_10_10000"
        );
        assert_eq!(
            respelled("subscribe to s.t with (snapshot = false, progress)"),
            "SELECT * FROM s.t AS __epochdb_subscribe_01_10000 "
        );
        assert_eq!(
            respelled("COPY (SUBSCRIBE t WITH (PROGRESS = 'on')) TO STDOUT"),
            "COPY (SELECT * FROM t AS __epochdb_subscribe_11_10000 ) TO STDOUT"
        );
        assert_eq!(
            respelled("DECLARE c CURSOR FOR SUBSCRIBE TO (SELECT a FROM t)"),
            "DECLARE c CURSOR FOR SELECT * FROM (SELECT a FROM t) AS __epochdb_subscribe_10_10000"
        );
        assert!(respell_subscribe("SUBSCRIBE t WITH (nonsense)").is_err());
        assert!(respell_subscribe("SUBSCRIBE (SELECT 1) LIMIT 3").is_err());
        assert!(respell_subscribe("SUBSCRIBE").is_err());
        assert_eq!(
            respelled("SELECT subscribe FROM t"),
            "SELECT subscribe FROM t"
        );
    }

    #[test]
    fn takes_out_fetch_timeouts() {
        let (text, timeouts) = respell_subscribe("BEGIN; FETCH 10 c WITH (timeout = '1s')")
            .unwrap()
            .unwrap();
        assert_eq!(text, "BEGIN; FETCH 10 c ");
        assert_eq!(timeouts, vec![(1, "1s".to_owned())]);
        assert!(respell_subscribe("FETCH c WITH (wait = '1s')").is_err());
    }
}
