//! Types and gRPC services generated from jaeger-idl v0.9.0 (`proto/`).

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v2 {
    tonic::include_proto!("jaeger.api_v2");
}

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v3 {
    tonic::include_proto!("jaeger.api_v3");
}

/// The encoded `FileDescriptorSet` of both services and their imports, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("jaeger_descriptor");
