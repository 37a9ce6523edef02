//! `$filter`: lexer, parser and AST.
//!
//! Grammar (case-insensitive keywords; `ws` between tokens):
//! ```text
//! expr     := and ( "or" and )*
//! and      := unary ( "and" unary )*
//! unary    := "not" unary | compare
//! compare  := operand ( ("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand
//!                     | "in" "(" operand ( "," operand )* ")" )?
//! operand  := literal | function | path | "(" expr ")"
//! function := ("contains"|"startswith"|"endswith") "(" operand "," operand ")"
//!           | ("tolower"|"toupper") "(" operand ")"
//! path     := step ( "/" step )* [ "/" ("any"|"all") "(" [ var ":" expr ] ")" ]
//! step     := identifier | qualified.type.name        (a derived-type cast)
//! literal  := 'string' ('' escapes a quote) | number | true | false | null
//!           | guid (unquoted 8-4-4-4-12) | datetime (unquoted RFC 3339)
//! ```
//! Lambda variables are the first step of paths inside the lambda (`is/tenantId`).

use std::fmt;

use uuid::Uuid;

use crate::clock::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Str(String),
    Int(i64),
    Float(f64),
    Guid(Uuid),
    Date(Timestamp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Contains,
    StartsWith,
    EndsWith,
    ToLower,
    ToUpper,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// Steps as written (case preserved); matching is case-insensitive.
    Path(Vec<String>),
    Lambda {
        path: Vec<String>,
        quantifier: Quantifier,
        var: Option<String>,
        body: Option<Box<Expr>>,
    },
    Call(Func, Vec<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Expr>),
    Not(Box<Expr>),
    /// `a and b and c` as one node: a chain of thousands of terms stays one level deep, so
    /// neither evaluation nor `Drop` recurses along it.
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A parse error, rendered like ASP.NET OData's (`Syntax error at position N in '…'.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Literal),
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$' || c == '@'
}

