//! gRPC server reflection for the query port: only `jaeger.api_v2.QueryService` and
//! `jaeger.api_v3.QueryService`, with the proto files they import. spoor-jaeger's descriptor set
//! also holds the collector, sampling and Zipkin services, which this port does not serve, so
//! the set is cut down to the query services' files before it is registered.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use prost_types::FileDescriptorProto;
use tonic::service::Routes;

use crate::QueryServerError;

/// The services the query port serves, as reflection lists them.
pub const QUERY_SERVICES: [&str; 2] = ["jaeger.api_v2.QueryService", "jaeger.api_v3.QueryService"];

/// `FileDescriptorSet.file` is field 1.
const FILE_FIELD: u32 = 1;

/// The reflection services (v1 and v1alpha) over the query services' descriptors, refusing
/// requests over `max_message_size` as the query services do.
pub fn services(descriptor_set: &[u8], max_message_size: usize) -> Result<Routes, QueryServerError> {
    let set = query_descriptor_set(descriptor_set)?;
    let configure = || {
        QUERY_SERVICES.iter().fold(
            tonic_reflection::server::Builder::configure().register_encoded_file_descriptor_set(&set),
            |builder, service| builder.with_service_name(*service),
        )
    };
    let v1 = configure().build_v1().map_err(|e| QueryServerError::Reflection(e.to_string()))?;
    let v1alpha = configure().build_v1alpha().map_err(|e| QueryServerError::Reflection(e.to_string()))?;
    let v1 = v1.max_decoding_message_size(max_message_size);
    let v1alpha = v1alpha.max_decoding_message_size(max_message_size);
    Ok(Routes::new(v1).add_service(v1alpha))
}

/// The encoded files that define [`QUERY_SERVICES`] and everything they import, re-encoded as a
/// `FileDescriptorSet`. Each file keeps its original bytes, so custom options such as
/// `google.api.http` survive (prost would drop them on a decode and re-encode).
pub fn query_descriptor_set(descriptor_set: &[u8]) -> Result<Vec<u8>, QueryServerError> {
    let mut files = BTreeMap::new();
    for raw in split_files(descriptor_set)? {
        let file = FileDescriptorProto::decode(raw).map_err(|e| QueryServerError::Reflection(e.to_string()))?;
        files.insert(file.name().to_owned(), (file, raw));
    }
    let roots = files.values().filter(|(file, _)| defines_query_service(file)).map(|(file, _)| file.name().to_owned());
    let mut pending: Vec<String> = roots.collect();
    if pending.len() != QUERY_SERVICES.len() {
        return Err(QueryServerError::Reflection(format!("descriptor set lacks one of {QUERY_SERVICES:?}")));
    }
    let mut needed = BTreeSet::new();
    while let Some(name) = pending.pop() {
        let (file, _) = files
            .get(&name)
            .ok_or_else(|| QueryServerError::Reflection(format!("descriptor set lacks the import {name}")))?;
        if needed.insert(name) {
            pending.extend(file.dependency.iter().cloned());
        }
    }
    let mut set = Vec::new();
    for (_, raw) in needed.iter().filter_map(|name| files.get(name)) {
        encode_key(FILE_FIELD, WireType::LengthDelimited, &mut set);
        encode_varint(raw.len() as u64, &mut set);
        set.extend_from_slice(raw);
    }
    Ok(set)
}

fn defines_query_service(file: &FileDescriptorProto) -> bool {
    file.service
        .iter()
        .any(|service| QUERY_SERVICES.contains(&format!("{}.{}", file.package(), service.name()).as_str()))
}

/// The encoded `FileDescriptorProto`s of a `FileDescriptorSet`, without decoding them.
fn split_files(mut set: &[u8]) -> Result<Vec<&[u8]>, QueryServerError> {
    let malformed = |what: &str| QueryServerError::Reflection(format!("malformed descriptor set: {what}"));
    let mut files = Vec::new();
    while set.has_remaining() {
        let (field, wire_type) = decode_key(&mut set).map_err(|e| malformed(&e.to_string()))?;
        if field != FILE_FIELD || wire_type != WireType::LengthDelimited {
            return Err(malformed(&format!("unexpected field {field}")));
        }
        let len = decode_varint(&mut set).map_err(|e| malformed(&e.to_string()))?;
        let len = usize::try_from(len).map_err(|e| malformed(&e.to_string()))?;
        if len > set.len() {
            return Err(malformed("truncated file"));
        }
        let (file, rest) = set.split_at(len);
        files.push(file);
        set = rest;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_names(set: &[u8]) -> BTreeSet<String> {
        split_files(set)
            .unwrap()
            .into_iter()
            .map(|raw| FileDescriptorProto::decode(raw).unwrap().name().to_owned())
            .collect()
    }

    #[test]
    fn keeps_the_query_services_and_their_imports_only() {
        let set = query_descriptor_set(spoor_jaeger::proto::FILE_DESCRIPTOR_SET).unwrap();
        let names = file_names(&set);
        for kept in ["api_v2/query.proto", "api_v3/query_service.proto", "model.proto", "google/api/annotations.proto"]
        {
            assert!(names.contains(kept), "{kept} missing from {names:?}");
        }
        for gone in ["collector.proto", "sampling.proto", "zipkin.proto"] {
            assert!(!names.iter().any(|n| n.ends_with(gone)), "{gone} in {names:?}");
        }
    }

    #[test]
    fn files_keep_their_original_bytes() {
        let all: BTreeSet<&[u8]> = split_files(spoor_jaeger::proto::FILE_DESCRIPTOR_SET).unwrap().into_iter().collect();
        let set = query_descriptor_set(spoor_jaeger::proto::FILE_DESCRIPTOR_SET).unwrap();
        assert!(split_files(&set).unwrap().iter().all(|raw| all.contains(raw)));
    }

    #[test]
    fn a_truncated_set_is_an_error() {
        let set = spoor_jaeger::proto::FILE_DESCRIPTOR_SET;
        assert!(query_descriptor_set(&set[..set.len() / 2]).is_err());
    }
}
