//! Reading files into checked workflows: definitions first (segments and templates are
//! then checked), and every workflow given counts as known for `start` / `stop`.

use std::collections::BTreeSet;
use std::path::Path;

use kairos_core::language::definitions::Definitions;
use kairos_core::language::load_workflow;
use kairos_core::language::parse::parse_document;
use kairos_core::language::validate::References;
use kairos_core::language::workflow::WorkflowDoc;
use kairos_core::{Diagnostic, Workflow};

pub fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::error(
            &path.display().to_string(),
            "",
            format!("cannot read the file: {e}"),
        )
    })
}

/// Loads definitions; template parts that name files (`html: templates/welcome.html`)
/// are read relative to the definitions file, then everything is validated.
pub fn definitions(path: &Path) -> Result<Definitions, Vec<Diagnostic>> {
    let text = read(path).map_err(|d| vec![d])?;
    let file = path.display().to_string();
    let mut defs: Definitions =
        kairos_core::language::parse::parse_document(&file, &text).map_err(|d| vec![d])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut errors = defs.resolve_files(base, &file);
    errors.extend(kairos_core::language::validate::validate_definitions(
        &defs, &file,
    ));
    if errors.is_empty() {
        Ok(defs)
    } else {
        Err(kairos_core::language::with_lines(errors, &text))
    }
}

/// A checked workflow with the file and text it came from (for lint's line numbers).
pub struct Loaded {
    pub file: String,
    pub text: String,
    pub workflow: Workflow,
}

/// Loads every workflow; returns the good ones and every diagnostic.
pub fn workflows(
    paths: &[impl AsRef<Path>],
    defs: Option<&Definitions>,
) -> (Vec<Loaded>, Vec<Diagnostic>) {
    let mut texts = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let name = path.as_ref().display().to_string();
        match read(path.as_ref()) {
            Ok(text) => texts.push((name, text)),
            Err(d) => errors.push(d),
        }
    }
    // Ids first, so references between the given files resolve.
    let known: BTreeSet<String> = texts
        .iter()
        .filter_map(|(name, text)| parse_document::<WorkflowDoc>(name, text).ok())
        .map(|doc| doc.id)
        .collect();
    let refs = References {
        definitions: defs,
        workflows: Some(&known),
    };
    let mut loaded = Vec::new();
    for (file, text) in texts {
        match load_workflow(&file, &text, refs) {
            Ok(workflow) => loaded.push(Loaded {
                file,
                text,
                workflow,
            }),
            Err(mut d) => errors.append(&mut d),
        }
    }
    (loaded, errors)
}
