//! Lint: things that are valid but that users trip over in other tools. Warnings, never errors.

use crate::diagnostic::Diagnostic;
use crate::language::definitions::Definitions;
use crate::language::step::{Otherwise, StepDoc};
use crate::language::workflow::Reentry;
use crate::program::{reachable_from, NodeKind, Wait, Workflow};

/// Contact properties every contact has, whatever the schema says.
const BUILT_IN_FIELDS: [&str; 4] = ["id", "email", "phone", "timezone"];

pub fn lint_workflow(
    wf: &Workflow,
    file: &str,
    definitions: Option<&Definitions>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut warn =
        |path: String, message: String| out.push(Diagnostic::warning(file, path, message));
    if wf.reentry == Reentry::Concurrent && wf.key.is_none() {
        warn(
            "entry.reentry".into(),
            "`reentry: concurrent` without `entry.key`: every trigger starts another run, so a contact can get the same messages several times at once; set `key` to one run per cart, order, …".into(),
        );
    }
    let reachable = {
        let mut r = if wf.nodes.is_empty() {
            vec![]
        } else {
            reachable_from(&wf.nodes, 0)
        };
        if let Some(first) = r.first_mut() {
            *first = true;
        }
        r
    };
    for (i, node) in wf.nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Wait(Wait::Condition { timeout: None, .. }) => warn(
                format!("{}.wait", node.path),
                "`wait: until` with no `timeout` waits forever for contacts who never match; add `timeout:`".into(),
            ),
            NodeKind::Goal(goal) => {
                if !reachable[i] {
                    warn(format!("{}.goal", node.path), format!("goal `{}` can never be reached: no path leads to it", node.id));
                }
                if goal.timeout.is_some() && goal.otherwise != Otherwise::Wait {
                    warn(format!("{}.goal.timeout", node.path), "`timeout` only applies with `otherwise: wait`".into());
                }
            }
            _ => {}
        }
    }
    unreachable_after_end(&wf.doc.steps, "steps", &mut warn);
    if let Some(defs) = definitions {
        template_variables(wf, defs, &mut warn);
    }
    out
}

/// Steps after an unconditional `end` (or `goto`) in the same list never run.
fn unreachable_after_end(steps: &[StepDoc], path: &str, warn: &mut impl FnMut(String, String)) {
    for (i, step) in steps.iter().enumerate() {
        let here = format!("{path}[{i}]");
        if (step.end == Some(true) || step.goto.is_some()) && i + 1 < steps.len() {
            let what = if step.goto.is_some() { "goto" } else { "end" };
            warn(
                format!("{path}[{}]", i + 1),
                format!(
                    "step `{}` comes after an unconditional `{what}` and never runs",
                    steps[i + 1].id
                ),
            );
        }
        if let Some(then) = &step.then {
            unreachable_after_end(then, &format!("{here}.then"), warn);
        }
        if let Some(else_) = &step.else_ {
            unreachable_after_end(else_, &format!("{here}.else"), warn);
        }
        for (b, branch) in step.split.iter().flatten().enumerate() {
            unreachable_after_end(&branch.steps, &format!("{here}.split[{b}].steps"), warn);
        }
    }
}

/// `{{ contact.x }}` in a template used by this workflow, where the schema has no `x`
/// and no `default:` filter covers it.
fn template_variables(wf: &Workflow, defs: &Definitions, warn: &mut impl FnMut(String, String)) {
    let Some(schema) = &defs.contact_schema else {
        // Without a schema nothing can be checked: say so once, where it matters.
        let unguarded = wf.nodes.iter().find_map(|node| {
            let NodeKind::Send(send) = &node.kind else {
                return None;
            };
            let template = defs.templates.get(&send.template)?;
            template.parts().find_map(|(_, source)| {
                crate::render::variables(source, "contact")
                    .into_iter()
                    .find(|(field, has_default)| {
                        !has_default && !BUILT_IN_FIELDS.contains(&field.as_str())
                    })
                    .map(|(field, _)| (node.path.clone(), send.template.clone(), field))
            })
        });
        if let Some((path, template, field)) = unguarded {
            warn(
                format!("{path}.send.template"),
                format!("template `{template}` uses contact.{field} without `| default:`; add a `contact_schema` to the definitions (field → type) so lint can check such variables, or give them defaults"),
            );
        }
        return;
    };
    for node in &wf.nodes {
        let NodeKind::Send(send) = &node.kind else {
            continue;
        };
        let Some(template) = defs.templates.get(&send.template) else {
            continue;
        };
        for (part, source) in template.parts() {
            for (field, has_default) in crate::render::variables(source, "contact") {
                if !has_default
                    && !schema.contains_key(&field)
                    && !BUILT_IN_FIELDS.contains(&field.as_str())
                {
                    warn(
                        format!("{}.send.template", node.path),
                        format!("template `{}` ({part}) uses contact.{field}, which the contact schema does not have; add it to `contact_schema` or use `| default:`", send.template),
                    );
                }
            }
        }
    }
}
