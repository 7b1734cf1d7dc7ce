//! A guard against hostile nesting, run before the document parser sees the text.
//!
//! `serde_yaml_ng` refuses documents nested deeper than 128 levels, but only after its
//! parser has worked through them, and that work grows so fast with depth that 60 KB of
//! `[` took it 18–43 s (240 KB: over three minutes) — long enough for two requests to
//! freeze a server. yaml-rust2's event parser reads the same text in one linear pass, so
//! counting depth on its events and stopping at the first level too deep refuses such a
//! document in milliseconds, whatever its size. JSON goes through the same check (it is
//! YAML's flow style), which keeps both formats under one limit.

use yaml_rust2::parser::{Event, Parser};

use crate::diagnostic::Diagnostic;

/// Deeper than any workflow, definitions file or scenario needs (the deepest real
/// document, a condition tree inside a branch inside a split, is about 15 levels).
pub const MAX_NESTING: usize = 64;
/// Values a document may hold once its aliases are expanded. Aliases copy the value
/// they name, so 150 KB of `*a` over an anchored list of 30,000 can stand for 10^9
/// values; a real document holds a few thousand.
pub const MAX_VALUES: usize = 1_000_000;

/// `Ok` when no collection in `text` nests deeper than [`MAX_NESTING`]. Syntax errors are
/// left to the document parser, which reports them with its own words and line.
pub fn check_nesting(file: &str, text: &str) -> Result<(), Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    let too_deep = |line: usize| {
        let mut diag = Diagnostic::error(
            file,
            "",
            format!("the document nests deeper than {MAX_NESTING} levels"),
        );
        diag.line = Some(line);
        Err(diag)
    };
    let mut depth = 0usize;
    // Values so far (aliases counted as the values they expand to), the size of each
    // anchored value, and the anchored collections still open: (anchor, count at start).
    let mut values = 0usize;
    let mut anchored: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut open: Vec<(usize, usize)> = Vec::new();
    let too_big = |line: usize| {
        let mut diag = Diagnostic::error(
            file,
            "",
            format!("the document expands to more than {MAX_VALUES} values (aliases copy what they name)"),
        );
        diag.line = Some(line);
        Err(diag)
    };
    loop {
        let (event, marker) = match parser.next_token() {
            Ok(next) => next,
            // The scanner looks ahead through flow collections and gives up past 255
            // levels of them before any event comes out: that, too, is too deep.
            Err(e) if e.info().contains("recursion limit") => return too_deep(e.marker().line()),
            Err(_) => return Ok(()),
        };
        match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                depth += 1;
                values += 1;
                if depth > MAX_NESTING {
                    return too_deep(marker.line());
                }
                open.push((anchor, values));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                depth = depth.saturating_sub(1);
                if let Some((anchor, start)) = open.pop() {
                    if anchor > 0 {
                        anchored.insert(anchor, values - start + 1);
                    }
                }
            }
            Event::Scalar(_, _, anchor, _) => {
                values += 1;
                if anchor > 0 {
                    anchored.insert(anchor, 1);
                }
            }
            Event::Alias(anchor) => {
                values = values.saturating_add(anchored.get(&anchor).copied().unwrap_or(1));
            }
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
        if values > MAX_VALUES {
            return too_big(marker.line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass_and_deep_ones_are_refused() {
        assert!(check_nesting("a.yaml", "id: x\nsteps:\n  - send: { template: t }\n").is_ok());
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = check_nesting("a.yaml", &deep).unwrap_err();
        assert!(err.message.contains("deeper than 64"), "{err}");
        let block: String = (0..70).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
        assert!(check_nesting("a.yaml", &block).is_err());
    }

    #[test]
    fn aliases_that_expand_past_the_budget_are_refused() {
        // About 150 KB that would expand to 9 * 10^8 values.
        let list = vec!["0"; 30_000].join(",");
        let aliases = vec!["*a"; 30_000].join(",");
        let bomb = format!("a: &a [{list}]\nb: [{aliases}]\n");
        let err = check_nesting("a.yaml", &bomb).unwrap_err();
        assert!(err.message.contains("expands to more than"), "{err}");
        // Aliases in moderation are fine.
        assert!(check_nesting("a.yaml", "a: &a [1, 2]\nb: [*a, *a]\n").is_ok());
    }
}
