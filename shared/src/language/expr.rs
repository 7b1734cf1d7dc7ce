//! `expr`: the small expression language of a broadcast's `where` — arithmetic and
//! comparisons over a business event's props: numbers, strings, booleans, `+ - * / %`,
//! `== != < <= > >=`, `and or not`, parentheses. Side-effect free and bounded: at most
//! [`MAX_LENGTH`] characters and [`MAX_DEPTH`] levels of nesting, evaluated in one walk.
//!
//! Written here rather than taken from a crate: CEL (cel-rust) types JSON's `100` as an
//! integer, so `(100 - 80) / 100` is `0` and a 20 % drop would not pass `> 0.15`;
//! evalexpr is AGPL. Numbers here are all `f64`, as JSON means them.

use std::fmt;

use serde_json::{Map, Value};

/// The longest expression accepted.
pub const MAX_LENGTH: usize = 1024;
/// The deepest nesting accepted (parentheses, `not`, unary minus).
pub const MAX_DEPTH: usize = 32;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr(Node);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Literal(Lit),
    Prop(String),
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
}

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Number(f64),
    Text(String),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

/// A value while evaluating.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Number(f64),
    Text(String),
    Bool(bool),
}

/// Why an expression cannot be evaluated for an event: a prop it names is missing or has
/// a type the expression cannot use. The filter is then false, and this says why.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a prop's type may be, for the check before any event arrives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Number,
    Text,
    Bool,
    /// A prop: any of them until an event says.
    Any,
}

impl Expr {
    /// Parses and type-checks: malformed text, an operator applied to literals of the
    /// wrong type, or a result that is not true/false is an error saying where.
    pub fn parse(text: &str) -> Result<Expr, String> {
        if text.len() > MAX_LENGTH {
            return Err(format!("longer than {MAX_LENGTH} characters"));
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
        };
        let node = parser.or()?;
        if let Some(token) = parser.tokens.get(parser.at) {
            return Err(format!("unexpected {token}"));
        }
        match check(&node)? {
            Ty::Bool | Ty::Any => Ok(Expr(node)),
            other => Err(format!(
                "the expression must be true or false, not a {}",
                ty_name(other)
            )),
        }
    }

