//! DROP: removing relations from a running engine's catalog.
//!
//! Like PostgreSQL without CASCADE, a relation that another view or sink reads cannot be
//! dropped; the error names the dependents so they can be dropped first. Dropping a source or
//! view also removes its `<name>_errors` (and a source's `<name>_late`) companion. The kind must
//! match what the name is (`DROP TABLE` on a view is an error), except that `DROP VIEW` also
//! drops a materialized view, as in Materialize.

use illunare_types::{errors_name, late_name};

use crate::error::{SqlError, locate_word};
use crate::parser::{DropKind, ParsedStatement};
use crate::planner::{Planner, RelationKind};

/// Relations a DROP removed, with what each was.
#[derive(Clone, Debug)]
pub struct DropDef {
    pub dropped: Vec<(String, RelationKind)>,
    pub location: crate::Location,
}

/// What `kind` is called in an error message.
fn kind_name(kind: RelationKind) -> String {
    match kind {
        RelationKind::Errors | RelationKind::Late => "companion relation".into(),
        other => other.keyword().to_lowercase(),
    }
}

fn matches(asked: DropKind, is: RelationKind) -> bool {
    matches!(
        (asked, is),
        (DropKind::Source, RelationKind::Source)
            | (DropKind::Sink, RelationKind::Sink)
            | (DropKind::Table, RelationKind::Table)
            | (DropKind::View, RelationKind::View | RelationKind::MaterializedView)
            | (DropKind::MaterializedView, RelationKind::MaterializedView)
    )
}

impl Planner {
    pub(crate) fn plan_drop(&mut self, asked: DropKind, names: &[String], if_exists: bool, stmt: &ParsedStatement) -> Result<DropDef, SqlError> {
        let at = |name: &str| locate_word(&stmt.text, stmt.location, name).unwrap_or(stmt.location);
        let mut dropped = Vec::new();
        for name in names {
            let Some(entry) = self.catalog().get(name) else {
                if if_exists {
                    continue;
                }
                return Err(SqlError::new(at(name), format!("relation '{name}' does not exist")));
            };
            let kind = entry.kind;
            if !matches(asked, kind) {
                return Err(SqlError::new(at(name), format!("'{name}' is a {}, not what DROP {:?} removes", kind_name(kind), asked))
                    .with_hint(format!("use DROP {} {name}", kind.keyword())));
            }
            let companions = [name.clone(), errors_name(name), late_name(name)];
            let being_dropped = |n: &String| names.contains(n) || companions.contains(n);
            let mut dependents: Vec<&String> = self
                .catalog()
                .iter()
                .filter(|(other, e)| !being_dropped(other) && e.depends_on.iter().any(|d| companions.contains(d)))
                .map(|(other, _)| other)
                .collect();
            dependents.sort();
            if !dependents.is_empty() {
                let list = dependents.iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(", ");
                return Err(SqlError::new(at(name), format!("cannot drop '{name}': {list} read{} it", if dependents.len() == 1 { "s" } else { "" }))
                    .with_hint("drop those first (CASCADE is not supported)"));
            }
            dropped.push((name.clone(), kind));
        }
        for (name, _) in &dropped {
            for companion in [name.clone(), errors_name(name), late_name(name)] {
                self.deregister(&companion);
            }
        }
        Ok(DropDef { dropped, location: stmt.location })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Statement, plan_pipeline};

    const PIPELINE: &str = "CREATE TABLE t (k BIGINT PRIMARY KEY, v BIGINT);
        CREATE VIEW a AS SELECT k, v FROM t;
        CREATE MATERIALIZED VIEW b AS SELECT count(*) AS n FROM a;
        CREATE SINK s FROM b WITH (connector = 'stdout');";

    fn drop(sql: &str) -> Result<Vec<(String, crate::RelationKind)>, String> {
        let (mut planner, _) = plan_pipeline(PIPELINE).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for stmt in crate::parse_pipeline(sql).map_err(|e| e.to_string())? {
            match planner.plan(&stmt).map_err(|e| e.to_string())? {
                Statement::Drop(d) => out.extend(d.dropped),
                _ => return Err("not a drop".into()),
            }
        }
        Ok(out)
    }

    #[test]
    fn drop_refuses_to_orphan_dependents_and_checks_the_kind() {
        let e = drop("DROP VIEW a").expect_err("b reads a");
        assert!(e.contains("cannot drop 'a': 'b' reads it"), "{e}");
        let e = drop("DROP TABLE b").expect_err("b is a view");
        assert!(e.contains("is a materialized view") && e.contains("DROP MATERIALIZED VIEW b"), "{e}");
        let e = drop("DROP SINK nope").expect_err("missing");
        assert!(e.contains("1:11") && e.contains("'nope' does not exist"), "{e}");
        assert!(drop("DROP VIEW b CASCADE").expect_err("cascade").contains("CASCADE is not supported"));
        assert!(drop("DROP SINK IF EXISTS nope").expect("if exists").is_empty());
        // In dependency order, or all at once, it works; the names are free again afterwards.
        let names: Vec<String> = drop("DROP SINK s; DROP VIEW b; DROP VIEW a; DROP TABLE t").expect("in order").into_iter().map(|d| d.0).collect();
        assert_eq!(names, ["s", "b", "a", "t"]);
        assert_eq!(drop("DROP SINK s; DROP VIEW b, a").expect("together").len(), 3);
        let (mut planner, _) = plan_pipeline(PIPELINE).expect("plans");
        for stmt in crate::parse_pipeline("DROP SINK s; DROP VIEW b; CREATE VIEW b AS SELECT k FROM a").expect("parses") {
            planner.plan(&stmt).expect("b can be defined again");
        }
    }
}