impl<'a> Lexer<'a> {
    fn error(&self, at: usize) -> FilterError {
        FilterError(format!("Syntax error at position {at} in '{}'.", self.text))
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn tokens(mut self) -> Result<Vec<(usize, Tok)>, FilterError> {
        let mut out = Vec::new();
        loop {
            let trimmed = self.rest().trim_start();
            self.pos = self.text.len() - trimmed.len();
            let Some(c) = trimmed.chars().next() else {
                return Ok(out);
            };
            let start = self.pos;
            let tok = match c {
                '(' => {
                    self.pos += 1;
                    Tok::LParen
                }
                ')' => {
                    self.pos += 1;
                    Tok::RParen
                }
                ',' => {
                    self.pos += 1;
                    Tok::Comma
                }
                '/' => {
                    self.pos += 1;
                    Tok::Slash
                }
                ':' => {
                    self.pos += 1;
                    Tok::Colon
                }
                '\'' => Tok::Lit(Literal::Str(self.string()?)),
                _ => {
                    if let Some(lit) = self.guid_or_date() {
                        Tok::Lit(lit)
                    } else if c.is_ascii_digit() || c == '-' {
                        Tok::Lit(self.number()?)
                    } else if is_ident_char(c) {
                        let len = trimmed
                            .find(|ch: char| !is_ident_char(ch))
                            .unwrap_or(trimmed.len());
                        let word = &trimmed[..len];
                        self.pos += len;
                        match word.to_ascii_lowercase().as_str() {
                            "true" => Tok::Lit(Literal::Bool(true)),
                            "false" => Tok::Lit(Literal::Bool(false)),
                            "null" => Tok::Lit(Literal::Null),
                            _ => Tok::Ident(word.to_string()),
                        }
                    } else {
                        return Err(self.error(start));
                    }
                }
            };
            out.push((start, tok));
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = self.rest();
            let Some(i) = rest.find('\'') else {
                return Err(FilterError(format!(
                    "There is an unterminated string literal at position {start} in '{}'.",
                    self.text
                )));
            };
            value.push_str(&rest[..i]);
            self.pos += i + 1;
            if self.rest().starts_with('\'') {
                value.push('\'');
                self.pos += 1;
            } else {
                return Ok(value);
            }
        }
    }

    fn guid_or_date(&mut self) -> Option<Literal> {
        let rest = self.rest();
        // A GUID or an RFC 3339 time is under 64 characters: looking no further keeps the lexer
        // linear on a long run of characters with no separator (`not(not(…`).
        let end = match rest
            .char_indices()
            .take(64)
            .find(|(_, c)| c.is_whitespace() || *c == ')' || *c == ',')
        {
            Some((i, _)) => i,
            None if rest.len() <= 64 => rest.len(),
            None => return None,
        };
        let word = &rest[..end];
        if word.len() == 36 && word.as_bytes().get(8) == Some(&b'-') {
            if let Ok(g) = Uuid::parse_str(word) {
                self.pos += end;
                return Some(Literal::Guid(g));
            }
        }
        if word.len() >= 20 && word.as_bytes().get(4) == Some(&b'-') && word.contains('T') {
            if let Ok(t) = Timestamp::parse(word) {
                self.pos += end;
                return Some(Literal::Date(t));
            }
        }
        None
    }

    fn number(&mut self) -> Result<Literal, FilterError> {
        let start = self.pos;
        let rest = self.rest();
        let len = rest
            .char_indices()
            .take_while(|(i, c)| c.is_ascii_digit() || *c == '.' || (*i == 0 && *c == '-'))
            .count();
        let word = &rest[..len];
        self.pos += len;
        if let Ok(i) = word.parse::<i64>() {
            return Ok(Literal::Int(i));
        }
        word.parse::<f64>()
            .map(Literal::Float)
            .map_err(|_| self.error(start))
    }
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    /// Nodes of the tree built so far, counted the way ASP.NET OData's `FilterQueryValidator`
    /// counts them, so parsing stops at the limit instead of after building a huge tree.
    nodes: usize,
}

/// Parenthesised nesting is refused beyond this rather than allowed to exhaust the stack
/// (parentheses add no node, so the node count alone does not bound them).
const MAX_DEPTH: usize = 64;

/// The largest filter tree accepted: ASP.NET OData's default `MaxNodeCount`
/// (`ODataValidationSettings.MaxNodeCount`, 100), which Graph's EM backend is assumed to keep
/// [inf]. A comparison such as `displayName eq 'x'` counts 4 (operator, `$it`, property,
/// constant) and each `and`/`or` 1, so 20 such terms joined by `or` fit and 21 do not. The
/// bound also bounds every recursion over the tree (checking, evaluation).
pub const MAX_NODE_COUNT: usize = 100;

impl Parser<'_> {
    fn error(&self) -> FilterError {
        let at = self.toks.get(self.pos).map_or(self.text.len(), |t| t.0);
        FilterError(format!("Syntax error at position {at} in '{}'.", self.text))
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), FilterError> {
        if self.peek() == Some(tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// Counts `n` more nodes, refusing the filter once it passes [`MAX_NODE_COUNT`].
    fn count(&mut self, n: usize) -> Result<(), FilterError> {
        self.nodes += n;
        if self.nodes > MAX_NODE_COUNT {
            return Err(FilterError(format!(
                "The node count limit of '{MAX_NODE_COUNT}' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError(format!(
                "The filter '{}' is nested too deeply.",
                self.text
            )));
        }
        let first = self.and()?;
        let e = self.chain(first, "or", Self::and, Expr::Or)?;
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let first = self.unary()?;
        self.chain(first, "and", Self::unary, Expr::And)
    }

    /// `first kw x kw y …` as one n-ary node, read in a loop (never recursively along the chain).
    fn chain(
        &mut self,
        first: Expr,
        kw: &str,
        operand: fn(&mut Self) -> Result<Expr, FilterError>,
        node: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        if !self.peek_keyword(kw) {
            return Ok(first);
        }
        let mut terms = vec![first];
        while self.peek_keyword(kw) {
            self.pos += 1;
            // Each `and`/`or` is one binary-operator node in ASP.NET OData's count.
            self.count(1)?;
            terms.push(operand(self)?);
        }
        Ok(node(terms))
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            // `not not … x` recurses once per `not`, and each `not` is a counted node, so the
            // node limit bounds this recursion.
            self.count(1)?;
            let inner = self.unary()?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, FilterError> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Some(CmpOp::Eq),
                "ne" => Some(CmpOp::Ne),
                "gt" => Some(CmpOp::Gt),
                "ge" => Some(CmpOp::Ge),
                "lt" => Some(CmpOp::Lt),
                "le" => Some(CmpOp::Le),
                "in" => {
                    self.pos += 1;
                    // The operator and the collection; each listed value counts as a constant.
                    self.count(2)?;
                    self.expect(&Tok::LParen)?;
                    let mut items = vec![self.operand()?];
                    while self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                        items.push(self.operand()?);
                    }
                    self.expect(&Tok::RParen)?;
                    return Ok(Expr::In(Box::new(left), items));
                }
                _ => None,
            },
            _ => None,
        };
        match op {
            Some(op) => {
                self.pos += 1;
                self.count(1)?;
                let right = self.operand()?;
                Ok(Expr::Compare(op, Box::new(left), Box::new(right)))
            }
            None => Ok(left),
        }
    }

    fn operand(&mut self) -> Result<Expr, FilterError> {
        match self.peek().cloned() {
            Some(Tok::Lit(l)) => {
                self.pos += 1;
                self.count(1)?;
                Ok(Expr::Literal(l))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(&Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(word)) => {
                if self.toks.get(self.pos + 1).map(|t| &t.1) == Some(&Tok::LParen) {
                    let func = match word.to_ascii_lowercase().as_str() {
                        "contains" => Some((Func::Contains, 2)),
                        "startswith" => Some((Func::StartsWith, 2)),
                        "endswith" => Some((Func::EndsWith, 2)),
                        "tolower" => Some((Func::ToLower, 1)),
                        "toupper" => Some((Func::ToUpper, 1)),
                        _ => None,
                    };
                    let Some((func, arity)) = func else {
                        return Err(FilterError(format!(
                            "An unknown function with name '{word}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."
                        )));
                    };
                    self.pos += 2;
                    self.count(1)?;
                    let mut args = vec![self.expr()?];
                    while self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                        args.push(self.expr()?);
                    }
                    self.expect(&Tok::RParen)?;
                    if args.len() != arity {
                        return Err(FilterError(format!(
                            "No function signature for the function with name '{word}' matches the specified arguments."
                        )));
                    }
                    return Ok(Expr::Call(func, args));
                }
                self.path()
            }
            _ => Err(self.error()),
        }
    }

    fn path(&mut self) -> Result<Expr, FilterError> {
        let mut steps = Vec::new();
        loop {
            let Some(Tok::Ident(word)) = self.peek().cloned() else {
                return Err(self.error());
            };
            self.pos += 1;
            let quantifier = if self.peek() == Some(&Tok::LParen) && !steps.is_empty() {
                match word.to_ascii_lowercase().as_str() {
                    "any" => Some(Quantifier::Any),
                    "all" => Some(Quantifier::All),
                    _ => return Err(self.error()),
                }
            } else {
                None
            };
            if let Some(quantifier) = quantifier {
                self.pos += 1;
                // The lambda node, and its source path as a `$it`-rooted property access.
                self.count(2 + steps.len())?;
                if self.peek() == Some(&Tok::RParen) {
                    self.pos += 1;
                    return Ok(Expr::Lambda {
                        path: steps,
                        quantifier,
                        var: None,
                        body: None,
                    });
                }
                let Some(Tok::Ident(var)) = self.peek().cloned() else {
                    return Err(self.error());
                };
                self.pos += 1;
                self.expect(&Tok::Colon)?;
                let body = self.expr()?;
                self.expect(&Tok::RParen)?;
                return Ok(Expr::Lambda {
                    path: steps,
                    quantifier,
                    var: Some(var),
                    body: Some(Box::new(body)),
                });
            }
            steps.push(word);
            if self.peek() == Some(&Tok::Slash) {
                self.pos += 1;
            } else {
                // `$it` (or the lambda variable) and one access node per step.
                self.count(1 + steps.len())?;
                return Ok(Expr::Path(steps));
            }
        }
    }
}

