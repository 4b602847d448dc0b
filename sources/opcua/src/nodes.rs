//! Which nodes a source reads: the `nodes` option parsed at `create`, resolved on the server
//! after every (re)connect.
//!
//! An item is a node id (`ns=2;s=Temperature`, `ns=2;i=1001`, `i=2258`, `g=…`, `b=…`), a node
//! id with a namespace URI (`nsu=urn:plant;s=Temperature`, resolved with the server's namespace
//! array), or a browse path starting at the Objects folder (`/Objects/Plant/*/Temperature`):
//! each segment matches BrowseNames (`*` and `?` wildcards inside a segment, an optional
//! `2:` namespace prefix), `**` alone matches any number of levels, and only Variables are
//! kept. Items are separated by commas (so a string node id cannot contain one).

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use illunare_connector::ErrorRecord;
use opcua::client::Session;
use opcua::types::{NodeClass, NodeId, ObjectId, ReferenceDescription};

use crate::OpcUaError;
use crate::browse::children;

/// One item of `nodes`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeSpec {
    /// A node id; `text` is how the user wrote it (the `node` column).
    Id { text: String, id: NodeId },
    /// `nsu=<uri>;<identifier>`: `id` has namespace 0 until the URI is looked up.
    NamespaceUri { text: String, uri: String, id: NodeId },
    /// A browse path from the Objects folder (`text` without the leading `/Objects`).
    Path { text: String, segments: Vec<Segment> },
}

/// One level of a browse path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Segment {
    /// `**`: this level and every level below.
    AnyDepth,
    /// A BrowseName pattern (`*`, `?` wildcards), optionally `ns:`-qualified.
    Name { namespace: Option<u16>, pattern: String },
}

/// Parses the `nodes` option.
pub(crate) fn parse_nodes(text: &str) -> Result<Vec<NodeSpec>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        out.push(parse_item(item)?);
    }
    if out.is_empty() {
        return Err("names no node (give node ids such as 'ns=2;s=Temperature' or browse paths such as '/Objects/Plant/*')".into());
    }
    Ok(out)
}

fn parse_item(item: &str) -> Result<NodeSpec, String> {
    if item.starts_with('/') {
        return parse_path(item);
    }
    if let Some(rest) = item.strip_prefix("nsu=") {
        let split = [";s=", ";i=", ";g=", ";b="].iter().filter_map(|m| rest.find(m)).min();
        let Some(split) = split else {
            return Err(format!("'{item}' is not a node id (expected nsu=<uri>;s=<name>, or i=, g=, b=)"));
        };
        let uri = rest[..split].to_string();
        let id = NodeId::from_str(&rest[split + 1..]).map_err(|_| format!("'{item}' is not a node id"))?;
        if uri.is_empty() {
            return Err(format!("'{item}' has an empty namespace URI"));
        }
        return Ok(NodeSpec::NamespaceUri { text: item.to_string(), uri, id });
    }
    let id = NodeId::from_str(item)
        .map_err(|_| format!("'{item}' is not a node id (e.g. ns=2;s=Temperature, ns=2;i=1001, i=2258) nor a browse path (/Objects/…)"))?;
    Ok(NodeSpec::Id { text: item.to_string(), id })
}

fn parse_path(item: &str) -> Result<NodeSpec, String> {
    let parts: Vec<&str> = item[1..].split('/').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("browse path '{item}' has an empty segment"));
    }
    if parts.first() != Some(&"Objects") {
        return Err(format!("browse path '{item}' must start at /Objects (e.g. /Objects/Plant/*/Temperature)"));
    }
    if parts.len() < 2 {
        return Err(format!("browse path '{item}' names the Objects folder itself, not variables under it"));
    }
    let mut segments = Vec::new();
    for p in &parts[1..] {
        if *p == "**" {
            segments.push(Segment::AnyDepth);
            continue;
        }
        if p.contains("**") {
            return Err(format!("browse path '{item}': '**' must be a whole segment"));
        }
        let (namespace, pattern) = match p.split_once(':') {
            Some((ns, name)) if !ns.is_empty() && ns.chars().all(|c| c.is_ascii_digit()) => {
                (Some(ns.parse::<u16>().map_err(|_| format!("browse path '{item}': bad namespace index '{ns}'"))?), name)
            }
            _ => (None, *p),
        };
        segments.push(Segment::Name { namespace, pattern: pattern.to_string() });
    }
    Ok(NodeSpec::Path { text: item.to_string(), segments })
}

