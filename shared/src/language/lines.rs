//! Where a path (`steps[3].then[0].wait.for`) sits in the source text, so validation
//! errors, found after parsing, still carry a line number. JSON is read by the same YAML
//! event parser (JSON is a subset of YAML's flow style).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Path → line (1-based) of every key and sequence item in a document.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map { key: Option<String>, path: String },
    Seq { index: usize, path: String },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl Collector {
    /// The path of the value that starts now, and records its line.
    fn enter_value(&mut self, line: usize) -> String {
        match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { key, path }) => {
                let name = key.take().unwrap_or_default();
                if path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                }
            }
            Some(Frame::Seq { index, path }) => {
                let item = format!("{path}[{index}]");
                *index += 1;
                self.lines.entry(item.clone()).or_insert(line);
                item
            }
        }
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map {
                    key: key @ None,
                    path,
                }) = self.stack.last_mut()
                {
                    let full = if path.is_empty() {
                        text.clone()
                    } else {
                        format!("{path}.{text}")
                    };
                    self.lines.entry(full).or_insert(line);
                    *key = Some(text);
                } else {
                    self.enter_value(line);
                }
            }
            Event::Alias(_) => {
                self.enter_value(line);
            }
            Event::MappingStart(..) => {
                let path = self.enter_value(line);
                self.stack.push(Frame::Map { key: None, path });
            }
            Event::SequenceStart(..) => {
                let path = self.enter_value(line);
                self.stack.push(Frame::Seq { index: 0, path });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl LineIndex {
    /// Indexes `text`; text that does not parse gives an empty index (no lines, no failure).
    pub fn new(text: &str) -> LineIndex {
        let mut collector = Collector::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut collector, false).is_err() {
            return LineIndex::default();
        }
        LineIndex {
            lines: collector.lines,
        }
    }

    /// The line of `path`, or of its nearest enclosing part that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut current = path;
        loop {
            if let Some(line) = self.lines.get(current) {
                return Some(*line);
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_paths_in_yaml_and_json() {
        let yaml = "id: x\nsteps:\n  - id: a\n    wait: { for: 2d }\n  - id: b\n    if: { tag: vip }\n    then:\n      - id: c\n        wait:\n          for: 3x\n";
        let index = LineIndex::new(yaml);
        assert_eq!(index.line_of("steps[0].wait.for"), Some(4));
        assert_eq!(index.line_of("steps[1].then[0].wait.for"), Some(10));
        assert_eq!(index.line_of("steps[1].then[0]"), Some(8));
        assert_eq!(index.line_of("steps[1].then[0].nothing.here"), Some(8));
        let json = "{\n  \"id\": \"x\",\n  \"steps\": [\n    {\"id\": \"a\",\n     \"wait\": {\"for\": \"2d\"}}\n  ]\n}";
        assert_eq!(LineIndex::new(json).line_of("steps[0].wait.for"), Some(5));
    }
}