/// Parses a `$filter` value.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    let toks = Lexer { text, pos: 0 }.tokens()?;
    let mut p = Parser {
        text,
        toks,
        pos: 0,
        depth: 0,
        nodes: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(p.error());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_filters_parse() {
        insta::assert_debug_snapshot!(parse("contains(tolower(displayName),'team')").unwrap(), @r#"
        Call(
            Contains,
            [
                Call(
                    ToLower,
                    [
                        Path(
                            [
                                "displayName",
                            ],
                        ),
                    ],
                ),
                Literal(
                    Str(
                        "team",
                    ),
                ),
            ],
        )
        "#);
        insta::assert_debug_snapshot!(parse("(originSystem eq 'AadGroup' and resource/id eq 'a35bef72-a8aa-4ca3-af30-f6b2ece7208f')").unwrap(), @r#"
        And(
            [
                Compare(
                    Eq,
                    Path(
                        [
                            "originSystem",
                        ],
                    ),
                    Literal(
                        Str(
                            "AadGroup",
                        ),
                    ),
                ),
                Compare(
                    Eq,
                    Path(
                        [
                            "resource",
                            "id",
                        ],
                    ),
                    Literal(
                        Str(
                            "a35bef72-a8aa-4ca3-af30-f6b2ece7208f",
                        ),
                    ),
                ),
            ],
        )
        "#);
    }

    #[test]
    fn lambdas_casts_in_and_escapes() {
        insta::assert_debug_snapshot!(parse("identitySources/any(is:is/microsoft.graph.azureActiveDirectoryTenant/tenantId eq 'x')").unwrap(), @r#"
        Lambda {
            path: [
                "identitySources",
            ],
            quantifier: Any,
            var: Some(
                "is",
            ),
            body: Some(
                Compare(
                    Eq,
                    Path(
                        [
                            "is",
                            "microsoft.graph.azureActiveDirectoryTenant",
                            "tenantId",
                        ],
                    ),
                    Literal(
                        Str(
                            "x",
                        ),
                    ),
                ),
            ),
        }
        "#);
        assert_eq!(
            parse("displayName in ('a', 'it''s')").unwrap(),
            Expr::In(
                Box::new(Expr::Path(vec!["displayName".into()])),
                vec![
                    Expr::Literal(Literal::Str("a".into())),
                    Expr::Literal(Literal::Str("it's".into()))
                ]
            )
        );
        assert!(
            matches!(parse("id eq 60000000-0000-4000-8000-000000000001"), Ok(Expr::Compare(CmpOp::Eq, _, r)) if matches!(*r, Expr::Literal(Literal::Guid(_))))
        );
        assert!(
            matches!(parse("createdDateTime ge 2026-01-01T00:00:00Z"), Ok(Expr::Compare(CmpOp::Ge, _, r)) if matches!(*r, Expr::Literal(Literal::Date(_))))
        );
        assert!(matches!(parse("NOT isHidden EQ true"), Ok(Expr::Not(_))));
    }

    #[test]
    fn errors_read_like_aspnet_odata() {
        insta::assert_snapshot!(parse("displayName eq").unwrap_err(), @"Syntax error at position 14 in 'displayName eq'.");
        insta::assert_snapshot!(parse("displayName eq 'x").unwrap_err(), @"There is an unterminated string literal at position 15 in 'displayName eq 'x'.");
        insta::assert_snapshot!(parse("frob(displayName)").unwrap_err(), @"An unknown function with name 'frob' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.");
        insta::assert_snapshot!(parse("contains(displayName)").unwrap_err(), @"No function signature for the function with name 'contains' matches the specified arguments.");
        assert!(parse("a eq 1)").is_err());
        assert!(parse(&"(".repeat(500)).is_err());
        assert!(parse(&"not ".repeat(500)).is_err());
        assert!(parse("ü eq 1").is_err());
    }

    /// ASP.NET OData's own calibration (`FilterQueryValidatorTest`): 20 four-node comparisons
    /// and 19 connectives (99 nodes) pass, 21 and 20 (104) do not; likewise 95 and 100 `not`s.
    #[test]
    fn node_count_matches_aspnet_odata() {
        let terms = |n: usize| vec!["supplierId eq 1"; n].join(" or ");
        assert!(matches!(parse(&terms(20)), Ok(Expr::Or(t)) if t.len() == 20));
        let refused = parse(&terms(21)).unwrap_err();
        assert_eq!(
            refused.0,
            "The node count limit of '100' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."
        );
        assert!(parse(&format!("{}discontinued", "not ".repeat(95))).is_ok());
        assert!(parse(&format!("{}discontinued", "not ".repeat(100))).is_err());
    }

    /// The chain that overflowed the stack (issue 19): thousands of terms, with and without
    /// parentheses, in `and`, `or` and `in`, are refused by the node limit and never recurse.
    #[test]
    fn long_chains_are_refused_not_fatal() {
        for joiner in [" or ", " and "] {
            let chain = vec!["1"; 7_000].join(joiner);
            assert!(parse(&chain).unwrap_err().0.contains("node count limit"));
            let grouped = vec!["(displayName eq 'x')"; 7_000].join(joiner);
            assert!(parse(&grouped).unwrap_err().0.contains("node count limit"));
        }
        // Each listed value is a constant node, so a list stays under the limit too.
        let list = |n: usize| vec!["'x'"; n].join(",");
        assert!(parse(&format!("displayName in ({})", list(90))).is_ok());
        assert!(parse(&format!("displayName in ({})", list(7_000))).is_err());
        assert!(parse(&"(".repeat(100_000)).is_err());
        assert!(parse(&"not(".repeat(100_000)).is_err());
    }
}