/// `*` (any run) and `?` (one character) glob match.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Segment {
    fn matches(&self, r: &ReferenceDescription) -> bool {
        match self {
            Segment::AnyDepth => true,
            Segment::Name { namespace, pattern } => {
                namespace.is_none_or(|ns| ns == r.browse_name.namespace_index) && glob_match(pattern, r.browse_name.name.as_ref())
            }
        }
    }
}

/// A node the source reads: `name` is the `node` column, `id` is `None` when it could not be
/// resolved (an unknown namespace URI), which reads as `BadNodeIdUnknown`.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedNode {
    pub name: Arc<str>,
    pub id: Option<NodeId>,
}

/// The resolved nodes and the problems found resolving them (a glob matching nothing, …).
pub(crate) struct Resolution {
    pub nodes: Vec<ResolvedNode>,
    pub errors: Vec<ErrorRecord>,
}

/// Deepest level `**` descends, and most nodes one path may visit (guards against huge or
/// cyclic address spaces).
const MAX_DEPTH: usize = 64;
const MAX_VISITED: usize = 200_000;

/// Resolves `specs` on the server behind `session`.
pub(crate) async fn resolve(session: &Session, endpoint: &str, specs: &[NodeSpec]) -> Result<Resolution, OpcUaError> {
    let mut nodes = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |nodes: &mut Vec<ResolvedNode>, name: String, id: Option<NodeId>| {
        if seen.insert(name.clone()) {
            nodes.push(ResolvedNode { name: name.into(), id });
        }
    };
    for spec in specs {
        match spec {
            NodeSpec::Id { text, id } => push(&mut nodes, text.clone(), Some(id.clone())),
            NodeSpec::NamespaceUri { text, uri, id } => match session.get_namespace_index(uri).await {
                Ok(ns) => {
                    let mut id = id.clone();
                    id.namespace = ns;
                    push(&mut nodes, text.clone(), Some(id));
                }
                Err(e) => {
                    errors.push(ErrorRecord::new(
                        format!("namespace '{uri}' is not in the namespace array of {endpoint} ({})", e.status()),
                        None,
                        Some(text.clone()),
                    ));
                    push(&mut nodes, text.clone(), None);
                }
            },
            NodeSpec::Path { text, segments } => {
                let found = walk(session, endpoint, segments).await?;
                if found.is_empty() {
                    tracing::warn!(endpoint, path = %text, "browse path matched no variable");
                    errors.push(ErrorRecord::new(format!("browse path '{text}' matched no variable on {endpoint}"), None, Some(text.clone())));
                }
                for id in found {
                    push(&mut nodes, id.to_string(), Some(id));
                }
            }
        }
    }
    Ok(Resolution { nodes, errors })
}

