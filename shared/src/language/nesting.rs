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
    loop {
        let (event, marker) = match parser.next_token() {
            Ok(next) => next,
            // The scanner looks ahead through flow collections and gives up past 255
            // levels of them before any event comes out: that, too, is too deep.
            Err(e) if e.info().contains("recursion limit") => return too_deep(e.marker().line()),
            Err(_) => return Ok(()),
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return too_deep(marker.line());
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => return Ok(()),
            _ => {}
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
}