    /// Whether the expression holds for these props.
    pub fn holds(&self, props: &Map<String, Value>) -> Result<bool, EvalError> {
        match eval(&self.0, props)? {
            Val::Bool(b) => Ok(b),
            other => Err(EvalError(format!(
                "gives {}, not true or false",
                describe(&other)
            ))),
        }
    }
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Number => "number",
        Ty::Text => "string",
        Ty::Bool => "boolean",
        Ty::Any => "value",
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Ident(String),
    Sym(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "number {n}"),
            Token::Text(t) => write!(f, "string {t:?}"),
            Token::Ident(i) => write!(f, "`{i}`"),
            Token::Sym(s) => write!(f, "`{s}`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let literal: String = chars[start..i].iter().collect();
            let number = literal
                .parse::<f64>()
                .map_err(|_| format!("`{literal}` is not a number (at character {})", start + 1))?;
            tokens.push(Token::Number(number));
        } else if c == '"' || c == '\'' {
            let start = i;
            i += 1;
            let mut literal = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "a string opened at character {} is not closed",
                            start + 1
                        ))
                    }
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some(&escaped) => literal.push(escaped),
                            None => return Err("a string ends in `\\`".into()),
                        }
                        i += 2;
                        continue;
                    }
                    Some(&other) => literal.push(other),
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Text(literal));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = ["==", "!=", "<=", ">="]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["+", "-", "*", "/", "%", "<", ">", "(", ")"]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                });
            let Some(sym) = sym else {
                return Err(format!("unexpected `{c}` at character {}", i + 1));
            };
            i += sym.len();
            tokens.push(Token::Sym(sym));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn symbol(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Token::Sym(s)) => Some(s),
            _ => None,
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Node::Binary(Op::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut left = self.not()?;
        while self.keyword("and") {
            self.at += 1;
            left = Node::Binary(Op::And, Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Node, String> {
        if self.keyword("not") {
            self.at += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, String> {
        let left = self.sum()?;
        let op = match self.symbol() {
            Some("==") => Op::Eq,
            Some("!=") => Op::Ne,
            Some("<") => Op::Lt,
            Some("<=") => Op::Le,
            Some(">") => Op::Gt,
            Some(">=") => Op::Ge,
            _ => return Ok(left),
        };
        self.at += 1;
        let right = self.sum()?;
        if matches!(self.symbol(), Some("==" | "!=" | "<" | "<=" | ">" | ">=")) {
            return Err("comparisons do not chain: join them with `and`".into());
        }
        Ok(Node::Binary(op, Box::new(left), Box::new(right)))
    }

    fn sum(&mut self) -> Result<Node, String> {
        let mut left = self.product()?;
        while let Some(op @ ("+" | "-")) = self.symbol() {
            self.at += 1;
            let op = if op == "+" { Op::Add } else { Op::Sub };
            left = Node::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        while let Some(op @ ("*" | "/" | "%")) = self.symbol() {
            self.at += 1;
            let op = match op {
                "*" => Op::Mul,
                "/" => Op::Div,
                _ => Op::Rem,
            };
            left = Node::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.symbol() == Some("-") {
            self.at += 1;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Neg(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(token) = self.peek().cloned() else {
            return Err("the expression ends too early".into());
        };
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Node::Literal(Lit::Number(n))),
            Token::Text(t) => Ok(Node::Literal(Lit::Text(t))),
            Token::Ident(word) => match word.as_str() {
                "true" => Ok(Node::Literal(Lit::Bool(true))),
                "false" => Ok(Node::Literal(Lit::Bool(false))),
                "and" | "or" | "not" => Err(format!("`{word}` needs a value before it")),
                _ => Ok(Node::Prop(word)),
            },
            Token::Sym("(") => {
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.symbol() != Some(")") {
                    return Err("a `(` is not closed".into());
                }
                self.at += 1;
                Ok(inner)
            }
            other => Err(format!("unexpected {other}")),
        }
    }
}

/// The type of a node, as far as literals tell; props are `Any` until evaluation.
fn check(node: &Node) -> Result<Ty, String> {
    let want = |ty: Ty, expected: Ty, what: &str| -> Result<(), String> {
        if ty == Ty::Any || ty == expected {
            Ok(())
        } else {
            Err(format!(
                "{what} needs a {}, not a {}",
                ty_name(expected),
                ty_name(ty)
            ))
        }
    };
    Ok(match node {
        Node::Literal(Lit::Number(_)) => Ty::Number,
        Node::Literal(Lit::Text(_)) => Ty::Text,
        Node::Literal(Lit::Bool(_)) => Ty::Bool,
        Node::Prop(_) => Ty::Any,
        Node::Not(inner) => {
            want(check(inner)?, Ty::Bool, "`not`")?;
            Ty::Bool
        }
        Node::Neg(inner) => {
            want(check(inner)?, Ty::Number, "`-`")?;
            Ty::Number
        }
        Node::Binary(op, left, right) => {
            let (l, r) = (check(left)?, check(right)?);
            match op {
                Op::And | Op::Or => {
                    let name = if *op == Op::And { "`and`" } else { "`or`" };
                    want(l, Ty::Bool, name)?;
                    want(r, Ty::Bool, name)?;
                    Ty::Bool
                }
                Op::Add if l == Ty::Text || r == Ty::Text => {
                    want(l, Ty::Text, "joining strings with `+`")?;
                    want(r, Ty::Text, "joining strings with `+`")?;
                    Ty::Text
                }
                // `a + b` of two props may join strings: known only from the event.
                Op::Add if l == Ty::Any && r == Ty::Any => Ty::Any,
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => {
                    want(l, Ty::Number, "arithmetic")?;
                    want(r, Ty::Number, "arithmetic")?;
                    Ty::Number
                }
                Op::Eq | Op::Ne => Ty::Bool,
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    if l != Ty::Any && r != Ty::Any && l != r {
                        return Err(format!(
                            "a {} cannot be compared with a {}",
                            ty_name(l),
                            ty_name(r)
                        ));
                    }
                    if l == Ty::Bool || r == Ty::Bool {
                        return Err("true and false have no order".into());
                    }
                    Ty::Bool
                }
            }
        }
    })
}

fn describe(v: &Val) -> String {
    match v {
        Val::Number(n) => format!("the number {n}"),
        Val::Text(t) => format!("the string {t:?}"),
        Val::Bool(b) => format!("{b}"),
    }
}

fn prop(props: &Map<String, Value>, name: &str) -> Result<Val, EvalError> {
    // `product.price` reads nested objects.
    let mut parts = name.split('.');
    let first = parts.next().unwrap_or_default();
    let mut value = props
        .get(first)
        .ok_or_else(|| EvalError(format!("the event has no `{name}`")))?;
    for part in parts {
        value = value
            .get(part)
            .ok_or_else(|| EvalError(format!("the event has no `{name}`")))?;
    }
    match value {
        Value::Number(n) => Ok(Val::Number(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => Ok(Val::Text(s.clone())),
        Value::Bool(b) => Ok(Val::Bool(*b)),
        Value::Null => Err(EvalError(format!("`{name}` is null"))),
        _ => Err(EvalError(format!(
            "`{name}` is not a number, string or boolean"
        ))),
    }
}

fn eval(node: &Node, props: &Map<String, Value>) -> Result<Val, EvalError> {
    let number = |v: Val, what: &str| match v {
        Val::Number(n) => Ok(n),
        other => Err(EvalError(format!(
            "{what} needs a number, not {}",
            describe(&other)
        ))),
    };
    let boolean = |v: Val, what: &str| match v {
        Val::Bool(b) => Ok(b),
        other => Err(EvalError(format!(
            "{what} needs true or false, not {}",
            describe(&other)
        ))),
    };
    Ok(match node {
        Node::Literal(Lit::Number(n)) => Val::Number(*n),
        Node::Literal(Lit::Text(t)) => Val::Text(t.clone()),
        Node::Literal(Lit::Bool(b)) => Val::Bool(*b),
        Node::Prop(name) => prop(props, name)?,
        Node::Not(inner) => Val::Bool(!boolean(eval(inner, props)?, "`not`")?),
        Node::Neg(inner) => Val::Number(-number(eval(inner, props)?, "`-`")?),
        Node::Binary(Op::And, l, r) => {
            // Short-circuit: `has_discount and discount > 0` never reads a missing prop.
            Val::Bool(boolean(eval(l, props)?, "`and`")? && boolean(eval(r, props)?, "`and`")?)
        }
        Node::Binary(Op::Or, l, r) => {
            Val::Bool(boolean(eval(l, props)?, "`or`")? || boolean(eval(r, props)?, "`or`")?)
        }
        Node::Binary(op, l, r) => {
            let (l, r) = (eval(l, props)?, eval(r, props)?);
            match (op, l, r) {
                (Op::Add, Val::Text(a), Val::Text(b)) => Val::Text(a + &b),
                (Op::Eq, a, b) => Val::Bool(a == b),
                (Op::Ne, a, b) => Val::Bool(a != b),
                (Op::Lt | Op::Le | Op::Gt | Op::Ge, Val::Text(a), Val::Text(b)) => {
                    Val::Bool(compare(*op, a.cmp(&b)))
                }
                (Op::Lt | Op::Le | Op::Gt | Op::Ge, a, b) => {
                    let (a, b) = (number(a, "a comparison")?, number(b, "a comparison")?);
                    match a.partial_cmp(&b) {
                        Some(order) => Val::Bool(compare(*op, order)),
                        None => return Err(EvalError("a comparison with NaN".into())),
                    }
                }
                (op, a, b) => {
                    let (a, b) = (number(a, "arithmetic")?, number(b, "arithmetic")?);
                    let n = match op {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        Op::Div | Op::Rem if b == 0.0 => {
                            return Err(EvalError("a division by zero".into()))
                        }
                        Op::Div => a / b,
                        _ => a % b,
                    };
                    Val::Number(n)
                }
            }
        }
    })
}

fn compare(op: Op, order: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Lt => order == Less,
        Op::Le => order != Greater,
        Op::Gt => order == Greater,
        _ => order != Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_seeds_price_drop() {
        let e = Expr::parse("(old_price - new_price) / old_price > 0.15").unwrap();
        assert!(e
            .holds(&props(json!({"old_price": 100, "new_price": 80})))
            .unwrap());
        assert!(!e
            .holds(&props(json!({"old_price": 100, "new_price": 90})))
            .unwrap());
        let missing = e.holds(&props(json!({"old_price": 100}))).unwrap_err();
        assert!(missing.0.contains("new_price"), "{missing}");
    }

    #[test]
    fn precedence_logic_and_strings() {
        let e = Expr::parse("not a == 1 or b * 2 + 1 >= 7 and name == 'x'").unwrap();
        assert!(e
            .holds(&props(json!({"a": 2, "b": 0, "name": "y"})))
            .unwrap());
        assert!(e
            .holds(&props(json!({"a": 1, "b": 3, "name": "x"})))
            .unwrap());
        assert!(!e
            .holds(&props(json!({"a": 1, "b": 3, "name": "z"})))
            .unwrap());
        let nested = Expr::parse("product.category == \"shoes\" and -price < -5").unwrap();
        assert!(nested
            .holds(&props(
                json!({"product": {"category": "shoes"}, "price": 6})
            ))
            .unwrap());
    }

    #[test]
    fn malformed_and_ill_typed_expressions_are_refused() {
        for (text, says) in [
            ("old_price -", "ends too early"),
            ("(a > 1", "not closed"),
            ("a > 1 > 2", "do not chain"),
            ("a + 1", "true or false"),
            ("'x' - 1", "needs a number"),
            ("1 < 'x'", "cannot be compared"),
            ("not 5", "`not` needs a boolean"),
            ("a $ b", "unexpected `$`"),
            ("a = 1", "unexpected `=`"),
            ("'open", "not closed"),
        ] {
            let error = Expr::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert!(Expr::parse(&deep).unwrap_err().contains("nested"));
        assert!(Expr::parse(&"a".repeat(2000))
            .unwrap_err()
            .contains("longer"));
    }

    #[test]
    fn wrong_types_at_run_time_are_errors_not_panics() {
        let e = Expr::parse("price / 0 > 1").unwrap();
        assert!(e.holds(&props(json!({"price": 1}))).is_err());
        let e = Expr::parse("price > 1").unwrap();
        assert!(e.holds(&props(json!({"price": "cheap"}))).is_err());
        assert!(e.holds(&props(json!({"price": null}))).is_err());
    }
}