/// The variables a browse path reaches, in browse order.
async fn walk(session: &Session, endpoint: &str, segments: &[Segment]) -> Result<Vec<NodeId>, OpcUaError> {
    let objects: NodeId = ObjectId::ObjectsFolder.into();
    let mut frontier: Vec<(NodeId, NodeClass)> = vec![(objects, NodeClass::Object)];
    let mut visited = 0usize;
    for segment in segments {
        let mut next: Vec<(NodeId, NodeClass)> = Vec::new();
        let mut seen: HashSet<NodeId> = HashSet::new();
        match segment {
            Segment::AnyDepth => {
                // Every node at or below the frontier, breadth first.
                let mut level = frontier.clone();
                for n in &frontier {
                    seen.insert(n.0.clone());
                }
                next.extend(frontier.iter().cloned());
                for _ in 0..MAX_DEPTH {
                    let mut below = Vec::new();
                    for (id, _) in &level {
                        for r in children(session, endpoint, id).await? {
                            let child = r.node_id.node_id.clone();
                            if seen.insert(child.clone()) {
                                below.push((child, r.node_class));
                            }
                        }
                    }
                    visited += below.len();
                    if below.is_empty() || visited > MAX_VISITED {
                        break;
                    }
                    next.extend(below.iter().cloned());
                    level = below;
                }
            }
            Segment::Name { .. } => {
                for (id, _) in &frontier {
                    for r in children(session, endpoint, id).await? {
                        if segment.matches(&r) && seen.insert(r.node_id.node_id.clone()) {
                            next.push((r.node_id.node_id.clone(), r.node_class));
                        }
                    }
                }
                visited += next.len();
            }
        }
        frontier = next;
        if frontier.is_empty() || visited > MAX_VISITED {
            break;
        }
    }
    Ok(frontier.into_iter().filter(|(_, class)| *class == NodeClass::Variable).map(|(id, _)| id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_and_whitespace() {
        let specs = parse_nodes(" ns=2;s=Temperature ,ns=2;i=1001,i=2258 ,, ").unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0], NodeSpec::Id { text: "ns=2;s=Temperature".into(), id: NodeId::new(2, "Temperature") });
        assert_eq!(specs[1], NodeSpec::Id { text: "ns=2;i=1001".into(), id: NodeId::new(2, 1001u32) });
        assert_eq!(specs[2], NodeSpec::Id { text: "i=2258".into(), id: NodeId::new(0, 2258u32) });
    }

    #[test]
    fn namespace_uris() {
        let specs = parse_nodes("nsu=urn:plant:x;s=Temp").unwrap();
        assert_eq!(specs[0], NodeSpec::NamespaceUri { text: "nsu=urn:plant:x;s=Temp".into(), uri: "urn:plant:x".into(), id: NodeId::new(0, "Temp") });
        assert!(parse_nodes("nsu=urn:x").is_err());
    }

    #[test]
    fn browse_paths() {
        let specs = parse_nodes("/Objects/Plant/**/Temperature, /Objects/Boiler/*, /Objects/2:Line?/T*").unwrap();
        assert_eq!(
            specs[0],
            NodeSpec::Path {
                text: "/Objects/Plant/**/Temperature".into(),
                segments: vec![
                    Segment::Name { namespace: None, pattern: "Plant".into() },
                    Segment::AnyDepth,
                    Segment::Name { namespace: None, pattern: "Temperature".into() },
                ],
            }
        );
        match &specs[2] {
            NodeSpec::Path { segments, .. } => assert_eq!(segments[0], Segment::Name { namespace: Some(2), pattern: "Line?".into() }),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejections() {
        assert!(parse_nodes("").unwrap_err().contains("names no node"));
        assert!(parse_nodes("Temperature").unwrap_err().contains("'Temperature' is not a node id"));
        assert!(parse_nodes("ns=x;s=a").is_err());
        assert!(parse_nodes("/Plant/*").unwrap_err().contains("must start at /Objects"));
        assert!(parse_nodes("/Objects").unwrap_err().contains("Objects folder itself"));
        assert!(parse_nodes("/Objects//x").unwrap_err().contains("empty segment"));
        assert!(parse_nodes("/Objects/a**").unwrap_err().contains("whole segment"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "Temperature"));
        assert!(glob_match("Temp*", "Temperature"));
        assert!(glob_match("*ure", "Temperature"));
        assert!(glob_match("Line?", "Line1"));
        assert!(!glob_match("Line?", "Line12"));
        assert!(glob_match("L*e*1", "Line1"));
        assert!(!glob_match("Pressure", "Temperature"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }
}
