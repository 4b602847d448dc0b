//! Exploring a server's address space: the Browse service with continuation points (used to
//! resolve browse-path globs) and [`browse`], the listing behind `illunare opcua browse`.

use std::collections::HashSet;

use illunare_connector::{ConnectorError, Options};
use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, ByteString, NodeClass, NodeId, ObjectId,
    ReadValueId, ReferenceDescription, ReferenceTypeId, TimestampsToReturn, Variant,
};

use crate::OpcUaError;
use crate::client::connect;
use crate::convert::status_name;
use crate::options::{SecurityOptions, check_endpoint};

/// How to connect for a browse: the same security settings as a source.
#[derive(Clone, Debug, Default)]
pub struct BrowseOptions {
    pub security: SecurityOptions,
}

impl BrowseOptions {
    /// From `security_policy`, `security_mode`, `username`, `password`, `user_certificate`,
    /// `user_private_key`, `pki_dir`, `trust_server_certificate`, `connect_timeout` (the
    /// source's option names); any other key is an error.
    pub fn from_options(options: &Options) -> Result<BrowseOptions, ConnectorError> {
        let security = SecurityOptions::from_options(options)?;
        options.finish("opcua")?;
        Ok(BrowseOptions { security })
    }
}

/// One node found by [`browse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowseEntry {
    /// 1 for a child of the Objects folder, 2 for a grandchild, …
    pub depth: usize,
    /// E.g. `ns=2;s=Plant.Line1.Temperature` (usable in `nodes`).
    pub node_id: String,
    /// E.g. `2:Temperature`.
    pub browse_name: String,
    /// `Object`, `Variable`, `Method`, …
    pub node_class: String,
    /// For variables: `Double`, `Int32`, `String`, `Double[]` (arrays), or the data type's node
    /// id when it is not a built-in type.
    pub data_type: Option<String>,
}

/// The forward hierarchical references of `node` (all pages of them).
pub(crate) async fn children(session: &Session, endpoint: &str, node: &NodeId) -> Result<Vec<ReferenceDescription>, OpcUaError> {
    let service_error = |service: &'static str, e: opcua::types::Error| OpcUaError::Service {
        endpoint: endpoint.to_string(),
        service,
        status: status_name(e.status()),
        message: e.to_string(),
    };
    let description = BrowseDescription {
        node_id: node.clone(),
        browse_direction: BrowseDirection::Forward,
        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
        include_subtypes: true,
        node_class_mask: 0,
        result_mask: BrowseResultMask::All as u32,
    };
    let mut results = session.browse(&[description], 1000, None).await.map_err(|e| service_error("Browse", e))?;
    let mut out = Vec::new();
    while let Some(result) = results.pop() {
        if result.status_code.is_bad() {
            // An unknown or unbrowsable node simply has no children.
            break;
        }
        out.extend(result.references.unwrap_or_default());
        let point: ByteString = result.continuation_point;
        if point.is_null() || point.value.as_ref().is_none_or(|v| v.is_empty()) {
            break;
        }
        results = session.browse_next(false, &[point]).await.map_err(|e| service_error("BrowseNext", e))?;
    }
    Ok(out)
}

/// The name of a built-in data type (`i=1` … `i=25` in namespace 0).
fn builtin_type_name(id: &NodeId) -> Option<&'static str> {
    if id.namespace != 0 {
        return None;
    }
    let opcua::types::Identifier::Numeric(n) = id.identifier else { return None };
    Some(match n {
        1 => "Boolean",
        2 => "SByte",
        3 => "Byte",
        4 => "Int16",
        5 => "UInt16",
        6 => "Int32",
        7 => "UInt32",
        8 => "Int64",
        9 => "UInt64",
        10 => "Float",
        11 => "Double",
        12 => "String",
        13 => "DateTime",
        14 => "Guid",
        15 => "ByteString",
        16 => "XmlElement",
        17 => "NodeId",
        18 => "ExpandedNodeId",
        19 => "StatusCode",
        20 => "QualifiedName",
        21 => "LocalizedText",
        22 => "Structure",
        23 => "DataValue",
        24 => "BaseDataType",
        25 => "DiagnosticInfo",
        26 => "Number",
        27 => "Integer",
        28 => "UInteger",
        29 => "Enumeration",
        290 => "Duration",
        294 => "UtcTime",
        295 => "LocaleId",
        _ => return None,
    })
}

fn class_name(class: NodeClass) -> String {
    format!("{class:?}")
}

/// Lists the address space below the Objects folder of `endpoint`, depth first, down to
/// `depth` levels (1 = the Objects folder's children). Variables carry their data type.
pub async fn browse(endpoint: &str, options: &BrowseOptions, depth: usize) -> Result<Vec<BrowseEntry>, OpcUaError> {
    check_endpoint(endpoint).map_err(OpcUaError::Config)?;
    let connection = connect(endpoint, &options.security).await?;
    let result = walk(&connection.session, endpoint, depth.max(1)).await;
    connection.close().await;
    result
}

async fn walk(session: &Session, endpoint: &str, max_depth: usize) -> Result<Vec<BrowseEntry>, OpcUaError> {
    let mut entries: Vec<BrowseEntry> = Vec::new();
    let mut variables: Vec<(usize, NodeId)> = Vec::new();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let root: NodeId = ObjectId::ObjectsFolder.into();
    seen.insert(root.clone());
    // Depth-first, children in server order: a stack of (depth, node) with children pushed reversed.
    let mut stack: Vec<(usize, ReferenceDescription)> = Vec::new();
    for r in children(session, endpoint, &root).await?.into_iter().rev() {
        stack.push((1, r));
    }
    while let Some((depth, r)) = stack.pop() {
        let id = r.node_id.node_id.clone();
        if !seen.insert(id.clone()) {
            continue;
        }
        if r.node_class == NodeClass::Variable {
            variables.push((entries.len(), id.clone()));
        }
        entries.push(BrowseEntry {
            depth,
            node_id: id.to_string(),
            browse_name: r.browse_name.to_string(),
            node_class: class_name(r.node_class),
            data_type: None,
        });
        if depth < max_depth && matches!(r.node_class, NodeClass::Object | NodeClass::Variable) {
            for c in children(session, endpoint, &id).await?.into_iter().rev() {
                stack.push((depth + 1, c));
            }
        }
    }
    // Data types of the variables: DataType and ValueRank attributes, read in pages.
    for page in variables.chunks(500) {
        let mut reads = Vec::with_capacity(page.len() * 2);
        for (_, id) in page {
            for attribute in [AttributeId::DataType, AttributeId::ValueRank] {
                let mut r = ReadValueId::from(id.clone());
                r.attribute_id = attribute as u32;
                reads.push(r);
            }
        }
        let values = session.read(&reads, TimestampsToReturn::Neither, 0.0).await.map_err(|e| OpcUaError::Service {
            endpoint: endpoint.to_string(),
            service: "Read",
            status: status_name(e.status()),
            message: e.to_string(),
        })?;
        for (i, (entry, _)) in page.iter().enumerate() {
            let data_type = values.get(2 * i).and_then(|dv| match &dv.value {
                Some(Variant::NodeId(id)) => Some(builtin_type_name(id).map(str::to_string).unwrap_or_else(|| id.to_string())),
                _ => None,
            });
            let array = matches!(values.get(2 * i + 1).and_then(|dv| dv.value.as_ref()), Some(Variant::Int32(rank)) if *rank >= 0);
            if let Some(e) = entries.get_mut(*entry) {
                e.data_type = data_type.map(|t| if array { format!("{t}[]") } else { t });
            }
        }
    }
    Ok(entries)
}
